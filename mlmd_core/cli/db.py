"""`mlmd db current | upgrade | downgrade --to N`: the schema version of a store and moving it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from mlmd_core import errors
from mlmd_core.cli.store_options import store_options
from mlmd_core.cli.target import describe, examples
from mlmd_core.proto import metadata_store_pb2 as pb

T = TypeVar("T")


def _run(body: Callable[[], T]) -> T:
    """MLMD errors as a one-line message and exit status 1."""
    try:
        return body()
    except errors.StatusError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc.message}") from exc


@click.group(epilog=examples("mlmd db current --db ~/airflow/mlmd.sqlite"))
def db() -> None:
    """Schema version of a store: show it, upgrade it, downgrade it."""


@db.command(epilog=examples("mlmd db current --db mysql://mlmd:secret@127.0.0.1:3306/mlmd"))
@store_options
def current(config: pb.ConnectionConfig) -> None:
    """Print the store's schema version (and the library's); changes nothing."""
    from mlmd_core.store import bootstrap

    if config.WhichOneof("config") == "sqlite":  # read only: a missing file is an error, not a new store
        config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READONLY
    version = _run(lambda: bootstrap.stored_version(config))
    library = bootstrap.LIBRARY_VERSION
    if version is None:
        click.echo(f"{describe(config)}: empty (no MLMD schema; library version {library})")
    elif version < library:
        click.echo(f"{describe(config)}: schema version {version} (library version {library}: run `mlmd db upgrade`)")
    elif version > library:
        click.echo(f"{describe(config)}: schema version {version} (newer than library version {library})")
    elif missing := _run(lambda: bootstrap.missing_lookup_indexes(config)):
        click.echo(f"{describe(config)}: schema version {version} (up to date; without mlmd_core's lookup indexes "
                   f"{', '.join(missing)}: `mlmd db upgrade` adds them)")
    else:
        click.echo(f"{describe(config)}: schema version {version} (up to date)")


@db.command(epilog=examples("mlmd db upgrade --sqlite kfp-metadata.sqlite"))
@store_options
@click.option("--to", "target", type=int, default=None,
              help="Stop at this version (default: the library's). Without --to, an empty store gets the "
                   "schema and the MLMD system types, as MetadataStore(config, enable_upgrade_migration=True).")
def upgrade(config: pb.ConnectionConfig, target: int | None) -> None:
    """Upgrade the store's schema, one version step at a time (and add mlmd_core's lookup indexes to a
    store at the library's version that lacks them)."""
    from mlmd_core.metadata_store import MetadataStore
    from mlmd_core.store import bootstrap

    before = _run(lambda: bootstrap.stored_version(config))
    missing = _run(lambda: bootstrap.missing_lookup_indexes(config)) if before == bootstrap.LIBRARY_VERSION else []
    if target is None:
        _run(lambda: MetadataStore(config, enable_upgrade_migration=True).close())
        target = bootstrap.LIBRARY_VERSION
    else:
        if before is not None and target < before:
            raise click.UsageError(f"the store is at version {before}; use `mlmd db downgrade --to {target}`")
        _run(lambda: bootstrap.migrate(config, target))
    if before == target and missing:
        click.echo(f"{describe(config)}: at schema version {target}; added mlmd_core's lookup indexes "
                   f"{', '.join(missing)}")
    elif before == target:
        click.echo(f"{describe(config)}: already at schema version {target}")
    elif before is None:
        click.echo(f"{describe(config)}: created schema version {target}")
    else:
        click.echo(f"{describe(config)}: upgraded schema version {before} -> {target}")


@db.command(epilog=examples("mlmd db downgrade --db mlmd.sqlite --to 8 --yes"))
@store_options
@click.option("--to", "target", type=int, required=True, help="The version to go down to (0..library version).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def downgrade(config: pb.ConnectionConfig, target: int, yes: bool) -> None:
    """Downgrade the store's schema for an older ml-metadata (as ml_metadata.downgrade_schema). Data the
    older schema cannot hold is dropped: ask first."""
    from mlmd_core.metadata_store import downgrade_schema
    from mlmd_core.store import bootstrap

    before = _run(lambda: bootstrap.stored_version(config))
    if before is not None and 0 <= target < before and not yes:
        click.confirm(f"Downgrade {describe(config)} from schema version {before} to {target}? Data that "
                      "version cannot hold is dropped", abort=True)
    _run(lambda: downgrade_schema(config, target))
    if before is not None and target < before:
        click.echo(f"{describe(config)}: downgraded schema version {before} -> {target}")
    else:
        click.echo(f"{describe(config)}: already at schema version {before} (nothing to do)")


