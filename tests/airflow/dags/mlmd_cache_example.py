import pendulum
from airflow.sdk import dag, task

from mlmd_airflow import cached_step


def normalize(rows: list[float]) -> list[float]:
    top = max(rows)
    return [r / top for r in rows]


@dag(schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False,
     params={"mlmd_cache": {}})
def mlmd_cache_example():
    @task
    def extract() -> list[float]:
        return [3.0, 1.0, 2.0]  # re-runs every time: cheap, and maybe new data

    @task
    @cached_step(code_deps=[normalize])  # step name "mlmd_cache_example.features"
    def features(rows: list[float]) -> list[float]:
        return normalize(rows)

    @task
    @cached_step(name="train", version="2")  # manual code version: edits do not matter until you bump it
    def train(features: list[float], lr: float) -> dict:
        return {"weights": [f * lr for f in features]}

    @task
    def evaluate(model: dict) -> float:
        return sum(model["weights"])

    evaluate(train(features(extract()), lr=0.1))


mlmd_cache_example_dag = mlmd_cache_example()
