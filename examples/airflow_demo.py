"""`make demo`: the churn pipeline of dags/churn_pipeline.py run three times with real Airflow (`dag.test()`) on a
throw-away Airflow home, then its consumer DAG once, then what MLMD recorded: cache hits and misses per run, time
saved, and the model's lineage across both DAGs.

    python examples/airflow_demo.py [--home .demo/airflow] [--summary-json FILE]
    python examples/airflow_demo.py ui [--home .demo/airflow] [--port 8080] [--dry-run]   # `make ui-demo`

The runs: (1) everything computes; (2) the same parameters: the cached steps are served from the cache;
(3) a higher learning rate: `split` and `featurize` still hit, the trials recompute; (4) the scoring DAG, which
reads the pushed model Asset. The home is reset at every start, and every AIRFLOW__* / AIRFLOW_CONN_* variable of
the caller is dropped first, so the demo never writes into a real Airflow or a real metadata store.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DAGS_DIR = ROOT / "dags"
DEFAULT_HOME = ROOT / ".demo" / "airflow"
RUNS = [("first run", {}), ("same parameters", {}), ("lr changed", {"lr": 0.2})]
CACHED_TASKS = ("split", "featurize", "train")


def configure(home: Path) -> None:
    """The demo's own Airflow settings; must run before `airflow` is imported (Airflow reads them at import)."""
    for name in [n for n in os.environ if n.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "MLMD_"))]:
        del os.environ[name]
    os.environ.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__PARALLELISM": "2",
    })


# --------------------------------------------------------------------------------------------------- running


def load_dags() -> Any:
    """dags/churn_pipeline.py as a module (dag.test() also re-parses the DAGs folder, which holds the same file)."""
    spec = importlib.util.spec_from_file_location("churn_pipeline", DAGS_DIR / "churn_pipeline.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["churn_pipeline"] = module
    spec.loader.exec_module(module)
    return module


def run_dag(dag: Any, log: Path, conf: dict[str, Any] | None = None) -> tuple[Any, float, list[str]]:
    """dag.test() with Airflow's console output sent to `log`; returns the DagRun, the wall time and the
    `mlmd cache ...` banner lines the cached steps logged."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    start = log.stat().st_size if log.exists() else 0
    with log.open("ab") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            t0 = time.monotonic()
            dag_run = dag.test(run_conf=conf)
            elapsed = time.monotonic() - t0
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
    with log.open("rb") as f:
        f.seek(start)
        text = f.read().decode("utf-8", "replace")
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    banners = [re.sub(r"(key=mlmdc1:[0-9a-f]{8})[0-9a-f]+", r"\1…", m.group(1))
               for m in re.finditer(r"(mlmd cache .*?)\s*(?:\[mlmd_airflow[^\n]*)?\n", text)]
    return dag_run, elapsed, banners


def xcoms(dag_id: str, run_id: str, key: str) -> dict[str, Any]:
    """{task label: XCom value} of one run for one key ("train[1]" for map index 1); key `mlmd_cache` gives
    the marker every cached step pushes (status hit/miss, reason, source run)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter(XComModel.dag_id == dag_id, XComModel.run_id == run_id,
                                               XComModel.key == key).all()
        return {_label(r.task_id, r.map_index): r.value for r in rows}


def _label(task_id: str, map_index: int) -> str:
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"


# ------------------------------------------------------------------------------------------- reading MLMD


def open_store(home: Path) -> Any:
    from mlmd_core import MetadataStore
    from mlmd_core.proto import metadata_store_pb2 as pb

    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(home / "mlmd.sqlite")  # the embedded store: no `mlmd` connection defined
    return MetadataStore(config)


def time_saved(store: Any, dag_id: str, run_id: str) -> float:
    """Seconds the run's cache hits did not spend: the recorded duration of each execution they reused."""
    from mlmd_core.proto import metadata_store_pb2 as pb

    context = store.get_context_by_type_and_name("airflow.DagRun", f"{dag_id}/{run_id}")
    hits = [e for e in store.get_executions_by_context(context.id) if e.last_known_state == pb.Execution.CACHED]
    sources = store.get_executions_by_id([e.custom_properties["cached_from"].int_value for e in hits])
    return sum(s.custom_properties["cache_duration_s"].double_value for s in sources)


def model_tree(store: Any, artifact_id: int, run_names: dict[str, str]) -> list[str]:
    """The upstream lineage of an artifact as an indented tree: each artifact under the executions that
    computed it (cache hits that reused it are summarized on one line), each execution under its inputs. The
    XComs of one task (a dict return value is one artifact per key) share a line. An Asset written by many runs
    is one artifact: only its newest producer is expanded at the top, the older ones are listed."""
    from mlmd_core import lineage

    graph = lineage.upstream(store, artifact_id)
    producers: dict[str, list[str]] = {}
    inputs: dict[str, list[str]] = {}
    for e in graph.edges:
        (producers if e.event == "OUTPUT" else inputs).setdefault(e.target, []).append(e.source)
    lines: list[str] = []
    seen: set[str] = set()

    def run_of(node: Any) -> str:
        run_id = node.properties.get("run_id", "")
        return run_names.get(run_id, run_id)

    def artifact_line(keys: list[str]) -> str:
        nodes = [graph.nodes[k] for k in keys]
        first = nodes[0]
        if first.type != "airflow.XCom":
            return f"[{first.type} #{first.id}] {first.uri.split('/data/churn/')[-1]}"
        task = _label(first.properties.get("task_id", "?"), first.properties.get("map_index", -1))
        ids = ",".join(f"#{n.id}" for n in nodes)
        return f"[XCom {ids}] {task} -> {', '.join(n.properties.get('key', '') for n in nodes)} ({run_of(first)})"

    def walk(keys: list[str], depth: int) -> None:
        key, node, pad = keys[0], graph.nodes[keys[0]], "  " * depth
        if node.kind == "artifact":
            text = artifact_line(keys)
        else:
            task = _label(node.properties.get("task_id", "?"), node.properties.get("map_index", -1))
            text = f"{task} (execution #{node.id}, {node.state}, {run_of(node)})"
        lines.append(pad + text + (" ..." if key in seen else ""))
        if key in seen:
            return
        seen.add(key)
        if node.kind == "artifact":
            made = sorted(producers.get(key, []), key=lambda k: graph.nodes[k].id)
            if depth == 0 and len(made) > 1:
                older = ", ".join(f"#{graph.nodes[k].id} in {run_of(graph.nodes[k])}" for k in made[:-1])
                lines.append(f"  (earlier versions written by executions {older}; the newest:)")
                made = made[-1:]
            for child in made:
                if graph.nodes[child].state != "CACHED":
                    walk([child], depth + 1)
            reused = [graph.nodes[k] for k in made if graph.nodes[k].state == "CACHED"]
            if reused:
                lines.append(f"{pad}  (reused by cache hits: {', '.join(f'#{n.id} in {run_of(n)}' for n in reused)})")
            return
        groups: dict[tuple, list[str]] = {}
        for child in sorted(set(inputs.get(key, [])), key=lambda k: graph.nodes[k].id):
            c = graph.nodes[child]
            group = (c.properties.get("task_id"), c.properties.get("map_index"), c.properties.get("run_id")) \
                if c.type == "airflow.XCom" else (child,)
            groups.setdefault(group, []).append(child)
        for group in groups.values():
            walk(group, depth + 1)

    walk([f"artifact:{artifact_id}"], 0)
    return lines


# ------------------------------------------------------------------------------------------------------ demo


def demo(home: Path, summary_json: Path | None) -> dict[str, Any]:
    """Resets `home`, runs the pipeline three times and the consumer once, prints what MLMD shows."""
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    configure(home)
    from airflow.utils import db

    from mlmd_core import lineage

    log = home / "demo-runs.log"
    print(f"Airflow home: {home} (Airflow's own output goes to {log})")
    t0 = time.monotonic()
    with _quiet(log):
        db.resetdb()
    print(f"airflow db reset: {time.monotonic() - t0:.1f} s")

    dags = load_dags()
    training, scoring = dags.churn_training_dag, dags.churn_scoring_dag
    runs: list[dict[str, Any]] = []
    run_names: dict[str, str] = {}
    for number, (title, conf) in enumerate(RUNS, start=1):
        dag_run, elapsed, banners = run_dag(training, log, conf or None)
        run_names[dag_run.run_id] = f"run {number}"
        markers = xcoms(training.dag_id, dag_run.run_id, "mlmd_cache")
        accuracy = xcoms(training.dag_id, dag_run.run_id, "test_accuracy").get("evaluate")
        states = {_label(ti.task_id, ti.map_index): str(ti.state) for ti in dag_run.get_task_instances()}
        lr = conf.get("lr", training.params["lr"])
        print(f"\n== churn_training run {number} ({title}, lr={lr}): {dag_run.state} in {elapsed:.1f} s "
              f"[{dag_run.run_id}]")
        for line in banners:
            for run_id, name in run_names.items():
                line = line.replace(f"DAG run {run_id}", name)
            print("   " + line)
        print(f"   evaluate: test accuracy {accuracy} -> push {states.get('push')}")
        runs.append({"number": number, "title": title, "conf": conf, "run_id": dag_run.run_id,
                     "state": str(dag_run.state), "test_accuracy": accuracy, "seconds": round(elapsed, 2),
                     "task_states": states, "cache": markers, "banners": banners})

    consumer, elapsed, _ = run_dag(scoring, log)
    run_names[consumer.run_id] = "scoring run"
    scored = {k: xcoms(scoring.dag_id, consumer.run_id, k).get("score") for k in ("scored", "at_risk")}
    print(f"\n== churn_scoring (scheduled on the model Asset): {consumer.state} in {elapsed:.1f} s")
    print(f"   score: {scored['scored']} customers scored with the served model, {scored['at_risk']} likely to churn")

    store = open_store(home)
    for run in runs:
        run["saved_s"] = round(time_saved(store, training.dag_id, run["run_id"]), 2)
    print("\nCache per run (cached steps: split, featurize, train x3 trials):")
    print(f"  {'run':<22} {'hits':>4} {'misses':>6} {'time saved':>11} {'wall time':>10}  push")
    for run in runs:
        statuses = [m["status"] for m in run["cache"].values()]
        run["hits"], run["misses"] = statuses.count("hit"), statuses.count("miss")
        print(f"  {run['number']}: {run['title']:<19} {run['hits']:>4} {run['misses']:>6} "
              f"{run['saved_s']:>9.2f} s {run['seconds']:>8.1f} s  {run['task_states'].get('push')}")

    [model] = store.get_artifacts_by_uri(dags.MODEL.uri)
    tree = model_tree(store, model.id, run_names)
    print(f"\nLineage of the served model (artifact #{model.id}, upstream; mlmd_core.lineage.upstream):")
    print("\n".join("  " + line for line in tree))
    readers = [n for n in lineage.downstream(store, model.id, max_hops=1).executions()
               if n.properties.get("dag_id") == scoring.dag_id]
    for n in readers:
        print(f"  consumed by: <{scoring.dag_id}.{n.properties['task_id']} #{n.id}> {n.state.lower()}, "
              f"{run_names.get(n.properties['run_id'])}  (cross-DAG: INPUT event on artifact #{model.id})")
    mermaid = home / "model_lineage.mmd"
    mermaid.write_text(lineage.upstream(store, model.id).to_mermaid() + "\n")
    print(f"  (as Mermaid: {mermaid})")
    store.close()

    print("\nSee it in the UI:")
    print("  make ui-demo                 # the Airflow UI with the MLMD lineage tab, http://127.0.0.1:8080")
    print(f"  .venv/bin/mlmd ui --db {home / 'mlmd.sqlite'}   # the store alone, no Airflow")
    summary = {"home": str(home), "runs": runs, "model_artifact_id": model.id,
               "consumer": {"run_id": consumer.run_id, "state": str(consumer.state),
                            "executions": [n.id for n in readers]}}
    if summary_json:
        summary_json.write_text(json.dumps(summary, indent=2, default=str))
    return summary


class _quiet:
    """Sends fd 1 and 2 to a log file for the duration (Airflow prints its migrations)."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def __enter__(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved, self.file = (os.dup(1), os.dup(2)), self.log.open("ab")
        os.dup2(self.file.fileno(), 1)
        os.dup2(self.file.fileno(), 2)

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in zip((1, 2), self.saved):
            os.dup2(saved, fd)
            os.close(saved)
        self.file.close()


# -------------------------------------------------------------------------------------------------------- ui


def ui(home: Path, port: int, dry_run: bool) -> int:
    """Replaces this process with `airflow api-server` on 127.0.0.1 against the demo home (Ctrl-C stops it).

    Login: none. The demo sets SIMPLE_AUTH_MANAGER_ALL_ADMINS=True, so every visitor is an admin — acceptable
    only because the server binds 127.0.0.1 and the data is the demo's."""
    if not (home / "airflow.db").exists() and not dry_run:
        print(f"error: no demo Airflow home at {home}: run `make demo` first", file=sys.stderr)
        return 1
    configure(home)
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "True"
    os.environ["AIRFLOW__API__BASE_URL"] = f"http://127.0.0.1:{port}"
    cmd = [str(Path(sys.executable).with_name("airflow")), "api-server", "--host", "127.0.0.1", "--port", str(port)]
    print(f"Airflow UI: http://127.0.0.1:{port}  (no login: SIMPLE_AUTH_MANAGER_ALL_ADMINS=True, demo only)")
    print(f"  DAG runs:    http://127.0.0.1:{port}/dags/churn_training  -> a run -> the 'MLMD lineage' tab")
    print(f"  store alone: .venv/bin/mlmd ui --db {home / 'mlmd.sqlite'}")
    print("Ctrl-C stops the server.")
    if dry_run:
        print(shlex.join(cmd))
        return 0
    sys.stdout.flush()
    os.execv(cmd[0], cmd)  # the server replaces this process: Ctrl-C and kill reach it directly


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", choices=["demo", "ui"], default="demo")
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="the demo's AIRFLOW_HOME (reset by demo)")
    parser.add_argument("--summary-json", type=Path, help="also write what happened as JSON (for tests)")
    parser.add_argument("--port", type=int, default=8080, help="ui: the api-server port")
    parser.add_argument("--dry-run", action="store_true", help="ui: print the command instead of running it")
    args = parser.parse_args(argv)
    home = args.home.resolve()
    if args.command == "ui":
        return ui(home, args.port, args.dry_run)
    summary = demo(home, args.summary_json)
    return 0 if all(r["state"] == "success" for r in summary["runs"]) and summary["consumer"]["state"] == "success" \
        else 1


if __name__ == "__main__":
    sys.exit(main())
