"""The public-API test suites (tests/test_api_*.py) re-run with every store behind its own mlmd-server:
store_fixtures.open_store gives a MetadataStore over gRPC when MLMD_TEST_TRANSPORT=grpc, so the same
assertions check that the remote client behaves as the in-process one (results, errors, paging, atomicity)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SUITES = ["test_api_types.py", "test_api_nodes.py", "test_api_relations.py", "test_api_paging.py",
          "test_api_composite.py", "test_api_errors.py", "test_api_atomicity.py", "test_api_connect.py"]
# What only an in-process store can do: reject an unset ConnectionConfig in its constructor (a server falls
# back to an in-memory store), take retry_options from the ConnectionConfig (the gRPC client retries 5 times),
# and hand a test its own SQLite connections to inspect.
IN_PROCESS_ONLY = ["tests/test_api_connect.py::test_unset_config_raises_runtime_error",
                   "tests/test_api_connect.py::test_retry_options",
                   "tests/test_api_connect.py::test_file_store_reads_through_a_memory_map",
                   "tests/test_api_connect.py::test_only_in_memory_stores_run_on_apsw"]


def _env() -> dict[str, str]:
    env = dict(os.environ, MLMD_TEST_TRANSPORT="grpc")
    env.pop("MLMD_TEST_ORACLE", None)
    env.pop("MLMD_TEST_BACKENDS", None)  # in-memory and SQLite stores only: cheap enough for every run
    return env


def test_fixture_stores_are_grpc_backed() -> None:
    probe = ("import store_fixtures as f; s = f.open_store(f.memory_config()); "
             "print(type(s._backend).__name__); s.close()")
    result = subprocess.run([sys.executable, "-c", probe], cwd=TESTS, env=_env(), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "GrpcBackend"


def test_api_suites_pass_over_grpc() -> None:
    deselect = [arg for test in IN_PROCESS_ONLY for arg in ("--deselect", test)]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         *(f"tests/{s}" for s in SUITES), *deselect],
        cwd=TESTS.parent, env=_env(), capture_output=True, text=True, timeout=900)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-2000:]
    assert result.returncode == 0, result.stdout[-6000:]
    passed = int(re.search(r"(\d+) passed", summary).group(1))  # type: ignore[union-attr]
    assert passed >= 400, summary
