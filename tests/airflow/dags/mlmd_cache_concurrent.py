"""DAG `mlmd_cache_concurrent`: a slow single-flight cached step and a consumer. tests/airflow/
test_cache_scheduler.py triggers two runs at once under a real scheduler: one run computes `slow_square`, the
other waits for its lease and then reuses the result (one COMPLETE and one CACHED execution)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pendulum
from airflow.sdk import dag, task

from mlmd_airflow import cached_step


@dag(schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False, max_active_runs=2)
def mlmd_cache_concurrent():
    @task
    @cached_step(concurrency="single_flight")
    def slow_square(x: int) -> int:
        calls = Path(os.environ.get("MLMD_CACHE_TEST_DIR", "/tmp")) / "slow_square.calls"
        with open(calls, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        time.sleep(4)
        return x * x

    @task
    def consume(value: int) -> int:
        return value + 1

    consume(slow_square(3))


mlmd_cache_concurrent_dag = mlmd_cache_concurrent()
