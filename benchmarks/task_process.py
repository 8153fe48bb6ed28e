"""What the listener costs a fresh Airflow task process, per backend: the store opened, one task recorded.

listener_overhead.py times the listener inside one dag.test() process, which opens its store once for all the
tasks. A deployment runs each task instance in a process of its own, forked from a component that loaded the
plugin (listener._preload ran there: the modules imported, the SQLite statements recording uses compiled). Such
a process opens the store (MlmdHook's per-process cache) and records its task twice: RUNNING before execute(),
COMPLETE with its XCom output after. This script does the same: per backend it starts a process set up as that
component (`AIRFLOW_CONN_MLMD_DEFAULT` names the store), which imports the listener, looks the connection up once
(a task process does so through the Task SDK: Airflow's part, not timed) and forks task processes one after the
other; each opens the store and records one task with the listener's writer. Reported per backend, as medians
(and the 90th percentile of the total) over the task processes: wall time to open the store, to record, in all,
and the CPU time of both.

Backends: `sqlite` (a file; the embedded default), `mysql` (MariaDB) and `postgresql` (a throw-away database,
dropped afterwards; the servers found as by the test suite, MLMD_TEST_MYSQL_* / MLMD_TEST_PG_*), and `grpc`
(mlmd-server on loopback in front of MariaDB: a task process then opens a channel, not a database connection).
The database and its schema are made by a first task process that is not counted: the forking process opens no
store itself, as an Airflow component does not.

    .venv/bin/python benchmarks/task_process.py [--tasks 21] [--backends sqlite,mysql,postgresql,grpc] [--json F]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BACKENDS = ("sqlite", "mysql", "postgresql", "grpc")
sys.path.insert(0, str(HERE))
from run_all import MYSQL, _mysql  # noqa: E402 - the servers as the test suite finds them (MLMD_TEST_MYSQL_* / _PG_*)
from store_bench import PG, drop_database  # noqa: E402


def _connection(backend: str, where: str) -> str:
    """The `mlmd_default` connection (AIRFLOW_CONN_MLMD_DEFAULT's JSON) of a backend: `where` is the SQLite file,
    the database name, or the mlmd-server's port."""
    if backend == "sqlite":
        conn: dict[str, Any] = {"extra": {"backend": "sqlite", "path": where}}
    elif backend == "grpc":
        conn = {"host": "127.0.0.1", "port": int(where), "extra": {"backend": "grpc"}}
    else:
        server = MYSQL if backend == "mysql" else PG
        conn = {"host": server["host"], "port": server["port"], "schema": where, "login": server["user"],
                "extra": {"backend": backend}}
        if server["password"]:
            conn["password"] = server["password"]
    return json.dumps({"conn_type": "mlmd", **conn})


def _task_process(config: Any, index: int) -> dict[str, float]:
    """In a forked child: records one task as the listener does (the store of `mlmd_default`, opened once per
    process; the task started, then done with an XCom output). `config` is that connection's store config, looked
    up by the parent: in a task process the lookup goes through the Task SDK, Airflow's part, not timed here."""
    from mlmd_airflow.recording import TaskRun, XComRef, writer_for
    from mlmd_core import MetadataStore
    from mlmd_core.proto import metadata_store_pb2 as pb

    run_id = f"run_{os.getpid()}_{index}"
    cpu, wall = time.process_time(), time.perf_counter()
    store = MetadataStore(config)
    opened_cpu, opened = time.process_time(), time.perf_counter()
    writer = writer_for(store)
    output = XComRef("bench", run_id, "train", -1, "return_value")
    for state, airflow_state, outputs in ((pb.Execution.RUNNING, "running", []),
                                          (pb.Execution.COMPLETE, "success", [output])):
        writer.record(TaskRun(dag_id="bench", run_id=run_id, task_id="train", map_index=-1, try_number=1,
                              execution_type="bench.train", operator="@task", state=state,
                              airflow_state=airflow_state, outputs=outputs))
    done_cpu, done = time.process_time(), time.perf_counter()
    return {"open_ms": (opened - wall) * 1000, "record_ms": (done - opened) * 1000, "total_ms": (done - wall) * 1000,
            "cpu_ms": (done_cpu - cpu) * 1000, "open_cpu_ms": (opened_cpu - cpu) * 1000}


def _forked(config: Any, index: int) -> dict[str, Any]:
    """_task_process in a forked child, its figures sent back through a pipe (an error as {"error": text})."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the task process
        os.close(read)
        try:
            result: dict[str, Any] = _task_process(config, index)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            result = {"error": f"{type(exc).__name__}: {exc}"}
        os.write(write, json.dumps(result).encode())
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    return json.loads(b"".join(chunks) or b'{"error": "the task process died"}')


def _summary(samples: list[dict[str, float]]) -> dict[str, float]:
    def median(key: str) -> float:
        return round(statistics.median(s[key] for s in samples), 2)

    totals = sorted(s["total_ms"] for s in samples)
    return {"task_processes": len(samples), "open_ms": median("open_ms"), "record_ms": median("record_ms"),
            "total_ms": median("total_ms"), "total_p90_ms": round(totals[math.ceil(0.9 * len(totals)) - 1], 2),
            "cpu_ms": median("cpu_ms"), "open_cpu_ms": median("open_cpu_ms")}


def forking_component(tasks: int) -> dict[str, Any]:
    """The Airflow component's part (this process, its environment set by measure()): loads the listener as the
    plugin manager does, then forks the task processes one after the other; the first makes the schema and is
    not counted."""
    import mlmd_airflow.listener  # noqa: F401 - its preload (modules, compiled statements, the store's driver)
    from mlmd_airflow.hooks.mlmd import config_for

    config = config_for("mlmd_default")
    first = _forked(config, 0)
    if "error" in first:
        return first
    samples = [_forked(config, index) for index in range(1, tasks + 1)]
    errors = [s["error"] for s in samples if "error" in s]
    return {"error": errors[0]} if errors else _summary(samples)


def _drop(backend: str, name: str) -> None:
    if backend in ("mysql", "grpc"):
        _mysql(f"DROP DATABASE IF EXISTS `{name}`")
    elif backend == "postgresql":
        drop_database(name)


def measure(backend: str, tasks: int, tmp: Path) -> dict[str, Any]:
    """forking_component() in a new process whose `mlmd_default` connection is a store of `backend` (for `grpc`, an
    mlmd-server started here in front of a MariaDB database); the database is dropped afterwards."""
    name = f"mlmd_task_{os.getpid()}_{backend}"
    server = None
    home = tmp / backend
    home.mkdir()
    try:
        if backend == "grpc":
            from mlmd_core.grpc.testing import ServerProcess, write_server_config
            from mlmd_core.proto import metadata_store_pb2 as pb

            server_config = pb.MetadataStoreServerConfig()
            mysql = server_config.connection_config.mysql
            mysql.host, mysql.port, mysql.user, mysql.database = MYSQL["host"], MYSQL["port"], MYSQL["user"], name
            if MYSQL["password"]:
                mysql.password = MYSQL["password"]
            config_file = write_server_config(tmp / "server.pbtxt", server_config)
            server = ServerProcess([f"--metadata_store_server_config_file={config_file}", "--log_level=ERROR"]).start()
            connection = _connection("grpc", str(server.port))
        else:
            connection = _connection(backend, str(home / "mlmd.sqlite") if backend == "sqlite" else name)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__MLMD__", "AIRFLOW_CONN_"))}
        env.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
                    "AIRFLOW_CONN_MLMD_DEFAULT": connection})
        done = subprocess.run([sys.executable, __file__, "--forking-component", "--tasks", str(tasks)], env=env,
                              capture_output=True, text=True, timeout=600)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if not lines:
            return {"error": f"exit {done.returncode}: {done.stderr.strip()[-2000:]}"}
        return json.loads(lines[-1])
    finally:
        if server is not None:
            server.terminate()
        if backend != "sqlite":
            try:
                _drop(backend, name)
            except Exception as exc:  # noqa: BLE001 - the server may be the unreachable one
                print(f"could not drop {name}: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=21, help="task processes per backend (default 21)")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated subset of " + ",".join(BACKENDS))
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--forking-component", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.forking_component:
        print(json.dumps(forking_component(args.tasks)))
        return 0
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := [b for b in backends if b not in BACKENDS]:
        parser.error(f"unknown backends {unknown}")

    results: dict[str, Any] = {"tasks": args.tasks, "backends": {}}
    with tempfile.TemporaryDirectory(prefix="mlmd-task-") as tmp:
        for backend in backends:
            results["backends"][backend] = result = measure(backend, args.tasks, Path(tmp))
            if "error" in result:
                print(f"{backend:>10}: error: {result['error']}")
            else:
                print(f"{backend:>10}: {result['total_ms']:6.1f} ms a task process (p90 {result['total_p90_ms']:.1f}): "
                      f"open {result['open_ms']:.1f}, record {result['record_ms']:.1f}; CPU {result['cpu_ms']:.1f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 1 if any("error" in r for r in results["backends"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
