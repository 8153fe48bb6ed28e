"""`make demo` end to end: examples/airflow_demo.py runs dags/churn_pipeline.py with real Airflow (dag.test()) in
its own throw-away home, in a subprocess (as `make demo` does: the DAGs folder must be dags/, not the test DAGs),
then the test checks what it printed, its JSON summary and the MLMD store it left behind."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from recording_helpers import open_store

from mlmd_core.proto import metadata_store_pb2 as pb

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "airflow_demo.py"
CACHED = {"split", "featurize", "train[0]", "train[1]", "train[2]"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("demo")
    home, summary = base / "airflow", base / "summary.json"
    home.mkdir()
    (home / "stale.txt").write_text("from an earlier demo")  # the demo resets its home
    proc = subprocess.run([sys.executable, str(SCRIPT), "--home", str(home), "--summary-json", str(summary)],
                          capture_output=True, text=True, timeout=300, cwd=base, env=dict(os.environ))
    assert proc.returncode == 0, f"demo failed\n{proc.stdout}\n{proc.stderr}"
    return {"out": proc.stdout, "summary": json.loads(summary.read_text()), "home": home}


def _statuses(run: dict[str, Any]) -> dict[str, str]:
    return {task: marker["status"] for task, marker in run["cache"].items()}


def test_home_was_reset_and_runs_succeeded(demo: dict) -> None:
    assert not (demo["home"] / "stale.txt").exists()
    runs = demo["summary"]["runs"]
    assert [r["state"] for r in runs] == ["success"] * 3 and demo["summary"]["consumer"]["state"] == "success"
    assert set(runs[0]["task_states"]) == {"ingest", "validate", "split", "featurize", "train[0]", "train[1]",
                                           "train[2]", "select", "evaluate", "push"}


def test_first_run_computes_everything(demo: dict) -> None:
    run = demo["summary"]["runs"][0]
    assert _statuses(run) == dict.fromkeys(CACHED, "miss")  # only the cached steps carry a marker
    assert run["task_states"]["push"] == "success"  # nothing served yet: the first model is pushed
    assert run["saved_s"] == 0


def test_second_run_is_served_from_the_cache(demo: dict) -> None:
    first, second = demo["summary"]["runs"][:2]
    assert _statuses(second) == dict.fromkeys(CACHED, "hit")
    assert {m["source_run"] for m in second["cache"].values()} == {first["run_id"]}
    assert second["test_accuracy"] == first["test_accuracy"]  # the reused outputs flowed downstream
    assert second["task_states"]["push"] == "skipped"  # the same model is not better than itself
    assert second["saved_s"] > 0.3  # three trials' training time


def test_changed_learning_rate_recomputes_only_the_trials(demo: dict) -> None:
    first, _, third = demo["summary"]["runs"]
    assert third["conf"] == {"lr": 0.2}
    status = _statuses(third)
    assert status == {"split": "hit", "featurize": "hit", "train[0]": "miss", "train[1]": "miss", "train[2]": "miss"}
    reasons = {third["cache"][f"train[{i}]"]["reason"] for i in range(3)}
    assert "argument lr 0.05→0.2" in reasons, reasons  # the nearest prior key differs by lr only
    assert third["test_accuracy"] > first["test_accuracy"] and third["task_states"]["push"] == "success"
    assert any("MISS" in line and "argument lr 0.05→0.2" in line for line in third["banners"])


def test_mlmd_records_hits_and_cross_dag_lineage(demo: dict) -> None:
    store = open_store(demo["home"] / "mlmd.sqlite")
    try:
        runs = demo["summary"]["runs"]
        ctx = store.get_context_by_type_and_name("airflow.DagRun", f"churn_training/{runs[1]['run_id']}")
        cached = [e for e in store.get_executions_by_context(ctx.id) if e.last_known_state == pb.Execution.CACHED]
        assert len(cached) == 5
        sources = store.get_executions_by_id([e.custom_properties["cached_from"].int_value for e in cached])
        assert {s.properties["run_id"].string_value for s in sources} == {runs[0]["run_id"]}

        model_id = demo["summary"]["model_artifact_id"]
        [model] = store.get_artifacts_by_id([model_id])
        assert model.uri.endswith("/data/churn/serving/model.json") and str(demo["home"]) in model.uri
        events = store.get_events_by_artifact_ids([model_id])
        by_id = {e.id: e for e in store.get_executions_by_id([ev.execution_id for ev in events])}
        writers = {(by_id[ev.execution_id].properties["dag_id"].string_value,
                    by_id[ev.execution_id].properties["task_id"].string_value,
                    by_id[ev.execution_id].properties["run_id"].string_value)
                   for ev in events if ev.type == pb.Event.OUTPUT}
        assert writers == {("churn_training", "push", runs[0]["run_id"]), ("churn_training", "push", runs[2]["run_id"])}
        [reader] = [by_id[ev.execution_id] for ev in events if ev.type == pb.Event.INPUT]
        assert reader.properties["dag_id"].string_value == "churn_scoring"
        assert reader.properties["task_id"].string_value == "score"
        assert reader.id in demo["summary"]["consumer"]["executions"]

        # A step downstream of a cache hit reads what it read in a computing run: the XComs, not the hit
        # step's outlet Asset (the CACHED execution outputs both).
        def input_types(run_id: str, task_id: str) -> set[str]:
            ctx = store.get_context_by_type_and_name("airflow.DagRun", f"churn_training/{run_id}")
            [ex] = [e for e in store.get_executions_by_context(ctx.id)
                    if e.properties["task_id"].string_value == task_id and e.properties["map_index"].int_value <= 0]
            inputs = [ev.artifact_id for ev in store.get_events_by_execution_ids([ex.id]) if ev.type == pb.Event.INPUT]
            return {a.type for a in store.get_artifacts_by_id(inputs)}

        assert input_types(runs[2]["run_id"], "evaluate") == input_types(runs[0]["run_id"], "evaluate")
    finally:
        store.close()


def test_printed_summary(demo: dict) -> None:
    out, model_id = demo["out"], demo["summary"]["model_artifact_id"]
    assert re.search(r"1: first run +0 +5 +0\.00 s .* success", out), out
    assert re.search(r"2: same parameters +5 +0 +\d+\.\d\d s .* skipped", out), out
    assert re.search(r"3: lr changed +2 +3 +\d+\.\d\d s .* success", out), out
    assert "mlmd cache MISS  step=churn_training.train" in out and "argument lr 0.05→0.2" in out
    assert "mlmd cache HIT  step=churn_training.split" in out and "(run 1, computed" in out
    tree = out[out.index("Lineage of the served model"):]
    assert f"[airflow.Asset #{model_id}] serving/model.json" in tree
    for line in ("push (execution #", "train[0] (execution #", "featurize (execution #", "raw/customers.csv",
                 "reused by cache hits", "consumed by: <churn_scoring.score #"):
        assert line in tree, line
    assert tree.index("serving/model.json") < tree.index("featurize (execution") < tree.index("raw/customers.csv")
    assert re.search(r"score: 200 customers scored with the served model, \d+ likely to churn", out), out
    assert "make ui-demo" in out and f"mlmd ui --db {demo['home'] / 'mlmd.sqlite'}" in out
    assert (demo["home"] / "model_lineage.mmd").read_text().startswith("flowchart LR")


def test_ui_demo_command_line(tmp_path: Path) -> None:
    """`make ui-demo`'s command, without starting a server: the script prints it, and airflow accepts its flags."""
    make = subprocess.run(["make", "-n", "-o", ".venv/.installed", "ui-demo"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert make.returncode == 0 and "examples/airflow_demo.py ui --home .demo/airflow" in make.stdout, make
    proc = subprocess.run([sys.executable, str(SCRIPT), "ui", "--home", str(tmp_path), "--port", "8099", "--dry-run"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "http://127.0.0.1:8099" in proc.stdout and "SIMPLE_AUTH_MANAGER_ALL_ADMINS=True" in proc.stdout
    cmd = proc.stdout.strip().splitlines()[-1].split()
    assert cmd[1:] == ["api-server", "--host", "127.0.0.1", "--port", "8099"] and Path(cmd[0]).exists()
    help_text = subprocess.run([cmd[0], "api-server", "--help"], capture_output=True, text=True, timeout=120).stdout
    assert "--host" in help_text and "--port" in help_text
    missing = subprocess.run([sys.executable, str(SCRIPT), "ui", "--home", str(tmp_path / "none")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "run `make demo` first" in missing.stderr
