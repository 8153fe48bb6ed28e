"""DAG `mlmd_outage`: two small tasks, run by tests/airflow/test_listener_outage.py against stores that fail."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False)
def mlmd_outage():
    @task
    def produce() -> int:
        return 1

    @task
    def consume(value: int) -> int:
        return value + 1

    consume(produce())


mlmd_outage_dag = mlmd_outage()
