"""Runs ../shared/bench/mlmd_bench.py against ml-metadata 1.17.1 (side virtualenv) and mlmd_core,
interleaved for several rounds, and prints the median ops/s of each and their ratio. Backends: those of
mlmd_bench.py (sqlite-memory, sqlite-file, mysql) and postgresql (through benchmarks/store_bench.py).

    python benchmarks/compare.py --backend sqlite-memory --rounds 3 [--only put_artifacts_single,...]
        [--json benchmarks/results/compare-sqlite-memory.json] [--doc]

--json writes the per-round ops/s, medians and ratios; --doc then regenerates the ratio table of
docs/performance.md from every benchmarks/results/compare-*.json (see benchmarks/report.py).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlmd_core.store.engine import mysql_driver  # which driver the mlmd_core runs use (same environment)

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT.parent / "shared" / "bench" / "mlmd_bench.py"
SIDE_PYTHON = ROOT / ".venv-mlmd" / "bin" / "python"
STORE_BENCH = ROOT / "benchmarks" / "store_bench.py"


def run(python: str, impl: str, args: argparse.Namespace, out: Path) -> tuple[dict[str, float], float]:
    """One mlmd_bench.py run of `impl`: ops/s per workload and the process's peak RSS in MiB."""
    if args.backend == "postgresql":  # mlmd_bench.py has no PostgreSQL backend: store_bench.py wraps it
        cmd = [python, str(STORE_BENCH), "--impl", impl, "--keep-db", "--scale", str(args.scale), "--json", str(out)]
    else:
        cmd = [python, str(BENCH), "--impl", impl, "--backend", args.backend, "--scale", str(args.scale),
               "--json", str(out)]
    if args.only:
        cmd += ["--only", args.only]
    if args.backend == "mysql":  # a new database per run on the local MariaDB (tests' credentials)
        cmd += ["--mysql-host", args.mysql_host, "--mysql-port", str(args.mysql_port), "--mysql-user",
                args.mysql_user, "--mysql-fresh-db"]
    code = subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode
    if not out.exists():
        raise SystemExit(f"{impl} run failed (exit {code}): {' '.join(cmd)}")
    raw = json.loads(out.read_text())
    if code:  # a failed check or an error in some workload: reported, that workload's figure is left out
        bad = {n: w.get("error") or w["check"] for n, w in raw["workloads"].items()
               if w["status"] == "error" or w["check"] not in ("ok", "n/a")}
        print(f"warning: {impl} exit {code}: {bad}", file=sys.stderr)
    if args.backend == "postgresql":  # kept by --keep-db: the side venv has no PostgreSQL driver to drop it
        from store_bench import drop_database

        drop_database(raw["connection"]["database"])
    if args.backend == "mysql":  # mlmd_bench.py leaves its fresh database behind
        import pymysql

        conn = pymysql.connect(host=args.mysql_host, port=args.mysql_port, user=args.mysql_user, autocommit=True)
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{raw['connection']['database']}`")
        conn.close()
    ops = {name: w["ops_per_s"] for name, w in raw["workloads"].items()
           if w.get("ops_per_s") and w["check"] == "ok"}
    return ops, raw["peak_rss_kib"] / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="sqlite-memory")
    parser.add_argument("--scale", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="")
    parser.add_argument("--mysql-host", default="127.0.0.1")
    parser.add_argument("--mysql-port", type=int, default=3306)
    parser.add_argument("--mysql-user", default="root")
    parser.add_argument("--json", help="write rounds, medians and ratios here")
    parser.add_argument("--doc", action="store_true", help="regenerate the ratio table of docs/performance.md")
    args = parser.parse_args()
    started_at = time.strftime("%Y-%m-%d %H:%M %Z")
    results: dict[str, dict[str, list[float]]] = {"ml_metadata": {}, "mlmd_core": {}}
    peak_rss: dict[str, list[float]] = {"ml_metadata": [], "mlmd_core": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_no in range(args.rounds):
            for impl, python in (("ml_metadata", str(SIDE_PYTHON)), ("mlmd_core", sys.executable)):
                got, rss = run(python, impl, args, Path(tmp) / f"{impl}-{round_no}.json")
                peak_rss[impl].append(rss)
                for name, ops in got.items():
                    results[impl].setdefault(name, []).append(ops)
    print(f"backend={args.backend} scale={args.scale} rounds={args.rounds} (median ops/s)")
    print(f"{'workload':40} {'ml-metadata':>12} {'mlmd_core':>12} {'ratio':>7}")
    rows: dict[str, dict[str, float | None]] = {}
    for name in results["mlmd_core"]:
        core = statistics.median(results["mlmd_core"][name])
        ref = results["ml_metadata"].get(name)
        ref_median = statistics.median(ref) if ref else None
        rows[name] = {"ml_metadata": ref_median, "mlmd_core": core,
                      "ratio": round(core / ref_median, 3) if ref_median else None}
        ratio = f"{core / ref_median:6.2f}x" if ref_median else "   n/a"
        ref_text = f"{ref_median:12.1f}" if ref_median else f"{'-':>12}"
        print(f"{name:40} {ref_text} {core:12.1f} {ratio}")
    rss = {impl: round(statistics.median(values), 1) for impl, values in peak_rss.items()}
    print(f"{'peak RSS (MiB, median)':40} {rss['ml_metadata']:12.1f} {rss['mlmd_core']:12.1f}")
    if args.json:
        report = {"backend": args.backend, "scale": args.scale, "rounds": args.rounds, "only": args.only,
                  "peak_rss_mib": rss,
                  **({"mysql_driver": mysql_driver()} if args.backend == "mysql" else {}),
                  "started_at": started_at, "python": platform.python_version(),
                  "command": shlex.join(["python", "benchmarks/compare.py", *sys.argv[1:]]),
                  "rounds_ops_per_s": results, "median": rows}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"wrote {args.json}")
    if args.doc:
        from report import update_doc  # benchmarks/report.py (this directory is on sys.path)

        update_doc()


if __name__ == "__main__":
    main()
