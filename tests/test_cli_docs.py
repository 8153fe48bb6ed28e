"""docs/cli.md stays true: its examples are `mlmd` commands and every mlmd_core command is documented there.
Running the page's blocks (against a store holding the pipeline run it describes) is tests/test_docs.py's job."""

from __future__ import annotations

import re
from pathlib import Path

import click

from mlmd_core.cli import cli

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
BASH = re.compile(r"```bash\n(.*?)```", re.S)


def _lines() -> list[str]:
    return [line for block in BASH.findall(DOC.read_text()) for line in block.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_the_page_has_examples() -> None:
    lines = _lines()
    assert len(lines) >= 20 and all(re.match(r"^(MLMD_DB=\S+ )?mlmd ", line) for line in lines), lines


def test_every_command_is_documented() -> None:
    text = DOC.read_text()
    context = click.Context(cli)
    for name in cli.list_commands(context):  # the plug-ins' commands too (they join on first use)
        command = cli.get_command(context, name)
        assert f"mlmd {name}" in text, name
        if isinstance(command, click.Group) and name in ("show", "db"):
            for sub in command.commands:
                assert f"mlmd {name} {sub}" in text or sub in text, (name, sub)
