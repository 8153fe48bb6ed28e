"""SLOW (about a minute): the listener under a real Airflow deployment -- api-server, dag-processor and a
scheduler with LocalExecutor running two worker processes at once -- recording into the embedded SQLite store
($AIRFLOW_HOME/mlmd.sqlite, no `mlmd` connection). Runs in the normal suite on purpose: it is the only test where
the hooks run in real task subprocesses (ORM access blocked, one process per task instance, concurrent writers)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from recording_helpers import DAGS_DIR, context_names, events, executions, open_store

from mlmd_airflow.recording import model

DAG_ID = "mlmd_parallel"
AIRFLOW = str(Path(os.sys.executable).with_name("airflow"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(method: str, url: str, body: dict | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except OSError:
        return 0, None


def _wait(what: str, deadline: float, check: Any, procs: dict[str, subprocess.Popen], logs: Path) -> Any:
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        for name, proc in procs.items():
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode} while waiting for {what}:\n"
                            f"{(logs / f'{name}.log').read_text()[-3000:]}")
        time.sleep(1)
    tails = "\n".join(f"--- {n}\n{(logs / f'{n}.log').read_text()[-2000:]}" for n in procs)
    pytest.fail(f"timed out waiting for {what}\n{tails}")


def _stop(procs: dict[str, subprocess.Popen]) -> None:
    """SIGTERM each process group we started, then SIGKILL whatever is left after 30 s."""
    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    end = time.monotonic() + 30
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_real_scheduler_with_local_executor(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__MLMD__", "PYTEST_"))}
    env.update({
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR), "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2", "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}", "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port), "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5", "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
    })
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)

    procs: dict[str, subprocess.Popen] = {}
    commands = {"api-server": ["api-server", "-H", "127.0.0.1", "-p", str(port)],
                "dag-processor": ["dag-processor"], "scheduler": ["scheduler", "--skip-serve-logs"]}
    api = f"http://127.0.0.1:{port}/api/v2"
    try:
        for name, args in commands.items():
            with open(logs / f"{name}.log", "w") as out:
                procs[name] = subprocess.Popen([AIRFLOW, *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                                               start_new_session=True)
        deadline = time.monotonic() + 420
        _wait("the api-server", deadline, lambda: _http("GET", f"{api}/monitor/health")[0] == 200, procs, logs)
        _wait("the DAG to be parsed", deadline, lambda: _http("GET", f"{api}/dags/{DAG_ID}")[0] == 200, procs, logs)
        status, dag_run = _http("POST", f"{api}/dags/{DAG_ID}/dagRuns", {"logical_date": None})
        assert status == 200, status
        run_id = dag_run["dag_run_id"]
        run_url = f"{api}/dags/{DAG_ID}/dagRuns/{urllib.request.quote(run_id, safe='')}"
        state = _wait("the DAG run to finish", deadline,
                      lambda: (_http("GET", run_url)[1] or {}).get("state") in ("success", "failed")
                      and _http("GET", run_url)[1]["state"], procs, logs)
        assert state == "success"
    finally:
        _stop(procs)

    store = open_store(home / "mlmd.sqlite")  # the embedded default store
    try:
        got = executions(store)
        assert {k: (e["type"], e["state"]) for k, e in got.items()} == {
            ("left", -1, 1): ("mlmd_parallel.mlmd_parallel.left", "COMPLETE"),
            ("right", -1, 1): ("mlmd_parallel.mlmd_parallel.right", "COMPLETE"),
            ("join", -1, 1): ("mlmd_parallel.mlmd_parallel.join", "COMPLETE"),
            ("double", 0, 1): ("mlmd_parallel.mlmd_parallel.double", "COMPLETE"),
            ("double", 1, 1): ("mlmd_parallel.mlmd_parallel.double", "COMPLETE"),
        }
        left, right = got[("left", -1, 1)], got[("right", -1, 1)]
        # two worker processes at once: the two 4-second tasks overlapped
        assert left["start_time"] < right["end_time"] and right["start_time"] < left["end_time"]

        def x(task_id: str, map_index: int = -1) -> str:
            return model.xcom_external_id(DAG_ID, run_id, task_id, map_index, "return_value")

        rv = ("return_value",)
        assert events(store, left["id"]) == [("OUTPUT", x("left"), rv)]
        assert events(store, got[("join", -1, 1)]["id"]) == [
            ("INPUT", x("left"), ("left", "return_value")), ("INPUT", x("right"), ("right", "return_value")),
            ("OUTPUT", "asset:file:///data/mlmd_parallel/out.json", ("parallel_out",)), ("OUTPUT", x("join"), rv)]
        for i in range(2):
            assert events(store, got[("double", i, 1)]["id"]) == [
                ("INPUT", x("join"), ("join", "return_value")), ("OUTPUT", x("double", i), rv)]
        for e in got.values():
            assert context_names(store, execution_id=e["id"]) == [("airflow.Dag", DAG_ID),
                                                                   ("airflow.DagRun", f"{DAG_ID}/{run_id}")]
        run_ctx = store.get_context_by_type_and_name("airflow.DagRun", f"{DAG_ID}/{run_id}")
        assert [c.name for c in store.get_parent_contexts_by_context(run_ctx.id)] == [DAG_ID]
        assert len(store.get_artifacts()) == 6  # 5 XComs + the asset
    finally:
        store.close()
