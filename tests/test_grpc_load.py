"""benchmarks/grpc_load.py scaled down (4 client processes x 100 mixed calls against a file-backed
mlmd-server process): no call fails, every acknowledged write is stored, nothing else is."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_concurrent_clients_lose_no_writes(tmp_path: Path) -> None:
    if str(BENCHMARKS) not in sys.path:
        sys.path.append(str(BENCHMARKS))  # the spawned client processes import grpc_load by this path too
    import grpc_load

    report = grpc_load.run(clients=4, calls=100, server_threads=4, workdir=tmp_path)
    assert report["failures"] == []
    assert report["total_calls"] == 400
    assert report["writes"] > 100  # about a third of the calls write
    assert report["missing"] == [] and report["unexpected"] == []
    assert report["server_exit_code"] == 0
    assert report["calls_per_second"] > 0
