"""The `mlmd` command: one click group; mlmd_core's commands are registered below, plug-ins (`mlmd cache`,
`mlmd ui` from mlmd_airflow) through the `mlmd.cli` entry point (`plugin_commands`).

Errors from the store are printed as `Error: <ErrorClass>: <message>` on stderr with exit status 1, never as a
traceback (the group converts them, so every command gets that for free).
"""

from __future__ import annotations

import importlib.metadata
import warnings
from collections.abc import Sequence
from typing import Optional

import click

from mlmd_core import errors
from mlmd_core.cli import read, server, transfer
from mlmd_core.cli.db import db
from mlmd_core.cli.target import examples


class _Group(click.Group):
    """A group that turns MLMD errors raised anywhere below it into one-line click errors (exit status 1), and
    that adds the plug-ins' commands (`plugin_commands`) when first asked for its commands rather than when this
    module is imported: a plug-in's module may import mlmd_core.cli itself (mlmd_airflow.cache.cli does), and
    importing it first would otherwise make this module load it while it is half-imported."""

    _plugins_added = False

    def _add_plugins(self) -> None:
        if not self._plugins_added:
            self._plugins_added = True
            for command in plugin_commands():
                if command.name not in self.commands:
                    self.add_command(command)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugins()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._add_plugins()
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except errors.StatusError as exc:
            raise click.ClickException(f"{type(exc).__name__}: {exc.message}") from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=examples("mlmd artifacts --db ~/airflow/mlmd.sqlite --type Model",
                             "MLMD_DB=grpc://127.0.0.1:8080 mlmd lineage 7 --format mermaid") + """

Every command takes --db (a SQLite path, sqlite:///, mysql://, postgresql:// or grpc:// URL; default $MLMD_DB,
else $AIRFLOW_HOME/mlmd.sqlite). With --json, list commands print one JSON object per line, `show` and
`lineage` one JSON document.""")
@click.version_option(package_name="mlmd-airflow", prog_name="mlmd")
def cli() -> None:
    """ML Metadata store tools: browse a store, follow lineage, serve, export and import it."""


def plugin_commands() -> list[click.Command]:
    """The sub-commands other installed packages register under the `mlmd.cli` entry-point group (mlmd_core never
    imports them itself). One that fails to load is left out with a warning, so it cannot break the others."""
    found: list[click.Command] = []
    for entry in sorted(importlib.metadata.entry_points(group="mlmd.cli"), key=lambda e: e.name):
        try:
            command = entry.load()
        except Exception as exc:  # noqa: BLE001 - a broken plug-in must not take `mlmd db` down
            warnings.warn(f"mlmd: cannot load command {entry.name!r} ({entry.value}): {exc}", stacklevel=1)
            continue
        if isinstance(command, click.Command) and command.name not in {c.name for c in found}:
            found.append(command)
    return found


# mlmd_core's own sub-commands (add new groups here); the plug-ins' join when the group is first used.
for _command in (*read.COMMANDS, db, server.server, *transfer.COMMANDS):
    cli.add_command(_command)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Console-script entry point (`mlmd = "mlmd_core.cli:main"`); returns the exit status."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="mlmd", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        return 1
    return 0
