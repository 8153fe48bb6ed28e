"""DAG `mlmd_lineage`: TaskFlow, mapped tasks, a reduce, multiple_outputs, classic Bash/Python operators and an
operator that names its own ExecutionType and contributes artifacts. tests/airflow/test_recording_lineage.py
asserts exactly what the MLMD listener records for one run of it.

    extract ──┬─> square[0..2] ──> total ──┐
    (RAW)     └─> describe{count,peak} ────┴─> train (reads RAW, writes MODEL) ─> publish (PythonOperator)
    shout (BashOperator, independent)      copy (CopyOperator: get_mlmd_artifacts, mlmd_execution_type)
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import Asset, BaseOperator, Metadata, dag, task

RAW = Asset(name="raw_rows", uri="file:///data/mlmd_lineage/raw.csv", extra={"format": "csv"})
MODEL = Asset(name="model", uri="file:///data/mlmd_lineage/model.pkl")


class CopyOperator(BaseOperator):
    """Copies a file (pretend): reports its source and destination to MLMD itself."""

    mlmd_execution_type = "example.CopyFiles"

    def __init__(self, *, src: str, dst: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.src, self.dst = src, dst

    def execute(self, context: Any) -> None:
        return None

    def get_mlmd_artifacts(self, context: Any) -> tuple[list[Any], list[Any]]:
        from mlmd_airflow.recording import ArtifactRef

        return [self.src], [ArtifactRef(uri=self.dst, type_name="example.File", properties={"copies": 1})]


def publish_model(model_name: str) -> str:
    """Publishes a model name (classic PythonOperator callable)."""
    return f"published {model_name}"


@dag(schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False)
def mlmd_lineage():
    @task(outlets=[RAW])
    def extract():
        """Reads the raw rows."""
        yield Metadata(RAW, extra={"rows": 3})
        return [1, 2, 3]

    @task
    def square(x: int) -> int:
        return x * x

    @task
    def total(values: list[int]) -> int:
        return sum(values)

    @task(multiple_outputs=True)
    def describe(rows: list[int]) -> dict[str, int]:
        return {"count": len(rows), "peak": max(rows)}

    @task(inlets=[RAW], outlets=[MODEL])
    def train(count: int, sum_of_squares: int) -> str:
        return f"model-{count}-{sum_of_squares}"

    rows = extract()
    summary = describe(rows)
    model = train(summary["count"], total(square.expand(x=rows)))
    PythonOperator(task_id="publish", python_callable=publish_model, op_args=[model])
    BashOperator(task_id="shout", bash_command="echo hello")
    CopyOperator(task_id="copy", src="file:///data/in.txt", dst="file:///data/out.txt")


mlmd_lineage_dag = mlmd_lineage()
