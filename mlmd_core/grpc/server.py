"""mlmd-server: ml_metadata.MetadataStoreService over gRPC, a drop-in for ml-metadata's metadata_store_server.

Every RPC is served by one generic handler from the SQL engine's HANDLERS table, over ONE store opened at
startup (so its connection pool, type cache and an in-memory database live as long as the server — unlike
ml-metadata, which reconnects per RPC and so loses its fake database between calls).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from typing import Any, Optional, Protocol

import grpc
from google.protobuf import message as pb_message
from google.protobuf import text_format
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from mlmd_core import errors
from mlmd_core.metadata_store import describe_config
from mlmd_core.proto import metadata_store_pb2 as pb
from mlmd_core.proto import metadata_store_service_pb2 as service_pb

SERVICE_NAME = "ml_metadata.MetadataStoreService"
DEFAULT_PORT = 8080
DEFAULT_HOST = "127.0.0.1"
DEFAULT_MAX_WORKERS = 16
# ml-metadata keeps gRPC's 4 MiB receive limit; lineage and batch puts outgrow it, so allow more by default.
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
DEFAULT_GRACE_SEC = 30.0

_log = logging.getLogger("mlmd_core.grpc.server")

_STATUS_BY_CODE: dict[int, grpc.StatusCode] = {code.value[0]: code for code in grpc.StatusCode}


class Backend(Protocol):
    def call(self, method: str, request: Any) -> Any: ...

    def close(self) -> None: ...


# ------------------------------------------------------------------------------------------ servicer


def _method_table() -> dict[str, tuple[type, type]]:
    """RPC name -> (request class, response class), from the service descriptor (the wire contract)."""
    service = service_pb.DESCRIPTOR.services_by_name["MetadataStoreService"]
    return {m.name: (getattr(service_pb, m.input_type.name), getattr(service_pb, m.output_type.name))
            for m in service.methods}


def _log_failure(method: str, code: grpc.StatusCode, message: str, context: grpc.ServicerContext,
                 started: float) -> None:
    """One JSON line per failed call: greppable, and parseable by log shippers."""
    _log.warning(json.dumps({
        "event": "rpc_failed", "method": method, "code": code.name, "message": message[:2000],
        "peer": context.peer(), "duration_ms": round((time.monotonic() - started) * 1000, 2)}))


def _make_handler(backend: Backend, method: str, request_class: type) -> Callable[[bytes, Any], Any]:
    """The unary handler of one RPC. It parses the request itself so garbage gets INVALID_ARGUMENT (gRPC's
    own deserializer would answer INTERNAL), and maps mlmd_core errors to their status codes."""

    def handle(data: bytes, context: grpc.ServicerContext) -> Any:
        started = time.monotonic()
        try:
            request = request_class.FromString(data)
        except pb_message.DecodeError as exc:
            code = grpc.StatusCode.INVALID_ARGUMENT
            message = f"Cannot parse {request_class.DESCRIPTOR.full_name}: {exc}"
        else:
            try:
                return backend.call(method, request)
            except errors.StatusError as exc:
                code = _STATUS_BY_CODE.get(exc.error_code, grpc.StatusCode.UNKNOWN)
                message = exc.message
            except Exception as exc:  # a bug must not kill the worker thread or leak a stack to the client
                _log.exception("unexpected error in %s", method)
                code, message = grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}"
        _log_failure(method, code, message, context, started)
        context.abort(code, message)

    return handle


def generic_handler(backend: Backend) -> grpc.GenericRpcHandler:
    """Every RPC of MetadataStoreService, forwarded by name to `backend.call`."""
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            _make_handler(backend, name, request_class),
            request_deserializer=None,
            response_serializer=lambda response: response.SerializeToString())
        for name, (request_class, _) in _method_table().items()
    }
    return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)


# ---------------------------------------------------------------------------------------------- TLS


def server_credentials(ssl: pb.MetadataStoreServerConfig.SSLConfig) -> grpc.ServerCredentials:
    """As ml-metadata: key/cert pair, custom_ca as the client-certificate root, client_verify → mTLS."""
    if not ssl.server_key or not ssl.server_cert:
        raise errors.InvalidArgumentError("ssl_config needs both server_key and server_cert (PEM contents).")
    if ssl.client_verify and not ssl.custom_ca:
        raise errors.InvalidArgumentError("ssl_config.client_verify needs custom_ca to verify client certificates.")
    return grpc.ssl_server_credentials(
        [(ssl.server_key.encode("ascii"), ssl.server_cert.encode("ascii"))],
        root_certificates=ssl.custom_ca.encode("ascii") if ssl.custom_ca else None,
        require_client_auth=ssl.client_verify)


# ------------------------------------------------------------------------------------------- server


def parse_channel_arguments(text: str) -> list[tuple[str, Any]]:
    """`--grpc_channel_arguments`: comma-separated k=v; integer values as int, others as strings (as MLMD)."""
    out: list[tuple[str, Any]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--grpc_channel_arguments: expected key=value, got {item!r}")
        try:
            parsed: Any = int(value.strip())
        except ValueError:
            parsed = value.strip()
        out.append((key.strip(), parsed))
    return out


class MetadataStoreServer:
    """A gRPC server answering MetadataStoreService and grpc.health.v1 from one backend."""

    def __init__(self, backend: Backend, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 ssl_config: Optional[pb.MetadataStoreServerConfig.SSLConfig] = None,
                 max_workers: int = DEFAULT_MAX_WORKERS, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 channel_arguments: Sequence[tuple[str, Any]] = (), close_backend: bool = True):
        self.backend = backend
        self.host = host
        self._close_backend = close_backend
        options = [("grpc.max_receive_message_length", max_message_bytes),
                   ("grpc.max_send_message_length", max_message_bytes),
                   ("grpc.so_reuseport", 0)]
        options += list(channel_arguments)  # later entries win in gRPC core
        self._executor = futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="mlmd-rpc")
        self._server = grpc.server(self._executor, options=options)
        self._server.add_generic_rpc_handlers((generic_handler(backend),))
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        target = f"{host}:{port}" if ":" not in host or host.startswith("[") else f"[{host}]:{port}"
        if ssl_config is not None:
            self.port = self._server.add_secure_port(target, server_credentials(ssl_config))
        else:
            self.port = self._server.add_insecure_port(target)
        if not self.port:
            raise errors.UnavailableError(f"Cannot listen on {target}")
        self.tls = ssl_config is not None
        self._stopped = threading.Event()

    def start(self) -> MetadataStoreServer:
        self._server.start()
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        return self

    def stop(self, grace: Optional[float] = DEFAULT_GRACE_SEC) -> None:
        """Graceful: health turns NOT_SERVING, new calls are refused, in-flight calls get `grace` seconds
        to finish; then the store is closed."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.health.enter_graceful_shutdown()
        self._server.stop(grace).wait()
        self._executor.shutdown(wait=True)
        if self._close_backend:
            self.backend.close()

    def wait(self) -> None:
        self._server.wait_for_termination()

    def __enter__(self) -> MetadataStoreServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop(grace=1.0)


def open_backend(config: pb.MetadataStoreServerConfig, retries: int = 5) -> Backend:
    """The one store all RPCs share: schema created or checked (and migrated if asked) once, at startup.
    Aborted (a concurrent process creating the schema) is retried, as ml-metadata's server does."""
    from mlmd_core.store.bootstrap import open_service
    from mlmd_core.warm_up import warm_up_for

    connection = config.connection_config
    if connection.WhichOneof("config") is None:
        connection = pb.ConnectionConfig(fake_database=pb.FakeDatabaseConfig())
    attempt = 0
    while True:
        try:
            backend = open_service(connection, config.migration_options if config.HasField("migration_options")
                                   else pb.MigrationOptions())
            break
        except errors.AbortedError:
            attempt += 1
            if attempt > retries:
                raise
            time.sleep(0.1 * attempt)
    warm_up_for(connection)  # the process's first SQLite store compiles the everyday statements
    return backend


def serve(config: Optional[pb.MetadataStoreServerConfig] = None, host: str = DEFAULT_HOST, port: int = 0,
          **kwargs: Any) -> MetadataStoreServer:
    """Opens the store of `config` (default: in-memory) and starts serving it; port 0 picks a free port
    (read it from `.port`). Stop it with `.stop()`."""
    config = config or pb.MetadataStoreServerConfig()
    backend = open_backend(config)
    try:
        server = MetadataStoreServer(backend, host=host, port=port,
                                     ssl_config=config.ssl_config if config.HasField("ssl_config") else None,
                                     **kwargs)
    except BaseException:
        backend.close()
        raise
    return server.start()


# -------------------------------------------------------------------------------------------- flags


class FlagError(ValueError):
    """A bad command line: printed and exit status 2."""


_BOOL_FLAGS = ("enable_database_upgrade", "postgres_config_skip_db_creation")


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "t", "1", "yes", "y"):
        return True
    if lowered in ("false", "f", "0", "no", "n"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {value!r}")


def _gflags_argv(argv: Sequence[str]) -> list[str]:
    """gflags spellings → argparse: `-flag=v` → `--flag=v`, `--noflag` → `--flag=false` for booleans."""
    out = []
    for arg in argv:
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2:
            arg = "-" + arg
        name = arg[2:].split("=", 1)[0] if arg.startswith("--") else ""
        if name.startswith("no") and name[2:] in _BOOL_FLAGS and "=" not in arg:
            arg = f"--{name[2:]}=false"
        out.append(arg)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mlmd-server",
        description="ml_metadata.MetadataStoreService over gRPC (flags as ml-metadata's metadata_store_server).")
    p.add_argument("--grpc_port", type=int, default=DEFAULT_PORT, help="port to listen on; 0 picks a free one")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help="address to listen on (default loopback only; 0.0.0.0 or [::] to expose it)")
    p.add_argument("--grpc_threads", type=int, default=DEFAULT_MAX_WORKERS, help="size of the RPC thread pool")
    p.add_argument("--max_message_bytes", type=int, default=DEFAULT_MAX_MESSAGE_BYTES,
                   help="largest request and response accepted")
    p.add_argument("--shutdown_grace_sec", type=float, default=DEFAULT_GRACE_SEC,
                   help="on SIGTERM, how long in-flight calls may take to finish")
    p.add_argument("--grpc_channel_arguments", default="", help="comma-separated k=v gRPC server arguments")
    p.add_argument("--metadata_source_config_type", default="default",
                   choices=("default", "config_file", "mysql", "postgresql"))
    p.add_argument("--metadata_store_server_config_file", default="",
                   help="text-format MetadataStoreServerConfig (connection_config, migration_options, ssl_config)")
    p.add_argument("--metadata_store_connection_retries", type=int, default=5)
    p.add_argument("--enable_database_upgrade", type=_bool, nargs="?", const=True, default=None)
    p.add_argument("--downgrade_db_schema_version", type=int, default=-1)
    for name in ("host", "database", "user", "password"):
        p.add_argument(f"--mysql_config_{name}", default="")
    p.add_argument("--mysql_config_port", type=int, default=0)
    for name in ("host", "hostaddr", "port", "user", "password", "passfile", "dbname", "sslmode", "sslcert",
                 "sslkey", "sslpassword", "sslrootcert"):
        p.add_argument(f"--postgres_config_{name}", default="")
    p.add_argument("--postgres_config_skip_db_creation", type=_bool, nargs="?", const=True, default=False)
    p.add_argument("--log_level", default="INFO")
    return p


def _mysql_config(a: argparse.Namespace) -> pb.ConnectionConfig:
    if not (a.mysql_config_host and a.mysql_config_port and a.mysql_config_database):
        raise FlagError("--mysql_config_host, --mysql_config_port and --mysql_config_database must be given together")
    return pb.ConnectionConfig(mysql=pb.MySQLDatabaseConfig(
        host=a.mysql_config_host, port=a.mysql_config_port, database=a.mysql_config_database,
        user=a.mysql_config_user, password=a.mysql_config_password))


def _postgres_config(a: argparse.Namespace) -> pb.ConnectionConfig:
    if bool(a.postgres_config_host) == bool(a.postgres_config_hostaddr):
        raise FlagError("exactly one of --postgres_config_host and --postgres_config_hostaddr is required")
    missing = [f"--postgres_config_{n}" for n in ("port", "dbname", "user") if not getattr(a, f"postgres_config_{n}")]
    if missing:
        raise FlagError(f"{', '.join(missing)} required with the postgresql config")
    cfg = pb.PostgreSQLDatabaseConfig(skip_db_creation=a.postgres_config_skip_db_creation)
    for name in ("host", "hostaddr", "port", "user", "password", "passfile", "dbname"):
        if getattr(a, f"postgres_config_{name}"):
            setattr(cfg, name, getattr(a, f"postgres_config_{name}"))
    for name in ("sslmode", "sslcert", "sslkey", "sslpassword", "sslrootcert"):
        if getattr(a, f"postgres_config_{name}"):
            setattr(cfg.ssloption, name, getattr(a, f"postgres_config_{name}"))
    return pb.ConnectionConfig(postgresql=cfg)


def read_config_file(path: str) -> pb.MetadataStoreServerConfig:
    """A text-format MetadataStoreServerConfig file."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as exc:
        raise FlagError(f"--metadata_store_server_config_file: {exc}") from exc
    try:
        return text_format.Parse(text, pb.MetadataStoreServerConfig())
    except text_format.ParseError as exc:
        raise FlagError(f"{path}: not a text-format MetadataStoreServerConfig: {exc}") from exc


def server_config_from_flags(a: argparse.Namespace) -> tuple[pb.MetadataStoreServerConfig, bool]:
    """The MetadataStoreServerConfig the flags describe, and whether it fell back to the in-memory store.

    As ml-metadata: `default` takes the config file, else the mysql flags (here also the postgres flags), else
    an in-memory store. Unlike ml-metadata, --enable_database_upgrade / --downgrade_db_schema_version also
    apply on top of a config file (ml-metadata silently ignores them there)."""
    kind = a.metadata_source_config_type
    postgres_given = bool(a.postgres_config_host or a.postgres_config_hostaddr)
    config = pb.MetadataStoreServerConfig()
    fallback = False
    if kind == "config_file" or (kind == "default" and a.metadata_store_server_config_file):
        if not a.metadata_store_server_config_file:
            raise FlagError("--metadata_source_config_type=config_file needs --metadata_store_server_config_file")
        config = read_config_file(a.metadata_store_server_config_file)
    elif kind == "mysql" or (kind == "default" and a.mysql_config_host):
        config.connection_config.CopyFrom(_mysql_config(a))
    elif kind == "postgresql" or (kind == "default" and postgres_given):
        config.connection_config.CopyFrom(_postgres_config(a))
    if not config.connection_config.WhichOneof("config"):
        config.connection_config.fake_database.SetInParent()
        fallback = True
    if a.enable_database_upgrade is not None:
        config.migration_options.enable_upgrade_migration = a.enable_database_upgrade
    if a.downgrade_db_schema_version >= 0:
        config.migration_options.downgrade_to_schema_version = a.downgrade_db_schema_version
    options = config.migration_options
    if options.enable_upgrade_migration and options.downgrade_to_schema_version >= 0:
        raise FlagError("--enable_database_upgrade and --downgrade_db_schema_version cannot be used together")
    return config, fallback


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(_gflags_argv(sys.argv[1:] if argv is None else argv))
    if args.grpc_port < 0:
        parser.error("--grpc_port must be >= 0")
    if args.grpc_threads < 1:
        parser.error("--grpc_threads must be >= 1")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The `mlmd-server` command: serve until SIGTERM/SIGINT, then shut down gracefully."""
    try:
        args = parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config, fallback = server_config_from_flags(args)
        channel_arguments = parse_channel_arguments(args.grpc_channel_arguments)
    except (FlagError, ValueError) as exc:
        print(f"mlmd-server: {exc}", file=sys.stderr)
        return 2
    connection = config.connection_config
    if config.migration_options.downgrade_to_schema_version >= 0:
        # As ml-metadata: a downgrade run migrates and exits instead of serving.
        from mlmd_core.metadata_store import downgrade_schema
        try:
            downgrade_schema(connection, config.migration_options.downgrade_to_schema_version)
        except errors.StatusError as exc:
            _log.error("downgrade failed: %s: %s", type(exc).__name__, exc)
            return 1
        _log.info("database downgraded to schema version %d; exiting",
                  config.migration_options.downgrade_to_schema_version)
        return 0
    if fallback:
        _log.warning("No database configured: serving an IN-MEMORY store whose contents are lost when the server "
                     "stops. Pass --metadata_store_server_config_file (or the mysql/postgres flags) to persist.")
    try:
        backend = open_backend(config, retries=args.metadata_store_connection_retries)
    except errors.StatusError as exc:
        _log.error("cannot open the store (%s): %s: %s", describe_config(connection), type(exc).__name__, exc)
        return 1
    try:
        server = MetadataStoreServer(
            backend, host=args.host, port=args.grpc_port,
            ssl_config=config.ssl_config if config.HasField("ssl_config") else None,
            max_workers=args.grpc_threads, max_message_bytes=args.max_message_bytes,
            channel_arguments=channel_arguments)
    except (errors.StatusError, RuntimeError, ValueError) as exc:
        backend.close()
        _log.error("cannot start the server: %s", exc)
        return 1
    # The handler only records the signal: setting a threading.Event from a handler can deadlock, since the
    # handler runs in the main thread, possibly while it holds that Event's lock inside wait().
    received: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: received.append(signum))
    server.start()
    # Always shown (whatever --log_level): it says where the server is, and tools read the port from it.
    listening = {"event": "listening", "host": args.host, "port": server.port, "tls": server.tls,
                 "mtls": bool(config.ssl_config.client_verify), "store": describe_config(connection),
                 "threads": args.grpc_threads, "pid": os.getpid()}
    _log.log(max(logging.INFO, _log.getEffectiveLevel()), json.dumps(listening))
    while not received:
        time.sleep(0.2)
    _log.info("shutting down: finishing in-flight calls (grace %.1fs)", args.shutdown_grace_sec)
    server.stop(grace=args.shutdown_grace_sec)
    _log.info("stopped")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
