"""Opening a store: create the schema of an empty database, check the version of an existing one, and
make sure the nine MLMD system types exist — all in one transaction, so racing processes agree."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.schema import CreateIndex, CreateTable

from mlmd_core import errors
from mlmd_core.proto import metadata_store_pb2 as pb
from mlmd_core.store import migrations, schema
from mlmd_core.store.context import Call
from mlmd_core.store.engine import Database, create_engine, map_db_error, sqlite_target
from mlmd_core.store.kinds import SYSTEM_TYPES
from mlmd_core.store.service import SqlService
from mlmd_core.store.sql import insert_values

LIBRARY_VERSION = schema.SCHEMA_VERSION
log = logging.getLogger(__name__)
T = TypeVar("T")


def open_service(config: pb.ConnectionConfig, migration_options: pb.MigrationOptions | None = None) -> SqlService:
    """The SQL service of a ConnectionConfig, with its schema ready for use.

    With `migration_options.enable_upgrade_migration` an older schema is upgraded first; with
    `downgrade_to_schema_version >= 0` the schema is downgraded and CancelledError raised (MLMD's way of
    saying "done, but this connection is not for use")."""
    migration_options = migration_options or pb.MigrationOptions()
    target = sqlite_target(config) if config.WhichOneof("config") in ("sqlite", "fake_database") else None
    database = Database(create_engine(config), read_only=bool(target and target[1]))
    service = SqlService(database)
    handle, raw, _ = database.acquire()
    try:
        call = Call(raw, service.statements, service.type_cache)
        if migration_options.downgrade_to_schema_version >= 0:
            _downgrade(call, database, migration_options.downgrade_to_schema_version)
        if _in_transaction(database, raw, lambda: _prepare(call, database, migration_options)):
            migrations.upgrade(call, database, LIBRARY_VERSION)
            _in_transaction(database, raw, lambda: _prepare(call, database, migration_options))
        if migration_options.enable_upgrade_migration and not database.read_only:
            _add_lookup_indexes(call, database)
    except BaseException as exc:
        database.release(handle)
        database.dispose()
        if isinstance(exc, database.errors):
            raise map_db_error(exc) from exc
        raise
    database.release(handle)
    return service


def _in_transaction(database: Database, raw: object, body: Callable[[], T]) -> T:
    """Runs `body` in one write transaction under the schema lock (servers: one opener at a time creates
    tables and system types)."""
    database.begin(raw, write=not database.read_only)
    try:
        database.lock_schema(raw)
        result = body()
        database.commit(raw)
        return result
    except BaseException:
        database.rollback(raw)
        raise
    finally:
        database.unlock_schema(raw)


def _add_lookup_indexes(call: Call, database: Database) -> None:
    """mlmd_core's own indexes (schema.LOOKUP_INDEXES) on a v10 database that lacks them (one ml-metadata
    created), when the user allows schema changes: opening alone changes no schema. Only speed depends on
    them, so a user who may not create indexes gets a warning, not an error."""
    try:
        created = _in_transaction(database, call.raw, lambda: migrations.ensure_lookup_indexes(call, database))
    except database.errors as exc:
        log.warning("Could not create the indexes %s (%s): lookups of links by node will scan their tables.",
                    ", ".join(i.name for i in schema.LOOKUP_INDEXES), exc)
        return
    if created:
        log.info("Created the indexes %s.", ", ".join(created))


# Re-exported: the version readers live with the migrations.
table_names = migrations.table_names
schema_version = migrations.schema_version


def _downgrade(call: Call, database: Database, target: int) -> None:
    """MLMD's downgrade: checks, steps down to `target`, then CancelledError whatever happened."""
    if not 0 <= target <= LIBRARY_VERSION:
        raise errors.InvalidArgumentError(
            f"MLMD cannot be downgraded to schema_version: {target}. The target version should be greater or "
            f"equal to 0, and the current library version: {LIBRARY_VERSION} needs to be greater than the target "
            "version.")
    version = _in_transaction(database, call.raw, lambda: schema_version(call, table_names(call, database)))
    if version is None:
        raise errors.InvalidArgumentError("Empty database is given. Downgrade operation is not needed.")
    if version > LIBRARY_VERSION:
        raise errors.FailedPreconditionError(
            f"MLMD database version {version} is greater than library version {LIBRARY_VERSION}. The current "
            "library does not know how to downgrade it. Please upgrade the library to downgrade the schema.")
    if database.read_only:
        raise errors.PermissionDeniedError("The database was opened READONLY: it cannot be downgraded.")
    migrations.downgrade(call, database, target)
    raise errors.CancelledError(
        "Downgrade migration was performed. Connection to the downgraded database is Cancelled. Now the database "
        f"is at schema version {min(version, target)}. Please refer to the migration guide and use lower version "
        "of the library to connect to the metadata store.")


def _prepare(call: Call, database: Database, migration_options: pb.MigrationOptions) -> bool:
    """Checks (or creates) the schema; True when it is older and is to be upgraded first."""
    tables = table_names(call, database)
    version = schema_version(call, tables)
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
                "to a older library version to use the current database. For more details, please refer to "
                "ml-metadata g3doc/third_party/ml_metadata/g3doc/get_started.md#upgrade-the-database-schema"
            )
        if database.read_only:
            raise errors.PermissionDeniedError(
                f"Upgrade query failed: MLMD database version {version} is older than library version "
                f"{LIBRARY_VERSION} and the database was opened READONLY, so it cannot be upgraded.")
        return True
    else:
        missing = {t.name for t in schema.metadata.sorted_tables} - tables
        if missing:
            raise errors.AbortedError(
                f"There are a subset of tables in MLMD instance, missing: {sorted(missing)}. This may be due "
                "to a concurrent connection to the empty database. Please retry the connection."
            )
    if not database.read_only:
        ensure_system_types(call)
    return False


def create_schema(call: Call, database: Database) -> None:
    """Creates the v10 tables and indexes (MLMD's and mlmd_core's lookup indexes) and records the version."""
    dialect = database.dialect
    cursor = call.raw.cursor()
    for table in schema.metadata.sorted_tables:
        cursor.execute(str(CreateTable(table).compile(dialect=dialect)))
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            cursor.execute(str(CreateIndex(index).compile(dialect=dialect)))
    for index in schema.LOOKUP_INDEXES:
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


def _with_call(config: pb.ConnectionConfig, body: Callable[[Call, Database], T]) -> T:
    """Runs `body` on a connection of its own to the configured database (no schema is created)."""
    target = sqlite_target(config) if config.WhichOneof("config") in ("sqlite", "fake_database") else None
    database = Database(create_engine(config), read_only=bool(target and target[1]))
    service = SqlService(database)
    handle, raw, _ = database.acquire()
    try:
        return body(Call(raw, service.statements, service.type_cache), database)
    except database.errors as exc:
        raise map_db_error(exc) from exc
    finally:
        database.release(handle)
        database.dispose()


def stored_version(config: pb.ConnectionConfig) -> int | None:
    """The schema version of the configured database (0: MLMD 0.13.2), None if it has no MLMD tables.
    Reads only: nothing is created or changed."""
    return _with_call(config, lambda call, database: _in_transaction(
        database, call.raw, lambda: schema_version(call, table_names(call, database))))


def missing_lookup_indexes(config: pb.ConnectionConfig) -> list[str]:
    """Which of mlmd_core's lookup indexes (schema.LOOKUP_INDEXES) the configured database lacks (one that
    ml-metadata created, opened without enable_upgrade_migration). Reads only."""
    return _with_call(config, lambda call, database: _in_transaction(
        database, call.raw, lambda: migrations.missing_lookup_indexes(call, database)))


def migrate(config: pb.ConnectionConfig, target: int) -> tuple[int, int]:
    """Moves the configured database's schema up or down to `target` step by step, without the extra checks
    and messages of MetadataStore(enable_upgrade_migration=True) and downgrade_schema (the CLI and tests use
    it to stop at any version). Returns (version before, version after)."""
    if not 0 <= target <= LIBRARY_VERSION:
        raise errors.InvalidArgumentError(f"Schema version {target} is not in [0, {LIBRARY_VERSION}].")

    def body(call: Call, database: Database) -> tuple[int, int]:
        if database.read_only:
            raise errors.PermissionDeniedError("The database was opened READONLY: its schema cannot change.")
        version = _in_transaction(database, call.raw, lambda: schema_version(call, table_names(call, database)))
        if version is None:
            raise errors.FailedPreconditionError("The database is empty: there is no schema to migrate.")
        if version > LIBRARY_VERSION:
            raise errors.FailedPreconditionError(
                f"MLMD database version {version} is greater than library version {LIBRARY_VERSION}.")
        if target > version:
            migrations.upgrade(call, database, target)
        elif target < version:
            migrations.downgrade(call, database, target)
        elif target == LIBRARY_VERSION:
            _add_lookup_indexes(call, database)
        return version, target

    return _with_call(config, body)
