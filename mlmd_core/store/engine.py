"""ConnectionConfig -> SQLAlchemy Engine, and the per-call transaction around a DB-API connection."""

from __future__ import annotations

import os
import sqlite3
import threading
import urllib.parse
from typing import Any

import sqlalchemy
from sqlalchemy.pool import NullPool, StaticPool

from mlmd_core import errors
from mlmd_core.proto import metadata_store_pb2 as pb

# How long a SQLite writer waits for another process's write lock before the call is retried.
SQLITE_BUSY_TIMEOUT_MS = 20_000

_SqliteMode = pb.SqliteMetadataSourceConfig.ConnectionMode


def sqlite_target(config: pb.ConnectionConfig) -> tuple[str, bool] | None:
    """(sqlite3 URI, read_only) for a SQLite config; None for an in-memory database."""
    if config.WhichOneof("config") == "fake_database":
        return None
    uri = config.sqlite.filename_uri
    if not uri or uri == ":memory:":
        return None
    mode = config.sqlite.connection_mode or _SqliteMode.READWRITE_OPENCREATE
    flag = {_SqliteMode.READONLY: "ro", _SqliteMode.READWRITE: "rw"}.get(mode, "rwc")
    if uri.startswith("file:"):
        sep = "&" if "?" in uri else "?"
        target = uri if "mode=" in uri else f"{uri}{sep}mode={flag}"
    else:
        target = f"file:{urllib.parse.quote(os.path.abspath(uri))}?mode={flag}"
    return target, mode == _SqliteMode.READONLY


def create_engine(config: pb.ConnectionConfig) -> sqlalchemy.Engine:
    """The engine of a ConnectionConfig. SQLite connections run in autocommit mode; transactions are
    begun explicitly by `Database.transaction` so writers take the lock up front."""
    which = config.WhichOneof("config")
    if which in ("fake_database", "sqlite"):
        target = sqlite_target(config)
        if target is None:
            return sqlalchemy.create_engine(
                "sqlite://",
                creator=lambda: sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False),
                poolclass=StaticPool,
            )
        uri, read_only = target

        def connect() -> sqlite3.Connection:
            try:
                conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False,
                                       timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
            except sqlite3.Error as exc:
                raise errors.InvalidArgumentError(f"Cannot connect sqlite3 database {uri}: {exc}") from exc
            conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if not read_only:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            return conn

        # Database keeps one connection per thread for the store's lifetime (see Database.acquire).
        return sqlalchemy.create_engine("sqlite://", creator=connect, poolclass=NullPool)
    if which is None:
        raise errors.InvalidArgumentError("Unset")
    raise errors.UnimplementedError(f"the {which} backend is not supported yet")


class Database:
    """An engine plus what a call needs around it: a connection, one transaction per call, MLMD errors."""

    def __init__(self, engine: sqlalchemy.Engine, read_only: bool = False):
        self.engine = engine
        self.dialect = engine.dialect
        self.read_only = read_only
        self.is_sqlite = self.dialect.name == "sqlite"
        self.in_memory = isinstance(engine.pool, StaticPool)
        # One in-memory SQLite connection is shared by all threads, one call at a time.
        self._memory_lock = threading.Lock() if self.in_memory else None
        self._memory_conn: Any = engine.raw_connection().driver_connection if self.in_memory else None
        # A SQLite file gets one connection per thread, kept open: cheaper than a pool checkout per call.
        self._per_thread = threading.local()
        self._thread_conns: list[Any] = []
        self._thread_conns_lock = threading.Lock()

    def acquire(self) -> tuple[Any, Any]:
        """(handle, DB-API connection) for one call; give the handle back with release()."""
        if self._memory_lock is not None:
            self._memory_lock.acquire()
            return None, self._memory_conn
        if self.is_sqlite:
            conn = getattr(self._per_thread, "conn", None)
            if conn is None:
                fairy = self.engine.raw_connection()
                conn = self._per_thread.conn = fairy.driver_connection
                with self._thread_conns_lock:
                    self._thread_conns.append(fairy)
            return False, conn
        pooled = self.engine.raw_connection()
        return pooled, pooled

    def release(self, handle: Any) -> None:
        if handle is None:
            self._memory_lock.release()  # type: ignore[union-attr]
        elif handle is not False:
            handle.close()

    def begin(self, raw: Any, write: bool) -> None:
        """Starts the call's transaction. SQLite writers take the write lock up front (BEGIN IMMEDIATE)
        so two writers never deadlock upgrading a read lock; in-memory reads need no transaction."""
        if not self.is_sqlite:
            return
        if not write and self.in_memory:
            return
        try:
            raw.execute("BEGIN IMMEDIATE" if write and not self.read_only else "BEGIN")
        except sqlite3.OperationalError as exc:
            raise map_db_error(exc) from exc

    def commit(self, raw: Any) -> None:
        if self.is_sqlite and not raw.in_transaction:
            return
        try:
            raw.commit()
        except sqlite3.OperationalError as exc:
            raw.rollback()
            raise map_db_error(exc) from exc

    def rollback(self, raw: Any) -> None:
        if not self.is_sqlite or raw.in_transaction:
            raw.rollback()

    def dispose(self) -> None:
        if self._memory_conn is not None:
            self._memory_conn.close()
            self._memory_conn = None
        with self._thread_conns_lock:
            for fairy in self._thread_conns:
                fairy.close()
            self._thread_conns.clear()
        self._per_thread = threading.local()
        self.engine.dispose()


def map_db_error(exc: Exception) -> errors.StatusError:
    """A driver error as the MLMD error a caller can act on (Aborted is retried by the client)."""
    message = str(exc)
    lowered = message.lower()
    if "locked" in lowered or "busy" in lowered or "deadlock" in lowered or "lock wait timeout" in lowered:
        return errors.AbortedError(f"Transaction aborted by a concurrent writer, retry: {message}")
    if "unique" in lowered or "duplicate" in lowered:
        return errors.AlreadyExistsError(f"Given node already exists: {message}")
    if "readonly" in lowered or "read-only" in lowered:
        return errors.PermissionDeniedError(f"The database is read-only: {message}")
    return errors.InternalError(f"Database error: {message}")
