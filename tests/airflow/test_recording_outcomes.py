"""One dag.test() run of tests/airflow/dags/mlmd_outcomes.py: retries, failures, skips and a branch, and the exact
executions (one per try) the listener recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from recording_helpers import context_names, events, executions, load_dag, open_store, store_env

from mlmd_airflow.recording import model

DAG_ID = "mlmd_outcomes"
BASH = "airflow.providers.standard.operators.bash.BashOperator"
BRANCH = "airflow.providers.standard.operators.python.BranchPythonOperator"


@pytest.fixture(scope="module")
def run(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from mlmd_airflow import listener

    path = tmp_path_factory.mktemp("outcomes") / "mlmd.sqlite"
    with store_env(path):
        dag_run = load_dag(DAG_ID).test()
        counters = dict(listener.stats)
    store = open_store(path)
    yield {"dag_run": dag_run, "store": store, "stats": counters, "run_id": dag_run.run_id}
    store.close()


def test_airflow_outcome(run: dict) -> None:
    states = {(ti.task_id, ti.try_number): str(ti.state) for ti in run["dag_run"].get_task_instances()}
    assert states == {("flaky", 2): "success", ("doomed", 2): "failed", ("after_doomed", 0): "upstream_failed",
                      ("skipper", 1): "skipped", ("choose", 1): "success", ("left", 1): "success",
                      ("right", 0): "skipped"}
    assert run["dag_run"].state == "failed"
    # 7 tries ran (flaky x2, doomed x2, skipper, choose, left): a start and an end record each; 2 output
    # records (flaky's try 2, left); 1 CANCELED record for the skipped branch `right`.
    assert run["stats"] == {"recorded": 7 * 2 + 2 + 1}


def test_one_execution_per_try(run: dict) -> None:
    got = executions(run["store"])
    summary = {k: (e["type"], e["state"], e["airflow_state"]) for k, e in got.items()}
    assert summary == {
        ("flaky", -1, 1): ("mlmd_outcomes.mlmd_outcomes.flaky", "FAILED", "up_for_retry"),
        ("flaky", -1, 2): ("mlmd_outcomes.mlmd_outcomes.flaky", "COMPLETE", "success"),
        ("doomed", -1, 1): ("mlmd_outcomes.mlmd_outcomes.doomed", "FAILED", "up_for_retry"),
        ("doomed", -1, 2): ("mlmd_outcomes.mlmd_outcomes.doomed", "FAILED", "failed"),
        ("skipper", -1, 1): ("mlmd_outcomes.mlmd_outcomes.skipper", "CANCELED", "skipped"),
        ("choose", -1, 1): (BRANCH, "COMPLETE", "success"),
        ("left", -1, 1): (BASH, "COMPLETE", "success"),
        # never started: recorded by the branch that skipped it, as try 0
        ("right", -1, 0): (BASH, "CANCELED", "skipped"),
        # after_doomed (upstream_failed) never starts and no task process reports it: nothing recorded
    }
    assert got[("flaky", -1, 1)]["error"] == "ValueError: first try fails"
    doomed_error = got[("doomed", -1, 2)]["error"]
    assert doomed_error.startswith("RuntimeError: boom xxx") and doomed_error.endswith("...")
    assert len(doomed_error) == model.MAX_TEXT
    assert got[("skipper", -1, 1)].get("error") is None
    assert got[("right", -1, 0)]["error"] == "skipped by choose"
    assert "start_time" not in got[("right", -1, 0)]
    # each try is its own execution, with its own task-instance id
    assert got[("flaky", -1, 1)]["ti_id"] != got[("flaky", -1, 2)]["ti_id"]
    for (task_id, map_index, try_number), e in got.items():
        assert e["external_id"] == f"airflow:{DAG_ID}/{run['run_id']}/{task_id}/{map_index}/{try_number}"


def test_events_and_contexts(run: dict) -> None:
    store = run["store"]
    got = executions(store)
    run_id = run["run_id"]
    # only a successful try records its output; the failed first try of flaky has none
    assert events(store, got[("flaky", -1, 1)]["id"]) == []
    assert events(store, got[("flaky", -1, 2)]["id"]) == [
        ("OUTPUT", model.xcom_external_id(DAG_ID, run_id, "flaky", -1, "return_value"), ("return_value",))]
    for key in [("doomed", -1, 1), ("doomed", -1, 2), ("skipper", -1, 1), ("choose", -1, 1), ("right", -1, 0)]:
        assert events(store, got[key]["id"]) == []
    for e in got.values():
        assert context_names(store, execution_id=e["id"]) == [("airflow.Dag", DAG_ID),
                                                               ("airflow.DagRun", f"{DAG_ID}/{run_id}")]
