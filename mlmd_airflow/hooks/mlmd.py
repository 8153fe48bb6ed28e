"""MlmdHook: an Airflow connection of type `mlmd` -> an mlmd_core MetadataStore.

The connection names one of four backends (extra field `backend`), each mapped to the proto MLMD takes:

- sqlite:     extra `path` (default $AIRFLOW_HOME/mlmd.sqlite)              -> ConnectionConfig.sqlite
- mysql:      host, port, schema (database), login, password, ssl_* extras  -> ConnectionConfig.mysql
- postgresql: host, port, schema (dbname), login, password, ssl* extras     -> ConnectionConfig.postgresql
- grpc:       host, port of an mlmd-server, tls_* extras                    -> MetadataStoreClientConfig

Without `backend`, a connection with a host is `grpc` and one without is `sqlite`. docs/airflow.md lists every
field. When the connection does not exist at all, `store_for()` opens the embedded default, a SQLite file in
AIRFLOW_HOME (WAL + busy timeout, so several worker processes can write it at once).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from airflow.sdk import BaseHook

from mlmd_core import MetadataStore
from mlmd_core.metadata_store import describe_config
from mlmd_core.proto import metadata_store_pb2 as pb

log = logging.getLogger(__name__)

CONN_TYPE = "mlmd"
DEFAULT_CONN_ID = "mlmd_default"
DEFAULT_SQLITE_NAME = "mlmd.sqlite"
DEFAULT_GRPC_PORT = 8080
BACKENDS = ("sqlite", "mysql", "postgresql", "grpc")

_EXTRA_PREFIX = f"extra__{CONN_TYPE}__"
_SQLITE_MODES = {
    "readonly": pb.SqliteMetadataSourceConfig.READONLY,
    "readwrite": pb.SqliteMetadataSourceConfig.READWRITE,
    "readwrite_opencreate": pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE,
}

# Which Connection fields and extra keys each backend reads; anything else that is set is an error.
_STANDARD_FIELDS = {
    "sqlite": set(),
    "mysql": {"host", "port", "schema", "login", "password"},
    "postgresql": {"host", "port", "schema", "login", "password"},
    "grpc": {"host", "port"},
}
_EXTRA_FIELDS = {
    "sqlite": {"path", "connection_mode"},
    "mysql": {"socket", "ssl_key", "ssl_cert", "ssl_ca", "ssl_capath", "ssl_cipher", "ssl_verify_server_cert",
              "skip_db_creation", "max_num_retries"},
    "postgresql": {"hostaddr", "passfile", "sslmode", "sslcert", "sslkey", "sslpassword", "sslrootcert",
                   "skip_db_creation", "max_num_retries"},
    "grpc": {"tls", "tls_ca", "tls_cert", "tls_key", "client_timeout_sec", "max_receive_message_length",
             "http2_max_ping_strikes"},
}
EXTRA_FIELDS: frozenset[str] = frozenset({"backend"}.union(*_EXTRA_FIELDS.values()))


class MlmdConnectionError(ValueError):
    """The `mlmd` connection cannot describe a store; the message names the connection and the field."""


# ------------------------------------------------------------------------------------ connection -> proto


def default_sqlite_path() -> str:
    """Where the embedded store lives: `$AIRFLOW_HOME/mlmd.sqlite` (read at call time, not import time)."""
    from airflow.configuration import get_airflow_home

    return os.path.join(get_airflow_home(), DEFAULT_SQLITE_NAME)


def default_config() -> pb.ConnectionConfig:
    """The embedded default store: a SQLite file in AIRFLOW_HOME, created on first use."""
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = default_sqlite_path()
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return config


def _is_set(value: Any) -> bool:
    return value is not None and value != ""


def _extras(conn: Any, where: str) -> dict[str, Any]:
    """The connection's extra as a dict; `extra__mlmd__x` keys (older UI forms) become `x`; blanks dropped."""
    raw = conn.extra_dejson if hasattr(conn, "extra_dejson") else (conn.extra or {})
    if not isinstance(raw, dict):
        raise MlmdConnectionError(f"{where}: extra must be a JSON object, got {type(raw).__name__}")
    extras: dict[str, Any] = {}
    for key, value in raw.items():
        name = key[len(_EXTRA_PREFIX):] if key.startswith(_EXTRA_PREFIX) else key
        if name not in EXTRA_FIELDS:
            raise MlmdConnectionError(
                f"{where}: unknown extra field {key!r}; known fields: {', '.join(sorted(EXTRA_FIELDS))}")
        if _is_set(value):
            extras[name] = value
    return extras


def _to_bool(where: str, name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise MlmdConnectionError(f"{where}: {name} must be true or false, got {value!r}")


def _to_number(where: str, name: str, value: Any, kind: Callable[[Any], Any]) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise MlmdConnectionError(f"{where}: {name} must be a number, got {value!r}") from None
    if number <= 0:
        raise MlmdConnectionError(f"{where}: {name} must be greater than 0, got {value!r}")
    return number


def _pem(where: str, name: str, value: str) -> str:
    """PEM text as MLMD's SSLConfig wants it: the value itself if it is PEM, else the content of that file."""
    text = str(value)
    if text.lstrip().startswith("-----BEGIN"):
        return text
    path = os.path.expanduser(text)
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise MlmdConnectionError(f"{where}: {name} is neither PEM text nor a readable PEM file: {exc}") from None


def backend_of(conn: Any) -> str:
    """The connection's backend: extra `backend`, else `grpc` when a host is set, else `sqlite`."""
    where = f"connection {getattr(conn, 'conn_id', None)!r}"
    backend = _extras(conn, where).get("backend")
    if backend is None:
        return "grpc" if _is_set(conn.host) else "sqlite"
    backend = str(backend).strip().lower()
    if backend == "postgres":
        backend = "postgresql"
    if backend not in BACKENDS:
        raise MlmdConnectionError(f"{where}: backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    return backend


def store_config(conn: Any) -> pb.ConnectionConfig | pb.MetadataStoreClientConfig:
    """Maps an `mlmd` Airflow Connection to the proto MetadataStore takes; MlmdConnectionError names a bad field.

    `conn` is an `airflow.sdk.Connection` (or anything with conn_type, host, port, schema, login, password and
    extra / extra_dejson).
    """
    where = f"connection {getattr(conn, 'conn_id', None)!r}"
    conn_type = getattr(conn, "conn_type", None)
    if _is_set(conn_type) and conn_type != CONN_TYPE:
        raise MlmdConnectionError(f"{where}: conn_type is {conn_type!r}, expected {CONN_TYPE!r}")
    backend = backend_of(conn)
    extras = _extras(conn, where)
    extras.pop("backend", None)
    for name in ("host", "port", "schema", "login", "password"):
        if _is_set(getattr(conn, name, None)) and name not in _STANDARD_FIELDS[backend]:
            raise MlmdConnectionError(f"{where}: field {name!r} does not apply to backend {backend!r}")
    for name in extras:
        if name not in _EXTRA_FIELDS[backend]:
            raise MlmdConnectionError(f"{where}: extra field {name!r} does not apply to backend {backend!r}")
    where = f"{where} (backend {backend})"
    if backend == "sqlite":
        return _sqlite_config(where, extras)
    if backend == "mysql":
        return _mysql_config(where, conn, extras)
    if backend == "postgresql":
        return _postgresql_config(where, conn, extras)
    return _grpc_config(where, conn, extras)


def _sqlite_config(where: str, extras: dict[str, Any]) -> pb.ConnectionConfig:
    config = default_config()
    if "path" in extras:
        path = str(extras["path"])
        if not path.startswith("file:"):
            # Relative paths are relative to AIRFLOW_HOME, not to whatever directory a worker happens to run in.
            path = os.path.join(os.path.dirname(default_sqlite_path()), os.path.expanduser(path))
        config.sqlite.filename_uri = path
    if "connection_mode" in extras:
        mode = str(extras["connection_mode"]).strip().lower()
        if mode not in _SQLITE_MODES:
            choices = ", ".join(_SQLITE_MODES)
            raise MlmdConnectionError(
                f"{where}: connection_mode must be one of {choices}, got {extras['connection_mode']!r}")
        config.sqlite.connection_mode = _SQLITE_MODES[mode]
    return config


def _retries(where: str, config: pb.ConnectionConfig, extras: dict[str, Any]) -> None:
    if "max_num_retries" in extras:
        config.retry_options.max_num_retries = _to_number(where, "max_num_retries", extras["max_num_retries"], int)


def _mysql_config(where: str, conn: Any, extras: dict[str, Any]) -> pb.ConnectionConfig:
    config = pb.ConnectionConfig()
    mysql = config.mysql
    if not _is_set(conn.host) and "socket" not in extras:
        raise MlmdConnectionError(f"{where}: host (or extra socket) is required")
    if not _is_set(conn.schema):
        raise MlmdConnectionError(f"{where}: schema (the database name) is required")
    if _is_set(conn.host):
        mysql.host = conn.host
    if _is_set(conn.port):
        mysql.port = _to_number(where, "port", conn.port, int)
    mysql.database = conn.schema
    if _is_set(conn.login):
        mysql.user = conn.login
    if _is_set(conn.password):
        mysql.password = conn.password
    if "socket" in extras:
        mysql.socket = str(extras["socket"])
    for name in ("key", "cert", "ca", "capath", "cipher"):
        if f"ssl_{name}" in extras:
            setattr(mysql.ssl_options, name, str(extras[f"ssl_{name}"]))
    if "ssl_verify_server_cert" in extras:
        mysql.ssl_options.verify_server_cert = _to_bool(
            where, "ssl_verify_server_cert", extras["ssl_verify_server_cert"])
    if "skip_db_creation" in extras:
        mysql.skip_db_creation = _to_bool(where, "skip_db_creation", extras["skip_db_creation"])
    _retries(where, config, extras)
    return config


def _postgresql_config(where: str, conn: Any, extras: dict[str, Any]) -> pb.ConnectionConfig:
    config = pb.ConnectionConfig()
    pg = config.postgresql
    if not _is_set(conn.host) and "hostaddr" not in extras:
        raise MlmdConnectionError(f"{where}: host (or extra hostaddr) is required")
    if not _is_set(conn.schema):
        raise MlmdConnectionError(f"{where}: schema (the database name) is required")
    if _is_set(conn.host):
        pg.host = conn.host
    if _is_set(conn.port):
        pg.port = str(_to_number(where, "port", conn.port, int))
    pg.dbname = conn.schema
    if _is_set(conn.login):
        pg.user = conn.login
    if _is_set(conn.password):
        pg.password = conn.password
    for name in ("hostaddr", "passfile"):
        if name in extras:
            setattr(pg, name, str(extras[name]))
    for name in ("sslmode", "sslcert", "sslkey", "sslpassword", "sslrootcert"):
        if name in extras:
            setattr(pg.ssloption, name, str(extras[name]))
    if "skip_db_creation" in extras:
        pg.skip_db_creation = _to_bool(where, "skip_db_creation", extras["skip_db_creation"])
    _retries(where, config, extras)
    return config


def _grpc_config(where: str, conn: Any, extras: dict[str, Any]) -> pb.MetadataStoreClientConfig:
    config = pb.MetadataStoreClientConfig()
    if not _is_set(conn.host):
        raise MlmdConnectionError(f"{where}: host (the mlmd-server address) is required")
    config.host = conn.host
    config.port = _to_number(where, "port", conn.port, int) if _is_set(conn.port) else DEFAULT_GRPC_PORT
    has_certs = any(name in extras for name in ("tls_ca", "tls_cert", "tls_key"))
    tls = _to_bool(where, "tls", extras["tls"]) if "tls" in extras else has_certs
    if has_certs and not tls:
        raise MlmdConnectionError(f"{where}: tls is false but tls_ca/tls_cert/tls_key are set")
    if ("tls_cert" in extras) != ("tls_key" in extras):
        raise MlmdConnectionError(f"{where}: tls_cert and tls_key must be given together (client certificate)")
    if tls:
        ssl = config.ssl_config
        ssl.SetInParent()  # TLS with the system's root certificates when no CA is given
        if "tls_ca" in extras:
            ssl.custom_ca = _pem(where, "tls_ca", extras["tls_ca"])
        if "tls_cert" in extras:
            # MLMD's client reads its own certificate chain from SSLConfig.server_cert.
            ssl.server_cert = _pem(where, "tls_cert", extras["tls_cert"])
            ssl.client_key = _pem(where, "tls_key", extras["tls_key"])
    if "client_timeout_sec" in extras:
        config.client_timeout_sec = _to_number(where, "client_timeout_sec", extras["client_timeout_sec"], float)
    for name in ("max_receive_message_length", "http2_max_ping_strikes"):
        if name in extras:
            setattr(config.channel_arguments, name, _to_number(where, name, extras[name], int))
    return config


# ------------------------------------------------------------------------------------ hook and store cache


def _not_found_errors() -> tuple[type[BaseException], ...]:
    from airflow.sdk.exceptions import AirflowNotFoundException

    classes: list[type[BaseException]] = [AirflowNotFoundException]
    try:  # airflow-core's class differs from the Task SDK's in some versions
        from airflow.exceptions import AirflowNotFoundException as CoreNotFound

        classes.append(CoreNotFound)
    except ImportError:  # pragma: no cover - Task-SDK-only worker
        pass
    return tuple(classes)


def config_for(conn_id: str) -> pb.ConnectionConfig | pb.MetadataStoreClientConfig:
    """The store config of connection `conn_id`, or the embedded default when that connection does not exist."""
    try:
        conn = MlmdHook.get_connection(conn_id)
    except _not_found_errors():
        level = logging.INFO if conn_id == DEFAULT_CONN_ID else logging.WARNING
        log.log(level, "MLMD connection %r is not defined; using the embedded store %s", conn_id,
                default_sqlite_path())
        return default_config()
    return store_config(conn)


def preload_store_modules(conn_id: str) -> None:
    """Imports the modules the store of `conn_id` will need (its database driver, or the gRPC client:
    mlmd_core.warm_up.import_backend), for the Airflow component that forks task processes (listener._preload).
    The connection is looked for in the environment only (AIRFLOW_CONN_<ID>, as README.md sets it; read as the
    Task SDK's Connection, JSON or URI as Airflow reads it, without Airflow's encryption of its fields): a secrets
    backend or the metastore would be a lookup while the plugin loads. Without it, the SQL drivers that are
    installed (the mysql, mysqlclient and postgres extras) are imported; the embedded SQLite store needs none."""
    from airflow.sdk import Connection

    from mlmd_core.warm_up import import_backend

    value = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    conn = None if not value else (Connection.from_json(value, conn_id=conn_id) if value.lstrip().startswith("{")
                                   else Connection.from_uri(value, conn_id=conn_id))
    configs = [store_config(conn)] if conn is not None else [
        pb.ConnectionConfig(mysql=pb.MySQLDatabaseConfig()),
        pb.ConnectionConfig(postgresql=pb.PostgreSQLDatabaseConfig())]
    for config in configs:
        import_backend(config)


_stores: dict[tuple[int, str], MetadataStore] = {}
_stores_lock = threading.Lock()


def store_for(conn_id: str | None = None) -> MetadataStore:
    """The MetadataStore of `conn_id` (default: `[mlmd] conn_id`), opened once per process and connection.

    A missing connection means the embedded SQLite store in AIRFLOW_HOME. The cache is keyed by the process id so
    a forked child never reuses its parent's database handles (those entries are left alone, not closed: closing
    an inherited SQLite handle in a child can disturb the parent's locks).
    """
    if conn_id is None:
        from mlmd_airflow.config import load_settings

        conn_id = load_settings().conn_id
    key = (os.getpid(), conn_id)
    store = _stores.get(key)
    if store is not None:
        return store
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = MetadataStore(config_for(conn_id))
            _stores[key] = store
    return store


def reset_stores() -> None:
    """Closes this process's cached stores and forgets them (next store_for() reconnects). For tests and
    long-lived processes whose connection changed."""
    pid = os.getpid()
    with _stores_lock:
        for key in [k for k in _stores if k[0] == pid]:
            store = _stores.pop(key)
            try:
                store.close()
            except Exception:  # closing is best effort
                log.debug("closing MLMD store %s failed", key, exc_info=True)


class MlmdHook(BaseHook):
    """Airflow hook of an ML Metadata store: `MlmdHook().get_conn()` is the store the listener records into."""

    conn_name_attr = "mlmd_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "ML Metadata Store"

    def __init__(self, mlmd_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mlmd_conn_id is None:
            from mlmd_airflow.config import load_settings

            mlmd_conn_id = load_settings().conn_id
        self.mlmd_conn_id = mlmd_conn_id

    def get_store_config(self) -> pb.ConnectionConfig | pb.MetadataStoreClientConfig:
        """The proto this hook's connection maps to (the embedded default if the connection does not exist)."""
        return config_for(self.mlmd_conn_id)

    def get_conn(self) -> MetadataStore:
        """The (per-process cached) MetadataStore of this connection."""
        return store_for(self.mlmd_conn_id)

    def test_connection(self) -> tuple[bool, str]:
        """Opens the store afresh (no cache: the connection may just have been edited) and makes one read."""
        try:
            config = store_config(self.get_connection(self.mlmd_conn_id))
            with MetadataStore(config) as store:
                store.get_context_types()
        except Exception as exc:  # reported to the UI, not raised
            return False, f"{type(exc).__name__}: {exc}"
        return True, f"Connected to {describe_config(config)}"
