"""Runs ../shared/bench/mlmd_bench.py against ml-metadata 1.17.1 (side virtualenv) and mlmd_core,
interleaved for several rounds, and prints the median ops/s of each and their ratio.

    python benchmarks/compare.py --backend sqlite-memory --rounds 3 [--only put_artifacts_single,...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT.parent / "shared" / "bench" / "mlmd_bench.py"
SIDE_PYTHON = ROOT / ".venv-mlmd" / "bin" / "python"


def run(python: str, impl: str, args: argparse.Namespace, out: Path) -> dict[str, float]:
    cmd = [python, str(BENCH), "--impl", impl, "--backend", args.backend, "--scale", str(args.scale),
           "--json", str(out)]
    if args.only:
        cmd += ["--only", args.only]
    if args.backend == "mysql":  # a new database per run on the local MariaDB (tests' credentials)
        cmd += ["--mysql-host", args.mysql_host, "--mysql-port", str(args.mysql_port), "--mysql-user",
                args.mysql_user, "--mysql-fresh-db"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    workloads = json.loads(out.read_text())["workloads"]
    return {name: w["ops_per_s"] for name, w in workloads.items() if w.get("ops_per_s")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="sqlite-memory")
    parser.add_argument("--scale", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="")
    parser.add_argument("--mysql-host", default="127.0.0.1")
    parser.add_argument("--mysql-port", type=int, default=3306)
    parser.add_argument("--mysql-user", default="root")
    args = parser.parse_args()
    results: dict[str, dict[str, list[float]]] = {"ml_metadata": {}, "mlmd_core": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for round_no in range(args.rounds):
            for impl, python in (("ml_metadata", str(SIDE_PYTHON)), ("mlmd_core", sys.executable)):
                got = run(python, impl, args, Path(tmp) / f"{impl}-{round_no}.json")
                for name, ops in got.items():
                    results[impl].setdefault(name, []).append(ops)
    print(f"backend={args.backend} scale={args.scale} rounds={args.rounds} (median ops/s)")
    print(f"{'workload':40} {'ml-metadata':>12} {'mlmd_core':>12} {'ratio':>7}")
    for name in results["mlmd_core"]:
        core = statistics.median(results["mlmd_core"][name])
        ref = results["ml_metadata"].get(name)
        ref_median = statistics.median(ref) if ref else None
        ratio = f"{core / ref_median:6.2f}x" if ref_median else "   n/a"
        ref_text = f"{ref_median:12.1f}" if ref_median else f"{'-':>12}"
        print(f"{name:40} {ref_text} {core:12.1f} {ratio}")


if __name__ == "__main__":
    main()
