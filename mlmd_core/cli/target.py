"""`--db`: which store a command reads or writes, as one string.

A SQLite path, a SQLAlchemy-style URL (`sqlite:///path`, `mysql://user:pw@host:port/db`,
`postgresql://user@host:port/db`) or `grpc://host:port` (an mlmd-server). Without `--db`, the `MLMD_DB`
environment variable, else the embedded store of the Airflow provider, `$AIRFLOW_HOME/mlmd.sqlite`
(computed here, without importing Airflow: mlmd_core must work without it).
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Union

import click

from mlmd_core import errors
from mlmd_core.metadata_store import describe_config as describe
from mlmd_core.proto import metadata_store_pb2 as pb

ENV_VAR = "MLMD_DB"
StoreConfig = Union[pb.ConnectionConfig, pb.MetadataStoreClientConfig]

_PG_SSL = ("sslmode", "sslcert", "sslkey", "sslpassword", "sslrootcert")


def default_db() -> str:
    """`$MLMD_DB`, else `$AIRFLOW_HOME/mlmd.sqlite` (AIRFLOW_HOME defaults to ~/airflow, as in Airflow)."""
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return os.path.join(home, "mlmd.sqlite")


def parse_db(text: str) -> StoreConfig:
    """The config a `--db` string names; a ValueError says what is wrong with it."""
    text = text.strip()
    if not text:
        raise ValueError("empty store address")
    if "://" not in text:
        return _sqlite(text)
    url = urllib.parse.urlsplit(text)
    scheme = url.scheme.lower().split("+", 1)[0]  # mysql+pymysql://, postgresql+psycopg:// as SQLAlchemy spells them
    query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
    try:
        port = url.port
    except ValueError as exc:
        raise ValueError(f"{text}: bad port") from exc
    user = urllib.parse.unquote(url.username) if url.username else ""
    password = urllib.parse.unquote(url.password) if url.password else ""
    database = urllib.parse.unquote(url.path.lstrip("/"))
    if scheme == "sqlite":
        # sqlite:///relative/path, sqlite:////absolute/path (SQLAlchemy's spelling)
        if url.netloc or not url.path.startswith("/") or url.path == "/":
            raise ValueError(f"{text}: expected sqlite:///relative/path or sqlite:////absolute/path")
        return _sqlite(urllib.parse.unquote(url.path[1:]))
    if scheme == "grpc":
        if not url.hostname or not port:
            raise ValueError(f"{text}: expected grpc://host:port")
        return pb.MetadataStoreClientConfig(host=url.hostname, port=port)
    if scheme in ("mysql", "mariadb"):
        if not database or not (url.hostname or "socket" in query):
            raise ValueError(f"{text}: expected mysql://user:password@host:port/database")
        mysql = pb.MySQLDatabaseConfig(host=url.hostname or "", port=port or (0 if "socket" in query else 3306),
                                       database=database, user=user, password=password)
        if "socket" in query:
            mysql.socket = query["socket"]
        return pb.ConnectionConfig(mysql=mysql)
    if scheme in ("postgresql", "postgres"):
        if not database or not url.hostname:
            raise ValueError(f"{text}: expected postgresql://user:password@host:port/dbname")
        postgres = pb.PostgreSQLDatabaseConfig(host=url.hostname, port=str(port or 5432), dbname=database, user=user)
        if password:
            postgres.password = password
        for name in _PG_SSL:
            if name in query:
                setattr(postgres.ssloption, name, query[name])
        return pb.ConnectionConfig(postgresql=postgres)
    raise ValueError(f"{text}: unknown scheme {url.scheme!r} (use a SQLite path, sqlite:///, mysql://, "
                     "postgresql:// or grpc://)")


def _sqlite(path: str) -> pb.ConnectionConfig:
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = os.path.expanduser(path)
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return config


def examples(*lines: str) -> str:
    """A click epilog of example command lines, kept verbatim (click's \\b) and indented."""
    title = "Example:" if len(lines) == 1 else "Examples:"
    return f"{title}\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


class DbParam(click.ParamType):
    """Parses `--db` at the command line, so a bad address is a usage error (exit status 2)."""

    name = "DB"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> StoreConfig:
        if isinstance(value, (pb.ConnectionConfig, pb.MetadataStoreClientConfig)):
            return value
        try:
            return parse_db(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


DB_HELP = ("The store: a SQLite path, sqlite:///path, mysql://user:pw@host:port/db, postgresql://user@host:port/db "
           "or grpc://host:port.")


def db_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--db` (envvar MLMD_DB, default the embedded Airflow store); the command gets a parsed `db` config."""
    return click.option("--db", "db", type=DbParam(), envvar=ENV_VAR, default=default_db,
                        show_default="$MLMD_DB or $AIRFLOW_HOME/mlmd.sqlite", help=DB_HELP)(command)


@contextmanager
def open_store(config: StoreConfig, write: bool = False) -> Iterator[Any]:
    """The MetadataStore of `config`. Readers open SQLite read-only and never create a file: a mistyped
    path is an error, not a new empty store. Writers create the file and the schema if missing."""
    from mlmd_core.metadata_store import MetadataStore

    if isinstance(config, pb.ConnectionConfig) and config.WhichOneof("config") == "sqlite":
        config = pb.ConnectionConfig.FromString(config.SerializeToString())  # the caller's stays as given
        path = config.sqlite.filename_uri
        if not write:
            if not path.startswith("file:") and not Path(path).is_file():
                raise click.ClickException(f"no MLMD store at {path} (give --db or set ${ENV_VAR})")
            config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READONLY
        elif not path.startswith("file:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    store = MetadataStore(config)  # an empty database gets the schema; an old one is an error (`mlmd db upgrade`)
    try:
        yield store
    except errors.UnavailableError as exc:  # say which store could not be reached
        raise click.ClickException(f"UnavailableError: cannot reach {describe(config)}: {exc.message}") from exc
    finally:
        store.close()
