"""What a migration step can do to a database, portable over SQLite, MySQL/MariaDB and PostgreSQL.

A step says *which* tables change and which data moves; `Ops` works out *how* from the two schema
snapshots (`history.schema_at`) it is given: the columns, unique constraints and indexes to add or drop.
SQLite cannot drop constrained columns or add UNIQUE ones in place, so there a changed table is rebuilt the
way ml-metadata does it (copy into `<Table>Temp`, drop, rename, re-index), unless only plain columns are
appended; servers get ALTER TABLE statements. Statements run on the step's DB-API connection, inside the
step's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Column, Index, MetaData, Table, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable, DDLElement, DropConstraint, DropIndex
from sqlalchemy.sql import ClauseElement


class Ops:
    """Schema and data operations of one step, from the `source` to the `target` snapshot."""

    def __init__(self, raw: Any, dialect: Dialect, source: MetaData, target: MetaData):
        self.raw = raw
        self.dialect = dialect
        self.source = source
        self.target = target
        self.is_sqlite = dialect.name == "sqlite"
        self.preparer = dialect.identifier_preparer

    # ------------------------------------------------------------------------------------ statements

    def execute(self, statement: ClauseElement | str) -> Any:
        """Runs one statement (SQLAlchemy construct, compiled with literal values, or SQL text)."""
        if isinstance(statement, DDLElement):
            # DDL has no bound values; and Alembic (loaded with Airflow) overrides MySQL's DROP CONSTRAINT
            # compilation with a version that rejects any compile keyword.
            statement = str(statement.compile(dialect=self.dialect))
        elif not isinstance(statement, str):
            statement = str(statement.compile(dialect=self.dialect, compile_kwargs={"literal_binds": True}))
        cursor = self.raw.cursor()
        cursor.execute(statement)
        return cursor

    def present_indexes(self, names: list[str]) -> set[str]:
        """Which of these index names the database has (catalog read; `names` are our own constants)."""
        listed = ", ".join(f"'{n}'" for n in names)
        if self.is_sqlite:
            sql = f"SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ({listed})"
        elif self.dialect.name == "mysql":
            sql = ("SELECT DISTINCT index_name FROM information_schema.statistics "
                   f"WHERE table_schema = DATABASE() AND index_name IN ({listed})")
        else:
            sql = f"SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexname IN ({listed})"
        return {r[0] for r in self.execute(sql).fetchall()}

    def old(self, name: str) -> Table:
        """A table as it is before the step."""
        return self.source.tables[name]

    def new(self, name: str) -> Table:
        """A table as it is after the step."""
        return self.target.tables[name]

    def _q(self, name: str) -> str:
        return self.preparer.quote(name)

    # ---------------------------------------------------------------------------------------- tables

    def create_table(self, name: str) -> None:
        """Creates a table of the target schema with its indexes."""
        table = self.new(name)
        self.execute(CreateTable(table))
        for index in _sorted(table.indexes):
            self.execute(CreateIndex(index))

    def drop_table(self, name: str) -> None:
        """Drops a table of the source schema (its indexes go with it)."""
        self.execute(f"DROP TABLE {self._q(name)}")

    def alter_table(self, name: str, renamed: Mapping[str, str] | None = None) -> None:
        """Makes table `name` look as in the target schema, keeping its rows: columns added (NULL or their
        default) or dropped, unique constraints and indexes as the target has them. `renamed` maps new
        column names to the old ones whose values they take."""
        renamed = dict(renamed or {})
        old, new = self.old(name), self.new(name)
        if self.is_sqlite:
            if self._sqlite_appends_only(old, new, renamed):
                self._add_columns(new, [c for c in new.columns if c.name not in old.columns])
                self._sync_indexes(old, new)
            else:
                self._rebuild(old, new, renamed)
            return
        dropped_indexes = {i.name for i in old.indexes} - {i.name for i in new.indexes}
        for index in _sorted(i for i in old.indexes if i.name in dropped_indexes):
            self.execute(DropIndex(index))
        new_uniques, old_uniques = _named_uniques(new), _named_uniques(old)
        for uname in sorted(set(old_uniques) - set(new_uniques)):
            self.execute(DropConstraint(old_uniques[uname]))
        for new_name, old_name in renamed.items():
            self.execute(f"ALTER TABLE {self._q(name)} RENAME COLUMN {self._q(old_name)} TO {self._q(new_name)}")
        kept = {renamed.get(c.name, c.name) for c in new.columns}
        for column in old.columns:
            if column.name not in kept:
                self.execute(f"ALTER TABLE {self._q(name)} DROP COLUMN {self._q(column.name)}")
        self._add_columns(new, [c for c in new.columns if c.name not in old.columns and c.name not in renamed])
        for uname in sorted(set(new_uniques) - set(old_uniques)):
            self.execute(AddConstraint(new_uniques[uname]))
        added = {i.name for i in new.indexes} - {i.name for i in old.indexes}
        for index in _sorted(i for i in new.indexes if i.name in added):
            self.execute(CreateIndex(index))

    def create_index(self, name: str) -> None:
        """Creates an index of the target schema (for steps that touch nothing else of its table)."""
        self.execute(CreateIndex(_index(self.target, name)))

    def drop_index(self, name: str) -> None:
        """Drops an index of the source schema."""
        self.execute(DropIndex(_index(self.source, name)))

    # ------------------------------------------------------------------------------------ internals

    def _sqlite_appends_only(self, old: Table, new: Table, renamed: Mapping[str, str]) -> bool:
        """Whether SQLite's ALTER TABLE ADD COLUMN gets there: nothing dropped, renamed or re-constrained,
        and the new columns are plain ones at the end (as MLMD adds byte_value, proto_value, bool_value)."""
        old_names = [c.name for c in old.columns]
        new_names = [c.name for c in new.columns]
        if renamed or new_names[: len(old_names)] != old_names:
            return False
        if _unique_sets(old) != _unique_sets(new):
            return False
        return all(not c.unique and not c.primary_key and (c.nullable or c.server_default is not None)
                   for c in new.columns if c.name not in old.columns)

    def _add_columns(self, table: Table, columns: list[Column]) -> None:
        ddl = self.dialect.ddl_compiler(self.dialect, None)
        for column in columns:
            spec = ddl.get_column_specification(column)
            if column.unique:
                spec += " UNIQUE"
            self.execute(f"ALTER TABLE {self._q(table.name)} ADD COLUMN {spec}")

    def _sync_indexes(self, old: Table, new: Table) -> None:
        old_names, new_names = {i.name for i in old.indexes}, {i.name for i in new.indexes}
        for index in _sorted(i for i in old.indexes if i.name not in new_names):
            self.execute(DropIndex(index))
        for index in _sorted(i for i in new.indexes if i.name not in old_names):
            self.execute(CreateIndex(index))

    def _rebuild(self, old: Table, new: Table, renamed: Mapping[str, str]) -> None:
        """SQLite: a new table of the target shape, filled from the old one, takes its name and indexes."""
        temp_name = f"{new.name}Temp"
        temp = new.to_metadata(MetaData(), name=temp_name)
        for index in list(temp.indexes):  # indexes are created under their names after the rename
            temp.indexes.discard(index)
        self.execute(CreateTable(temp))
        pairs = [(c.name, renamed.get(c.name, c.name)) for c in new.columns
                 if renamed.get(c.name, c.name) in old.columns]
        targets = ", ".join(self._q(n) for n, _ in pairs)
        sources = ", ".join(self._q(o) for _, o in pairs)
        self.execute(f"INSERT INTO {self._q(temp_name)} ({targets}) SELECT {sources} FROM {self._q(old.name)}")
        self.execute(f"DROP TABLE {self._q(old.name)}")
        self.execute(f"ALTER TABLE {self._q(temp_name)} RENAME TO {self._q(new.name)}")
        for index in _sorted(new.indexes):
            self.execute(CreateIndex(index))


def _sorted(indexes: Any) -> list[Index]:
    return sorted(indexes, key=lambda i: i.name or "")


def _index(md: MetaData, name: str) -> Index:
    for table in md.tables.values():
        for index in table.indexes:
            if index.name == name:
                return index
    raise KeyError(f"no index {name!r} in this schema version")


def _named_uniques(table: Table) -> dict[str, UniqueConstraint]:
    """Named multi-column unique constraints (the unnamed ones come and go with their tables or columns)."""
    return {str(c.name): c for c in table.constraints if isinstance(c, UniqueConstraint) and c.name}


def _unique_sets(table: Table) -> set[tuple[str, ...]]:
    uniques = {tuple(col.name for col in c.columns) for c in table.constraints if isinstance(c, UniqueConstraint)}
    return uniques | {(c.name,) for c in table.columns if c.unique}
