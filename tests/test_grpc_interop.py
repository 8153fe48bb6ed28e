"""The real ml-metadata 1.17.1 client (side virtualenv) against our `mlmd-server` process.

The client writes the interop scenario (tests/interop_scripts/scenario.py: every type, property kind, event,
link, put_execution, put_lineage_subgraph) over gRPC, then reads everything back over gRPC (every getter,
paging variants, filter queries, lineage subgraphs, errors); mlmd_core in-process reading the same SQLite
file must give the same answers, and so must mlmd_core's own client over gRPC. The MLMD getting-started
walkthrough run by ml-metadata over gRPC gives what mlmd_core gives in-process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import mlmd_core as mlmd
from mlmd_core.grpc.testing import ServerProcess, write_server_config
from mlmd_core.proto import metadata_store_pb2 as pb

try:
    from mlmd_side_venv import side_python
    from test_interop import GROUP_NAMES, _core_dump, _parse, assert_same, scenario, without_timestamps
except ImportError:  # tests/ imported as a package
    from tests.mlmd_side_venv import side_python
    from tests.test_interop import GROUP_NAMES, _core_dump, _parse, assert_same, scenario, without_timestamps

CLIENT = Path(__file__).resolve().parent / "interop_scripts" / "run_grpc_client.py"
TIMEOUT_S = 600


def run_client(*args: str, python: str | None = None) -> None:
    """run_grpc_client.py with ml-metadata (side venv) or, given `python`, with mlmd_core."""
    cmd = [python or side_python(), str(CLIENT), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-40:])
        pytest.fail(f"`run_grpc_client.py {' '.join(args)}` exited {proc.returncode}:\n{tail}")


def _file_server(tmp: Path) -> tuple[ServerProcess, Path]:
    db = tmp / "served.sqlite"
    config = pb.MetadataStoreServerConfig()
    config.connection_config.sqlite.filename_uri = str(db)
    config_file = write_server_config(tmp / "server.pbtxt", config)
    return ServerProcess([f"--metadata_store_server_config_file={config_file}"]), db


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """ml-metadata populates and dumps over gRPC; mlmd_core's gRPC client dumps too; then the server stops
    (SIGTERM) and mlmd_core dumps the file in-process."""
    tmp = tmp_path_factory.mktemp("grpc_interop")
    proc, db = _file_server(tmp)
    with proc:
        port = str(proc.port)
        run_client("populate", "127.0.0.1", port)
        run_client("dump", "127.0.0.1", port, str(db), str(tmp / "ml.json"))
        run_client("--lib", "mlmd_core", "dump", "127.0.0.1", port, str(db), str(tmp / "core_grpc.json"),
                   python=sys.executable)
        exit_code = proc.terminate()
    return {"db": db, "exit": exit_code, "log": proc.log, "ml": json.loads((tmp / "ml.json").read_text()),
            "core_grpc": json.loads((tmp / "core_grpc.json").read_text()), "core": _core_dump(db)}


@pytest.mark.parametrize("group", GROUP_NAMES)
def test_ml_metadata_client_over_grpc_matches_in_process(served: dict[str, Any], group: str) -> None:
    assert_same(served["core"], served["ml"], [group],
                f"{group}: mlmd_core in-process (expected) vs ml-metadata's client over mlmd-server (got)")


def test_mlmd_core_client_over_grpc_matches_ml_metadata_client(served: dict[str, Any]) -> None:
    assert_same(served["ml"], served["core_grpc"], GROUP_NAMES,
                "ml-metadata's client (expected) vs mlmd_core's client (got), both over mlmd-server")


def test_dump_exercises_paging_filters_lineage_and_errors(served: dict[str, Any]) -> None:
    groups = {scenario.group_of(k) for k in served["ml"]}
    assert {scenario.FILTER_GROUP, scenario.LINEAGE_GROUP} <= groups
    assert any("limit=7" in k for k in served["ml"]), "paging variants missing"
    errors = {r["error"] for r in served["ml"].values() if "error" in r}
    assert "NotFoundError" in errors
    assert served["exit"] == 0


def test_writes_over_grpc_equal_writes_in_process(served: dict[str, Any], tmp_path: Path) -> None:
    """The store ml-metadata's client wrote through mlmd-server equals what mlmd_core writes in-process."""
    db = tmp_path / "inproc.sqlite"
    store = mlmd.MetadataStore(scenario.connection_config(pb, str(db), "READWRITE_OPENCREATE"))
    try:
        scenario.POPULATE["full"](mlmd, pb, store)
    finally:
        store.close()
    assert_same(_core_dump(db), served["core"], GROUP_NAMES,
                "written in-process (expected) vs written by ml-metadata over gRPC (got)", normalize=without_timestamps)


def test_walkthrough_over_grpc(tmp_path: Path) -> None:
    """The getting-started walkthrough by ml-metadata over gRPC (in-memory server) == mlmd_core in-process."""
    sys.path.insert(0, str(CLIENT.parent))
    try:
        import run_grpc_client
    finally:
        sys.path.remove(str(CLIENT.parent))
    local = mlmd.MetadataStore(pb.ConnectionConfig(fake_database=pb.FakeDatabaseConfig()))
    expected = json.loads(json.dumps(run_grpc_client.walkthrough(mlmd, pb, local)))
    with ServerProcess() as proc:
        run_client("walkthrough", "127.0.0.1", str(proc.port), str(tmp_path / "walk.json"))
    got = json.loads((tmp_path / "walk.json").read_text())
    assert sorted(got) == sorted(expected)
    assert {"error": "AlreadyExistsError"}.items() <= got["put_artifact_type conflicting"].items()
    assert "error" not in got["get_lineage_subgraph"]
    differing = [k for k in expected
                 if without_timestamps(_parse(expected[k])) != without_timestamps(_parse(got[k]))]
    assert not differing, {k: (expected[k], got[k]) for k in differing}
