"""Load on mlmd-server: N client processes × M mixed calls against one file-backed server.

Each client is its own process with its own channel (like Airflow workers on many machines) and runs a
seeded mix: 25% put_artifacts, 10% put_execution (an execution with an input and an output artifact, in the
client's context), 65% reads (by id, by uri, filtered and paged listings, events, contexts, types, lineage).
Afterwards the server is stopped with SIGTERM and the SQLite file is checked in-process: every write any
client was told succeeded must be there, and nothing else. Reports throughput and latency percentiles.

    python benchmarks/grpc_load.py                       # 16 clients x 1,000 calls
    python benchmarks/grpc_load.py --clients 4 --calls 100 --json out.json

Measured (2 shared cores running the 16 clients and the server, SQLite file, 16 server threads):
16,000 calls in 15.3 s = 1,045 calls/s, p50 9.8 ms, p99 71 ms; 7,205 writes, 0 failures, 0 lost writes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import mlmd_core as mlmd
from mlmd_core.grpc.testing import ServerProcess, write_server_config
from mlmd_core.proto import metadata_store_pb2 as pb

READS = ("by_id", "by_uri", "filtered", "paged", "events", "contexts", "type", "lineage")


def _setup(port: int) -> dict[str, int]:
    """Types every client uses (put once, before the clients start)."""
    store = mlmd.MetadataStore(pb.MetadataStoreClientConfig(host="127.0.0.1", port=port))
    data = pb.ArtifactType(name="LoadData", properties={"client": pb.INT, "n": pb.INT})
    ids = {"artifact": store.put_artifact_type(data),
           "execution": store.put_execution_type(pb.ExecutionType(name="LoadStep", properties={"n": pb.INT})),
           "context": store.put_context_type(pb.ContextType(name="LoadClient"))}
    store.close()
    return ids


def client(index: int, port: int, calls: int, types: dict[str, int]) -> dict[str, Any]:
    """One client process: `calls` mixed calls; returns what it wrote, its latencies and its errors."""
    rng = random.Random(index)
    store = mlmd.MetadataStore(pb.MetadataStoreClientConfig(host="127.0.0.1", port=port, client_timeout_sec=120))
    uris: list[str] = []
    artifact_ids: list[int] = []
    written: dict[int, pb.Artifact] = {}  # as stored: an input must be passed whole (an update replaces)
    executions: list[str] = []
    context_id = 0
    latencies: dict[str, list[float]] = {}
    failures: list[str] = []
    for n in range(calls):
        roll = rng.random()
        if roll < 0.25 or not artifact_ids:
            op = "put_artifacts"
        elif roll < 0.35:
            op = "put_execution"
        else:
            op = rng.choice(READS)
        started = time.perf_counter()
        try:
            if op == "put_artifacts":
                uri = f"/load/{index}/{n}"
                artifact = pb.Artifact(type_id=types["artifact"], uri=uri, properties={
                    "client": pb.Value(int_value=index), "n": pb.Value(int_value=n)})
                [aid] = store.put_artifacts([artifact])
                artifact.id = aid
                written[aid] = artifact
                uris.append(uri)
                artifact_ids.append(aid)
            elif op == "put_execution":
                name = f"step-{index}-{n}"
                out_uri = f"/load/{index}/{n}/out"
                output = pb.Artifact(type_id=types["artifact"], uri=out_uri)
                eid, [_, out_id], [cid] = store.put_execution(
                    pb.Execution(type_id=types["execution"], name=name, last_known_state=pb.Execution.COMPLETE),
                    [(written[rng.choice(artifact_ids)], pb.Event(type=pb.Event.INPUT)),
                     (output, pb.Event(type=pb.Event.OUTPUT))],
                    [pb.Context(type_id=types["context"], name=f"client-{index}")],
                    reuse_context_if_already_exist=True)
                executions.append(name)
                output.id = out_id
                written[out_id] = output
                uris.append(out_uri)
                artifact_ids.append(out_id)
                context_id = cid
            elif op == "by_id":
                got = store.get_artifacts_by_id(rng.sample(artifact_ids, min(5, len(artifact_ids))))
                assert got, "written artifacts not found by id"
            elif op == "by_uri":
                assert store.get_artifacts_by_uri(rng.choice(uris)), "written artifact not found by uri"
            elif op == "filtered":
                store.get_artifacts(list_options=mlmd.ListOptions(
                    limit=20, filter_query=f"properties.client.int_value = {index}"))
            elif op == "paged":
                store.get_artifacts(list_options=mlmd.ListOptions(
                    limit=rng.choice((5, 50, 150)), order_by=mlmd.OrderByField.CREATE_TIME, is_asc=False))
            elif op == "events":
                store.get_events_by_artifact_ids(rng.sample(artifact_ids, min(10, len(artifact_ids))))
            elif op == "contexts":
                if context_id:
                    store.get_executions_by_context(context_id, list_options=mlmd.ListOptions(limit=10))
                else:
                    store.get_contexts_by_type("LoadClient")
            elif op == "type":
                store.get_artifact_type("LoadData")
            elif op == "lineage":
                store.get_lineage_subgraph(pb.LineageSubgraphQueryOptions(
                    starting_artifacts=pb.LineageSubgraphQueryOptions.StartingNodes(
                        filter_query=f"id = {rng.choice(artifact_ids)}"), max_num_hops=2))
        except Exception as exc:
            failures.append(f"client {index} call {n} {op}: {type(exc).__name__}: {exc}")
        latencies.setdefault(op, []).append(time.perf_counter() - started)
    store.close()
    return {"index": index, "uris": uris, "executions": executions, "latencies": latencies, "failures": failures}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def run(clients: int = 16, calls: int = 1000, server_threads: int = 16, workdir: Path | None = None) -> dict[str, Any]:
    """Runs the load and checks the store; returns the report (raises nothing for failed calls: see
    report["failures"], report["missing"] and report["unexpected"])."""
    tmp = Path(workdir or tempfile.mkdtemp(prefix="mlmd-load-"))
    db = tmp / "load.sqlite"
    config = pb.MetadataStoreServerConfig()
    config.connection_config.sqlite.filename_uri = str(db)
    config_file = write_server_config(tmp / "server.pbtxt", config)
    with ServerProcess([f"--metadata_store_server_config_file={config_file}", f"--grpc_threads={server_threads}",
                        "--log_level=ERROR"]) as server:
        types = _setup(server.port)
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(clients) as pool:
            pending = pool.starmap_async(client, [(i, server.port, calls, types) for i in range(clients)])
            started = time.perf_counter()
            results = pending.get(timeout=3600)
        elapsed = time.perf_counter() - started
        exit_code = server.terminate()
    store = mlmd.MetadataStore(config.connection_config)
    stored_uris = {a.uri for a in store.get_artifacts()}
    stored_executions = {e.name for e in store.get_executions()}
    store.close()
    written_uris = {u for r in results for u in r["uris"]}
    written_executions = {e for r in results for e in r["executions"]}
    all_latencies = [x for r in results for xs in r["latencies"].values() for x in xs]
    by_op: dict[str, list[float]] = {}
    for r in results:
        for op, xs in r["latencies"].items():
            by_op.setdefault(op, []).extend(xs)
    total = len(all_latencies)
    return {
        "clients": clients, "calls_per_client": calls, "server_threads": server_threads,
        "total_calls": total, "seconds": round(elapsed, 3),
        "calls_per_second": round(total / elapsed, 1) if elapsed else 0.0,
        "writes": len(written_uris) + len(written_executions),
        "latency_ms": {"p50": round(_pct(all_latencies, 0.5), 2), "p99": round(_pct(all_latencies, 0.99), 2),
                       "mean": round(statistics.fmean(all_latencies) * 1000, 2)},
        "latency_ms_by_op": {op: {"n": len(xs), "p50": round(_pct(xs, 0.5), 2), "p99": round(_pct(xs, 0.99), 2)}
                             for op, xs in sorted(by_op.items())},
        "failures": [f for r in results for f in r["failures"]],
        "missing": sorted(written_uris - stored_uris)[:20] + sorted(written_executions - stored_executions)[:20],
        "unexpected": sorted(stored_uris - written_uris)[:20],
        "server_exit_code": exit_code,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--calls", type=int, default=1000, help="calls per client")
    parser.add_argument("--server-threads", type=int, default=16)
    parser.add_argument("--json", help="also write the report here")
    args = parser.parse_args(argv)
    report = run(args.clients, args.calls, args.server_threads)
    print(f"{report['clients']} clients x {report['calls_per_client']} calls = {report['total_calls']} calls in "
          f"{report['seconds']} s: {report['calls_per_second']} calls/s; latency p50 {report['latency_ms']['p50']} ms, "
          f"p99 {report['latency_ms']['p99']} ms; {report['writes']} writes")
    for op, stats in report["latency_ms_by_op"].items():
        print(f"  {op:14} n={stats['n']:6}  p50 {stats['p50']:8.2f} ms  p99 {stats['p99']:8.2f} ms")
    print(f"failures: {len(report['failures'])}, missing writes: {len(report['missing'])}, "
          f"server exit: {report['server_exit_code']}")
    for failure in report["failures"][:10]:
        print("  ", failure)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    ok = not (report["failures"] or report["missing"] or report["unexpected"] or report["server_exit_code"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
