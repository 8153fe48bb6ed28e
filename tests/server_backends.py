"""MariaDB/MySQL and PostgreSQL for the test suite: which backends run, throw-away databases, per-test reset.

``MLMD_TEST_BACKENDS`` (comma-separated, default ``sqlite,mysql,postgresql``; ``sqlite`` only under the gRPC
transport or the ml-metadata oracle) chooses the backends the `store` fixture and the module-scoped data
fixtures run on. The servers are found at:

    MLMD_TEST_MYSQL_HOST / _PORT / _USER / _PASSWORD       default 127.0.0.1 / 3306 / root / ""
    MLMD_TEST_PG_HOST / _PORT / _USER / _PASSWORD          default 127.0.0.1 / 5432 / postgres / ""

Each test process uses databases named ``mlmd_test_<pid>_<random>[_<n>]``: one shared by the function-scoped
`store` fixture (reset between tests: TRUNCATE, ids restart at 1) and a fresh one per `fresh_config` call
(module-scoped data). All of them are dropped when the pytest session ends (tests/conftest.py; again at
exit, for what that missed). A backend whose server cannot be reached is skipped with the reason; `.ci/run`
makes sure both servers are up.
"""

from __future__ import annotations

import atexit
import os
import secrets
from typing import Any

import pytest

if os.environ.get("MLMD_TEST_ORACLE") == "1":  # the suite runs against ml-metadata (tests/store_fixtures.py)
    from ml_metadata.proto import metadata_store_pb2 as pb
else:
    from mlmd_core.proto import metadata_store_pb2 as pb

SERVERS = ("mysql", "postgresql")


def _default_backends() -> str:
    if os.environ.get("MLMD_TEST_ORACLE") == "1" or os.environ.get("MLMD_TEST_TRANSPORT") == "grpc":
        return "sqlite"
    return "sqlite,mysql,postgresql"


BACKENDS = tuple(b.strip() for b in os.environ.get("MLMD_TEST_BACKENDS", _default_backends()).split(",")
                 if b.strip())
# The servers the suite runs on (the `store` fixture's params after "memory").
SERVER_BACKENDS = tuple(b for b in SERVERS if b in BACKENDS)

MYSQL = {"host": os.environ.get("MLMD_TEST_MYSQL_HOST", "127.0.0.1"),
         "port": int(os.environ.get("MLMD_TEST_MYSQL_PORT", "3306")),
         "user": os.environ.get("MLMD_TEST_MYSQL_USER", "root"),
         "password": os.environ.get("MLMD_TEST_MYSQL_PASSWORD", "")}
POSTGRES = {"host": os.environ.get("MLMD_TEST_PG_HOST", "127.0.0.1"),
            "port": int(os.environ.get("MLMD_TEST_PG_PORT", "5432")),
            "user": os.environ.get("MLMD_TEST_PG_USER", "postgres"),
            "password": os.environ.get("MLMD_TEST_PG_PASSWORD", "")}

_PREFIX = f"mlmd_test_{os.getpid()}_{secrets.token_hex(3)}"
_created: dict[str, list[str]] = {"mysql": [], "postgresql": []}
_unreachable: dict[str, str | None] = {}
_shared: dict[str, pb.ConnectionConfig] = {}


def admin_connection(backend: str, database: str | None = None) -> Any:
    """A driver connection in autocommit mode (to the server, or to one database)."""
    if backend == "mysql":
        import pymysql

        return pymysql.connect(database=database, autocommit=True, connect_timeout=5, **MYSQL)
    import psycopg

    return psycopg.connect(dbname=database or "postgres", autocommit=True, connect_timeout=5, **POSTGRES)


def unreachable(backend: str) -> str | None:
    """Why the backend's server cannot be used (None when it can); checked once per process."""
    if backend not in _unreachable:
        try:
            admin_connection(backend).close()
            _unreachable[backend] = None
        except Exception as exc:  # noqa: BLE001 - any failure means "skip with this reason"
            where = MYSQL if backend == "mysql" else POSTGRES
            _unreachable[backend] = (f"{backend} server at {where['host']}:{where['port']} is unreachable "
                                     f"(start it, e.g. with .ci/run): {exc}")
    return _unreachable[backend]


def require(backend: str) -> None:
    reason = unreachable(backend)
    if reason:
        pytest.skip(reason)


def config_for(backend: str, database: str) -> pb.ConnectionConfig:
    config = pb.ConnectionConfig()
    if backend == "mysql":
        c = config.mysql
        c.host, c.port, c.user, c.database = MYSQL["host"], MYSQL["port"], MYSQL["user"], database
        if MYSQL["password"]:
            c.password = MYSQL["password"]
    else:
        c = config.postgresql
        c.host, c.port, c.user, c.dbname = POSTGRES["host"], str(POSTGRES["port"]), POSTGRES["user"], database
        if POSTGRES["password"]:
            c.password = POSTGRES["password"]
    return config


def fresh_config(backend: str) -> pb.ConnectionConfig:
    """A config of a new, not yet existing database (the store creates it), dropped when the session ends
    (tests/conftest.py) or at exit."""
    require(backend)
    name = f"{_PREFIX}_{len(_created[backend]) + 1}"
    _created[backend].append(name)
    return config_for(backend, name)


def shared_config(backend: str) -> pb.ConnectionConfig:
    """The process's shared database, emptied (ids restart at 1, MLMDEnv kept): for one test at a time."""
    require(backend)
    config = _shared.get(backend)
    if config is None:
        config = _shared[backend] = fresh_config(backend)
    else:
        reset(backend, config)
    return config


_TABLES = ("Artifact", "ArtifactProperty", "Association", "Attribution", "Context", "ContextProperty", "Event",
           "EventPath", "Execution", "ExecutionProperty", "ParentContext", "ParentType", "Type", "TypeProperty")


def reset(backend: str, config: pb.ConnectionConfig) -> None:
    """Empties an MLMD database for the next test; anything but an intact v10 schema is dropped entirely."""
    database = config.mysql.database if backend == "mysql" else config.postgresql.dbname
    conn = admin_connection(backend, database)
    try:
        cur = conn.cursor()
        if backend == "mysql":
            cur.execute("SELECT table_name, auto_increment FROM information_schema.tables "
                        "WHERE table_schema = DATABASE()")
            tables = {r[0]: r[1] for r in cur.fetchall()}
            if not _intact(cur, set(tables)):
                for table in tables:
                    cur.execute(f"DROP TABLE `{table}`")
                return
            for table in _TABLES:  # DELETE + counter reset is faster than TRUNCATE (a table re-creation)
                if tables[table] is not None and tables[table] > 1:
                    cur.execute(f"DELETE FROM `{table}`")
                    cur.execute(f"ALTER TABLE `{table}` AUTO_INCREMENT = 1")
                elif tables[table] is None:
                    cur.execute(f"DELETE FROM `{table}`")
        else:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            tables = {r[0] for r in cur.fetchall()}
            canonical = {t.lower(): t for t in (*_TABLES, "MLMDEnv")}
            if not _intact(cur, {canonical.get(t, t) for t in tables}):
                for table in tables:
                    cur.execute(f'DROP TABLE "{table}" CASCADE')
                return
            cur.execute(f"TRUNCATE {', '.join(t.lower() for t in _TABLES)} RESTART IDENTITY")
    finally:
        conn.close()


def _intact(cur: Any, tables: set[str]) -> bool:
    if tables != {*_TABLES, "MLMDEnv"}:
        return False
    cur.execute("SELECT schema_version FROM MLMDEnv")
    return [r[0] for r in cur.fetchall()] == [10]


@atexit.register
def drop_databases() -> None:
    """Drops every database this process created."""
    for backend, names in _created.items():
        if not names or unreachable(backend):
            continue
        try:
            conn = admin_connection(backend)
        except Exception:  # noqa: BLE001 - nothing to clean on a server that went away
            continue
        try:
            cur = conn.cursor()
            for name in names:
                if backend == "mysql":
                    cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
                else:
                    cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            conn.close()
        names.clear()
