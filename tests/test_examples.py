"""The examples in examples/ run as a newcomer runs them (a subprocess each) and print what they promise."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_example(name: str, *args: str) -> str:
    """Runs `python examples/<name> ARGS` as a newcomer's shell would: without the Airflow settings other tests
    of this process export (unit-test mode logs to stdout); returns its stdout after checking it succeeded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__", "MLMD_"))}
    result = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args], capture_output=True, text=True,
                            timeout=180, cwd=ROOT, env=env)
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def answers(out: str) -> dict[str, str]:
    """filter_queries.py prints `<getter> <query>` and on the next line `-> <names>`: query -> names."""
    lines = out.splitlines()
    return {line.split(None, 1)[1]: nxt.strip().removeprefix("-> ")
            for line, nxt in zip(lines, lines[1:]) if nxt.lstrip().startswith("-> ")}


def test_filter_queries() -> None:
    found = answers(run_example("filter_queries.py"))
    expected = {
        "type = 'Model'": "['run-1/model', 'run-2/model']",
        "properties.accuracy.double_value > 0.9": "['run-2/model']",
        "custom_properties.framework.string_value = 'sklearn'": "['run-1/model']",
        "properties.day.int_value >= 2 AND uri LIKE '%day3%'": "['run-2/day3']",
        "last_known_state = FAILED": "['run-2/train']",
        "properties.lr.double_value < 0.1": "['run-1/train']",
        "contexts_r.type = 'PipelineRun' AND contexts_r.name = 'run-1'": "['run-1/day1', 'run-1/day2', 'run-1/model']",
        "events_e.type = OUTPUT": "['run-1/model', 'run-2/model']",
        "events_e.type = INPUT AND properties.day.int_value = 1": "['run-1/day1', 'run-2/day1']",
        "artifacts_a.uri = '/data/day3.csv'": "['run-2']",
        "parent_contexts_p.name = 'churn'": "['run-1', 'run-2']",
        "executions_e.last_known_state = COMPLETE": "['run-1']",
    }
    for query, names in expected.items():
        assert found.get(query) == names, (query, found.get(query))
    # the date queries carry a timestamp taken between the two runs
    dated = {re.sub(r"\d{13}", "T", q): names for q, names in found.items() if "_since_epoch" in q}
    assert dated == {"type = 'Model' AND create_time_since_epoch > T": "['run-2/model']",
                     "last_update_time_since_epoch <= T": "['run-1/train']"}
    assert len(found) == len(expected) + 2
    out = run_example("filter_queries.py")
    assert "newest two datasets: ['run-2/day3', 'run-2/day2']" in out
    assert "run-2 datasets after day 1: ['run-2/day2', 'run-2/day3']" in out
    assert ("bad query: Invalid `filter_query`: No matching signature for operator = for argument types: "
            "INT64, STRING") in out


def test_grpc_client(tmp_path: Path) -> None:
    out = run_example("grpc_client.py", str(tmp_path))
    assert re.search(r"^mlmd-server listening on 127\.0\.0\.1:\d+, health: SERVING$", out, re.M), out
    lines = out.splitlines()[1:]
    assert lines == [
        "writer recorded execution 1",
        "reader sees model /models/1 with accuracy 0.91",
        "filter over gRPC: ['/models/1']",
        "NotFoundError over gRPC: No type found for query, name: `Metrics`, version: `nullopt`",
        "server stopped with exit status 0",
        "server log: GetArtifactType NOT_FOUND",
        "in the file: ['train-1'], 2 artifacts",
    ], out
    assert (tmp_path / "metadata.sqlite").is_file()  # the server wrote where it was told


def test_notebook_on_a_sample_store() -> None:
    out = run_example("notebook.py")
    assert out.startswith("mlmd.sqlite: 7 task tries, 3 artifacts, 1 DAG(s)\n"), out
    expected_blocks = [
        # DAG runs with tries by state
        "run                    run_type  tries  COMPLETE  FAILED  CACHED\n"
        "train_model/manual__1  manual    3      3         0       0\n"
        "train_model/manual__2  manual    4      3         1       0\n",
        # the tries of the last run, in order
        "tasks of train_model/manual__2:\n"
        "task     try  state     seconds  type\n"
        "extract  1    COMPLETE  1.5      dags.pipeline.extract\n"
        "train    1    FAILED    12.0     dags.pipeline.train\n"
        "train    2    COMPLETE  24.0     dags.pipeline.train\n"
        "report   1    COMPLETE  0.2      dags.pipeline.report\n",
        "failed tries: manual__2/train try 1: MemoryError: out of memory\n",
        "asset                 written by              read by\n"
        "file:///data/raw.csv  train_model.extract ×2  train_model.train ×3\n",
        "xcom train.return_value: produced by ['train'], read by ['report']\n",
        "writing is refused: PermissionDeniedError\n",
    ]
    for block in expected_blocks:
        assert block in out, f"missing:\n{block}\nin:\n{out}"


def test_notebook_reads_without_writing(tmp_path: Path) -> None:
    """Given a store path, the notebook only reads it: the file is byte-for-byte unchanged afterwards."""
    spec = importlib.util.spec_from_file_location("examples_notebook", ROOT / "examples" / "notebook.py")
    assert spec is not None and spec.loader is not None
    notebook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(notebook)
    store = tmp_path / "airflow-written.sqlite"
    notebook.write_sample_store(store)
    before = store.read_bytes()
    out = run_example("notebook.py", str(store))
    assert out.startswith("airflow-written.sqlite: 7 task tries"), out
    assert store.read_bytes() == before
