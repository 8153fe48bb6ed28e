"""Two DAGs sharing an Asset (tests/airflow/dags/mlmd_assets.py): one MLMD artifact links both runs."""

from __future__ import annotations

from pathlib import Path

from recording_helpers import artifacts, context_names, events, executions, load_dag, open_store, store_env

SHARED = "asset:s3://warehouse/shared/table"


def test_shared_asset_is_one_artifact_linking_both_runs(airflow_db: Path, tmp_path: Path) -> None:
    path = tmp_path / "mlmd.sqlite"
    with store_env(path):
        producer_run = load_dag("mlmd_assets", "mlmd_asset_producer").test()
        consumer_run = load_dag("mlmd_assets", "mlmd_asset_consumer").test()
    assert (producer_run.state, consumer_run.state) == ("success", "success")
    store = open_store(path)
    try:
        got = artifacts(store)
        assert got == {SHARED: {"type": "airflow.Asset", "uri": "s3://warehouse/shared/table", "state": "LIVE",
                                "name": "shared_table", "group": "tables", "extra": '{"owner":"data"}'}}
        ex = executions(store)
        assert set(ex) == {("publish", -1, 1), ("read_shared", -1, 1)}
        publish, read = ex[("publish", -1, 1)], ex[("read_shared", -1, 1)]
        assert (publish["type"], read["type"]) == ("mlmd_assets.PublishOperator",
                                                   "mlmd_assets.mlmd_asset_consumer.read_shared")
        # the outlet-event extra belongs to the producing execution, not to the shared artifact
        assert publish["asset_event_extra"] == '{"s3://warehouse/shared/table":{"row_count":42}}'
        assert events(store, publish["id"]) == [("OUTPUT", SHARED, ("shared_table",))]
        assert events(store, read["id"]) == [("INPUT", SHARED, ("shared_table",))]
        [artifact] = store.get_artifacts()
        assert context_names(store, artifact_id=artifact.id) == [
            ("airflow.Dag", "mlmd_asset_consumer"), ("airflow.Dag", "mlmd_asset_producer"),
            ("airflow.DagRun", f"mlmd_asset_consumer/{consumer_run.run_id}"),
            ("airflow.DagRun", f"mlmd_asset_producer/{producer_run.run_id}")]
        # lineage: from the consumer's execution upstream through the shared asset to the producer's execution
        producers = {e.execution_id for e in store.get_events_by_artifact_ids([artifact.id]) if e.type == e.OUTPUT}
        assert producers == {publish["id"]}
    finally:
        store.close()
