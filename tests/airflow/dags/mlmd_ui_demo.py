"""DAG `mlmd_ui_demo`: what the lineage UI tests (tests/airflow/test_ui_server.py) open in a real browser.

    extract -> train (@cached_step: run 2 is CACHED from run 1) -> evaluate -> publish (outlet: an Asset whose name
    is HTML, which must render as text)
               flaky (fails: a FAILED execution)
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag, task

from mlmd_airflow import cached_step

XSS_ASSET = Asset(name='<img src=x onerror="window.__xss=1">', uri="s3://lake/ui-demo/report")


@dag(schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False)
def mlmd_ui_demo():
    @task
    def extract() -> list[int]:
        return [1, 2, 3]

    @task
    @cached_step(name="ui_demo_train")
    def train(data: list[int]) -> dict:
        return {"weights": [x * 0.5 for x in data]}

    @task
    def evaluate(model: dict) -> float:
        return sum(model["weights"])

    @task(outlets=[XSS_ASSET])
    def publish(score: float) -> str:
        return f"score {score}"

    @task
    def flaky() -> None:
        raise ValueError("flaky failed on purpose")

    data = extract()
    publish(evaluate(train(data)))
    flaky()


mlmd_ui_demo_dag = mlmd_ui_demo()
