"""A real Airflow deployment for the slow tests: api-server, dag-processor and a LocalExecutor scheduler
(two worker processes) on loopback, with their own AIRFLOW_HOME and embedded MLMD store."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ports import free_port
from recording_helpers import DAGS_DIR

AIRFLOW = str(Path(os.sys.executable).with_name("airflow"))


def http(method: str, url: str, body: dict | None = None) -> tuple[int, Any]:
    """(status, JSON body); status 0 when nothing answers yet."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except OSError:
        return 0, None


@dataclass
class Stack:
    home: Path
    logs: Path
    api: str  # http://127.0.0.1:<port>/api/v2
    deadline: float
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def wait(self, what: str, check: Callable[[], Any]) -> Any:
        """Polls `check` until it returns something true; fails with the processes' logs otherwise."""
        while time.monotonic() < self.deadline:
            result = check()
            if result:
                return result
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    pytest.fail(f"{name} exited with {proc.returncode} while waiting for {what}:\n"
                                f"{(self.logs / f'{name}.log').read_text()[-3000:]}")
            time.sleep(1)
        tails = "\n".join(f"--- {n}\n{(self.logs / f'{n}.log').read_text()[-2000:]}" for n in self.procs)
        pytest.fail(f"timed out waiting for {what}\n{tails}")

    def run_url(self, dag_id: str, run_id: str) -> str:
        return f"{self.api}/dags/{dag_id}/dagRuns/{urllib.request.quote(run_id, safe='')}"

    def trigger(self, dag_id: str) -> str:
        """Triggers a run through the REST API; returns its run id."""
        status, dag_run = http("POST", f"{self.api}/dags/{dag_id}/dagRuns", {"logical_date": None})
        assert status == 200, status
        return dag_run["dag_run_id"]


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


@contextlib.contextmanager
def airflow_stack(tmp_path: Path, dag_id: str, extra_env: dict[str, str] | None = None,
                  timeout: float = 420) -> Iterator[Stack]:
    """Starts the three processes, waits until `dag_id` is parsed, and stops them all on exit."""
    home, logs = tmp_path / "home", tmp_path / "logs"
    home.mkdir()
    logs.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__MLMD__", "PYTEST_", "MLMD_"))}
    env.update({
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR), "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2", "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}", "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port), "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5", "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        **(extra_env or {}),
    })
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    stack = Stack(home, logs, f"http://127.0.0.1:{port}/api/v2", time.monotonic() + timeout)
    commands = {"api-server": ["api-server", "-H", "127.0.0.1", "-p", str(port)],
                "dag-processor": ["dag-processor"], "scheduler": ["scheduler", "--skip-serve-logs"]}
    try:
        for name, args in commands.items():
            with open(logs / f"{name}.log", "w") as log_file:
                stack.procs[name] = subprocess.Popen([AIRFLOW, *args], env=env, stdout=log_file,
                                                     stderr=subprocess.STDOUT, start_new_session=True)
        stack.wait("the api-server", lambda: http("GET", f"{stack.api}/monitor/health")[0] == 200)
        stack.wait("the DAG to be parsed", lambda: http("GET", f"{stack.api}/dags/{dag_id}")[0] == 200)
        yield stack
    finally:
        _stop(stack.procs)
