"""SLOW (about a minute): the listener under a real Airflow deployment -- api-server, dag-processor and a
scheduler with LocalExecutor running two worker processes at once -- recording into the embedded SQLite store
($AIRFLOW_HOME/mlmd.sqlite, no `mlmd` connection). Runs in the normal suite on purpose: it is the only test where
the hooks run in real task subprocesses (ORM access blocked, one process per task instance, concurrent writers)."""

from __future__ import annotations

from pathlib import Path

from airflow_stack import airflow_stack, http
from recording_helpers import context_names, events, executions, open_store

from mlmd_airflow.recording import model

DAG_ID = "mlmd_parallel"


def test_real_scheduler_with_local_executor(tmp_path: Path) -> None:
    with airflow_stack(tmp_path, DAG_ID) as stack:
        run_url = stack.run_url(DAG_ID, run_id := stack.trigger(DAG_ID))
        state = stack.wait("the DAG run to finish",
                           lambda: (http("GET", run_url)[1] or {}).get("state") in ("success", "failed")
                           and http("GET", run_url)[1]["state"])
        assert state == "success"
    home = stack.home

    store = open_store(home / "mlmd.sqlite")  # the embedded default store
    try:
        got = executions(store)
        assert {k: (e["type"], e["state"]) for k, e in got.items()} == {
            ("left", -1, 1): ("mlmd_parallel.mlmd_parallel.left", "COMPLETE"),
            ("right", -1, 1): ("mlmd_parallel.mlmd_parallel.right", "COMPLETE"),
            ("join", -1, 1): ("mlmd_parallel.mlmd_parallel.join", "COMPLETE"),
            ("double", 0, 1): ("mlmd_parallel.mlmd_parallel.double", "COMPLETE"),
            ("double", 1, 1): ("mlmd_parallel.mlmd_parallel.double", "COMPLETE"),
        }
        left, right = got[("left", -1, 1)], got[("right", -1, 1)]
        # two worker processes at once: the two 4-second tasks overlapped
        assert left["start_time"] < right["end_time"] and right["start_time"] < left["end_time"]

        def x(task_id: str, map_index: int = -1) -> str:
            return model.xcom_external_id(DAG_ID, run_id, task_id, map_index, "return_value")

        rv = ("return_value",)
        assert events(store, left["id"]) == [("OUTPUT", x("left"), rv)]
        assert events(store, got[("join", -1, 1)]["id"]) == [
            ("INPUT", x("left"), ("left", "return_value")), ("INPUT", x("right"), ("right", "return_value")),
            ("OUTPUT", "asset:file:///data/mlmd_parallel/out.json", ("parallel_out",)), ("OUTPUT", x("join"), rv)]
        for i in range(2):
            assert events(store, got[("double", i, 1)]["id"]) == [
                ("INPUT", x("join"), ("join", "return_value")), ("OUTPUT", x("double", i), rv)]
        for e in got.values():
            assert context_names(store, execution_id=e["id"]) == [("airflow.Dag", DAG_ID),
                                                                   ("airflow.DagRun", f"{DAG_ID}/{run_id}")]
        run_ctx = store.get_context_by_type_and_name("airflow.DagRun", f"{DAG_ID}/{run_id}")
        assert [c.name for c in store.get_parent_contexts_by_context(run_ctx.id)] == [DAG_ID]
        assert len(store.get_artifacts()) == 6  # 5 XComs + the asset
    finally:
        store.close()
