"""DAG `mlmd_parallel`, run by a real scheduler with LocalExecutor in tests/airflow/test_recording_scheduler.py:
two tasks that run at the same time in two worker processes, a join writing an Asset, and a mapped task."""

from __future__ import annotations

import time

import pendulum
from airflow.sdk import Asset, dag, task

OUT = Asset(name="parallel_out", uri="file:///data/mlmd_parallel/out.json")


@dag(schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False)
def mlmd_parallel():
    @task
    def left() -> int:
        time.sleep(4)
        return 1

    @task
    def right() -> int:
        time.sleep(4)
        return 2

    @task(outlets=[OUT])
    def join(a: int, b: int) -> list[int]:
        return [a, b]

    @task
    def double(x: int) -> int:
        return 2 * x

    double.expand(x=join(left(), right()))


mlmd_parallel_dag = mlmd_parallel()
