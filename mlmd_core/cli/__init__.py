"""The `mlmd` command: one click group, with a sub-group per area (`mlmd db ...` today; room for
`mlmd serve`, `mlmd ls` and others, each registered in `commands()` below).

Errors from the store are printed as `<ErrorClass>: <message>` on stderr with exit status 1, never as a
traceback.
"""

from __future__ import annotations

import importlib.metadata
import warnings
from collections.abc import Sequence
from typing import Optional

import click

from mlmd_core.cli.db import db


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlmd-airflow", prog_name="mlmd")
def cli() -> None:
    """ML Metadata store tools."""


def commands() -> list[click.Command]:
    """The sub-commands of `mlmd`: mlmd_core's own (add new groups here), then those other installed packages
    register under the `mlmd.cli` entry-point group (mlmd_core never imports them itself). One that fails to
    load is left out with a warning, so it cannot break the others."""
    found: list[click.Command] = [db]
    for entry in sorted(importlib.metadata.entry_points(group="mlmd.cli"), key=lambda e: e.name):
        try:
            command = entry.load()
        except Exception as exc:  # noqa: BLE001 - a broken plug-in must not take `mlmd db` down
            warnings.warn(f"mlmd: cannot load command {entry.name!r} ({entry.value}): {exc}", stacklevel=1)
            continue
        if isinstance(command, click.Command) and command.name not in {c.name for c in found}:
            found.append(command)
    return found


for _command in commands():
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
