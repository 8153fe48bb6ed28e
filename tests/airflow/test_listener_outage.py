"""The listener never harms a task: a store that fails or hangs is logged and counted, and the task carries on;
with `[mlmd] strict = True` the task fails instead. Also `enabled = False` and `exclusions`."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from recording_helpers import executions, load_dag, open_store, store_env

DAG_ID = "mlmd_outage"


@contextmanager
def connection(conn: dict) -> Iterator[None]:
    """Points `mlmd_default` at `conn` inside a store_env (which resets the caches)."""
    saved = os.environ.get("AIRFLOW_CONN_MLMD_DEFAULT")
    os.environ["AIRFLOW_CONN_MLMD_DEFAULT"] = json.dumps(conn)
    from mlmd_airflow.hooks.mlmd import reset_stores

    reset_stores()
    try:
        yield
    finally:
        os.environ["AIRFLOW_CONN_MLMD_DEFAULT"] = saved or ""
        reset_stores()


UNWRITABLE = {"conn_type": "mlmd", "extra": {"backend": "sqlite", "path": "/proc/mlmd-no-such-dir/mlmd.sqlite"}}


def _run(tmp_path: Path, conn: dict | None = None, **options: str) -> tuple[dict[str, str], dict[str, int]]:
    from mlmd_airflow import listener

    with store_env(tmp_path / "mlmd.sqlite", **options):
        if conn is None:
            dag_run = load_dag(DAG_ID).test()
        else:
            with connection(conn):
                dag_run = load_dag(DAG_ID).test()
        counters = dict(listener.stats)
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}, counters


def test_unwritable_store_does_not_fail_the_task(airflow_db: Path, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    states, counters = _run(tmp_path, UNWRITABLE)
    assert states == {"produce": "success", "consume": "success"}
    # start, outputs and success record of each task: all failed, none recorded
    assert counters == {"failed": 6}
    warnings = [r.getMessage() for r in caplog.records if r.name == "mlmd_airflow.listener"]
    assert len(warnings) == 6 and all("the task is not affected" in w for w in warnings)


def test_strict_mode_fails_the_task(airflow_db: Path, tmp_path: Path) -> None:
    states, counters = _run(tmp_path, UNWRITABLE, strict="True")
    # produce's RUNNING record failed -> its pre-execute hook fails it before its code runs
    assert states == {"produce": "failed", "consume": "upstream_failed"}
    assert counters == {"failed": 2}  # the start record, then the (logged) failure record


def test_a_hanging_store_is_abandoned_after_the_timeout(airflow_db: Path, tmp_path: Path) -> None:
    # A TCP port that accepts connections but never speaks gRPC: every store call hangs.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        conn = {"conn_type": "mlmd", "host": "127.0.0.1", "port": port, "extra": {"backend": "grpc"}}
        states, counters = _run(tmp_path, conn, timeout="0.5")
    assert states == {"produce": "success", "consume": "success"}
    assert counters == {"timed_out": 6}


def test_disabled_records_nothing(airflow_db: Path, tmp_path: Path) -> None:
    states, counters = _run(tmp_path, enabled="False")
    assert states == {"produce": "success", "consume": "success"}
    assert counters == {}
    assert not (tmp_path / "mlmd.sqlite").exists()


def test_excluded_tasks_are_not_recorded(airflow_db: Path, tmp_path: Path) -> None:
    states, counters = _run(tmp_path, exclusions="mlmd_outage.cons*, other_dag.*")
    assert states == {"produce": "success", "consume": "success"}
    assert counters == {"recorded": 3, "ignored": 2}
    store = open_store(tmp_path / "mlmd.sqlite")
    try:
        assert set(executions(store)) == {("produce", -1, 1)}
    finally:
        store.close()
