"""Shared fixtures and helpers of the tests/test_api_*.py suite (the public MetadataStore API).

The tests target ``mlmd_core``. With ``MLMD_TEST_ORACLE=1`` the same tests run against google's
ml-metadata 1.17.1 instead, which lives in the side virtualenv ``.venv-mlmd`` (it pins protobuf<5 and has
no pytest; symlink pytest, _pytest, pluggy, iniconfig, packaging and pygments from .venv's site-packages
into a directory D)::

    MLMD_TEST_ORACLE=1 PYTHONPATH=D .venv-mlmd/bin/python -m pytest -p no:cacheprovider tests/test_api_*.py

That is how the expectations of these tests were checked against the real library; tests of behaviour
that only mlmd_core has (WAL mode, crash bugs ml-metadata has) are skipped there.

Test modules import what they need from here::

    from store_fixtures import errors, file_store, mlmd, pb, store  # noqa: F401  (fixtures)
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import server_backends
from server_backends import SERVER_BACKENDS

ORACLE = os.environ.get("MLMD_TEST_ORACLE") == "1"

if ORACLE:  # pragma: no cover - only with the side virtualenv
    import ml_metadata as mlmd
    from ml_metadata import errors
    from ml_metadata.proto import metadata_store_pb2 as pb
    from ml_metadata.proto import metadata_store_service_pb2 as svc_pb
else:
    import mlmd_core as mlmd
    from mlmd_core import errors
    from mlmd_core.proto import metadata_store_pb2 as pb
    from mlmd_core.proto import metadata_store_service_pb2 as svc_pb

__all__ = [
    "ORACLE", "mlmd", "errors", "pb", "svc_pb", "only_mlmd_core", "memory_config", "file_config",
    "open_store", "close_store", "raw_call", "dump_db", "store_snapshot", "tick", "store", "file_store",
    "any_store", "file_store_path", "MLMD_TABLES", "make_types", "Types", "STORE_BACKENDS", "backend_config",
    "store_dialect",
]

# Tests of mlmd_core-only behaviour (WAL, crash bugs of ml-metadata fixed here, internals).
only_mlmd_core = pytest.mark.skipif(ORACLE, reason="mlmd_core-specific behaviour")

MLMD_TABLES = (
    "Artifact", "ArtifactProperty", "Association", "Attribution", "Context", "ContextProperty", "Event",
    "EventPath", "Execution", "ExecutionProperty", "MLMDEnv", "ParentContext", "ParentType", "Type",
    "TypeProperty",
)

Mode = pb.SqliteMetadataSourceConfig.ConnectionMode


def memory_config() -> pb.ConnectionConfig:
    config = pb.ConnectionConfig()
    config.fake_database.SetInParent()
    return config


def file_config(path: Path | str, mode: int | None = None) -> pb.ConnectionConfig:
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    if mode is not None:
        config.sqlite.connection_mode = mode
    return config


def open_store(config: pb.ConnectionConfig, **kwargs: Any) -> Any:
    if GRPC:
        return _open_grpc_store(config, **kwargs)
    return mlmd.MetadataStore(config, **kwargs)


# With ``MLMD_TEST_TRANSPORT=grpc`` every store of open_store (and so of the fixtures) is a MetadataStore over
# gRPC talking to its own mlmd-server on a free loopback port, serving the config the test asked for
# (tests/test_grpc_api_suites.py re-runs the API suites that way).
GRPC = os.environ.get("MLMD_TEST_TRANSPORT") == "grpc" and not ORACLE


def _open_grpc_store(config: pb.ConnectionConfig, enable_upgrade_migration: bool = False) -> Any:
    """A gRPC-backed store over an in-process server of `config`; closing it stops the server."""
    from mlmd_core.grpc.server import serve
    from mlmd_core.metadata_store import _connect_error

    server_config = pb.MetadataStoreServerConfig(connection_config=config)
    server_config.migration_options.enable_upgrade_migration = enable_upgrade_migration
    try:
        server = serve(server_config, port=0)
    except errors.StatusError as exc:  # as the in-process constructor raises it
        raise _connect_error(exc) from exc
    s = mlmd.MetadataStore(pb.MetadataStoreClientConfig(host="127.0.0.1", port=server.port))
    close_client = s.close

    def close() -> None:
        close_client()
        server.stop(grace=1.0)

    s.close = close
    return s


def store_dialect(s: Any) -> str:
    """"sqlite", "mysql" or "postgresql": the database under an in-process store (gRPC stores: "sqlite")."""
    database = getattr(getattr(s, "_backend", None), "database", None)
    return database.dialect.name if database is not None else "sqlite"


def set_value(value: pb.Value, x: Any) -> None:
    """Sets the Value field that fits a Python value (bool before int: bool is an int)."""
    if isinstance(x, bool):
        value.bool_value = x
    elif isinstance(x, int):
        value.int_value = x
    elif isinstance(x, float):
        value.double_value = x
    else:
        value.string_value = x


def close_store(s: Any) -> None:
    """Releases a store's connections (ml-metadata has no close(); it closes on garbage collection)."""
    close = getattr(s, "close", None)
    if close is not None:
        close()


def raw_call(s: Any, method: str, request: Any) -> Any:
    """One MetadataStoreService RPC on the store's backend, below the client-side paging loop."""
    if ORACLE:  # pragma: no cover
        response = getattr(svc_pb, f"{method}Response")()
        s._call(method, request, response)
        return response
    return s._backend.call(method, request)


def dump_db(path: Path | str) -> dict[str, list[tuple]]:
    """Every row of every table of a SQLite file, sorted: equal dumps mean equal databases."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        conn.close()


def store_snapshot(s: Any) -> dict[str, Any]:
    """What every whole-store getter returns (for in-memory stores, where the file cannot be read)."""
    artifacts = s.get_artifacts()
    executions = s.get_executions()
    contexts = s.get_contexts()
    snap: dict[str, Any] = {
        "artifact_types": [t.SerializeToString(deterministic=True) for t in s.get_artifact_types()],
        "execution_types": [t.SerializeToString(deterministic=True) for t in s.get_execution_types()],
        "context_types": [t.SerializeToString(deterministic=True) for t in s.get_context_types()],
        "artifacts": [a.SerializeToString(deterministic=True) for a in artifacts],
        "executions": [e.SerializeToString(deterministic=True) for e in executions],
        "contexts": [c.SerializeToString(deterministic=True) for c in contexts],
        "events": sorted(e.SerializeToString(deterministic=True) for e in s.get_events_by_execution_ids(
            [e.id for e in executions])),
    }
    links = []
    for c in contexts:
        links.append(("attr", c.id, sorted(a.id for a in s.get_artifacts_by_context(c.id))))
        links.append(("assoc", c.id, sorted(e.id for e in s.get_executions_by_context(c.id))))
        links.append(("parents", c.id, sorted(p.id for p in s.get_parent_contexts_by_context(c.id))))
    snap["links"] = links
    return snap


def tick() -> None:
    """Waits long enough for the store's millisecond clock to move on."""
    time.sleep(0.003)


# Where `store` and the module-scoped data fixtures run: in-memory SQLite, then the servers of
# MLMD_TEST_BACKENDS (tests/server_backends.py: throw-away databases; skipped if a server is unreachable).
STORE_BACKENDS = ("memory", *SERVER_BACKENDS)


def backend_config(backend: str, fresh: bool = True) -> pb.ConnectionConfig:
    """The config of an empty store on a backend: "memory", "mysql" or "postgresql". A server store is a new
    database (fresh) or the process's shared one, emptied (for function-scoped fixtures)."""
    if backend == "memory":
        return memory_config()
    return server_backends.fresh_config(backend) if fresh else server_backends.shared_config(backend)


@pytest.fixture(params=STORE_BACKENDS)
def store(request: pytest.FixtureRequest):
    """A fresh store: in-memory (fake_database), then MariaDB and PostgreSQL (MLMD_TEST_BACKENDS)."""
    s = open_store(backend_config(request.param, fresh=False))
    yield s
    close_store(s)


@pytest.fixture
def file_store_path(tmp_path: Path) -> Path:
    return tmp_path / "mlmd.sqlite"


@pytest.fixture
def file_store(file_store_path: Path):
    """A fresh store on a new SQLite file (tmp_path/mlmd.sqlite, READWRITE_OPENCREATE)."""
    s = open_store(file_config(file_store_path, Mode.READWRITE_OPENCREATE))
    yield s
    close_store(s)


@pytest.fixture(params=["memory", "file"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path):
    """The test runs once on an in-memory store and once on a file store."""
    config = memory_config() if request.param == "memory" else file_config(tmp_path / "any.sqlite")
    s = open_store(config)
    yield s
    close_store(s)


class Types:
    """Ids of the standard test types created by make_types."""

    artifact: int
    execution: int
    context: int
    context2: int


def make_types(s: Any) -> Types:
    """Artifact type 'DataSet' {day:INT, split:STRING, score:DOUBLE, flag:BOOLEAN, meta:STRUCT, blob:PROTO},
    execution type 'Trainer' {state:STRING, n:INT}, context types 'Pipeline' {owner:STRING} and 'Run'."""
    t = Types()
    at = pb.ArtifactType(name="DataSet")
    at.properties["day"] = pb.INT
    at.properties["split"] = pb.STRING
    at.properties["score"] = pb.DOUBLE
    at.properties["flag"] = pb.BOOLEAN
    at.properties["meta"] = pb.STRUCT
    at.properties["blob"] = pb.PROTO
    t.artifact = s.put_artifact_type(at)
    et = pb.ExecutionType(name="Trainer")
    et.properties["state"] = pb.STRING
    et.properties["n"] = pb.INT
    t.execution = s.put_execution_type(et)
    ct = pb.ContextType(name="Pipeline")
    ct.properties["owner"] = pb.STRING
    t.context = s.put_context_type(ct)
    t.context2 = s.put_context_type(pb.ContextType(name="Run"))
    return t


class _CountingCursor:
    """A DB-API cursor that counts the statements it runs (server drivers have no statement hook)."""

    def __init__(self, cursor: Any, statements: list[str]):
        self._cursor, self._statements = cursor, statements

    def execute(self, sql: Any, *args: Any) -> Any:
        self._statements.append(sql)
        return self._cursor.execute(sql, *args)

    def executemany(self, sql: Any, rows: Any) -> Any:
        self._statements.append(sql)
        return self._cursor.executemany(sql, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def count_statements(s: Any, fn: Any) -> tuple[int, Any]:
    """How many statements `fn` runs on an mlmd_core store, and its result. On a server it counts what the
    connection sends: on MySQL a multi-statement query (a round trip) counts once."""
    statements: list[str] = []
    database = s._backend.database
    if database.is_sqlite:
        conn = database._memory_conn  # an APSW connection (engine.MemoryConnection): its statement hook

        def trace(_cursor: Any, sql: str, _bindings: Any) -> bool:
            statements.append(sql)
            return True  # go on running it

        conn.exec_trace = trace
        try:
            result = fn()
        finally:
            conn.exec_trace = None
        return len(statements), result
    from unittest import mock

    from mlmd_core.store import sql

    original = sql.Cursor.__init__

    def counting_init(self: Any, raw: Any, statement_cache: Any, cursor: Any = None) -> None:
        original(self, raw, statement_cache, cursor)
        self._cursor = _CountingCursor(self._cursor, statements)

    with mock.patch.object(sql.Cursor, "__init__", counting_init):
        result = fn()
    return len(statements), result
