"""Statements compiled once per dialect and run on the DB-API cursor.

SQLAlchemy builds every statement (and owns dialects, pooling and DDL); this module only skips the
per-call compile/bind layer, which costs more than the SQLite work itself on the hot paths. Lists bound
with ``bindparam(name, expanding=True)`` are expanded here, per list length.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

_EXPANDING = re.compile(r"__\[POSTCOMPILE_(\w+)\]")


class Statement:
    """One statement for one dialect: its SQL text and the order of its (positional) parameters."""

    __slots__ = ("sql", "names", "expanding", "defaults", "_by_lengths", "_placeholder")

    def __init__(self, element: Any, dialect: Dialect):
        compiled = element.compile(dialect=dialect)
        if not compiled.positional:
            raise ValueError(f"the {dialect.name} engine must use a positional paramstyle")
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup)
        self.expanding = frozenset(_EXPANDING.findall(self.sql))
        # Values the statement carries itself (literals in WHERE clauses become bound parameters).
        self.defaults = {k: v for k, v in compiled.params.items() if v is not None}
        self._by_lengths: dict[tuple[int, ...], str] = {}
        self._placeholder = "?" if dialect.paramstyle == "qmark" else "%s"

    def bind(self, params: Mapping[str, Any]) -> tuple[str, Any]:
        """SQL text and parameters for one execution; list parameters are expanded in place."""
        if self.defaults:
            params = {**self.defaults, **params}
        if not self.expanding:
            return self.sql, tuple(params[n] for n in self.names)
        values: list[Any] = []
        lengths: list[int] = []
        for name in self.names:
            value = params[name]
            if name in self.expanding:
                values.extend(value)
                lengths.append(len(value))
            else:
                values.append(value)
        key = tuple(lengths)
        sql = self._by_lengths.get(key)
        if sql is None:
            counts = iter(lengths)
            sql = _EXPANDING.sub(lambda _: ", ".join([self._placeholder] * next(counts)) or "NULL", self.sql)
            self._by_lengths[key] = sql
        return sql, values


class Statements:
    """The compiled statements of one dialect, built on first use from a key and a builder."""

    def __init__(self, dialect: Dialect):
        self.dialect = dialect
        self._cache: dict[Any, Statement] = {}

    def get(self, key: Any, build: Callable[[], ClauseElement]) -> Statement:
        stmt = self._cache.get(key)
        if stmt is None:
            stmt = self._cache[key] = Statement(build(), self.dialect)
        return stmt


class Cursor:
    """A DB-API connection inside one transaction, running compiled statements."""

    __slots__ = ("raw", "statements", "_cursor")

    def __init__(self, raw: Any, statements: Statements):
        self.raw = raw
        self.statements = statements
        self._cursor = raw.cursor()

    def stmt(self, key: Any, build: Callable[[], ClauseElement]) -> Statement:
        return self.statements.get(key, build)

    def run(self, stmt: Statement, params: Mapping[str, Any] | None = None) -> Any:
        sql, values = stmt.bind(params or {})
        self._cursor.execute(sql, values)
        return self._cursor

    def all(self, stmt: Statement, params: Mapping[str, Any] | None = None) -> list[tuple]:
        return self.run(stmt, params).fetchall()

    def one(self, stmt: Statement, params: Mapping[str, Any] | None = None) -> tuple | None:
        return self.run(stmt, params).fetchone()

    def many(self, stmt: Statement, rows: Sequence[Mapping[str, Any]]) -> None:
        """executemany with one dict of parameters per row."""
        if rows:
            names = stmt.names
            self._cursor.executemany(stmt.sql, [tuple(r[n] for n in names) for r in rows])

    def many_tuples(self, stmt: Statement, rows: Sequence[tuple]) -> None:
        """executemany with one tuple per row, in the order of the statement's parameters (for
        insert_values: the column order given there). The fast path for bulk inserts."""
        if rows:
            self._cursor.executemany(stmt.sql, rows)

    def chunked(self, values: Iterable[Any], size: int = 500) -> list[list[Any]]:
        """Splits a long IN-list so no statement exceeds a backend's parameter limit."""
        values = values if isinstance(values, list) else list(values)
        if len(values) <= size:
            return [values] if values else []
        return [values[start : start + size] for start in range(0, len(values), size)]

    def insert_ids(self, stmt: Statement, rows: Sequence[tuple]) -> list[int]:
        """Runs a many-row INSERT (tuples as for many_tuples) and returns the new ids in row order.

        The call holds the database's write lock (SQLite: BEGIN IMMEDIATE), so the autoincrement ids
        of one executemany are consecutive and end at the connection's last insert id."""
        if not rows:
            return []
        if len(rows) == 1:
            self._cursor.execute(stmt.sql, rows[0])
            return [int(self._cursor.lastrowid)]
        self.many_tuples(stmt, rows)
        last = int(self._cursor.execute("SELECT last_insert_rowid()").fetchone()[0])
        return list(range(last - len(rows) + 1, last + 1))


class _TextStatement:
    """A statement written as text with parameters named like columns, in the order given (SQLAlchemy's
    insert()/update() order them by table column), so rows can be passed as tuples."""

    def __init__(self, table: Any, names: tuple[str, ...]):
        self.table = table
        self.names = names

    def text(self, quote: Any) -> str:
        raise NotImplementedError

    def compile(self, dialect: Dialect) -> Any:
        from sqlalchemy import text

        return text(self.text(dialect.identifier_preparer)).compile(dialect=dialect)


class insert_values(_TextStatement):  # noqa: N801 - used like a statement constructor
    """INSERT INTO table (names...) VALUES (:names...)."""

    def __init__(self, table: Any, *names: str):
        super().__init__(table, names)

    def text(self, quote: Any) -> str:
        columns = ", ".join(quote.quote(n) for n in self.names)
        params = ", ".join(f":{n}" for n in self.names)
        return f"INSERT INTO {quote.format_table(self.table)} ({columns}) VALUES ({params})"


class update_by_id(_TextStatement):  # noqa: N801 - used like a statement constructor
    """UPDATE table SET name = :name, ... WHERE id = :row_id (the id comes last in a row tuple)."""

    def __init__(self, table: Any, *names: str):
        super().__init__(table, names)

    def text(self, quote: Any) -> str:
        sets = ", ".join(f"{quote.quote(n)} = :{n}" for n in self.names)
        return f"UPDATE {quote.format_table(self.table)} SET {sets} WHERE {quote.quote('id')} = :row_id"
