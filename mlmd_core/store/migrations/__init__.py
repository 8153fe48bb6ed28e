"""Schema versions: reading a database's version and moving it up or down one step at a time.

Each step (`versions/vNN_*.py`) has an `upgrade` and a `downgrade`; the runner applies them one version at a
time, each in its own transaction together with the MLMDEnv update, so a failed step leaves the database at
the previous version (on SQLite and PostgreSQL, whose DDL is transactional; MySQL commits each DDL
statement). The step re-reads the version under the schema lock first, so racing openers apply it once.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Index, select, update
from sqlalchemy.schema import CreateIndex, DropIndex

from mlmd_core import errors
from mlmd_core.store import schema
from mlmd_core.store.context import Call
from mlmd_core.store.engine import Database, map_db_error
from mlmd_core.store.migrations import versions
from mlmd_core.store.migrations.history import LATEST, schema_at
from mlmd_core.store.migrations.ops import Ops

__all__ = ["LATEST", "STEPS", "Step", "schema_at", "table_names", "schema_version", "upgrade", "downgrade",
           "ensure_lookup_indexes", "missing_lookup_indexes"]


@dataclass(frozen=True)
class Step:
    """The move between `version - 1` and `version`."""

    version: int
    description: str
    upgrade: Callable[[Ops], None]
    downgrade: Callable[[Ops], None]


def _load_steps() -> dict[int, Step]:
    steps: dict[int, Step] = {}
    for info in sorted(pkgutil.iter_modules(versions.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{versions.__name__}.{info.name}")
        step = Step(module.VERSION, module.DESCRIPTION, module.upgrade, module.downgrade)
        if step.version in steps:
            raise RuntimeError(f"two migration steps to schema version {step.version}")
        steps[step.version] = step
    if sorted(steps) != list(range(1, LATEST + 1)):
        raise RuntimeError(f"migration steps {sorted(steps)} do not cover versions 1..{LATEST}")
    return steps


STEPS: dict[int, Step] = _load_steps()
assert LATEST == schema.SCHEMA_VERSION, "history.LATEST and schema.SCHEMA_VERSION must move together"


# ---------------------------------------------------------------------------------------- version


def table_names(call: Call, database: Database) -> set[str]:
    """Tables of the current database, read through the call's own transaction."""
    dialect = database.dialect.name
    if dialect == "sqlite":
        rows = call.raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    elif dialect == "mysql":
        cursor = call.raw.cursor()
        cursor.execute("SHOW TABLES")
        rows = cursor.fetchall()
    else:
        cursor = call.raw.cursor()
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        # MLMD's PostgreSQL tables are unquoted, so lower case: report them under their canonical names.
        canonical = {t.name.lower(): t.name for t in schema.metadata.sorted_tables}
        rows = [(canonical.get(r[0], r[0]),) for r in cursor.fetchall()]
    return {r[0] for r in rows}


def schema_version(call: Call, tables: set[str]) -> int | None:
    """The stored schema version; 0 for MLMD 0.13.2's tables without MLMDEnv; None for an empty database."""
    if "MLMDEnv" not in tables:
        return 0 if "Type" in tables else None
    rows = call.all(call.q("schema_version", lambda: select(schema.mlmd_env.c.schema_version)))
    if not rows:
        raise errors.AbortedError(
            "MLMDEnv table exists but no schema_version can be found: there may be a concurrent connection "
            "to the empty database. Please retry the connection."
        )
    if len(rows) > 1:
        raise errors.DataLossError(f"Multiple schema_version rows found in MLMDEnv: {sorted(r[0] for r in rows)}")
    return int(rows[0][0])


# -------------------------------------------------------------------------------- lookup indexes


def missing_lookup_indexes(call: Call, database: Database) -> list[str]:
    """Names of mlmd_core's own indexes (schema.LOOKUP_INDEXES) the database lacks (reads only)."""
    return [i.name for i in _missing(_v10_ops(call, database))]


def ensure_lookup_indexes(call: Call, database: Database) -> list[str]:
    """Creates whichever of mlmd_core's own indexes a v10 database lacks, e.g. one ml-metadata created;
    returns their names. MySQL commits each CREATE INDEX on its own."""
    return _create_lookup_indexes(_v10_ops(call, database))


def _v10_ops(call: Call, database: Database) -> Ops:
    return Ops(call.raw, database.dialect, schema_at(LATEST), schema_at(LATEST))


def _missing(op: Ops) -> list[Index]:
    present = op.present_indexes([i.name for i in schema.LOOKUP_INDEXES])
    return [i for i in schema.LOOKUP_INDEXES if i.name not in present]


def _create_lookup_indexes(op: Ops) -> list[str]:
    """Reaching v10: mlmd_core's own indexes beside ml-metadata's schema (see schema.LOOKUP_INDEXES)."""
    missing = _missing(op)
    for index in missing:
        op.execute(CreateIndex(index))
    return [i.name for i in missing]


def _drop_lookup_indexes(op: Ops) -> None:
    """Leaving v10: the older schemas are ml-metadata's exactly, without mlmd_core's own indexes."""
    present = op.present_indexes([i.name for i in schema.LOOKUP_INDEXES])
    for index in schema.LOOKUP_INDEXES:
        if index.name in present:
            op.execute(DropIndex(index))


# ------------------------------------------------------------------------------------------ runner


def upgrade(call: Call, database: Database, target: int = LATEST) -> int:
    """Upgrades the database step by step to `target`; returns the version it started from."""
    return _run(call, database, target, up=True)


def downgrade(call: Call, database: Database, target: int) -> int:
    """Downgrades the database step by step to `target` (0: MLMD 0.13.2, no MLMDEnv); returns the version it
    started from. Data that the older schema has no place for is dropped, as MLMD does."""
    return _run(call, database, target, up=False)


def _run(call: Call, database: Database, target: int, up: bool) -> int:
    start: int | None = None
    while True:
        done, version = _in_step(call, database, target, up)
        if start is None:
            start = version
        if done:
            return start


def _in_step(call: Call, database: Database, target: int, up: bool) -> tuple[bool, int]:
    """Applies the next step in a transaction of its own; returns (target reached, version before it)."""
    raw = call.raw
    database.begin(raw, write=True)
    try:
        database.lock_schema(raw)
        version = schema_version(call, table_names(call, database))
        if version is None:
            raise errors.FailedPreconditionError("The database is empty: there is no schema to migrate.")
        if (version >= target) if up else (version <= target):
            database.commit(raw)
            return True, version
        new = version + 1 if up else version - 1
        step = STEPS[new if up else version]
        op = Ops(raw, database.dialect, schema_at(version), schema_at(new))
        try:
            if not up and version == LATEST:
                _drop_lookup_indexes(op)
            (step.upgrade if up else step.downgrade)(op)
            if up and new == LATEST:
                _create_lookup_indexes(op)
            if new > 0:
                mlmd_env = schema_at(new).tables["MLMDEnv"]
                op.execute(update(mlmd_env).values(schema_version=new))
        except database.errors as exc:
            mapped = map_db_error(exc)
            if isinstance(mapped, errors.AbortedError):
                raise mapped from exc
            kind = "Upgrade" if up else "Downgrade"
            raise type(mapped)(f"{kind} query failed: schema version {version} -> {new} "
                               f"({step.description}) was rolled back: {exc}") from exc
        database.commit(raw)
        # Types cached under the old layout are not to be trusted under the new one.
        call.type_cache.clear()
        return new == target, version
    except BaseException:
        database.rollback(raw)
        raise
    finally:
        database.unlock_schema(raw)
