"""docs/caching.md says what the code does: its DAG is the tested DAG file and behaves as described (run twice:
the second run reuses), its call-level example runs, its CLI commands work, its option table is complete."""

from __future__ import annotations

import inspect
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from recording_helpers import DAGS_DIR, load_dag, open_store, store_env

DOC = Path(__file__).resolve().parents[2] / "docs" / "caching.md"
TEXT = DOC.read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", TEXT, re.S)


def test_the_dag_example_is_the_tested_dag_file() -> None:
    first_python = next(body for lang, body in BLOCKS if lang == "python")
    assert first_python == (DAGS_DIR / "mlmd_cache_example.py").read_text()


def test_call_level_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLMD_FINGERPRINT_CACHE", "off")
    examples = [body for lang, body in BLOCKS if lang == "python" and body.startswith("# example:")]
    assert examples
    for body in examples:
        exec(compile(body, str(DOC), "exec"), {"__name__": "docs_example"})


def test_option_table_lists_every_option() -> None:
    from mlmd_airflow import cached_step

    section = TEXT.split("## Options", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `(\w+)` \|", section, re.M)
    assert documented == [p for p in inspect.signature(cached_step).parameters if p != "func"]


@pytest.fixture(scope="module")
def example_runs(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from mlmd_airflow.cache import step

    path = tmp_path_factory.mktemp("cache_example") / "mlmd.sqlite"
    with store_env(path):
        dag = load_dag("mlmd_cache_example")
        start = len(step.outcomes)
        runs = [dag.test(), dag.test()]
        outcomes = step.outcomes[start:]
    yield {"runs": runs, "outcomes": outcomes, "path": path}


def test_example_dag_reuses_on_the_second_run(example_runs: dict) -> None:
    first, second = example_runs["runs"]
    assert first.state == second.state == "success"
    got = {(o.task[1], o.task[2]): (o.status, o.step) for o in example_runs["outcomes"]}
    assert got[(first.run_id, "features")] == ("miss", "mlmd_cache_example.features")
    assert got[(first.run_id, "train")] == ("miss", "train")
    assert got[(second.run_id, "features")] == ("hit", "mlmd_cache_example.features")
    assert got[(second.run_id, "train")] == ("hit", "train")


def test_cli_examples_run(example_runs: dict) -> None:
    from click.testing import CliRunner

    from mlmd_airflow.cache.cli import cache

    store = open_store(example_runs["path"])
    try:  # the ids the page's commands name: its example DAG's first train run, its first recorded artifact
        [train] = [e for e in store.get_executions() if e.properties["task_id"].string_value == "train"][:1]
        first_artifact = min(a.id for a in store.get_artifacts())
    finally:
        store.close()
    commands = [line for lang, body in BLOCKS if lang == "bash" for line in body.splitlines()
                if line.startswith("mlmd cache ")]
    assert len(commands) == 5
    assert f"--execution {train.id}" in " ".join(commands)
    assert f"--artifact {first_artifact} " in " ".join(commands)
    for line in commands:
        args = shlex.split(line)[2:]
        result = CliRunner().invoke(cache, [args[0], "--sqlite", str(example_runs["path"]), *args[1:]],
                                    catch_exceptions=False)
        assert result.exit_code == 0, (line, result.output)
    # through the real `mlmd` command: the group is registered with the `mlmd.cli` entry point
    mlmd = Path(sys.executable).with_name("mlmd")
    listed = subprocess.run([str(mlmd), "cache", "list", "--sqlite", str(example_runs["path"]), "--step", "train"],
                            capture_output=True, text=True, timeout=120, check=True)
    assert listed.stdout.strip().endswith("0 entries")  # the last example invalidated train's entries
