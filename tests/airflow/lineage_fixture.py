"""A small, known lineage recorded through the real recording API (mlmd_airflow.recording.writer), for the UI tests.

Runs of DAG `ui_demo` and one of DAG `ui_upstream`:

- `ui_upstream/up1`: `publish` (COMPLETE) writes the asset `s3://lake/features` and a dataset whose name is HTML.
- `ui_demo/run1`: `extract` (COMPLETE, reads the asset) -> XCom -> `train` (COMPLETE) -> XCom + `file:///models/m1`.
- `ui_demo/run2`: `extract` (COMPLETE) -> `train` (CACHED from run1's train, reusing its XCom output),
  `evaluate` (FAILED, reads the cached XCom and the HTML-named dataset), `report` (RUNNING).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlmd_airflow.recording import model as m
from mlmd_airflow.recording.writer import Writer
from mlmd_core import MetadataStore
from mlmd_core.proto import metadata_store_pb2 as pb

XSS_NAME = '<img src=x onerror="window.__xss=1;alert(1)">'
XSS_VALUE = "<script>window.__xss=2;alert(2)</script>"
ASSET = m.AssetRef(uri="s3://lake/features", name="features")
XSS_DATASET = m.ArtifactRef(uri=f"s3://lake/{XSS_NAME}", properties={"note": XSS_VALUE})


@dataclass
class Recorded:
    """Execution ids by (dag_id, run_id, task_id)."""

    executions: dict[tuple[str, str, str], int] = field(default_factory=dict)


def _run(dag_id: str, run_id: str, task_id: str, state: int, **kw: object) -> m.TaskRun:
    airflow_state = {pb.Execution.COMPLETE: "success", pb.Execution.FAILED: "failed",
                     pb.Execution.RUNNING: "running", pb.Execution.CACHED: "success"}[state]
    return m.TaskRun(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=-1, try_number=1,
                     execution_type=f"{dag_id}.{task_id}", operator="@task", state=state, airflow_state=airflow_state,
                     start_time="2026-01-01T00:00:00+00:00", run_type="manual", **kw)  # type: ignore[arg-type]


def xcom(dag_id: str, run_id: str, task_id: str) -> m.XComRef:
    return m.XComRef(dag_id, run_id, task_id, -1, "return_value", value={"rows": 3}, has_value=True)


def record_demo(store: MetadataStore) -> Recorded:
    """Writes the runs above and returns their execution ids."""
    writer = Writer(store)
    out = Recorded()

    def rec(run: m.TaskRun) -> int:
        out.executions[(run.dag_id, run.run_id, run.task_id)] = eid = writer.record(run)
        return eid

    rec(_run("ui_upstream", "up1", "publish", pb.Execution.COMPLETE, outputs=[ASSET, XSS_DATASET]))
    for run_id in ("run1", "run2"):
        rec(_run("ui_demo", run_id, "extract", pb.Execution.COMPLETE, inputs=[ASSET],
                 outputs=[xcom("ui_demo", run_id, "extract")]))
    train1 = rec(_run("ui_demo", "run1", "train", pb.Execution.COMPLETE,
                      inputs=[xcom("ui_demo", "run1", "extract")],
                      outputs=[xcom("ui_demo", "run1", "train"), m.ArtifactRef(uri="file:///models/m1")],
                      cache_properties={"cache_key": "k1", "cache_step": "train"}))
    [train1_xcom] = store.get_artifacts_by_external_ids([xcom("ui_demo", "run1", "train").external_id])
    rec(_run("ui_demo", "run2", "train", pb.Execution.CACHED, inputs=[xcom("ui_demo", "run2", "extract")],
             outputs=[xcom("ui_demo", "run2", "train")],
             cache_properties={"cache_key": "k1", "cache_step": "train", "cached_from": train1},
             cached_outputs=[(train1_xcom.id, "return_value")]))
    evaluate = rec(_run("ui_demo", "run2", "evaluate", pb.Execution.FAILED, error="ValueError: bad metric",
                        inputs=[XSS_DATASET]))
    # the cached XCom is the input of evaluate (an XComRef of run2 would look for run2's own artifact)
    event = pb.Event(type=pb.Event.INPUT, artifact_id=train1_xcom.id, execution_id=evaluate)
    event.path.steps.add().key = "train"
    store.put_events([event])
    rec(_run("ui_demo", "run2", "report", pb.Execution.RUNNING))
    return out


def record_wide(store: MetadataStore, dag_id: str, run_id: str, tasks: int) -> None:
    """A run of `tasks` executions in a chain, each with one XCom output read by the next (2*tasks nodes)."""
    writer = Writer(store)
    for i in range(tasks):
        inputs = [xcom(dag_id, run_id, f"t{i - 1}")] if i else []
        writer.record(_run(dag_id, run_id, f"t{i}", pb.Execution.COMPLETE, inputs=inputs,
                           outputs=[xcom(dag_id, run_id, f"t{i}")]))
