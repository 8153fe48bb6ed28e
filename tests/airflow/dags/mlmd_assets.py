"""Two DAGs sharing one Asset: `mlmd_asset_producer` writes SHARED (with outlet-event extra, from a classic
operator), `mlmd_asset_consumer` reads it. tests/airflow/test_recording_assets.py asserts that both runs link to
one MLMD artifact."""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Asset, BaseOperator, dag, task

SHARED = Asset(name="shared_table", uri="s3://warehouse/shared/table", group="tables", extra={"owner": "data"})


class PublishOperator(BaseOperator):
    """Writes SHARED and attaches the row count to the asset event."""

    def execute(self, context: Any) -> None:
        context["outlet_events"][SHARED].extra = {"row_count": 42}


@dag(schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False)
def mlmd_asset_producer():
    PublishOperator(task_id="publish", outlets=[SHARED])


@dag(schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False)
def mlmd_asset_consumer():
    @task(inlets=[SHARED])
    def read_shared() -> None:
        return None

    read_shared()


mlmd_asset_producer_dag = mlmd_asset_producer()
mlmd_asset_consumer_dag = mlmd_asset_consumer()
