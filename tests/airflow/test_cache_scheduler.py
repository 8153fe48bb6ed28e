"""SLOW (about a minute): @cached_step under a real deployment (api-server, dag-processor, scheduler with
LocalExecutor and two worker processes). Two runs of mlmd_cache_concurrent are triggered at once: their
single-flight step computes once; the other task instance waits for the lease, then reuses the result."""

from __future__ import annotations

from pathlib import Path

from airflow_stack import airflow_stack, http
from recording_helpers import open_store

from mlmd_core.proto import metadata_store_pb2 as pb

DAG_ID = "mlmd_cache_concurrent"


def test_two_concurrent_identical_runs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with airflow_stack(tmp_path, DAG_ID, {"MLMD_CACHE_TEST_DIR": str(out)}) as stack:
        urls = [stack.run_url(DAG_ID, stack.trigger(DAG_ID)) for _ in range(2)]

        def finished() -> list[str] | None:
            states = [(http("GET", u)[1] or {}).get("state") for u in urls]
            return states if all(s in ("success", "failed") for s in states) else None

        assert stack.wait("both DAG runs to finish", finished) == ["success", "success"]
        results = [http("GET", f"{u}/taskInstances/consume/xcomEntries/return_value")[1] for u in urls]
        markers = [http("GET", f"{u}/taskInstances/slow_square/xcomEntries/mlmd_cache")[1] for u in urls]
    home = stack.home

    assert [r["value"] for r in results] == [10, 10]
    assert len((out / "slow_square.calls").read_text().splitlines()) == 1  # computed once
    assert sorted(m["value"]["status"] for m in markers) == ["hit", "miss"]
    store = open_store(home / "mlmd.sqlite")
    try:
        slow = [e for e in store.get_executions() if e.properties["task_id"].string_value == "slow_square"]
        assert sorted(pb.Execution.State.Name(e.last_known_state) for e in slow) == ["CACHED", "COMPLETE"]
        complete = next(e for e in slow if e.last_known_state == pb.Execution.COMPLETE)
        cached = next(e for e in slow if e.last_known_state == pb.Execution.CACHED)
        assert cached.custom_properties["cached_from"].int_value == complete.id
        # they really ran at the same time: the reusing task instance started before the computing one ended
        assert cached.properties["start_time"].string_value < complete.properties["end_time"].string_value
        outputs = {e.execution_id: e.artifact_id for e in store.get_events_by_execution_ids([complete.id, cached.id])
                   if e.type == pb.Event.OUTPUT}
        assert outputs[complete.id] == outputs[cached.id]
        # the lease was released: a stored lease artifact in state ABANDONED
        leases = store.get_artifacts_by_type("mlmd_airflow.CacheLease")
        assert len(leases) == 1 and leases[0].state == pb.Artifact.ABANDONED
    finally:
        store.close()
