"""One dag.test() run of tests/airflow/dags/mlmd_lineage.py, and exactly what the listener recorded for it:
TaskFlow tasks, a mapped task and its reduce, multiple_outputs, Bash/Python operators, and an operator that
names its own ExecutionType and contributes artifacts."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from recording_helpers import artifacts, context_names, events, executions, load_dag, open_store, props, store_env

from mlmd_airflow.recording import model

DAG_ID = "mlmd_lineage"
PY = "airflow.providers.standard.decorators.python._PythonDecoratedOperator"
BASH = "airflow.providers.standard.operators.bash.BashOperator"
PYTHON_OP = "airflow.providers.standard.operators.python.PythonOperator"
RAW = "asset:file:///data/mlmd_lineage/raw.csv"
MODEL = "asset:file:///data/mlmd_lineage/model.pkl"


@pytest.fixture(scope="module")
def run(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from mlmd_airflow import listener

    path = tmp_path_factory.mktemp("lineage") / "mlmd.sqlite"
    with store_env(path):
        dag_run = load_dag(DAG_ID).test(run_conf={"lr": 0.1, "note": "x" * 2000})
        counters = dict(listener.stats)
    store = open_store(path)
    yield {"dag_run": dag_run, "store": store, "stats": counters, "run_id": dag_run.run_id}
    store.close()


def x(run: dict, task_id: str, key: str = "return_value", map_index: int = -1) -> str:
    return model.xcom_external_id(DAG_ID, run["run_id"], task_id, map_index, key)


def test_the_run_succeeds_and_every_record_was_written(run: dict) -> None:
    assert run["dag_run"].state == "success"
    # 10 task instances: running + success each, plus an output record for the 9 that returned a value
    # (copy returns None). No failures, timeouts or ignored calls.
    assert run["stats"] == {"recorded": 10 * 2 + 9}


def test_types(run: dict) -> None:
    store = run["store"]
    assert sorted(t.name for t in store.get_execution_types()) == [
        BASH, PYTHON_OP, "example.CopyFiles",
        "mlmd_lineage.mlmd_lineage.describe", "mlmd_lineage.mlmd_lineage.extract",
        "mlmd_lineage.mlmd_lineage.square", "mlmd_lineage.mlmd_lineage.total", "mlmd_lineage.mlmd_lineage.train",
    ]
    extract = store.get_execution_type("mlmd_lineage.mlmd_lineage.extract")
    assert dict(extract.properties) == model.EXECUTION_PROPERTIES
    assert extract.description == "Reads the raw rows."
    assert store.get_execution_type("example.CopyFiles").description == (
        "Copies a file (pretend): reports its source and destination to MLMD itself.")
    assert sorted(t.name for t in store.get_artifact_types()) == [
        "airflow.Asset", "airflow.Dataset", "airflow.XCom", "example.File"]
    assert dict(store.get_artifact_type("example.File").properties) == {"copies": 1}  # INT
    assert sorted(t.name for t in store.get_context_types()) == ["airflow.Dag", "airflow.DagRun"]


def test_one_execution_per_task_instance(run: dict) -> None:
    got = executions(run["store"])
    expected_types = {
        "extract": "mlmd_lineage.mlmd_lineage.extract", "square": "mlmd_lineage.mlmd_lineage.square",
        "total": "mlmd_lineage.mlmd_lineage.total", "describe": "mlmd_lineage.mlmd_lineage.describe",
        "train": "mlmd_lineage.mlmd_lineage.train", "publish": PYTHON_OP, "shout": BASH,
        "copy": "example.CopyFiles"}
    expected_keys = {(t, -1, 1) for t in expected_types if t != "square"} | {("square", i, 1) for i in range(3)}
    assert set(got) == expected_keys
    tis = {(ti.task_id, ti.map_index): ti for ti in run["dag_run"].get_task_instances()}
    for (task_id, map_index, _), e in got.items():
        assert e["type"] == expected_types[task_id]
        assert e["state"] == "COMPLETE" and e["airflow_state"] == "success"
        assert e["external_id"] == f"airflow:{DAG_ID}/{run['run_id']}/{task_id}/{map_index}/1"
        assert (e["dag_id"], e["run_id"]) == (DAG_ID, run["run_id"])
        ti = tis[(task_id, map_index)]
        assert e["ti_id"] == str(ti.id)
        assert e["start_time"] <= e["end_time"] and e["duration_seconds"] >= 0
        assert "error" not in e
    assert got[("copy", -1, 1)]["operator"] == "mlmd_lineage.CopyOperator"
    assert got[("shout", -1, 1)]["operator"] == BASH
    assert got[("train", -1, 1)]["operator"] == PY
    assert got[("extract", -1, 1)]["asset_event_extra"] == '{"file:///data/mlmd_lineage/raw.csv":{"rows":3}}'
    assert all("asset_event_extra" not in e for k, e in got.items() if k[0] != "extract")


def test_events_trace_lineage_across_tasks(run: dict) -> None:
    store = run["store"]
    got = {k: events(store, e["id"]) for k, e in executions(store).items()}
    rv = ("return_value",)
    assert got[("extract", -1, 1)] == [("OUTPUT", RAW, ("raw_rows",)), ("OUTPUT", x(run, "extract"), rv)]
    for i in range(3):  # each mapped square reads the list and writes its own XCom
        assert got[("square", i, 1)] == [("INPUT", x(run, "extract"), ("extract", "return_value")),
                                         ("OUTPUT", x(run, "square", map_index=i), rv)]
    assert got[("total", -1, 1)] == [  # the reduce reads every map index
        *[("INPUT", x(run, "square", map_index=i), ("square", "return_value")) for i in range(3)],
        ("OUTPUT", x(run, "total"), rv)]
    assert got[("describe", -1, 1)] == [  # multiple_outputs: one artifact per key
        ("INPUT", x(run, "extract"), ("extract", "return_value")),
        ("OUTPUT", x(run, "describe", "count"), ("count",)), ("OUTPUT", x(run, "describe", "peak"), ("peak",))]
    assert got[("train", -1, 1)] == [  # only the key it used, plus its inlet; outlet and return value
        ("INPUT", RAW, ("raw_rows",)), ("INPUT", x(run, "describe", "count"), ("describe", "count")),
        ("INPUT", x(run, "total"), ("total", "return_value")),
        ("OUTPUT", MODEL, ("model",)), ("OUTPUT", x(run, "train"), rv)]
    assert got[("publish", -1, 1)] == [  # a classic PythonOperator fed by an XComArg
        ("INPUT", x(run, "train"), ("train", "return_value")), ("OUTPUT", x(run, "publish"), rv)]
    assert got[("shout", -1, 1)] == [("OUTPUT", x(run, "shout"), rv)]
    assert got[("copy", -1, 1)] == [  # contributed by CopyOperator.get_mlmd_artifacts
        ("INPUT", "airflow.Dataset:file:///data/in.txt", ("file:///data/in.txt",)),
        ("OUTPUT", "example.File:file:///data/out.txt", ("file:///data/out.txt",))]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_artifacts(run: dict) -> None:
    got = artifacts(run["store"])
    assert len(got) == 14  # 2 assets, 10 XComs, 2 contributed
    assert got[RAW] == {"type": "airflow.Asset", "uri": "file:///data/mlmd_lineage/raw.csv", "state": "LIVE",
                        "name": "raw_rows", "group": "asset", "extra": '{"format":"csv"}'}
    assert got[MODEL] == {"type": "airflow.Asset", "uri": "file:///data/mlmd_lineage/model.pkl", "state": "LIVE",
                          "name": "model", "group": "asset", "extra": "{}"}
    run_id = run["run_id"]
    # The XCom's reference, size and content hash of its JSON -- never the value (record_xcom=reference).
    values = {("extract", -1, "return_value"): "[1,2,3]", ("square", 0, "return_value"): "1",
              ("square", 1, "return_value"): "4", ("square", 2, "return_value"): "9",
              ("total", -1, "return_value"): "14", ("describe", -1, "count"): "3", ("describe", -1, "peak"): "3",
              ("train", -1, "return_value"): '"model-3-14"', ("publish", -1, "return_value"): '"published model-3-14"',
              ("shout", -1, "return_value"): '"hello"'}
    for (task_id, map_index, key), text in values.items():
        assert got[x(run, task_id, key, map_index)] == {
            "type": "airflow.XCom", "state": "LIVE", "dag_id": DAG_ID, "run_id": run_id, "task_id": task_id,
            "map_index": map_index, "key": key, "size": len(text), "sha256": _digest(text),
            "uri": model.xcom_uri(DAG_ID, run_id, task_id, map_index, key)}
    assert got["example.File:file:///data/out.txt"] == {
        "type": "example.File", "uri": "file:///data/out.txt", "state": "LIVE", "copies": 1}


def test_contexts(run: dict) -> None:
    store = run["store"]
    run_name = f"{DAG_ID}/{run['run_id']}"
    both = [("airflow.Dag", DAG_ID), ("airflow.DagRun", run_name)]
    for e in executions(store).values():
        assert context_names(store, execution_id=e["id"]) == both
    for a in store.get_artifacts():
        assert context_names(store, artifact_id=a.id) == both
    dag_ctx = store.get_context_by_type_and_name("airflow.Dag", DAG_ID)
    run_ctx = store.get_context_by_type_and_name("airflow.DagRun", run_name)
    assert dag_ctx.external_id == f"airflow:dag:{DAG_ID}"
    assert run_ctx.external_id == f"airflow:dagrun:{DAG_ID}/{run['run_id']}"
    assert [c.id for c in store.get_parent_contexts_by_context(run_ctx.id)] == [dag_ctx.id]
    p = props(run_ctx)
    conf = p.pop("conf")
    assert conf.startswith('{"lr":0.1,"note":"xxx') and conf.endswith("...") and len(conf) == model.MAX_TEXT
    assert p == {"dag_id": DAG_ID, "run_id": run["run_id"], "run_type": "manual",
                 "logical_date": run["dag_run"].logical_date.isoformat(),
                 "run_after": run["dag_run"].run_after.isoformat()}
    assert len(store.get_executions_by_context(run_ctx.id)) == 10
