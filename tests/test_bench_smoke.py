"""Smoke test of the benchmark harness (`make bench QUICK=1`): it runs, and every workload has a number (the raw
sqlite3 insert comparison included).

No timing assertions: the machine is shared and the figures live in docs/performance.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from server_backends import unreachable

ROOT = Path(__file__).resolve().parent.parent


SHARED_BENCH = ROOT.parent / "shared" / "bench" / "mlmd_bench.py"


@pytest.mark.skipif(not SHARED_BENCH.exists(),
                    reason=f"the shared harness {SHARED_BENCH} is not beside this checkout (CI lays shared/ there)")
def test_quick_harness_reports_every_workload(tmp_path: Path) -> None:
    backends = ["sqlite-memory", "sqlite-file"] + [b for b, name in (("mysql", "mysql"), ("postgresql", "postgresql"))
                                                   if unreachable(name) is None]
    out = tmp_path / "bench.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick", "--no-doc", "--json", str(out),
                    "--backends", ",".join(backends)], check=True, cwd=ROOT, timeout=300)
    results = json.loads(out.read_text())
    groups = ("put_types", "put_artifacts_single", "put_artifacts_batch", "put_execution_atomic", "get_by_id",
              "get_by_uri", "filter_query", "get_by_context", "lineage", "cache_lookup")
    for backend in backends:
        workloads = results["store"][backend]["workloads"]
        assert not results["store"][backend].get("error"), results["store"][backend]
        for group in groups:
            assert any(name.split(".")[0] == group for name in workloads), (backend, group)
        missing = {name: ops for name, ops in workloads.items() if not isinstance(ops, (int, float)) or ops <= 0}
        assert not missing, (backend, missing, results["store"][backend].get("status"))
    listener = results["listener"]
    assert all(isinstance(listener[k], (int, float)) for k in ("wall_ms_per_task", "cpu_ms_per_task",
                                                               "self_ms_per_task"))
    task = results["task_process"]  # a fresh task process: the store opened, one task recorded
    expected = {"sqlite"} | ({"mysql", "grpc"} if "mysql" in backends else set()) | (
        {"postgresql"} if "postgresql" in backends else set())  # grpc: mlmd-server in front of MariaDB
    assert set(task["backends"]) == expected, task
    for backend, result in task["backends"].items():
        assert result["task_processes"] == 2 and 0 < result["open_ms"] < result["total_ms"], (backend, result)
        assert result["total_p90_ms"] >= result["total_ms"], (backend, result)  # the slower of the two
    cache = results["cache_lookup"]
    for name in ("lookup_hit", "lookup_miss", "key"):
        assert isinstance(cache[name]["p50_ms"], float) and isinstance(cache[name]["p99_ms"], float)
    grpc = results["grpc_load"]
    assert grpc["calls_per_second"] > 0 and isinstance(grpc["latency_ms"]["p99"], float)
    assert grpc["failures"] == grpc["missing"] == grpc["unexpected"] == 0, grpc
    raw = results["raw_insert"]  # mlmd_core against plain sqlite3 executemany of the same rows
    assert not raw.get("error"), raw
    assert raw["same_rows"] == {"batch": True, "single": True}, raw["same_rows"]
    for backend in ("sqlite-memory", "sqlite-file"):
        for mode in ("batch", "single"):
            row = raw["results"][backend][mode]
            assert len(row["mlmd_core_s"]) == len(row["raw_s"]) == raw["rounds"], row
            assert all(isinstance(row[k], float) for k in ("mlmd_core_median_s", "raw_median_s")), row
            assert all(isinstance(row[k], float) and row[k] > 0 for k in ("ratio", "cpu_ratio")), row
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("/usr/bin/chromium is missing for benchmarks/ui_load.py (apt-get install chromium; .ci/run does)")
    ui = results["ui_load"]  # the lineage view of a 500-node run, served by `mlmd ui`, in headless Chromium
    assert not ui.get("error"), ui
    assert ui["nodes"] == 500
    assert all(ui[k]["median_ms"] > 0 for k in ("api", "page", "data_in_page", "layout")), ui
