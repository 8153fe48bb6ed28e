"""@cached_step lookup cost on the embedded SQLite store with many executions recorded, and the cost of
fingerprinting a big file input (once per file version, not per lookup).

    python benchmarks/cache_lookup.py [--executions 100000] [--lookups 2000] [--file-mb 100] [--json out.json]

Every recorded execution is a cache entry (a distinct cache_key, an OUTPUT event and its artifact), the worst
case for the key filter. Reported: p50/p99 of `index.candidates()` for keys that hit (first usable candidate,
outputs checked LIVE) and keys that miss, and of computing a key (manifest + sha256) for a typical argument set.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlmd_airflow.cache import files, index  # noqa: E402
from mlmd_airflow.cache.manifest import build  # noqa: E402
from mlmd_core import MetadataStore  # noqa: E402
from mlmd_core.proto import metadata_store_pb2 as pb  # noqa: E402


def _key(i: int) -> str:
    return "mlmdc1:" + hashlib.sha256(str(i).encode()).hexdigest()


def populate(store: MetadataStore, n: int, batch: int = 2000) -> None:
    """n entries as the recording writes them: execution + output artifact + event, associated with its key's
    and its step's contexts."""
    etype = store.put_execution_type(pb.ExecutionType(name="bench.step"))
    atype = store.put_artifact_type(pb.ArtifactType(name="bench.xcom"))
    key_type = store.put_context_type(pb.ContextType(name=index.KEY_CONTEXT))
    step_type = store.put_context_type(pb.ContextType(name=index.STEP_CONTEXT))
    step_ids = store.put_contexts([pb.Context(type_id=step_type, name=f"step{i}") for i in range(50)])
    for start in range(0, n, batch):
        executions, artifacts, edges = [], [], []
        for j, i in enumerate(range(start, min(n, start + batch))):
            e = pb.Execution(type_id=etype, last_known_state=pb.Execution.COMPLETE)
            e.custom_properties[index.KEY].string_value = _key(i)
            e.custom_properties[index.STEP].string_value = f"step{i % 50}"
            e.custom_properties[index.MANIFEST].string_value = '{"schema":"mlmdc1"}'
            e.custom_properties[index.COMPUTED_AT].int_value = int(time.time() * 1000)
            executions.append(e)
            artifacts.append(pb.Artifact(type_id=atype, uri=f"xcom://bench/{i}", state=pb.Artifact.LIVE))
            event = pb.Event(type=pb.Event.OUTPUT)
            event.path.steps.add().key = "return_value"
            edges.append((j, j, event))
        execution_ids, _, _ = store.put_lineage_subgraph(executions, artifacts, [], edges)
        key_ids = store.put_contexts([pb.Context(type_id=key_type, name=_key(i))
                                      for i in range(start, start + len(execution_ids))])
        store.put_attributions_and_associations([], [
            pb.Association(execution_id=e, context_id=c) for i, (e, k) in enumerate(zip(execution_ids, key_ids))
            for c in (k, step_ids[(start + i) % 50])])


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--file-mb", type=int, default=100)
    parser.add_argument("--json", help="also write the figures (ms) here")
    args = parser.parse_args()
    report: dict[str, object] = {"executions": args.executions, "lookups": args.lookups, "file_mb": args.file_mb}
    with tempfile.TemporaryDirectory() as tmp:
        config = pb.ConnectionConfig()
        config.sqlite.filename_uri = os.path.join(tmp, "mlmd.sqlite")
        store = MetadataStore(config)
        t = time.perf_counter()
        populate(store, args.executions)
        report["populate_s"] = round(time.perf_counter() - t, 2)
        print(f"recorded {args.executions} cache entries in {report['populate_s']:.1f} s")
        rng = random.Random(1)

        def hit() -> None:
            found = next(index.candidates(store, _key(rng.randrange(args.executions)), max_age_s=None,
                                          verify="exists"))
            assert found.outputs

        def miss() -> None:
            assert next(index.candidates(store, _key(-rng.randrange(1, 10**9)), max_age_s=None,
                                         verify="exists"), None) is None

        def key() -> None:
            assert build("train", {"fn": "0" * 64}, {"data": list(range(100)), "lr": 0.1, "epochs": 10,
                                              "cfg": {"layers": [64, 64], "act": "relu"}},
                         sources={"data": "extract.return_value"}).key

        for name, fn in (("lookup (hit)", hit), ("lookup (miss)", miss), ("key (manifest+sha256)", key)):
            timed(fn, 50)  # warm-up
            samples = timed(fn, args.lookups)
            print(f"{name:24} p50 {statistics.median(samples):7.3f} ms   p99 {pct(samples, 0.99):7.3f} ms")
            report[name.split()[0] + ("_" + name.split()[1].strip("()") if name.startswith("lookup") else "")] = {
                "p50_ms": round(statistics.median(samples), 4), "p99_ms": round(pct(samples, 0.99), 4)}
        store.close()

        big = Path(tmp) / "big.bin"
        with open(big, "wb") as handle:
            for _ in range(args.file_mb):
                handle.write(os.urandom(1 << 20))
        os.environ["MLMD_FINGERPRINT_CACHE"] = os.path.join(tmp, "fingerprints.sqlite")
        first = timed(lambda: files.file_digest(big), 1)[0]
        again = timed(lambda: files.file_digest(big), 200)
        files.clear_memo()  # as a new worker process: the sidecar answers
        sidecar = timed(lambda: files.file_digest(big), 1)[0]
        print(f"{args.file_mb} MB file: first fingerprint {first:.0f} ms; then p50 {statistics.median(again):.3f} ms "
              f"(memo), {sidecar:.3f} ms in a new process (sidecar); full reads: {files.reads['files']}")
        report["fingerprint_ms"] = {"first": round(first, 2), "memo_p50": round(statistics.median(again), 4),
                                    "sidecar": round(sidecar, 4)}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
