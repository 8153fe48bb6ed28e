"""Helpers of the recording tests: run a DAG with dag.test() on a fresh store, and read a store back as plain,
comparable Python values (so tests can assert exact executions, events and contexts)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlmd_core import MetadataStore
from mlmd_core.proto import metadata_store_pb2 as pb

DAGS_DIR = Path(__file__).resolve().parent / "dags"

STATE = {v: k for k, v in pb.Execution.State.items()}
EVENT = {v: k for k, v in pb.Event.Type.items()}


def load_dag(module_name: str, dag_id: str | None = None) -> Any:
    """The DAG object defined in tests/airflow/dags/<module_name>.py (imported once per process)."""
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, DAGS_DIR / f"{module_name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name].__dict__[f"{dag_id or module_name}_dag"]


@contextmanager
def store_env(path: Path, **mlmd_options: str) -> Iterator[None]:
    """The `mlmd_default` connection pointing at `path` and the given `[mlmd]` options, for the duration; the
    listener's cached settings and the per-process store cache are reset on entry and exit."""
    from mlmd_airflow import listener
    from mlmd_airflow.hooks.mlmd import reset_stores

    env = {"AIRFLOW_CONN_MLMD_DEFAULT": json.dumps(
        {"conn_type": "mlmd", "extra": {"backend": "sqlite", "path": str(path)}})}
    env.update({f"AIRFLOW__MLMD__{k.upper()}": v for k, v in mlmd_options.items()})
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    reset_stores()
    listener.reset()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reset_stores()
        listener.reset()


def open_store(path: Path) -> MetadataStore:
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    return MetadataStore(config)


def props(node: Any) -> dict[str, Any]:
    """A node's properties as {name: python value}."""
    out = {}
    for key, value in node.properties.items():
        out[key] = getattr(value, value.WhichOneof("value"))
    return out


def executions(store: MetadataStore) -> dict[tuple[str, int, int], dict[str, Any]]:
    """{(task_id, map_index, try_number): execution summary} of every execution in the store."""
    types = {t.id: t.name for t in store.get_execution_types()}
    out = {}
    for e in store.get_executions():
        p = props(e)
        out[(p["task_id"], p["map_index"], p["try_number"])] = {
            "id": e.id, "type": types[e.type_id], "state": STATE[e.last_known_state], "external_id": e.external_id,
            **p}
    return out


def events(store: MetadataStore, execution_id: int) -> list[tuple[str, str, tuple[str, ...]]]:
    """Sorted (INPUT/OUTPUT, artifact external_id, event path keys) of one execution."""
    evs = store.get_events_by_execution_ids([execution_id])
    arts = {a.id: a.external_id for a in store.get_artifacts_by_id([e.artifact_id for e in evs])}
    return sorted((EVENT[e.type], arts[e.artifact_id], tuple(s.key for s in e.path.steps)) for e in evs)


def artifacts(store: MetadataStore) -> dict[str, dict[str, Any]]:
    """{external_id: summary} of every artifact."""
    types = {t.id: t.name for t in store.get_artifact_types()}
    return {a.external_id: {"type": types[a.type_id], "uri": a.uri, "state": pb.Artifact.State.Name(a.state),
                            **props(a)} for a in store.get_artifacts()}


def context_names(store: MetadataStore, *, execution_id: int | None = None,
                  artifact_id: int | None = None) -> list[tuple[str, str]]:
    """Sorted (context type, context name) an execution is associated with / an artifact attributed to."""
    types = {t.id: t.name for t in store.get_context_types()}
    if execution_id is not None:
        contexts = store.get_contexts_by_execution(execution_id)
    else:
        contexts = store.get_contexts_by_artifact(artifact_id)
    return sorted((types[c.type_id], c.name) for c in contexts)
