"""Inserts through mlmd_core against the same rows written with plain sqlite3 `executemany` (issue #11 target:
mlmd_core within 2× of raw sqlite3).

    .venv/bin/python benchmarks/raw_insert.py [--n 10000] [--rounds 5] [--quick] [--json PATH]
    .venv/bin/python benchmarks/raw_insert.py --profile memory|file [--per-call 100]   # cProfile of mlmd_core

The rows are those of the `put_artifacts_*` workloads of ../shared/bench/mlmd_bench.py (imported, not copied:
its `plain_artifact_specs` and `artifact_proto`): an artifact type with 3 properties (day INT, split STRING,
score DOUBLE); each artifact has a uri, a name, the 3 properties and 2 custom properties (owner STRING,
version INT), so 1 Artifact row and 5 ArtifactProperty rows.

Timed, each on a fresh database holding MLMD's schema and that type only:

- **mlmd_core**: `MetadataStore.put_artifacts`, 100 protos per call (*batch*) or 1 per call (*single*); protos
  are built before the clock starts, as in mlmd_bench.py.
- **raw**: Python's sqlite3 on the same schema, doing the work a store must do: per transaction
  `BEGIN IMMEDIATE`, `executemany` INSERT INTO Artifact (the columns mlmd_core writes), the new ids (batch:
  `SELECT last_insert_rowid()`, the ids of one executemany under the write lock being consecutive; single:
  `cursor.lastrowid`), `executemany` INSERT INTO ArtifactProperty with those ids, COMMIT. One transaction per
  100 artifacts (batch) or per artifact (single). Building the row tuples from the data is inside the clock (mlmd_core's
  time includes turning protos into rows), the per-transaction timestamp too.

The raw database is created by mlmd_core: for a file, an mlmd_core store is opened on the fresh file and the
type put, then the store is closed and a sqlite3 connection opened with the connection settings of
mlmd_core/store/engine.py (`isolation_level=None` and its `SQLITE_FILE_PRAGMAS` and `SQLITE_WRITER_PRAGMAS`:
busy timeout, memory-mapped reads, WAL, `synchronous = NORMAL`); for memory, mlmd_core creates a template
file once and every raw in-memory database is a copy of it (`sqlite3.Connection.backup`) on a plain
`sqlite3.connect(":memory:", isolation_level=None)`, as mlmd_core's own in-memory connection (no PRAGMAs).
After the first round the two file databases are compared row by row (`same_rows`): the raw side must have
written exactly what mlmd_core wrote, timestamps aside.

Rounds are interleaved (mlmd_core first in even rounds, raw first in odd ones); the medians over rounds and the
ratio mlmd_core time / raw time are reported (1.0 = as fast as raw; the target is at most 2). The wall time is the
figure; the process CPU time is recorded beside it (`cpu_ratio`), less disturbed by other work on a shared
machine (but blind to time spent waiting for the disk).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import platform
import pstats
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from store_bench import load_bench  # noqa: E402 - imports ../shared/bench/mlmd_bench.py bound to mlmd_core

import mlmd_core  # noqa: E402
from mlmd_core.proto import metadata_store_pb2 as pb  # noqa: E402
from mlmd_core.store.engine import SQLITE_FILE_PRAGMAS, SQLITE_WRITER_PRAGMAS  # noqa: E402

BATCH = 100
BACKENDS = ("sqlite-memory", "sqlite-file")
MODES = ("batch", "single")
# How mlmd_core sets up a SQLite file connection (an in-memory one gets none of these).
FILE_PRAGMAS = SQLITE_FILE_PRAGMAS + SQLITE_WRITER_PRAGMAS
ART_SQL = ('INSERT INTO "Artifact" (type_id, create_time_since_epoch, last_update_time_since_epoch, name, '
           "external_id, uri, state) VALUES (?, ?, ?, ?, ?, ?, ?)")
PROP_SQL = ('INSERT INTO "ArtifactProperty" (artifact_id, name, is_custom_property, int_value, double_value, '
            "string_value, proto_value, bool_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
# What both sides wrote, timestamps aside (for same_rows).
DUMP_SQL = ('SELECT a.id, a.type_id, a.name, a.uri, a.state, a.external_id, p.name, p.is_custom_property, '
            "p.int_value, typeof(p.int_value), p.double_value, p.string_value, p.byte_value, p.proto_value, "
            'p.bool_value FROM "Artifact" a LEFT JOIN "ArtifactProperty" p ON p.artifact_id = a.id '
            "ORDER BY a.id, p.name, p.is_custom_property")

bench = load_bench()


# ------------------------------------------------------------------------------------------- setup


def artifact_type() -> pb.ArtifactType:
    """mlmd_bench.py's artifact type (Bench.setup_types)."""
    at = pb.ArtifactType(name=bench.ART_TYPE)
    at.properties["day"] = pb.INT
    at.properties["split"] = pb.STRING
    at.properties["score"] = pb.DOUBLE
    return at


def file_config(path: Path) -> pb.ConnectionConfig:
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return config


def memory_config() -> pb.ConnectionConfig:
    config = pb.ConnectionConfig()
    config.fake_database.SetInParent()
    return config


def open_store(backend: str, path: Path) -> tuple[mlmd_core.MetadataStore, int]:
    """A fresh mlmd_core store (a new file at `path` for sqlite-file) with the type; (store, type id)."""
    store = mlmd_core.MetadataStore(memory_config() if backend == "sqlite-memory" else file_config(path))
    return store, store.put_artifact_type(artifact_type())


def open_raw(backend: str, path: Path, template: Path) -> tuple[sqlite3.Connection, int]:
    """A raw sqlite3 connection on a fresh database with MLMD's schema and the type (made by mlmd_core)."""
    if backend == "sqlite-memory":
        conn = sqlite3.connect(":memory:", isolation_level=None)
        with sqlite3.connect(template) as source:
            source.backup(conn)
        source.close()
    else:
        open_store(backend, path)[0].close()
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None, timeout=20)
        for pragma in FILE_PRAGMAS:
            conn.execute(pragma)
    (type_id,) = conn.execute('SELECT id FROM "Type" WHERE name = ?', (bench.ART_TYPE,)).fetchone()
    return conn, type_id


def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------ timing


def time_mlmd_core(store: mlmd_core.MetadataStore, type_id: int, specs: list[dict],
                   per_call: int) -> tuple[float, float]:
    """(wall, CPU) seconds for put_artifacts of every spec, `per_call` per call (protos built untimed)."""
    protos = [bench.artifact_proto(type_id, spec) for spec in specs]
    chunks = [protos[i:i + per_call] for i in range(0, len(protos), per_call)]
    put = store.put_artifacts
    ids: list[int] = []
    started, cpu = time.perf_counter(), time.process_time()
    for chunk in chunks:
        ids.extend(put(chunk))
    elapsed = time.perf_counter() - started, time.process_time() - cpu
    if len(set(ids)) != len(specs):
        raise SystemExit(f"mlmd_core returned {len(set(ids))} distinct ids for {len(specs)} artifacts")
    return elapsed


def _prop_rows(node_id: int, spec: dict) -> list[tuple]:
    return [(node_id, "day", False, spec["day"], None, None, None, None),
            (node_id, "split", False, None, None, spec["split"], None, None),
            (node_id, "score", False, None, spec["score"], None, None, None),
            (node_id, "owner", True, None, None, spec["owner"], None, None),
            (node_id, "version", True, spec["version"], None, None, None, None)]


def time_raw(conn: sqlite3.Connection, type_id: int, specs: list[dict], per_txn: int) -> tuple[float, float]:
    """(wall, CPU) seconds to insert every spec's rows with plain sqlite3, one transaction per `per_txn`
    artifacts."""
    chunks = [specs[i:i + per_txn] for i in range(0, len(specs), per_txn)]
    cursor = conn.cursor()
    ids: list[int] = []
    started, cpu = time.perf_counter(), time.process_time()
    for chunk in chunks:
        now = int(time.time() * 1000)
        cursor.execute("BEGIN IMMEDIATE")
        rows = [(type_id, now, now, spec["name"], None, spec["uri"], None) for spec in chunk]
        if len(rows) == 1:
            cursor.execute(ART_SQL, rows[0])
            new_ids: Any = (cursor.lastrowid,)
        else:
            cursor.executemany(ART_SQL, rows)
            last = cursor.execute("SELECT last_insert_rowid()").fetchone()[0]
            new_ids = range(last - len(rows) + 1, last + 1)
        props = [row for node_id, spec in zip(new_ids, chunk) for row in _prop_rows(node_id, spec)]
        cursor.executemany(PROP_SQL, props)
        conn.commit()
        ids.extend(new_ids)
    elapsed = time.perf_counter() - started, time.process_time() - cpu
    if len(set(ids)) != len(specs):
        raise SystemExit(f"raw inserts gave {len(set(ids))} distinct ids for {len(specs)} artifacts")
    return elapsed


def measure(impl: str, backend: str, mode: str, specs: list[dict], tmp: Path, template: Path,
            keep: bool = False) -> tuple[tuple[float, float], Path]:
    """One timed insert of `specs` on a fresh database; ((wall, CPU) seconds, database file — removed unless
    keep)."""
    path = tmp / f"{impl}-{backend}-{mode}.sqlite"
    remove_db(path)
    per = BATCH if mode == "batch" else 1
    if impl == "mlmd_core":
        store, type_id = open_store(backend, path)
        try:
            seconds = time_mlmd_core(store, type_id, specs, per)
        finally:
            store.close()
    else:
        conn, type_id = open_raw(backend, path, template)
        try:
            seconds = time_raw(conn, type_id, specs, per)
        finally:
            conn.close()
    if not keep:
        remove_db(path)
    return seconds, path


def same_rows(a: Path, b: Path) -> bool:
    """Whether two file databases hold the same artifacts and properties (timestamps aside)."""
    rows = []
    for path in (a, b):
        with sqlite3.connect(path) as conn:
            rows.append(conn.execute(DUMP_SQL).fetchall())
        conn.close()
    return rows[0] == rows[1] and bool(rows[0])


# -------------------------------------------------------------------------------------------- runs


def run(n: int, rounds: int, seed: int = 42, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Every (backend, mode, impl) `rounds` times, interleaved; the report dict (see --json)."""
    specs = bench.plain_artifact_specs(seed, "batch", n)
    times: dict[str, dict[str, dict[str, list[tuple[float, float]]]]] = {
        b: {m: {"mlmd_core": [], "raw": []} for m in MODES} for b in BACKENDS}
    same: dict[str, bool] = {}
    with tempfile.TemporaryDirectory(prefix="mlmd-raw-insert-") as tmp_name:
        tmp = Path(tmp_name)
        template = tmp / "template.sqlite"
        open_store("sqlite-file", template)[0].close()
        for r in range(rounds):
            order = ("mlmd_core", "raw") if r % 2 == 0 else ("raw", "mlmd_core")
            for backend in BACKENDS:
                for mode in MODES:
                    paths = {}
                    keep = r == 0 and backend == "sqlite-file"
                    for impl in order:
                        (wall, cpu), paths[impl] = measure(impl, backend, mode, specs, tmp, template, keep)
                        times[backend][mode][impl].append((wall, cpu))
                        say(f"  round {r + 1} {backend:<13} {mode:<6} {impl:<9} {wall:8.3f} s "
                            f"(CPU {cpu:6.3f} s) {n / wall:>10,.0f} artifacts/s")
                    if keep:
                        same[mode] = same_rows(paths["mlmd_core"], paths["raw"])
                        for path in paths.values():
                            remove_db(path)
    results: dict[str, Any] = {}
    for backend in BACKENDS:
        results[backend] = {}
        for mode in MODES:
            entry: dict[str, Any] = {}
            for impl in ("mlmd_core", "raw"):
                walls = [w for w, _ in times[backend][mode][impl]]
                cpus = [c for _, c in times[backend][mode][impl]]
                entry |= {f"{impl}_s": [round(x, 5) for x in walls], f"{impl}_cpu_s": [round(x, 5) for x in cpus],
                          f"{impl}_median_s": round(statistics.median(walls), 5),
                          f"{impl}_median_cpu_s": round(statistics.median(cpus), 5)}
                entry[f"{impl}_artifacts_per_s"] = round(n / statistics.median(walls), 1)
            entry["ratio"] = round(entry["mlmd_core_median_s"] / entry["raw_median_s"], 3)
            entry["cpu_ratio"] = round(entry["mlmd_core_median_cpu_s"] / max(entry["raw_median_cpu_s"], 1e-6), 3)
            results[backend][mode] = entry
    return {"n": n, "batch": BATCH, "rounds": rounds, "seed": seed, "properties_per_artifact": 5,
            "file_pragmas": list(FILE_PRAGMAS), "sqlite_version": sqlite3.sqlite_version,
            "python": platform.python_version(), "mlmd_core_version": str(mlmd_core.__version__),
            "started_at": time.strftime("%Y-%m-%d %H:%M %Z"), "same_rows": same, "results": results}


def table(report: dict[str, Any]) -> str:
    """The human-readable table of a report."""
    lines = [f"N={report['n']} artifacts (1 Artifact + 5 ArtifactProperty rows each), {report['rounds']} "
             f"interleaved round(s), medians; ratio = mlmd_core time / raw sqlite3 time (target <= 2); "
             "CPU ratio = the same with process CPU time",
             f"{'backend':<14}{'mode':<8}{'mlmd_core s':>12}{'raw s':>10}{'mlmd_core art/s':>17}"
             f"{'raw art/s':>11}{'ratio':>8}{'CPU ratio':>11}"]
    for backend, modes in report["results"].items():
        for mode, r in modes.items():
            lines.append(f"{backend:<14}{mode:<8}{r['mlmd_core_median_s']:>12.3f}{r['raw_median_s']:>10.3f}"
                         f"{r['mlmd_core_artifacts_per_s']:>17,.0f}{r['raw_artifacts_per_s']:>11,.0f}"
                         f"{r['ratio']:>7.2f}×{r['cpu_ratio']:>10.2f}×")
    lines.append(f"same rows written (file, first round): {report['same_rows']}")
    return "\n".join(lines)


def profile(backend: str, n: int, per_call: int = BATCH, top: int = 25) -> None:
    """cProfile of mlmd_core put_artifacts, `per_call` per call, on a fresh database; prints the top functions."""
    specs = bench.plain_artifact_specs(42, "batch", n)
    with tempfile.TemporaryDirectory(prefix="mlmd-raw-insert-") as tmp_name:
        store, type_id = open_store(backend, Path(tmp_name) / "profile.sqlite")
        protos = [bench.artifact_proto(type_id, spec) for spec in specs]
        profiler = cProfile.Profile()
        profiler.enable()
        for i in range(0, n, per_call):
            store.put_artifacts(protos[i:i + per_call])
        profiler.disable()
        store.close()
    for sort in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(top)
        print(out.getvalue())


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke-test size: N=200, 2 rounds")
    parser.add_argument("--n", type=int, help="artifacts per measurement (default 10000; 200 with --quick)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5; 2 with --quick)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--profile", choices=("memory", "file"),
                        help="instead: cProfile mlmd_core's inserts on SQLite memory or file (top functions)")
    parser.add_argument("--per-call", type=int, default=BATCH, help="with --profile: artifacts per call (100)")
    args = parser.parse_args(argv)
    n = args.n or (200 if args.quick else 10000)
    rounds = args.rounds or (2 if args.quick else 5)
    if n < 1 or rounds < 1:
        parser.error("--n and --rounds must be positive")
    if args.profile:
        profile(f"sqlite-{args.profile}", n, args.per_call)
        return 0
    print(f"raw_insert: N={n}, {rounds} rounds, batch {BATCH}; SQLite {sqlite3.sqlite_version}", flush=True)
    report = run(n, rounds, args.seed, say=lambda line: print(line, flush=True))
    report["command"] = shlex.join(["python", "benchmarks/raw_insert.py",
                                    *(argv if argv is not None else sys.argv[1:])])
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
        print(f"wrote {args.json}")
    return 0 if all(report["same_rows"].values()) and len(report["same_rows"]) == len(MODES) else 1


if __name__ == "__main__":
    sys.exit(main())
