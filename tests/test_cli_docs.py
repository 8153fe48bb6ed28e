"""docs/cli.md stays true: every ```bash block runs, line by line, through the installed `mlmd` script against a
store holding the pipeline run the page describes; and every mlmd_core command is documented there."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from test_cli_read import make_store

from mlmd_core.cli import cli

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
BASH = re.compile(r"```bash\n(.*?)```", re.S)


def _lines() -> list[str]:
    return [line for block in BASH.findall(DOC.read_text()) for line in block.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_the_page_has_examples() -> None:
    lines = _lines()
    assert len(lines) >= 20 and all(re.match(r"^(MLMD_DB=\S+ )?mlmd ", line) for line in lines), lines


def test_bash_blocks_run(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "mlmd").exists():
        pytest.skip(f"the mlmd console script is not installed next to {sys.executable} (pip install -e .)")
    make_store(tmp_path / "mlmd.sqlite")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("MLMD_DB", None)
    for line in _lines():  # in page order: the import reads what the export above it wrote
        proc = subprocess.run(["bash", "-c", f"set -o pipefail; {line}"], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120, check=False)
        assert proc.returncode == 0, f"{line}\n{proc.stdout}\n{proc.stderr}"
        assert proc.stdout.strip() or ">" in line, f"{line}: no output"


def test_every_command_is_documented() -> None:
    text = DOC.read_text()
    for name, command in cli.commands.items():
        assert f"mlmd {name}" in text, name
        if isinstance(command, click.Group) and name in ("show", "db"):
            for sub in command.commands:
                assert f"mlmd {name} {sub}" in text or sub in text, (name, sub)
