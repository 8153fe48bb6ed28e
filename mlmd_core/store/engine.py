"""ConnectionConfig -> SQLAlchemy Engine, and the per-call transaction around a DB-API connection."""

from __future__ import annotations

import functools
import importlib
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

import apsw
import sqlalchemy
from sqlalchemy.dialects.postgresql.base import PGIdentifierPreparer
from sqlalchemy.engine.interfaces import BindTyping
from sqlalchemy.pool import NullPool, StaticPool

from mlmd_core import errors
from mlmd_core.proto import metadata_store_pb2 as pb

# How long a SQLite writer waits for another process's write lock before the call is retried.
SQLITE_BUSY_TIMEOUT_MS = 20_000
# How a SQLite file connection is set up (an in-memory one needs none of it). WAL: readers never block the
# writer, and NORMAL sync is then safe against corruption. mmap_size: pages are read from a memory map of the
# file (shared by every connection and process) instead of a read() each time one leaves the connection's 2 MB
# page cache — point reads 10-15% faster at 10k-100k artifacts (docs/performance.md).
SQLITE_FILE_PRAGMAS = (f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}", "PRAGMA mmap_size = 1073741824")
SQLITE_WRITER_PRAGMAS = ("PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL")

_SqliteMode = pb.SqliteMetadataSourceConfig.ConnectionMode

# What a SQLite error is, whichever driver raised it: APSW (in-memory stores) or the standard library's sqlite3.
SQLITE_ERRORS = (apsw.Error, sqlite3.Error)
_MEMORY_OPEN_FLAGS = apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE | apsw.SQLITE_OPEN_NOMUTEX


class _MemoryCursor(apsw.Cursor):
    """An APSW cursor with the DB-API `lastrowid` the store reads."""

    @property
    def lastrowid(self) -> int:
        return self.connection.last_insert_rowid()


class MemoryConnection(apsw.Connection):
    """An in-memory SQLite database through APSW, with the few DB-API methods the store and SQLAlchemy's
    dialect call on a connection.

    APSW rather than the standard library's sqlite3 because Python 3.11's sqlite3 gives up and takes back
    the GIL around every value it reads (a row of 8 values: 10 GIL round trips), a fifth of a point read's
    instructions; APSW reads rows without (docs/performance.md). Only for in-memory databases: APSW brings
    its own copy of SQLite, and two copies of SQLite in one process must not open the same file (POSIX locks
    are per process: one copy closing the file drops the other's locks, sqlite.org/howtocorrupt.html), which
    a user reading a store's file with sqlite3 would do. Autocommit unless a BEGIN is executed, as sqlite3
    with isolation_level=None."""

    def __init__(self, filename: str) -> None:
        # No SQLite mutex around each call into it (≈ 7% of a lineage query's instructions): Database serves
        # an in-memory connection to one call at a time (_memory_lock), and APSW refuses concurrent use itself.
        super().__init__(filename, flags=_MEMORY_OPEN_FLAGS)
        self.cursor_factory = _MemoryCursor
        self._control = self.cursor()  # for COMMIT and ROLLBACK: Connection.execute makes a cursor each time
        # Plans that do not depend on bound values: APSW's SQLite (built with STAT4) otherwise re-prepares a
        # statement such as a type lookup by name ordered by id after every commit (≈ 70k instructions, 4×
        # the lookup itself).
        self.config(apsw.SQLITE_DBCONFIG_ENABLE_QPSG, 1)

    def commit(self) -> None:
        if self.in_transaction:
            self._control.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self._control.execute("ROLLBACK")

    def create_function(self, name: str, num_params: int, func: Any, deterministic: bool = False) -> None:
        """sqlite3's signature (SQLAlchemy's dialect registers `regexp` with it on connect)."""
        self.create_scalar_function(name, func, num_params, deterministic=deterministic)


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
                creator=lambda: MemoryConnection(":memory:"),
                poolclass=StaticPool,
            )
        uri, read_only = target

        def connect() -> sqlite3.Connection:
            try:
                conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False,
                                       timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
            except sqlite3.Error as exc:
                raise errors.InvalidArgumentError(f"Cannot connect sqlite3 database {uri}: {exc}") from exc
            for pragma in SQLITE_FILE_PRAGMAS + (() if read_only else SQLITE_WRITER_PRAGMAS):
                conn.execute(pragma)
            return conn

        # Database keeps one connection per thread for the store's lifetime (see Database.acquire).
        return sqlalchemy.create_engine("sqlite://", creator=connect, poolclass=NullPool)
    if which == "mysql":
        return _mysql_engine(config.mysql)
    if which == "postgresql":
        return _postgres_engine(config.postgresql)
    if which is None:
        raise errors.InvalidArgumentError("Unset")
    raise errors.UnimplementedError(f"the {which} backend is not supported yet")


# ------------------------------------------------------------------------------------ MySQL / MariaDB

# The attribute of a MySQL engine's dialect naming the character set of the database's text columns (utf8mb4,
# latin1...): a query's string literals arrive in the session's latin1 and are converted to it before a byte
# comparison (mlmd_core.filter.compiler).
MYSQL_TEXT_CHARSET = "mlmd_text_charset"

# MySQL error numbers: what a caller can retry, and what means the connection is gone.
_MYSQL_RETRY = {1205, 1213}  # lock wait timeout, deadlock
_MYSQL_DUPLICATE = {1062, 1586}
_MYSQL_TABLE_EXISTS = {1050}
# Values the server's column types cannot hold: out of range (int_value is a 32-bit INT in MLMD's schema),
# bad string data; PostgreSQL: numeric out of range, NUL in text, bad encoding.
_MYSQL_BAD_VALUE = {1264, 1366, 1406, 1690}
_PG_BAD_VALUE = {"22003", "22021", "22P05", "22001"}
_MYSQL_GONE = {2006, 2013, 2014, 2045, 2055, 1927, 4031}  # gone away, lost, killed, idle timeout
# Server pool: connections kept per store, and how long before one is replaced (MySQL wait_timeout).
POOL_SIZE = 5
POOL_MAX_OVERFLOW = 10
POOL_RECYCLE_S = 3600
# No ping per checkout and no rollback per checkin (each costs a round trip on every call): every call
# ends its own transaction, and a connection found dead is replaced by Database.run (see is_disconnect).
_POOL_ARGS: dict[str, Any] = {"pool_size": POOL_SIZE, "max_overflow": POOL_MAX_OVERFLOW,
                              "pool_recycle": POOL_RECYCLE_S, "pool_timeout": 60, "pool_reset_on_return": None}


def _first_then(first: Any, connect: Callable[[], Any]) -> Callable[[], Any]:
    """A pool's creator that hands out `first` (the connection that found the database, or None), then new ones:
    a connection set up less per store opened (3-4 ms on PostgreSQL, which starts a server process for each)."""
    spare = [first] if first is not None else []

    def create() -> Any:
        try:
            return spare.pop()
        except IndexError:  # handed out already (by another thread, perhaps)
            return connect()

    return create


MYSQL_DRIVERS = ("mysqlclient", "pymysql")
# What a MySQL store imports of its driver, some of it only when it first connects (import_driver).
_MYSQL_DRIVER_MODULES = {
    "mysqlclient": ("MySQLdb", "MySQLdb.connections", "MySQLdb.converters", "MySQLdb.constants.CLIENT",
                    "MySQLdb.constants.FIELD_TYPE"),
    "pymysql": ("pymysql", "pymysql.connections", "pymysql.constants.CLIENT"),
}


def mysql_driver() -> str:
    """The driver of MySQL connections: `MLMD_MYSQL_DRIVER` when set, else mysqlclient when it is installed
    (it reads results in C, as ml-metadata's libmysqlclient does: a round trip costs a third of pymysql's, 500
    property rows a fifth), else pymysql, the pure-Python one `mlmd-airflow[mysql]` installs."""
    chosen = os.environ.get("MLMD_MYSQL_DRIVER", "").strip().lower()
    if chosen:
        if chosen not in MYSQL_DRIVERS:
            raise errors.InvalidArgumentError(
                f"MLMD_MYSQL_DRIVER={chosen!r}: expected one of {', '.join(MYSQL_DRIVERS)}")
        return chosen
    try:
        import MySQLdb  # noqa: F401 - mysqlclient's module

        return "mysqlclient"
    except ImportError:
        return "pymysql"


def import_driver(backend: str) -> None:
    """Imports the driver of a `mysql` or `postgresql` store with the parts of it the store loads when it first
    connects (mlmd_core.warm_up.import_backend); ImportError when the driver is not installed."""
    if backend == "mysql":
        driver_name = mysql_driver()
        for name in _MYSQL_DRIVER_MODULES[driver_name]:
            importlib.import_module(name)
        _mysql_cursor_class(driver_name)
    elif backend == "postgresql":
        _pg_cursor_class()


def _mysql_engine(cfg: pb.MySQLDatabaseConfig) -> sqlalchemy.Engine:
    """MySQL connections with mysqlclient or pymysql (mysql_driver), in READ COMMITTED, so a call sees rows
    committed while it waited for a lock.

    Text goes over the wire as ml-metadata's client sends it: a latin1 session that carries the UTF-8
    bytes of the text (the server stores them double-encoded in the utf8mb4 columns). So a database written
    by ml-metadata reads the same here, and the other way round, non-ASCII text included. The driver encodes
    queries and decodes text as UTF-8 all the same: pymysql is told so after connecting; mysqlclient connects
    as utf8mb4 and the session is switched to latin1 behind its back (with the server's reports of session
    variables turned off, which would tell it)."""
    if not cfg.database:
        raise errors.InvalidArgumentError("MySQL config needs a database name.")
    driver_name = mysql_driver()
    module = "MySQLdb" if driver_name == "mysqlclient" else "pymysql"
    try:
        driver = importlib.import_module(module)
        client_flags = importlib.import_module(f"{module}.constants.CLIENT")
    except ImportError as exc:
        raise errors.FailedPreconditionError(
            f"The MySQL driver {driver_name} is not installed (pip install 'mlmd-airflow[mysql]' for pymysql, "
            f"'mlmd-airflow[mysqlclient]' for mysqlclient): {exc}") from exc
    # autocommit: reads run without a transaction (Database.begin opens one for writes only)
    # multi-statements: independent reads (Cursor.all_each) and deferred writes (Cursor.defer) in one round trip
    args: dict[str, Any] = {"connect_timeout": 10, "autocommit": True, "client_flag": client_flags.MULTI_STATEMENTS,
                            "cursorclass": _mysql_cursor_class(driver_name)}
    for key in ("user", "password"):  # unset: the driver's default (the login name, no password)
        if getattr(cfg, key):
            args[key] = getattr(cfg, key)
    if cfg.socket:
        args["unix_socket"] = cfg.socket
    else:
        args["host"] = cfg.host or "localhost"
        args["port"] = cfg.port or 3306
    if driver_name == "mysqlclient":
        args.update(charset="utf8mb4", binary_prefix=True)
    else:
        args["charset"] = "latin1"
    if cfg.HasField("ssl_options"):
        ssl = cfg.ssl_options
        args["ssl"] = {k: getattr(ssl, k) for k in ("key", "cert", "ca", "capath", "cipher") if getattr(ssl, k)}
        # MLMD's verify_server_cert checks the server's certificate and host name (MYSQL_OPT_SSL_VERIFY_SERVER_CERT);
        # without it a given CA still checks the certificate's chain, as libmariadb does.
        if driver_name == "mysqlclient":
            args["ssl_mode"] = "VERIFY_IDENTITY" if ssl.verify_server_cert else "REQUIRED"
        else:  # in the dict: pymysql's ssl_verify_* arguments would replace it with one of their own, without the CA
            args["ssl"].update(check_hostname=ssl.verify_server_cert,
                               verify_mode=bool(ssl.verify_server_cert or ssl.ca or ssl.capath))
    where = cfg.socket or f"{args.get('host')}:{args.get('port')}"

    def connect(database: str | None, pooled: bool = False) -> Any:
        """A pooled connection killed while it is set up raises the driver's error: Database.run connects again."""
        try:
            conn = driver.connect(database=database or "", **args)
            if driver_name == "pymysql":
                conn.encoding = "utf-8"  # what pymysql encodes queries and decodes text with: the bytes as they are
            return conn
        except driver.OperationalError as exc:
            if exc.args and ((database and exc.args[0] == 1049) or (pooled and exc.args[0] in _MYSQL_GONE)):
                raise  # 1049: unknown database
            raise errors.UnavailableError(f"Cannot connect to MySQL server at {where}: {exc}") from exc
        except driver.Error as exc:
            raise errors.UnavailableError(f"Cannot connect to MySQL server at {where}: {exc}") from exc

    first = None
    try:
        first = connect(cfg.database)
    except driver.OperationalError as exc:  # 1049: the database does not exist
        if cfg.skip_db_creation:
            raise errors.FailedPreconditionError(
                f"MySQL database {cfg.database!r} does not exist and skip_db_creation is set: {exc}") from exc
        admin = connect(None)
        try:
            with admin.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS `{cfg.database.replace('`', '``')}`")
        finally:
            admin.close()

    engine = sqlalchemy.create_engine(
        f"mysql+{'mysqldb' if driver_name == 'mysqlclient' else 'pymysql'}://",
        creator=_first_then(first, lambda: connect(cfg.database, pooled=True)), paramstyle="format", **_POOL_ARGS)

    def on_connect(conn: Any, _record: Any) -> None:
        """The session's settings, after SQLAlchemy's own (its SET NAMES would undo the latin1 session): no
        reports of session variables before SET NAMES (see the docstring above); group_concat_max_len: see
        sql.packed_rows (1 GiB, max_allowed_packet's cap)."""
        with conn.cursor() as cur:
            cur.execute("SET SESSION session_track_system_variables = '';\n"
                        "SET NAMES latin1;\n"
                        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;\n"
                        "SET SESSION group_concat_max_len = 1073741824")
            while cur.nextset():
                pass

    sqlalchemy.event.listen(engine, "connect", on_connect)
    return engine


@functools.cache
def _mysql_cursor_class(driver_name: str) -> type:
    """The driver's cursor, sending a write transaction's BEGIN with its first statement (one multi-statement
    query) instead of on its own: Database.begin only marks it pending, saving a round trip per write call.
    `query_bytes` is a statement with its values in, as the driver sends it (both drivers interpolate values
    themselves), for multi-statement queries (sql.Cursor)."""
    if driver_name == "mysqlclient":
        from MySQLdb.cursors import Cursor

        def with_values(self: Any, query: str, args: Any = None) -> bytes:
            """What MySQLdb's execute sends, with ints and None written here: its `literal` costs ≈ 1 µs a
            value in Python, and a put_execution sends about 120."""
            if not args or isinstance(args, dict):
                return bytes(self._mogrify(query, args))
            db = self._get_db()
            literal = db.literal
            return (query.encode(db.encoding) if isinstance(query, str) else query) % tuple(
                b"NULL" if value is None else b"%d" % value if type(value) is int else literal(value)
                for value in args)
    else:
        from pymysql.cursors import Cursor

        def with_values(self: Any, query: str, args: Any = None) -> bytes:
            if args is not None:
                query = self.mogrify(query, args)
            # encoded as pymysql encodes a query
            return query.encode(self.connection.encoding, "surrogateescape") if isinstance(query, str) else query

    class BeginCarryingCursor(Cursor):
        query_bytes = with_values

        def execute(self, query: Any, args: Any = None) -> int:
            conn = self.connection
            if not getattr(conn, "mlmd_begin_pending", False):
                return super().execute(query, args)
            conn.mlmd_begin_pending = False
            conn.mlmd_in_transaction = True  # until Database.commit/rollback, or the next call's begin
            super().execute(b"BEGIN;\n" + self.query_bytes(query, args))  # the first result is BEGIN's
            self.nextset()  # the statement's result (its error, if it failed, is raised here)
            return self.rowcount

    return BeginCarryingCursor


# ------------------------------------------------------------------------------------------ PostgreSQL

_PG_RETRY = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available
_PG_DUPLICATE = {"23505"}
_PG_TABLE_EXISTS = {"42P07"}
_PG_GONE_CLASSES = ("08", "57P")  # connection exceptions, operator intervention (terminated backend)


def _pg_cut_off(exc: Exception) -> bool:
    """Whether a connection attempt reached the server and was then cut (not refused, not rejected): libpq
    reports it by message only, without an SQLSTATE."""
    message = str(exc)
    return "server closed the connection unexpectedly" in message or "terminating connection" in message


@functools.cache
def _pg_cursor_class() -> type:
    """psycopg's cursor, sending a write transaction's BEGIN in one pipeline with its first statement instead
    of on its own (as _mysql_cursor_class does on MySQL): a round trip less per write call."""
    import psycopg

    class BeginCarryingCursor(psycopg.Cursor):
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            conn = self.connection
            if not getattr(conn, "mlmd_begin_pending", False):
                return super().execute(query, params, **kwargs)
            conn.mlmd_begin_pending = False
            if conn.pgconn.pipeline_status:  # in a pipeline already (sql.Cursor): BEGIN goes ahead in it
                psycopg.Cursor(conn).execute("BEGIN")
                return super().execute(query, params, **kwargs)
            with conn.pipeline():  # its results are read when the block ends: one round trip for both
                psycopg.Cursor(conn).execute("BEGIN")
                super().execute(query, params, **kwargs)
            return self

        def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
            conn = self.connection
            if getattr(conn, "mlmd_begin_pending", False):
                conn.mlmd_begin_pending = False
                psycopg.Cursor(conn).execute("BEGIN")
            super().executemany(query, params_seq, **kwargs)

    return BeginCarryingCursor


class _FoldingPreparer(PGIdentifierPreparer):
    """MLMD creates its PostgreSQL tables unquoted, so their names are folded to lower case (`artifact`,
    `artifactproperty`, `uniqueartifacttypename`): every identifier is lower-cased, quoted only if reserved."""

    def quote(self, ident: str) -> str:
        return super().quote(ident.lower())


def _postgres_engine(cfg: pb.PostgreSQLDatabaseConfig) -> sqlalchemy.Engine:
    """psycopg 3 connections; libpq does the SSL and passfile handling from the same key words as MLMD."""
    import psycopg

    if not cfg.dbname:
        raise errors.InvalidArgumentError("PostgreSQL config needs a dbname.")
    params: dict[str, Any] = {}
    for key in ("host", "hostaddr", "port", "user", "password", "passfile"):
        value = getattr(cfg, key)
        if value:
            params[key] = value
    for key in ("sslmode", "sslcert", "sslkey", "sslpassword", "sslrootcert"):
        value = getattr(cfg.ssloption, key)
        if value:
            params[key] = value
    params.setdefault("connect_timeout", 10)
    where = f"{cfg.host or cfg.hostaddr or 'localhost'}:{cfg.port or 5432}"

    store_cursor = _pg_cursor_class()

    def connect(dbname: str, store: bool = False, pooled: bool = False) -> Any:
        """An autocommit connection; `store`: one of the store's (with its cursor class). One the pool opens
        (`pooled`) and that is killed while it is set up raises the driver's error: Database.run connects again."""
        try:
            if store:
                return psycopg.connect(dbname=dbname, autocommit=True, cursor_factory=store_cursor, **params)
            return psycopg.connect(dbname=dbname, autocommit=True, **params)
        except psycopg.OperationalError as exc:
            if (dbname == cfg.dbname and "does not exist" in str(exc)) or (pooled and _pg_cut_off(exc)):
                raise
            raise errors.UnavailableError(f"Cannot connect to PostgreSQL server at {where}: {exc}") from exc

    first = None
    try:
        first = connect(cfg.dbname, store=True)
    except psycopg.OperationalError as exc:
        if cfg.skip_db_creation:
            raise errors.FailedPreconditionError(
                f"PostgreSQL database {cfg.dbname!r} does not exist and skip_db_creation is set: {exc}") from exc
        admin = connect("postgres")
        try:
            name = cfg.dbname.replace('"', '""')
            try:
                admin.execute(f'CREATE DATABASE "{name}"')
            except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                pass  # created meanwhile by a racing process
        finally:
            admin.close()

    engine = sqlalchemy.create_engine(
        "postgresql+psycopg://", creator=_first_then(first, lambda: connect(cfg.dbname, store=True, pooled=True)),
        paramstyle="format", **_POOL_ARGS)
    engine.dialect.identifier_preparer = _FoldingPreparer(engine.dialect)
    # No `%s::INTEGER` casts on parameters: a statement is compiled once per shape, and a cast taken from a
    # column's type would make `id > 9223372036854775807` an error instead of no match (as on SQLite).
    engine.dialect.bind_typing = BindTyping.NONE
    return engine


class Database:
    """An engine plus what a call needs around it: a connection, one transaction per call, MLMD errors."""

    def __init__(self, engine: sqlalchemy.Engine, read_only: bool = False):
        self.engine = engine
        self.dialect = engine.dialect
        self.read_only = read_only
        self.is_sqlite = self.dialect.name == "sqlite"
        # What a database error of this store is: its driver's, and on SQLite either driver's (SQLITE_ERRORS).
        self.errors: tuple[type[BaseException], ...] = (*SQLITE_ERRORS, self.dialect.loaded_dbapi.Error)
        self.in_memory = isinstance(engine.pool, StaticPool)
        # One in-memory SQLite connection is shared by all threads, one call at a time.
        self._memory_lock = threading.Lock() if self.in_memory else None
        self._memory_conn: Any = engine.raw_connection().driver_connection if self.in_memory else None
        # A SQLite connection's DB-API cursor is kept with it (only one call at a time uses a connection).
        self._memory_cursor: Any = self._memory_conn.cursor() if self.in_memory else None
        # A SQLite file gets one connection per thread, kept open: cheaper than a pool checkout per call.
        self._per_thread = threading.local()
        self._thread_conns: list[Any] = []
        self._thread_conns_lock = threading.Lock()
        # The step between the ids one multi-row INSERT gets (MySQL's auto_increment_increment: > 1 on some
        # multi-primary setups); None where they may interleave with another INSERT's (PostgreSQL; MySQL with
        # innodb_autoinc_lock_mode 2). SQLite's, under the write lock, follow each other.
        self.id_step: int | None = 1 if self.is_sqlite else None
        self.insert_strategy = "sqlite" if self.is_sqlite else self._probe_server()

    def _probe_server(self) -> str:
        """How many-row INSERTs learn their ids on this server (see sql.INSERT_STRATEGIES); on MySQL it also
        notes the step between ids (`id_step`) and, on the dialect, the character set of the database's text
        columns (MYSQL_TEXT_CHARSET)."""
        if self.dialect.name != "mysql":
            return "returning"
        pooled = self.engine.raw_connection()  # also initializes the dialect (server version)
        try:
            cursor = pooled.driver_connection.cursor()
            # MLMD's tables take the database's default; a column of an existing one tells what it was then
            cursor.execute("SELECT COALESCE((SELECT CHARACTER_SET_NAME FROM information_schema.COLUMNS WHERE "
                           "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'Artifact' AND COLUMN_NAME = 'uri'), "
                           "@@character_set_database), @@innodb_autoinc_lock_mode, @@auto_increment_increment")
            charset, mode, step = cursor.fetchone()
            setattr(self.dialect, MYSQL_TEXT_CHARSET, charset)
            self.id_step = int(step) if int(mode) <= 1 else None
            if getattr(self.dialect, "is_mariadb", False) and (self.dialect.server_version_info or (0,)) >= (10, 5):
                return "returning"
            return "consecutive" if self.id_step is not None else "per_row"
        finally:
            pooled.close()

    def acquire(self) -> tuple[Any, Any, Any]:
        """(handle, DB-API connection, a DB-API cursor of it or None) for one call; give the handle back with
        release()."""
        if self._memory_lock is not None:
            self._memory_lock.acquire()
            return None, self._memory_conn, self._memory_cursor
        if self.is_sqlite:
            kept = self._per_thread
            conn = getattr(kept, "conn", None)
            if conn is None:
                fairy = self.engine.raw_connection()
                conn = kept.conn = fairy.driver_connection
                kept.cursor = conn.cursor()
                with self._thread_conns_lock:
                    self._thread_conns.append(fairy)
            return False, conn, kept.cursor
        pooled = self.engine.raw_connection()
        return pooled, pooled.driver_connection, None

    def release(self, handle: Any) -> None:
        if handle is None:
            self._memory_lock.release()  # type: ignore[union-attr]
        elif handle is not False:
            handle.close()

    def begin(self, raw: Any, write: bool, cursor: Any = None) -> None:
        """Starts the call's transaction. SQLite writers take the write lock up front (BEGIN IMMEDIATE)
        so two writers never deadlock upgrading a read lock; in-memory reads need no transaction.

        Server connections are in autocommit mode and only writes open a transaction: under READ COMMITTED
        each statement of a read sees its own snapshot anyway, so a read's transaction would only add a
        COMMIT round trip. A write's BEGIN goes with its first statement (_mysql_cursor_class,
        _pg_cursor_class)."""
        if not self.is_sqlite:
            raw.mlmd_begin_pending = write
            if self.dialect.name == "mysql":
                raw.mlmd_in_transaction = False
            return
        if not write and self.in_memory:
            return
        try:  # on the call's cursor when given: a connection's execute() makes a cursor each time
            (raw if cursor is None else cursor).execute("BEGIN IMMEDIATE" if write and not self.read_only else "BEGIN")
        except SQLITE_ERRORS as exc:
            raise map_db_error(exc) from exc

    def commit(self, raw: Any) -> None:
        if not self.is_sqlite:
            raw.mlmd_begin_pending = False  # a write call that ran no statement began nothing
        if not self._in_transaction(raw):
            return
        try:
            raw.commit()
            if self.dialect.name == "mysql":
                raw.mlmd_in_transaction = False
        except SQLITE_ERRORS as exc:
            raw.rollback()
            raise map_db_error(exc) from exc

    def _in_transaction(self, raw: Any) -> bool:
        if self.is_sqlite:
            return raw.in_transaction
        if self.dialect.name == "mysql":
            return getattr(raw, "mlmd_in_transaction", False)  # BEGIN sent (_mysql_cursor_class), not yet ended
        return raw.info.transaction_status != 0  # psycopg: not IDLE

    def rollback(self, raw: Any) -> None:
        if not self.is_sqlite:
            raw.mlmd_begin_pending = False
            if self.dialect.name == "mysql":
                raw.mlmd_in_transaction = False
            try:
                raw.rollback()
            except Exception:  # noqa: BLE001 - a dead connection: the server rolled back already
                pass
        elif raw.in_transaction:
            raw.rollback()

    def is_disconnect(self, exc: BaseException, raw: Any) -> bool:
        """Whether a driver error means the connection is gone (killed, timed out, server restarted)."""
        if self.is_sqlite:
            return False
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        if code in _MYSQL_GONE:
            return True
        sqlstate = getattr(exc, "sqlstate", None) or ""
        if sqlstate.startswith(_PG_GONE_CLASSES) or _pg_cut_off(exc):
            return True
        if getattr(raw, "closed", False) is True or getattr(raw, "open", True) is False:
            return True
        return bool(self.dialect.is_disconnect(exc, raw, None))

    def invalidate(self, handle: Any) -> None:
        """Drops a dead pooled connection and every connection opened before it (after a server restart
        they are all dead), so the next checkout connects afresh. Pool._invalidate is what SQLAlchemy's own
        Connection calls on a disconnect error."""
        if handle is None or handle is False:
            return
        try:
            self.engine.pool._invalidate(handle)
        except Exception:  # noqa: BLE001 - already detached
            pass

    def lock_schema(self, raw: Any) -> None:
        """Serializes openers of one server database until the transaction ends, so racing processes neither
        create the tables twice nor insert the system types twice (SQLite: BEGIN IMMEDIATE does it)."""
        if self.is_sqlite:
            return
        cursor = raw.cursor()
        if self.dialect.name == "mysql":
            # A row lock needs a table; an empty database has none. GET_LOCK is per session: unlock_schema.
            cursor.execute("SELECT GET_LOCK(CONCAT('mlmd_core.schema.', DATABASE()), 60)")
        else:
            cursor.execute("SELECT pg_advisory_xact_lock(7310541726)")
        cursor.fetchall()

    def unlock_schema(self, raw: Any) -> None:
        if self.dialect.name == "mysql":
            try:
                cursor = raw.cursor()
                cursor.execute("SELECT RELEASE_LOCK(CONCAT('mlmd_core.schema.', DATABASE()))")
                cursor.fetchall()
            except Exception:  # noqa: BLE001 - a dead session has released it
                pass

    def dispose(self) -> None:
        if self._memory_conn is not None:
            self._memory_conn.close()
            self._memory_conn = self._memory_cursor = None
        with self._thread_conns_lock:
            for fairy in self._thread_conns:
                fairy.close()
            self._thread_conns.clear()
        self._per_thread = threading.local()
        self.engine.dispose()


def is_duplicate_key(exc: BaseException) -> bool:
    """Whether a driver error (not one of ours) is a unique-key violation."""
    return not isinstance(exc, errors.StatusError) and isinstance(map_db_error(exc), errors.AlreadyExistsError)


def map_db_error(exc: BaseException) -> errors.StatusError:
    """A driver error as the MLMD error a caller can act on (Aborted is retried by the client)."""
    message = str(exc)
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    sqlstate = getattr(exc, "sqlstate", None)
    if code in _MYSQL_RETRY or sqlstate in _PG_RETRY:
        return errors.AbortedError(f"Transaction aborted by a concurrent writer (deadlock or lock wait), "
                                   f"retry: {message}")
    if code in _MYSQL_TABLE_EXISTS or sqlstate in _PG_TABLE_EXISTS:
        return errors.AbortedError(f"The schema is being created by a concurrent connection, retry: {message}")
    if code in _MYSQL_DUPLICATE or sqlstate in _PG_DUPLICATE:
        return errors.AlreadyExistsError(f"Given node already exists: {message}")
    lowered = message.lower()
    if (code in _MYSQL_BAD_VALUE or sqlstate in _PG_BAD_VALUE or "can not be used with mysql" in lowered
            or "cannot contain nul" in lowered):
        return errors.InvalidArgumentError(f"A value does not fit MLMD's schema on this database: {message}")
    if code in _MYSQL_GONE or (sqlstate or "").startswith(_PG_GONE_CLASSES):
        return errors.UnavailableError(f"Lost the connection to the database server: {message}")
    lowered = message.lower()
    if "locked" in lowered or "busy" in lowered or "deadlock" in lowered or "lock wait timeout" in lowered:
        return errors.AbortedError(f"Transaction aborted by a concurrent writer, retry: {message}")
    if "unique" in lowered or "duplicate" in lowered:
        return errors.AlreadyExistsError(f"Given node already exists: {message}")
    if "readonly" in lowered or "read-only" in lowered:
        return errors.PermissionDeniedError(f"The database is read-only: {message}")
    return errors.InternalError(f"Database error: {message}")
