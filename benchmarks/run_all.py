"""`make bench`: every benchmark of mlmd_core in one run, one JSON results file, the figures of docs/performance.md.

Runs, each in its own process (one after the other, so they do not compete for the CPUs):

- the store workloads of ../shared/bench/mlmd_bench.py for mlmd_core on SQLite memory, SQLite file and MariaDB
  (a fresh database, dropped afterwards), and on PostgreSQL through benchmarks/store_bench.py;
- benchmarks/listener_overhead.py (per-task overhead of the Airflow listener);
- benchmarks/task_process.py (what the listener costs a fresh task process: the store opened, one task recorded,
  on each backend and through mlmd-server);
- benchmarks/cache_lookup.py (cache lookup p50/p99 at 100k executions);
- benchmarks/grpc_load.py (16 concurrent clients against mlmd-server);
- benchmarks/raw_insert.py (put_artifacts against the same rows written with plain sqlite3 executemany, SQLite
  memory and file, 5 interleaved rounds);
- benchmarks/ui_load.py (the lineage view of a 500-node DAG run: graph API time, page load in headless Chromium).

    .venv/bin/python benchmarks/run_all.py [--quick] [--json PATH] [--[no-]doc] [--backends sqlite-memory,...]

--quick (QUICK=1 in make) is the smoke-test size: N=100, a 6-task DAG, 2,000 executions, 2 gRPC clients,
200 artifacts × 2 rounds against raw sqlite3; about
half a minute; it leaves docs/performance.md alone unless --doc is given. Servers are found as by the test
suite (MLMD_TEST_MYSQL_* / MLMD_TEST_PG_*); an unreachable one is recorded as an error for that backend.
The ml-metadata comparison is `make bench-compare` (compare.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BENCH = ROOT.parent / "shared" / "bench" / "mlmd_bench.py"
RESULTS = HERE / "results"
BACKENDS = ("sqlite-memory", "sqlite-file", "mysql", "postgresql")
MYSQL = {"host": os.environ.get("MLMD_TEST_MYSQL_HOST", "127.0.0.1"),
         "port": int(os.environ.get("MLMD_TEST_MYSQL_PORT", "3306")),
         "user": os.environ.get("MLMD_TEST_MYSQL_USER", "root"),
         "password": os.environ.get("MLMD_TEST_MYSQL_PASSWORD", "")}
# Sizes: (full, quick).
SIZES: dict[str, tuple[list[str], list[str]]] = {
    "listener": (["--tasks", "40", "--repeat", "7"], ["--tasks", "6", "--repeat", "1"]),
    "cache_lookup": (["--executions", "100000", "--lookups", "2000", "--file-mb", "100"],
                     ["--executions", "2000", "--lookups", "200", "--file-mb", "1"]),
    "grpc_load": (["--clients", "16", "--calls", "1000"], ["--clients", "2", "--calls", "50"]),
    "ui_load": ([], ["--quick"]),
    "raw_insert": (["--n", "10000", "--rounds", "5"], ["--quick"]),
    "task_process": (["--tasks", "21"], ["--tasks", "2"]),
}
# benchmarks/task_process.py's backends for the store backends chosen (gRPC: mlmd-server in front of MariaDB).
TASK_PROCESS_BACKENDS = {"sqlite-memory": ("sqlite",), "sqlite-file": ("sqlite",), "mysql": ("mysql", "grpc"),
                         "postgresql": ("postgresql",)}


def _run(cmd: list[str], log: Path) -> int:
    """Runs one benchmark process, its output to `log`; prints the command and how long it took."""
    print("$", shlex.join(cmd), flush=True)
    started = time.perf_counter()
    with open(log, "w") as out:
        code = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT).returncode
    print(f"  exit {code} in {time.perf_counter() - started:.1f} s (log {log})", flush=True)
    if code:
        print("  " + "\n  ".join(log.read_text().splitlines()[-15:]), flush=True)
    return code


def _mysql(sql: str) -> Any:
    import pymysql

    conn = pymysql.connect(autocommit=True, connect_timeout=5, **MYSQL)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchone()
    finally:
        conn.close()


def server_versions() -> dict[str, str | None]:
    """The MariaDB and PostgreSQL server versions (None where unreachable)."""
    versions: dict[str, str | None] = {"mariadb_version": None, "postgresql_version": None}
    try:
        versions["mariadb_version"] = str(_mysql("SELECT VERSION()")[0])
    except Exception:  # noqa: BLE001 - unreachable: reported as None
        pass
    try:
        import psycopg

        sys.path.insert(0, str(HERE))
        from store_bench import PG

        with psycopg.connect(dbname="postgres", connect_timeout=5, **PG) as conn:
            versions["postgresql_version"] = str(conn.execute("SHOW server_version").fetchone()[0])
    except Exception:  # noqa: BLE001
        pass
    return versions


def store_workloads(backend: str, scale: int, tmp: Path) -> dict[str, Any]:
    """One mlmd_bench.py run (store_bench.py for PostgreSQL) of every group; ops/s per workload."""
    out = tmp / f"store-{backend}.json"
    if backend == "postgresql":
        cmd = [sys.executable, str(HERE / "store_bench.py"), "--scale", str(scale), "--json", str(out)]
    else:
        cmd = [sys.executable, str(BENCH), "--impl", "mlmd_core", "--backend", backend, "--scale", str(scale),
               "--json", str(out)]
        if backend == "mysql":
            cmd += ["--mysql-host", MYSQL["host"], "--mysql-port", str(MYSQL["port"]), "--mysql-user",
                    MYSQL["user"], "--mysql-fresh-db"]
            if MYSQL["password"]:
                cmd += ["--mysql-password", MYSQL["password"]]
    code = _run(cmd, tmp / f"store-{backend}.log")
    if not out.exists():
        return {"scale": scale, "error": f"exit {code}, no results (see the log)", "workloads": {}}
    raw = json.loads(out.read_text())
    if backend == "mysql":  # mlmd_bench.py leaves its fresh database behind
        try:
            _mysql(f"DROP DATABASE IF EXISTS `{raw['connection']['database']}`")
        except Exception as exc:  # noqa: BLE001
            print(f"  could not drop {raw['connection']['database']}: {exc}")
    return {"scale": scale, "impl_version": raw["impl_version"], "total_s": raw["total_seconds"],
            "peak_rss_mib": round(raw["peak_rss_kib"] / 1024, 1),
            "workloads": {n: e["ops_per_s"] for n, e in raw["workloads"].items()},
            "status": {n: e["status"] if e["check"] in ("ok", "n/a") else f"check: {e['check']}"
                       for n, e in raw["workloads"].items() if e["status"] != "ok" or e["check"] != "ok"},
            **({"error": f"exit {code}"} if code else {})}


def side_benchmark(name: str, script: str, quick: bool, tmp: Path, extra: list[str] | None = None) -> dict[str, Any]:
    """Runs listener_overhead.py / task_process.py / cache_lookup.py / grpc_load.py / raw_insert.py / ui_load.py
    with --json (and `extra` arguments); returns what it wrote."""
    out = tmp / f"{name}.json"
    code = _run([sys.executable, str(HERE / script), *SIZES[name][quick], *(extra or []), "--json", str(out)],
                tmp / f"{name}.log")
    report = json.loads(out.read_text()) if out.exists() else {}
    if name == "grpc_load" and report:  # keep the summary, not every failure text
        report = {k: v for k, v in report.items() if k not in ("failures", "missing", "unexpected")} | {
            "failures": len(report["failures"]), "missing": len(report["missing"]),
            "unexpected": len(report["unexpected"])}
    if code:
        report["error"] = f"exit {code}"
    return report


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", default=os.environ.get("QUICK") == "1",
                        help="smoke-test size (also QUICK=1)")
    parser.add_argument("--scale", type=int, help="store workloads' N (default 10000; 100 with --quick)")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated subset of " + ",".join(BACKENDS))
    parser.add_argument("--skip", default="",
                        help="comma-separated: store,listener,task_process,cache_lookup,grpc_load,raw_insert,ui_load")
    parser.add_argument("--json", type=Path, help="results file (default benchmarks/results/bench[-quick].json)")
    parser.add_argument("--doc", action=argparse.BooleanOptionalAction, default=None,
                        help="regenerate docs/performance.md's figures (default: yes, except with --quick)")
    args = parser.parse_args(argv)
    scale = args.scale or (100 if args.quick else 10000)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := [b for b in backends if b not in BACKENDS]:
        parser.error(f"unknown backends {unknown}")
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    out = args.json or RESULTS / ("bench-quick.json" if args.quick else "bench.json")
    results: dict[str, Any] = {"meta": {
        "started_at": time.strftime("%Y-%m-%d %H:%M %Z"), "quick": args.quick, "scale": scale,
        "command": shlex.join(["python", "benchmarks/run_all.py", *(argv if argv is not None else sys.argv[1:])]),
        "python": platform.python_version(), "sqlite_version": sqlite3.sqlite_version, "cpus": os.cpu_count(),
        "platform": platform.platform(), **server_versions()}}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mlmd-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if "store" not in skip:
            results["store"] = {b: store_workloads(b, scale, tmp) for b in backends}
        task_backends = list(dict.fromkeys(b for store in backends for b in TASK_PROCESS_BACKENDS[store]))
        for name, script, extra in (("listener", "listener_overhead.py", None),
                                    ("task_process", "task_process.py", ["--backends", ",".join(task_backends)]),
                                    ("cache_lookup", "cache_lookup.py", None), ("grpc_load", "grpc_load.py", None),
                                    ("raw_insert", "raw_insert.py", None), ("ui_load", "ui_load.py", None)):
            if name not in skip:
                results[name] = side_benchmark(name, script, args.quick, tmp, extra)
    results["meta"]["total_s"] = round(time.perf_counter() - started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out} ({results['meta']['total_s']} s)")
    if args.doc or (args.doc is None and not args.quick):
        from report import update_doc  # benchmarks/report.py (this directory is on sys.path)

        update_doc(out)
    errors = [b for b, r in results.get("store", {}).items() if r.get("error")]
    errors += [n for n in SIZES if isinstance(results.get(n), dict) and results[n].get("error")]
    if errors:
        print("errors in:", ", ".join(errors))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
