"""Options that say which store a command works on: `--db URL` (as the other `mlmd` commands take it, but
with no default: schema changes go only to a store named on the command line), `--sqlite PATH`, `--config FILE`
(a text-format ConnectionConfig, as ml-metadata's tools take), or `--mysql-*` / `--postgres-*` for a server
database."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from google.protobuf import text_format

from mlmd_core.proto import metadata_store_pb2 as pb

_MYSQL = ("host", "port", "database", "user", "password", "socket")
_POSTGRES = ("host", "port", "dbname", "user", "password")


def store_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Adds the store options to a command and passes it `config` (a ConnectionConfig) instead."""
    options = [
        click.option("--db", "db_url", default=None, metavar="URL",
                     help="The store: a SQLite path, sqlite:///path, mysql://... or postgresql://... URL."),
        click.option("--sqlite", "sqlite_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="SQLite database file."),
        click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="File with a text-format ml_metadata.ConnectionConfig."),
        *[click.option(f"--mysql-{name}", f"mysql_{name}", type=int if name == "port" else str,
                       help=f"MySQL/MariaDB {name}.") for name in _MYSQL],
        *[click.option(f"--postgres-{name}", f"postgres_{name}", help=f"PostgreSQL {name}.") for name in _POSTGRES],
    ]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        picked = {k: kwargs.pop(k) for k in list(kwargs) if k in _option_names()}
        return command(config=connection_config(**picked), **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


@functools.cache
def _option_names() -> frozenset[str]:
    return frozenset({"db_url", "sqlite_path", "config_file", *(f"mysql_{n}" for n in _MYSQL),
                      *(f"postgres_{n}" for n in _POSTGRES)})


def connection_config(sqlite_path: Path | None = None, config_file: Path | None = None, db_url: str | None = None,
                      **server: Any) -> pb.ConnectionConfig:
    """The ConnectionConfig the options describe; exactly one kind of store must be given."""
    from mlmd_core.cli.target import parse_db

    mysql = {k[len("mysql_"):]: v for k, v in server.items() if k.startswith("mysql_") and v is not None}
    postgres = {k[len("postgres_"):]: v for k, v in server.items() if k.startswith("postgres_") and v is not None}
    given = [name for name, used in (("--db", db_url is not None), ("--sqlite", sqlite_path is not None),
                                     ("--config", config_file is not None),
                                     ("--mysql-*", bool(mysql)), ("--postgres-*", bool(postgres))) if used]
    if len(given) != 1:
        raise click.UsageError("give the store with exactly one of --db, --sqlite, --config, --mysql-* or --postgres-*"
                               + (f" (got {', '.join(given)})" if given else ""))
    config = pb.ConnectionConfig()
    if db_url is not None:
        try:
            parsed = parse_db(db_url)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--db") from exc
        if not isinstance(parsed, pb.ConnectionConfig):
            raise click.BadParameter("this command works on the database itself: give its SQLite, mysql:// or "
                                     "postgresql:// address, not an mlmd-server's", param_hint="--db")
        return parsed
    if sqlite_path is not None:
        config.sqlite.filename_uri = str(sqlite_path)
        config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    elif config_file is not None:
        try:
            text_format.Parse(config_file.read_text(), config)
        except text_format.ParseError as exc:
            raise click.BadParameter(f"{config_file}: not a text-format ConnectionConfig: {exc}",
                                     param_hint="--config") from exc
    elif mysql:
        for key, value in mysql.items():
            setattr(config.mysql, key, value)
    else:
        for key, value in postgres.items():
            setattr(config.postgresql, key, str(value))
    return config
