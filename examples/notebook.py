# %% [markdown]
# # An Airflow-written MLMD store, from a notebook
#
# The provider records every task run of Airflow into an MLMD store (by default the SQLite file
# `$AIRFLOW_HOME/mlmd.sqlite`). This notebook opens such a store **read-only** — safe while Airflow keeps
# writing to it — and turns it into tables with plain Python: no pandas needed (but `pd.DataFrame(rows)`
# works on every list of dicts below if you have it).
#
# Each `# %%` starts a cell (Jupyter, VS Code and PyCharm read this format; `jupytext --to ipynb` converts
# it). It also runs as a script: `python examples/notebook.py PATH` reads the store at PATH (say
# `.demo/airflow/mlmd.sqlite` after `make demo`); with no PATH it first writes a small sample store with the
# provider's own recording code, so it runs anywhere.

# %%
from __future__ import annotations

import html
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import mlmd_core as mlmd
from mlmd_core.proto import metadata_store_pb2 as pb


class Table(list):
    """Rows (dicts) that print as an aligned text table and render as HTML in Jupyter."""

    def columns(self) -> list[str]:
        return list(dict.fromkeys(k for row in self for k in row))

    def __str__(self) -> str:
        cols = self.columns()
        cells = [cols] + [["" if row.get(c) is None else str(row.get(c)) for c in cols] for row in self]
        widths = [max(len(r[i]) for r in cells) for i in range(len(cols))]
        return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells)

    def _repr_html_(self) -> str:
        cols = self.columns()
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(row.get(c, '')))}</td>" for c in cols) + "</tr>"
                       for row in self)
        return f"<table><tr>{head}</tr>{body}</table>"


def prop(node: Any, name: str) -> Any:
    """A property's value (properties first, then custom_properties), None when unset."""
    for props in (node.properties, node.custom_properties):
        if name in props:
            which = props[name].WhichOneof("value")
            return getattr(props[name], which) if which else None
    return None


STATES = {v: k for k, v in pb.Execution.State.items()}


def write_sample_store(path: Path) -> None:
    """Two runs of a DAG `train_model`, written by the provider's recorder (what the Airflow listener calls):
    `extract` writes the Asset raw.csv, `train` reads it and returns a model path; run 2's first try failed."""
    from mlmd_airflow.recording import AssetRef, TaskRun, XComQuery, XComRef, writer_for

    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    with mlmd.MetadataStore(config) as store:
        writer = writer_for(store)
        raw = AssetRef(uri="file:///data/raw.csv", name="raw.csv")
        for run_id, tries in (("manual__1", [("success", pb.Execution.COMPLETE)]),
                              ("manual__2", [("failed", pb.Execution.FAILED), ("success", pb.Execution.COMPLETE)])):
            base = {"dag_id": "train_model", "run_id": run_id, "map_index": -1, "operator": "@task",
                    "run_type": "manual"}
            writer.record(TaskRun(**base, task_id="extract", try_number=1, execution_type="dags.pipeline.extract",
                                  state=pb.Execution.COMPLETE, airflow_state="success", duration_seconds=1.5,
                                  outputs=[raw]))
            for attempt, (airflow_state, state) in enumerate(tries, start=1):
                outputs = [XComRef("train_model", run_id, "train", -1, "return_value", "/models/m.pkl", True)]
                writer.record(TaskRun(
                    **base, task_id="train", try_number=attempt, execution_type="dags.pipeline.train",
                    state=state, airflow_state=airflow_state, duration_seconds=12.0 * attempt,
                    error="MemoryError: out of memory" if airflow_state == "failed" else None,
                    inputs=[raw], outputs=outputs if airflow_state == "success" else []))
            writer.record(TaskRun(**base, task_id="report", try_number=1, execution_type="dags.pipeline.report",
                                  state=pb.Execution.COMPLETE, airflow_state="success", duration_seconds=0.2,
                                  inputs=[XComQuery("train_model", run_id, "train")]))


def open_read_only(path: Path | str) -> mlmd.MetadataStore:
    """The store at `path`, opened read-only: nothing this notebook does can change it."""
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READONLY
    return mlmd.MetadataStore(config)


def main(path: Path) -> None:
    # %% Open the store read-only
    store = open_read_only(path)
    print(f"{path.name}: {len(store.get_executions())} task tries, {len(store.get_artifacts())} artifacts, "
          f"{len(store.get_contexts_by_type('airflow.Dag'))} DAG(s)")

    # %% DAG runs, with their task tries by state
    runs = Table()
    for run in store.get_contexts_by_type("airflow.DagRun"):
        states = Counter(STATES[e.last_known_state] for e in store.get_executions_by_context(run.id))
        runs.append({"run": run.name, "run_type": prop(run, "run_type"), "tries": sum(states.values()),
                     **{state: states[state] for state in ("COMPLETE", "FAILED", "CACHED")}})
    print(f"\n{runs}")

    # %% The task tries of one run: each try is an execution, its Airflow fields are properties
    last_run = store.get_contexts_by_type("airflow.DagRun")[-1]
    tries = Table({"task": prop(e, "task_id"), "try": prop(e, "try_number"), "state": STATES[e.last_known_state],
                   "seconds": prop(e, "duration_seconds"), "type": store.get_execution_types_by_id([e.type_id])[0].name}
                  for e in sorted(store.get_executions_by_context(last_run.id), key=lambda e: e.id))
    print(f"\ntasks of {last_run.name}:\n{tries}")

    # %% Failures anywhere, with a filter query (docs/filter_query.md)
    failed = store.get_executions(mlmd.ListOptions(filter_query="last_known_state = FAILED"))
    print("\nfailed tries: " + (", ".join(f"{prop(e, 'run_id')}/{prop(e, 'task_id')} try {prop(e, 'try_number')}: "
                                          f"{prop(e, 'error')}" for e in failed) or "none"))

    # %% Assets: which tasks wrote and read each one (events), across runs and DAGs; ×N counts the tries
    assets = Table()
    for asset in store.get_artifacts_by_type("airflow.Asset"):
        events = store.get_events_by_artifact_ids([asset.id])
        executions = {e.id: e for e in store.get_executions_by_id({ev.execution_id for ev in events})}
        task = {ev.execution_id: f"{prop(e, 'dag_id')}.{prop(e, 'task_id')}" for ev in events
                for e in [executions[ev.execution_id]]}
        tasks = {kind: Counter(task[ev.execution_id] for ev in events if ev.type == kind)
                 for kind in (pb.Event.OUTPUT, pb.Event.INPUT)}
        assets.append({"asset": asset.uri, **{
            title: ", ".join(f"{task} ×{n}" for task, n in sorted(tasks[kind].items()))
            for title, kind in (("written by", pb.Event.OUTPUT), ("read by", pb.Event.INPUT))}})
    print(f"\n{assets}")

    # %% Lineage of the last run's XCom outputs: which execution produced what the next task read
    print()
    xcoms = store.get_artifacts(mlmd.ListOptions(
        filter_query=f"type = 'airflow.XCom' AND contexts_r.name = '{last_run.name}'"))
    for xcom in xcoms:
        events = store.get_events_by_artifact_ids([xcom.id])
        producer = [ev.execution_id for ev in events if ev.type == pb.Event.OUTPUT]
        readers = [ev.execution_id for ev in events if ev.type == pb.Event.INPUT]
        names = {e.id: prop(e, "task_id") for e in store.get_executions_by_id(producer + readers)}
        print(f"xcom {prop(xcom, 'task_id')}.{prop(xcom, 'key')}: produced by "
              f"{[names[i] for i in producer]}, read by {[names[i] for i in readers]}")

    # %% Read-only means read-only
    try:
        store.put_context_type(pb.ContextType(name="scratch"))
    except mlmd.errors.StatusError as exc:
        print(f"\nwriting is refused: {type(exc).__name__}")
    store.close()


# %%
if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            sample = Path(tmp) / "mlmd.sqlite"
            write_sample_store(sample)
            main(sample)
