"""Airflow task runs -> MLMD: the one place that knows both worlds (docs/recording.md describes the mapping).

- `model`: type names, external-id formats and the plain records (`TaskRun`, `AssetRef`, `XComRef`, ...);
- `snapshot`: reads a running task instance into those records (Airflow side);
- `writer`: writes the records into a MetadataStore, idempotently and with a handful of calls (MLMD side).

Operators opt in with two documented hooks: an `mlmd_execution_type` attribute (or method) naming their
ExecutionType, and `get_mlmd_artifacts(context) -> (inputs, outputs)` contributing artifacts (Assets, URI strings
or `ArtifactRef`s).
"""

from __future__ import annotations

import threading
import weakref

from mlmd_airflow.recording.model import (
    ASSET_TYPE,
    DAG_CONTEXT_TYPE,
    DAG_RUN_CONTEXT_TYPE,
    DATASET_TYPE,
    OPENLINEAGE_DATASET_TYPE,
    XCOM_TYPE,
    ArtifactRef,
    AssetRef,
    TaskRun,
    XComQuery,
    XComRef,
    asset_external_id,
    dag_external_id,
    dag_run_external_id,
    dag_run_name,
    execution_external_id,
    xcom_external_id,
    xcom_uri,
)
from mlmd_airflow.recording.snapshot import ARTIFACTS_METHOD, EXECUTION_TYPE_ATTRIBUTE, code_path, execution_type
from mlmd_airflow.recording.writer import Writer
from mlmd_core import MetadataStore

__all__ = [
    "ARTIFACTS_METHOD", "ASSET_TYPE", "DAG_CONTEXT_TYPE", "DAG_RUN_CONTEXT_TYPE", "DATASET_TYPE",
    "EXECUTION_TYPE_ATTRIBUTE", "OPENLINEAGE_DATASET_TYPE", "XCOM_TYPE", "ArtifactRef", "AssetRef", "TaskRun",
    "Writer", "XComQuery", "XComRef", "asset_external_id", "code_path", "dag_external_id", "dag_run_external_id",
    "dag_run_name", "execution_external_id", "execution_type", "writer_for", "xcom_external_id", "xcom_uri",
]

_writers: weakref.WeakKeyDictionary[MetadataStore, Writer] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def writer_for(store: MetadataStore) -> Writer:
    """The Writer of `store`, one per store object so its type-id cache lives as long as the store."""
    with _writers_lock:
        writer = _writers.get(store)
        if writer is None:
            writer = _writers[store] = Writer(store)
        return writer


def warm_up() -> None:
    """Records a made-up run of two chained tasks (each started, then finished with an XCom output the next one
    reads) into a throw-away in-memory store and discards it: the SQL statements recording needs get compiled in
    this process, and mlmd_core shares compiled SQLite statements between the stores of a process, so the task
    processes Airflow forks from this one compile none of them. Opening that store also compiles mlmd_core's
    everyday statements (mlmd_core.warm_up, once per process): a forked task process would otherwise pay it with
    its first SQLite store, about 50 ms, on top of recording's own 12-15 ms."""
    from mlmd_core.proto import metadata_store_pb2 as pb

    config = pb.ConnectionConfig()
    config.fake_database.SetInParent()
    store = MetadataStore(config)
    try:
        writer = Writer(store)
        for index in range(2):
            inputs = [XComRef("warm_up", "run", f"t{index - 1}", -1, "return_value")] if index else []
            output = XComRef("warm_up", "run", f"t{index}", -1, "return_value")
            for state, airflow_state, outputs in ((pb.Execution.RUNNING, "running", []),
                                                  (pb.Execution.COMPLETE, "success", [output])):
                writer.record(TaskRun(dag_id="warm_up", run_id="run", task_id=f"t{index}", map_index=-1, try_number=1,
                                      execution_type="warm_up", operator="@task", state=state,
                                      airflow_state=airflow_state, inputs=list(inputs), outputs=outputs))
    finally:
        store.close()
