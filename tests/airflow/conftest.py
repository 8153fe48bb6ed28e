"""Shared set-up of the Airflow tests: an isolated Airflow per xdist worker, and a fresh MLMD store per test.

Airflow reads its configuration when first imported, so the environment is set here at import time, before
any test module imports airflow. This file itself imports no Airflow at module level (the tests outside
tests/airflow must stay Airflow-free).

Fixtures:
- `airflow_home`: this worker's AIRFLOW_HOME (a temp dir, removed when the worker process exits).
- `airflow_db`: Airflow's metadata DB, reset once per worker (request it for dag.test()/scheduler tests).
- `airflow_env`: a copy of os.environ for `subprocess` runs of `.venv/bin/airflow` (same home and settings).
- `airflow_cli`: runs `airflow <args>` in that environment and returns the CompletedProcess (fails loudly).
- `mlmd_sqlite_path`: a fresh SQLite file that the `mlmd_default` connection points to (env var
  AIRFLOW_CONN_MLMD_DEFAULT), with the per-process store cache reset before and after the test.
- `mlmd_store`: a MetadataStore on that same file, for assertions.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent.parent
DAGS_DIR = TESTS_DIR / "dags"
AIRFLOW_BIN = Path(sys.executable).with_name("airflow")

_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix=f"mlmd-airflow-{_WORKER}-"))
atexit.register(shutil.rmtree, AIRFLOW_HOME, ignore_errors=True)

# A user's own [mlmd] settings must not change what the tests see.
for _name in [n for n in os.environ if n.startswith("AIRFLOW__MLMD__") or n.startswith("AIRFLOW_CONN_")]:
    del os.environ[_name]
DAGS_DIR.mkdir(exist_ok=True)
os.environ.update({
    "AIRFLOW_HOME": str(AIRFLOW_HOME),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
    "AIRFLOW__CORE__PARALLELISM": "2",
})


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """This worker's AIRFLOW_HOME (removed when the worker exits)."""
    return AIRFLOW_HOME


@pytest.fixture(scope="session")
def airflow_db(airflow_home: Path) -> Path:
    """Airflow's metadata database, created from scratch once per worker."""
    from airflow.utils import db

    db.resetdb()
    return airflow_home


@pytest.fixture
def airflow_env(airflow_home: Path) -> dict[str, str]:
    """The environment for an `airflow` subprocess: this worker's home and settings, plus the test's env vars."""
    return dict(os.environ)


@pytest.fixture
def airflow_cli(airflow_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess]:
    """`airflow_cli("providers", "list", "-o", "json")` -> CompletedProcess; fails the test if airflow fails."""

    def run(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(AIRFLOW_BIN), *args], env=env or airflow_env, cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=180)
        if check and proc.returncode != 0:
            pytest.fail(f"airflow {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run


@pytest.fixture
def mlmd_sqlite_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh SQLite MLMD store behind the `mlmd_default` connection, for this test only."""
    from mlmd_airflow.hooks.mlmd import reset_stores

    path = tmp_path / "mlmd.sqlite"
    conn = {"conn_type": "mlmd", "extra": {"backend": "sqlite", "path": str(path)}}
    monkeypatch.setenv("AIRFLOW_CONN_MLMD_DEFAULT", json.dumps(conn))
    reset_stores()
    yield path
    reset_stores()


@pytest.fixture
def mlmd_store(mlmd_sqlite_path: Path):
    """A MetadataStore on the test's store file (its own handle, separate from the listener's cached one)."""
    from mlmd_core import MetadataStore
    from mlmd_core.proto import metadata_store_pb2 as pb

    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(mlmd_sqlite_path)
    store = MetadataStore(config)
    yield store
    store.close()
