"""DAG `mlmd_outcomes`: every way a task instance ends. tests/airflow/test_recording_outcomes.py asserts the
executions the MLMD listener records for one run of it.

    flaky   fails on try 1, succeeds on try 2        -> FAILED (up_for_retry), COMPLETE
    doomed  fails on both tries -> after_doomed       -> FAILED, FAILED; after_doomed upstream_failed: nothing
    skipper raises AirflowSkipException               -> CANCELED
    choose  branches to `left`, skipping `right`       -> left COMPLETE, right CANCELED (try 0)
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import BranchPythonOperator
from airflow.sdk import dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException


@dag(schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False)
def mlmd_outcomes():
    @task(retries=1, retry_delay=timedelta(0))
    def flaky() -> str:
        if get_current_context()["ti"].try_number == 1:
            raise ValueError("first try fails")
        return "ok"

    @task(retries=1, retry_delay=timedelta(0))
    def doomed() -> None:
        raise RuntimeError("boom " + "x" * 2000)

    @task
    def after_doomed() -> None:
        return None

    @task
    def skipper() -> None:
        raise AirflowSkipException("nothing to do")

    choose = BranchPythonOperator(task_id="choose", python_callable=lambda: "left")
    choose >> [BashOperator(task_id="left", bash_command="echo left"),
               BashOperator(task_id="right", bash_command="echo right")]
    flaky()
    doomed() >> after_doomed()
    skipper()


mlmd_outcomes_dag = mlmd_outcomes()
