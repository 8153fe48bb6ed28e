"""Compiles the SQLite statements of MLMD's everyday calls once per process, when its first SQLite store opens.

SQLAlchemy builds and compiles a statement the first time a call needs it, 0.5-1 ms each: as much as 50 point
reads, so a program's first calls of each kind ran well below their steady speed (the harness's 100 reads of a
context's executions spent 27% of their time compiling). SQLite statements are shared by every store of a process
(mlmd_core.store.sql), so the first SQLite store a process opens makes each everyday call once against a
throw-away in-memory store, 40-60 ms once, and later calls compile nothing. Statements that depend on a request's
shape (a filter query, a page token, a lineage query) are compiled when first met, as before. Server stores
compile their own statements on first use, where a round trip costs as much.

import_backend(config) imports a store's database driver (or the gRPC client) ahead of opening one, for a process
that forks others which will (mlmd-airflow's plugin, in the Airflow component that forks task processes).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from mlmd_core.metadata_store import ListOptions, MetadataStore
from mlmd_core.proto import metadata_store_pb2 as pb

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_done = False


def import_backend(config: pb.ConnectionConfig | pb.MetadataStoreClientConfig) -> None:
    """Imports what opening a store of `config` imports: its database driver and the parts of it the store loads,
    or the gRPC client. For a process that forks others which open such stores (the Airflow component that forks
    task processes): they find it loaded, where psycopg alone took 50 ms of each, MySQLdb's cursors 20 ms and the
    gRPC client 25 ms. A driver that is not installed is skipped (opening a store says what to install)."""
    if isinstance(config, pb.MetadataStoreClientConfig):
        import grpc._channel  # noqa: F401 - what creating a channel imports (only importing: no channel before a fork)

        import mlmd_core.grpc.client  # noqa: F401
        return
    from mlmd_core.store.engine import import_driver

    try:
        import_driver(config.WhichOneof("config") or "")
    except ImportError:
        _log.debug("The driver of a %s store is not installed", config.WhichOneof("config"), exc_info=True)


def warm_up_for(config: pb.ConnectionConfig) -> None:
    """warm_up() when a store of this config is SQLite (a file or in memory)."""
    if config.WhichOneof("config") in ("sqlite", "fake_database"):
        warm_up()


def warm_up() -> None:
    """Compiles the statements of the everyday calls in this process; only the first call does anything. A
    failure is logged, never raised: it only leaves statements to be compiled when first used."""
    global _done
    if _done:
        return
    with _lock:
        if _done:
            return
        _done = True  # before opening: the throw-away store's own opening must not warm up again
        config = pb.ConnectionConfig()
        config.fake_database.SetInParent()
        try:
            with MetadataStore(config) as store:
                _make_everyday_calls(store)
        except Exception:  # noqa: BLE001 - an optimisation must not fail the store being opened
            _log.warning("Compiling the everyday SQLite statements ahead of use failed", exc_info=True)


def _make_everyday_calls(store: MetadataStore) -> None:
    """Each everyday write and read once, with what a pipeline passes them: types with properties, nodes with
    properties and custom properties, one and several at a time, events with paths, contexts with a parent."""
    types = []
    for make in (pb.ArtifactType, pb.ExecutionType, pb.ContextType):
        kind = make(name=f"mlmd_core.warm_up.{make.__name__}")
        kind.properties["number"] = pb.INT
        kind.properties["text"] = pb.STRING
        types.append(kind)
    artifact_type, execution_type, context_type = types
    artifact_type.id = store.put_artifact_type(artifact_type)
    execution_type.id = store.put_execution_type(execution_type)
    context_type.id = store.put_context_type(context_type)
    store.put_artifact_type(artifact_type)  # one that exists
    for get_type, kind in ((store.get_artifact_type, artifact_type), (store.get_execution_type, execution_type),
                           (store.get_context_type, context_type)):
        get_type(kind.name)
    for get_types in (store.get_artifact_types, store.get_execution_types, store.get_context_types):
        get_types()
    store.get_artifact_types_by_id([artifact_type.id])
    store.get_execution_types_by_id([execution_type.id])
    store.get_context_types_by_id([context_type.id])

    def node(make: type, type_id: int, index: int, **fields: Any) -> Any:
        made = make(type_id=type_id, name=f"n{index}", **fields)
        made.properties["number"].int_value = index
        made.properties["text"].string_value = "text"
        made.custom_properties["custom"].double_value = 0.5
        return made

    def event(kind: int, key: str, index: int) -> pb.Event:
        made = pb.Event(type=kind)
        made.path.steps.add().key = key
        made.path.steps.add().index = index
        return made

    artifacts = [node(pb.Artifact, artifact_type.id, index, uri=f"/warm_up/{index}") for index in range(3)]
    for batch in (artifacts[:1], artifacts[1:]):  # one, then several
        for artifact, artifact_id in zip(batch, store.put_artifacts(batch)):
            artifact.id = artifact_id
    contexts = [node(pb.Context, context_type.id, index) for index in range(2)]
    for context in contexts:
        [context.id] = store.put_contexts([context])
    store.put_parent_contexts([pb.ParentContext(child_id=contexts[1].id, parent_id=contexts[0].id)])
    # put_execution reads what the call names by id in one statement, per set of kinds named: a pipeline's first
    # step (only its contexts exist), a step reading existing artifacts, a step's execution completed
    first_id, _, _ = store.put_execution(
        node(pb.Execution, execution_type.id, 2),
        [(node(pb.Artifact, artifact_type.id, 4), event(pb.Event.OUTPUT, "out", 0))], contexts)
    output = node(pb.Artifact, artifact_type.id, 3, uri="/warm_up/output")
    execution = node(pb.Execution, execution_type.id, 0, last_known_state=pb.Execution.RUNNING)
    execution.id, [_, output.id], _ = store.put_execution(
        execution, [(artifacts[0], event(pb.Event.INPUT, "in", 0)), (output, event(pb.Event.OUTPUT, "out", 0))],
        contexts)
    store.put_execution(pb.Execution(id=first_id, last_known_state=pb.Execution.COMPLETE),
                        [(node(pb.Artifact, artifact_type.id, 5), event(pb.Event.OUTPUT, "out", 1))], contexts)
    [other_id] = store.put_executions([node(pb.Execution, execution_type.id, 1, last_known_state=pb.Execution.RUNNING)])
    store.put_events([pb.Event(artifact_id=artifacts[1].id, execution_id=other_id, type=pb.Event.INPUT)])
    store.put_attributions_and_associations(
        [pb.Attribution(context_id=contexts[0].id, artifact_id=artifacts[2].id)],
        [pb.Association(context_id=contexts[0].id, execution_id=other_id)])
    artifacts[0].state = pb.Artifact.LIVE  # updates: a new state, a property's new value
    store.put_artifacts(artifacts[:1])
    execution.last_known_state = pb.Execution.FAILED
    execution.properties["number"].int_value = 2
    store.put_executions([execution])

    artifact_ids = [artifact.id for artifact in artifacts]
    store.get_artifacts_by_id(artifact_ids[:1])
    store.get_artifacts_by_id(artifact_ids)
    store.get_executions_by_id([execution.id])
    store.get_contexts_by_id([context.id for context in contexts])
    store.get_artifacts_by_uri(artifacts[0].uri)
    store.get_artifacts_by_type(artifact_type.name)
    store.get_executions_by_type(execution_type.name)
    store.get_contexts_by_type(context_type.name)
    store.get_artifact_by_type_and_name(artifact_type.name, "n0")
    store.get_execution_by_type_and_name(execution_type.name, "n0")
    store.get_context_by_type_and_name(context_type.name, "n0")
    for listing in (store.get_artifacts, store.get_executions, store.get_contexts):
        listing()
    store.get_artifacts(ListOptions(limit=2))
    store.get_artifacts_by_context(contexts[0].id)
    store.get_executions_by_context(contexts[0].id)
    store.get_contexts_by_artifact(artifact_ids[0])
    store.get_contexts_by_execution(execution.id)
    store.get_parent_contexts_by_context(contexts[1].id)
    store.get_children_contexts_by_context(contexts[0].id)
    store.get_events_by_execution_ids([execution.id])
    store.get_events_by_artifact_ids(artifact_ids)
    store.get_artifacts_and_types_by_artifact_ids(artifact_ids)
