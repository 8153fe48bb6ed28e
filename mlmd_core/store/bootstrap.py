"""Opening a store: create the schema of an empty database, check the version of an existing one, and
make sure the nine MLMD system types exist — all in one transaction, so racing processes agree."""

from __future__ import annotations

import sqlite3

from sqlalchemy import bindparam, select
from sqlalchemy.schema import CreateIndex, CreateTable

from mlmd_core import errors
from mlmd_core.proto import metadata_store_pb2 as pb
from mlmd_core.store import schema
from mlmd_core.store.context import Call
from mlmd_core.store.engine import Database, create_engine, map_db_error, sqlite_target
from mlmd_core.store.kinds import SYSTEM_TYPES
from mlmd_core.store.service import SqlService
from mlmd_core.store.sql import insert_values

LIBRARY_VERSION = schema.SCHEMA_VERSION


def open_service(config: pb.ConnectionConfig, migration_options: pb.MigrationOptions | None = None) -> SqlService:
    """The SQL service of a ConnectionConfig, with its schema ready for use."""
    migration_options = migration_options or pb.MigrationOptions()
    target = sqlite_target(config) if config.WhichOneof("config") in ("sqlite", "fake_database") else None
    database = Database(create_engine(config), read_only=bool(target and target[1]))
    service = SqlService(database)
    handle, raw = database.acquire()
    try:
        database.begin(raw, write=not database.read_only)
        try:
            database.lock_schema(raw)  # servers: one opener at a time creates tables and system types
            _prepare(Call(raw, service.statements, service.type_cache), database, migration_options)
            database.commit(raw)
        except BaseException:
            database.rollback(raw)
            raise
        finally:
            database.unlock_schema(raw)
    except BaseException as exc:
        database.release(handle)
        database.dispose()
        if isinstance(exc, (sqlite3.Error, database.dialect.loaded_dbapi.Error)):
            raise map_db_error(exc) from exc
        raise
    database.release(handle)
    return service


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
    """The stored schema version; None for an empty database."""
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


def _prepare(call: Call, database: Database, migration_options: pb.MigrationOptions) -> None:
    tables = table_names(call, database)
    version = schema_version(call, tables)
    if migration_options.downgrade_to_schema_version >= 0:
        raise errors.UnimplementedError("schema downgrade is not supported yet")
    if version is None:
        if database.read_only:
            raise errors.FailedPreconditionError("The database is empty and was opened READONLY.")
        create_schema(call, database)
    elif version > LIBRARY_VERSION:
        raise errors.FailedPreconditionError(
            f"MLMD database version {version} is greater than library version {LIBRARY_VERSION}. Please upgrade "
            "the library to use the given database in order to prevent potential data loss. If data loss is "
            "acceptable, please downgrade the database using a newer version of library."
        )
    elif version < LIBRARY_VERSION:
        if not migration_options.enable_upgrade_migration:
            raise errors.FailedPreconditionError(
                f"MLMD database version {version} is older than library version {LIBRARY_VERSION}. Schema "
                "migration is disabled. Please upgrade the database then use the library version; or switch "
                "to a older library version to use the current database. Use "
                "MetadataStore(config, enable_upgrade_migration=True) to upgrade it."
            )
        raise errors.UnimplementedError(f"upgrading schema version {version} is not supported yet")
    else:
        missing = {t.name for t in schema.metadata.sorted_tables} - tables
        if missing:
            raise errors.AbortedError(
                f"There are a subset of tables in MLMD instance, missing: {sorted(missing)}. This may be due "
                "to a concurrent connection to the empty database. Please retry the connection."
            )
    if not database.read_only:
        ensure_system_types(call)


def create_schema(call: Call, database: Database) -> None:
    """Creates the v10 tables and indexes and records the version."""
    dialect = database.dialect
    cursor = call.raw.cursor()
    for table in schema.metadata.sorted_tables:
        cursor.execute(str(CreateTable(table).compile(dialect=dialect)))
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            cursor.execute(str(CreateIndex(index).compile(dialect=dialect)))
    call.many_tuples(call.q("insert_version", lambda: insert_values(schema.mlmd_env, "schema_version")),
                     [(LIBRARY_VERSION,)])


def ensure_system_types(call: Call) -> None:
    """Inserts whichever of the nine mlmd.* types is missing (ids 1-9 in a new database)."""
    t = schema.type_table
    q = call.q("system_types", lambda: select(t.c.name).where(
        t.c.name.in_(bindparam("names", expanding=True)), t.c.version.is_(None)))
    present = {r[0] for r in call.all(q, {"names": [name for name, _ in SYSTEM_TYPES]})}
    missing = [(name, kind) for name, kind in SYSTEM_TYPES if name not in present]
    call.many_tuples(call.q("insert_system_type", lambda: insert_values(t, "name", "type_kind")), missing)
