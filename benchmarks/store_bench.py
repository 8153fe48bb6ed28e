"""The store workloads of ../shared/bench/mlmd_bench.py on PostgreSQL (which that harness cannot connect to).

mlmd_bench.py is imported, not copied: its module globals ``mlmd``/``pb`` are pointed at the implementation
(mlmd_core, or google's ml_metadata when run with the side venv's python: ``--impl ml_metadata``), and its
``Bench`` class is given a store opened with a PostgreSQL ConnectionConfig (a fresh database, dropped afterwards
unless --keep-db; the side venv has no PostgreSQL driver, so benchmarks/compare.py drops it there). The JSON
written has mlmd_bench.py's own layout (meta + ``workloads``).

    .venv/bin/python benchmarks/store_bench.py [--scale 10000] [--only put_types,...] [--json out.json]
    .venv-mlmd/bin/python benchmarks/store_bench.py --impl ml_metadata --keep-db ...

The server is found at MLMD_TEST_PG_HOST / _PORT / _USER / _PASSWORD (default 127.0.0.1 / 5432 / postgres / ""),
as in the test suite.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT.parent / "shared" / "bench" / "mlmd_bench.py"
PG = {"host": os.environ.get("MLMD_TEST_PG_HOST", "127.0.0.1"),
      "port": int(os.environ.get("MLMD_TEST_PG_PORT", "5432")),
      "user": os.environ.get("MLMD_TEST_PG_USER", "postgres"),
      "password": os.environ.get("MLMD_TEST_PG_PASSWORD", "")}


def implementation(impl: str) -> tuple[ModuleType, ModuleType]:
    """(the library module, its metadata_store_pb2) of `impl`, as mlmd_bench.py binds them."""
    if impl == "ml_metadata":
        import ml_metadata
        from ml_metadata.proto import metadata_store_pb2
        return ml_metadata, metadata_store_pb2
    import mlmd_core
    from mlmd_core.proto import metadata_store_pb2
    return mlmd_core, metadata_store_pb2


def load_bench(impl: str | None = "mlmd_core") -> ModuleType:
    """Imports mlmd_bench.py by path and binds its implementation globals to `impl` (None: unbound)."""
    spec = importlib.util.spec_from_file_location("mlmd_bench", BENCH)
    assert spec and spec.loader, f"cannot load {BENCH}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if impl is not None:
        module.mlmd, module.pb = implementation(impl)
    return module


def pg_config(pb: ModuleType, database: str) -> Any:
    """A ConnectionConfig (of `pb`) for `database` on the PostgreSQL server (the store creates it if missing)."""
    config = pb.ConnectionConfig()
    c = config.postgresql
    c.host, c.port, c.user, c.dbname = PG["host"], str(PG["port"]), PG["user"], database
    if PG["password"]:
        c.password = PG["password"]
    return config


def drop_database(database: str) -> None:
    """Drops the benchmark's database (best effort)."""
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **PG) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def analyze(database: str) -> None:
    """ANALYZE the benchmark's database, untimed, before each timed workload: a production server's autovacuum
    keeps table statistics current, but test servers often run without it (this machine's does), and with no
    statistics PostgreSQL plans IN-lists on large tables as sequential scans, for both libraries. psql, not a
    Python driver: the side venv of ml-metadata has none."""
    env = {**os.environ, "PGPASSWORD": PG["password"]} if PG["password"] else None
    try:
        subprocess.run(["psql", "-h", PG["host"], "-p", str(PG["port"]), "-U", PG["user"], "-d", database, "-qc",
                        "ANALYZE"], check=True, capture_output=True, timeout=600, env=env)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"store_bench: ANALYZE failed, timing without fresh statistics: {exc}", file=sys.stderr, flush=True)


def run(scale: int, only: list[str], seed: int = 42, keep_db: bool = False,
        impl: str = "mlmd_core") -> dict[str, Any]:
    """Runs the selected groups on a fresh PostgreSQL database; returns mlmd_bench.py's result layout."""
    bench = load_bench(impl)
    library, pb = bench.mlmd, bench.pb
    version = str(getattr(library, "__version__", "?"))
    database = f"mlmd_bench_{os.getpid()}_{int(time.time())}"
    args = argparse.Namespace(scale=scale, seed=seed, only=only)
    started = time.perf_counter()
    store = library.MetadataStore(pg_config(pb, database))
    connect_s = time.perf_counter() - started
    rss_at_start = bench.peak_rss_kib()
    print(f"store_bench: impl={impl} {version} backend=postgresql scale={scale} groups={','.join(only)}",
          flush=True)
    results = bench.Results()
    timed = results.measure

    def measure_analyzed(name: str, body: Any) -> Any:
        analyze(database)
        return timed(name, body)

    results.measure = measure_analyzed  # type: ignore[method-assign]
    try:
        bench.Bench(args, store, results).run()
    finally:
        if hasattr(store, "close"):  # ml_metadata's store has no close()
            store.close()
        del store
        if not keep_db:
            drop_database(database)
    meta = {"impl": impl, "impl_version": version, "backend": "postgresql",
            "scale": scale, "seed": seed, "python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "argv": sys.argv, "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "connect_seconds": round(connect_s, 6), "total_seconds": round(time.perf_counter() - started, 3),
            "peak_rss_kib": bench.peak_rss_kib(), "peak_rss_kib_at_start": rss_at_start,
            "connection": {"host": PG["host"], "port": PG["port"], "database": database, "user": PG["user"]}}
    bench.print_table(meta, results.entries)
    return dict(meta, workloads=results.entries)


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    groups = load_bench(None).GROUPS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=10000, help="N (multiple of 100, default 10000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--only", default=",".join(groups), help="comma-separated groups: " + ",".join(groups))
    parser.add_argument("--json", help="write the results here (mlmd_bench.py's layout)")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database afterwards")
    parser.add_argument("--impl", choices=("mlmd_core", "ml_metadata"), default="mlmd_core")
    args = parser.parse_args(argv)
    only = [g.strip() for g in args.only.split(",") if g.strip()]
    if unknown := [g for g in only if g not in groups]:
        parser.error(f"unknown --only names {unknown}")
    if args.scale < 100 or args.scale % 100:
        parser.error("--scale must be a positive multiple of 100")
    report = run(args.scale, only, args.seed, args.keep_db, args.impl)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    failed = [n for n, e in report["workloads"].items() if e["status"] == "error" or e["check"] not in ("ok", "n/a")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
