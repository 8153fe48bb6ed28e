"""Writes TaskRun records into an MLMD store: types, contexts, executions, artifacts and events.

Every write is get-or-create and idempotent, because Airflow may run the hooks of one task instance in another
order than expected (the success hook runs after the task is already SUCCESS, downstream tasks may already be
running) and the same record may be written twice (a retried write after a timeout):

- types: `put_*_type(can_add_fields=True, can_omit_fields=True)`, ids cached per Writer (i.e. per process+store);
- contexts: reused by name (`reuse_context_if_already_exist`);
- artifacts: upserted by external_id (`reuse_artifact_if_already_exist_by_external_id`) with deterministic
  content, so two writers of the same artifact write the same thing;
- the execution: its deterministic external_id finds the row to update; events already stored are not re-added.

The steady-state cost of one record is one `put_lineage_subgraph` call, plus one read when the task consumed
upstream XComs; the first record of a DAG run in a process adds one `put_parent_contexts`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from mlmd_airflow.recording import model as m
from mlmd_core import ListOptions, MetadataStore, errors
from mlmd_core.proto import metadata_store_pb2 as pb

_INPUT, _OUTPUT = pb.Event.INPUT, pb.Event.OUTPUT
_MAX_CACHED_EXECUTIONS = 4096


def _value(value: str | int | float | bool) -> pb.Value:
    if isinstance(value, bool):
        return pb.Value(string_value=str(value))
    if isinstance(value, int):
        return pb.Value(int_value=value)
    if isinstance(value, float):
        return pb.Value(double_value=value)
    return pb.Value(string_value=str(value))


def _set_properties(target: Any, values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if value is not None:
            target[key].CopyFrom(_value(value))


def _property_kind(value: Any) -> int:
    if isinstance(value, bool):
        return pb.STRING
    if isinstance(value, int):
        return pb.INT
    if isinstance(value, float):
        return pb.DOUBLE
    return pb.STRING


def _quote(text: str) -> str | None:
    """A filter_query string literal, or None when the text cannot be quoted safely."""
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return None


class Writer:
    """Records TaskRuns into one store. Caches type ids, execution ids and parent links it has written."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        self._type_ids: dict[tuple[str, str], int] = {}
        self._execution_ids: dict[str, int] = {}
        self._parented: set[int] = set()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------------------ types

    def _type_id(self, kind: str, name: str, properties: Mapping[str, int], description: str = "") -> int:
        key = (kind, name)
        type_id = self._type_ids.get(key)
        if type_id is None:
            type_id = self._stored_type_id(kind, name, properties)
        if type_id is None:
            proto = {"artifact": pb.ArtifactType, "execution": pb.ExecutionType, "context": pb.ContextType}[kind]()
            proto.name = name
            if description:
                proto.description = description
            for prop, data_type in properties.items():
                proto.properties[prop] = data_type
            put = getattr(self.store, f"put_{kind}_type")
            type_id = put(proto, can_add_fields=True, can_omit_fields=True)
        self._type_ids[key] = type_id
        return type_id

    def _stored_type_id(self, kind: str, name: str, properties: Mapping[str, int]) -> int | None:
        """The id of the stored type when it declares these properties already, else None. A read: on a server
        putting a type waits for the lock that serializes type writes, which task processes starting together
        (each registering its types once) would queue for, though their types exist but the first time."""
        try:
            stored = getattr(self.store, f"get_{kind}_type")(name)
        except errors.NotFoundError:
            return None
        declared = stored.properties
        return stored.id if all(declared.get(prop) == data_type for prop, data_type in properties.items()) else None

    def execution_type_id(self, name: str, description: str = "") -> int:
        """Id of the ExecutionType `name` (created with the listener's execution properties on first sight)."""
        return self._type_id("execution", name, m.EXECUTION_PROPERTIES, description)

    # ------------------------------------------------------------------------------------------ node protos

    def _contexts(self, run: m.TaskRun) -> list[pb.Context]:
        dag = pb.Context(type_id=self._type_id("context", m.DAG_CONTEXT_TYPE, m.DAG_CONTEXT_PROPERTIES),
                         name=run.dag_id, external_id=m.dag_external_id(run.dag_id))
        _set_properties(dag.properties, {"dag_id": run.dag_id})
        dag_run = pb.Context(
            type_id=self._type_id("context", m.DAG_RUN_CONTEXT_TYPE, m.DAG_RUN_CONTEXT_PROPERTIES),
            name=m.dag_run_name(run.dag_id, run.run_id), external_id=m.dag_run_external_id(run.dag_id, run.run_id))
        _set_properties(dag_run.properties, {
            "dag_id": run.dag_id, "run_id": run.run_id, "run_type": run.run_type,
            "logical_date": run.logical_date, "run_after": run.run_after, "conf": run.conf})
        contexts = [dag, dag_run]
        for type_name, prop in ((m.CACHE_KEY_CONTEXT_TYPE, "cache_key"), (m.CACHE_STEP_CONTEXT_TYPE, "cache_step")):
            if run.cache_properties.get(prop):  # a @cached_step: the contexts its lookups go through
                contexts.append(pb.Context(type_id=self._type_id("context", type_name, {}),
                                           name=str(run.cache_properties[prop])))
        return contexts

    def _execution(self, run: m.TaskRun) -> pb.Execution:
        execution = pb.Execution(type_id=self.execution_type_id(run.execution_type, run.type_description),
                                 external_id=run.external_id, last_known_state=run.state)
        known = self._execution_ids.get(run.external_id)
        if known is not None:
            execution.id = known
        _set_properties(execution.properties, {
            "dag_id": run.dag_id, "run_id": run.run_id, "task_id": run.task_id, "map_index": run.map_index,
            "try_number": run.try_number, "operator": run.operator, "airflow_state": run.airflow_state,
            "start_time": run.start_time, "end_time": run.end_time, "duration_seconds": run.duration_seconds,
            "hostname": run.hostname, "ti_id": run.ti_id, "error": run.error,
            "asset_event_extra": m.canonical_json(run.asset_event_extra) if run.asset_event_extra else None})
        _set_properties(execution.custom_properties, run.cache_properties)
        return execution

    def _artifact(self, ref: m.Ref, run: m.TaskRun) -> tuple[pb.Artifact, str]:
        """(artifact proto, event path key) of a reference the writer upserts."""
        if isinstance(ref, m.AssetRef):
            artifact = pb.Artifact(type_id=self._type_id("artifact", m.ASSET_TYPE, m.ASSET_PROPERTIES),
                                   uri=ref.uri, external_id=m.asset_external_id(ref.uri), state=pb.Artifact.LIVE)
            _set_properties(artifact.properties, {
                "name": ref.name, "group": ref.group, "extra": m.canonical_json(dict(ref.extra))})
            return artifact, ref.name
        if isinstance(ref, m.XComRef):
            artifact = pb.Artifact(
                type_id=self._type_id("artifact", m.XCOM_TYPE, m.XCOM_PROPERTIES),
                uri=m.xcom_uri(ref.dag_id, ref.run_id, ref.task_id, ref.map_index, ref.key),
                external_id=ref.external_id, state=pb.Artifact.LIVE)
            props: dict[str, Any] = {"dag_id": ref.dag_id, "run_id": ref.run_id, "task_id": ref.task_id,
                                     "map_index": ref.map_index, "key": ref.key}
            if ref.has_value:
                text, size, digest = m.xcom_fingerprint(ref.value)
                props.update(size=size, sha256=digest)
                if run.record_xcom == "value" and size <= run.xcom_value_max_bytes:
                    props["value"] = text
            _set_properties(artifact.properties, props)
            return artifact, ref.key
        if isinstance(ref, m.ArtifactRef):
            if ref.type_name == m.OPENLINEAGE_DATASET_TYPE:
                kinds: Mapping[str, int] = m.OPENLINEAGE_DATASET_PROPERTIES
            else:
                kinds = {k: _property_kind(v) for k, v in ref.properties.items()}
            artifact = pb.Artifact(type_id=self._type_id("artifact", ref.type_name, kinds), uri=ref.uri,
                                   external_id=ref.resolved_external_id, state=pb.Artifact.LIVE)
            _set_properties(artifact.properties, dict(ref.properties))
            return artifact, ref.uri
        raise TypeError(f"cannot write {type(ref).__name__} as an artifact")

    # ------------------------------------------------------------------------------------- XCom input lookup

    def _existing_xcom_inputs(self, refs: Iterable[m.Ref]) -> list[tuple[int, str, str, int]]:
        """(artifact id, task_id, key, map_index) of the upstream XCom artifacts this task consumed.

        Producers write their XCom artifacts before their task instance is marked successful (see the
        listener), so an XCom a task could read is already in the store; one that is not (its producer's
        recording failed or was disabled) is left out rather than invented.
        """
        direct = [r for r in refs if isinstance(r, m.XComRef)]
        queries = [r for r in refs if isinstance(r, m.XComQuery)]
        found: dict[int, tuple[int, str, str, int]] = {}
        if direct:
            try:
                stored = self.store.get_artifacts_by_external_ids([r.external_id for r in direct])
            except errors.NotFoundError:
                stored = []
            by_external_id = {a.external_id: a.id for a in stored}
            for r in direct:
                if r.external_id in by_external_id:
                    artifact_id = by_external_id[r.external_id]
                    found[artifact_id] = (artifact_id, r.task_id, r.key, r.map_index)
        missing = [r for r in direct if not any(f[1:] == (r.task_id, r.key, r.map_index) for f in found.values())]
        for artifact_id, task_id, key, map_index in self._cached_xcom_inputs(missing, queries):
            found.setdefault(artifact_id, (artifact_id, task_id, key, map_index))
        for query in queries:
            literals = [_quote(v) for v in (query.dag_id, query.run_id, query.task_id, query.key or "")]
            if None in literals:
                continue
            dag_id, run_id, task_id, key = literals
            conditions = [f"type = '{m.XCOM_TYPE}'", f"properties.dag_id.string_value = {dag_id}",
                          f"properties.run_id.string_value = {run_id}",
                          f"properties.task_id.string_value = {task_id}"]
            if query.key is not None:
                conditions.append(f"properties.key.string_value = {key}")
            if query.map_index is not None:
                conditions.append(f"properties.map_index.int_value = {int(query.map_index)}")
            for a in self.store.get_artifacts(ListOptions(filter_query=" AND ".join(conditions))):
                found[a.id] = (a.id, query.task_id, a.properties["key"].string_value,
                               a.properties["map_index"].int_value)
        return sorted(found.values(), key=lambda f: (f[1], f[3], f[2]))

    def _cached_xcom_inputs(self, missing: list[m.XComRef], queries: list[m.XComQuery]
                            ) -> list[tuple[int, str, str, int]]:
        """Upstream XComs served by a @cached_step hit: the upstream's CACHED execution in this run links the
        reused artifacts (of the run that computed them) instead of artifacts of its own, so look there."""
        wanted: dict[tuple[str, str, str], list[tuple[str | None, int | None]]] = {}
        for r in missing:
            wanted.setdefault((r.dag_id, r.run_id, r.task_id), []).append((r.key, r.map_index))
        for q in queries:
            wanted.setdefault((q.dag_id, q.run_id, q.task_id), []).append((q.key, q.map_index))
        out: list[tuple[int, str, str, int]] = []
        for (dag_id, run_id, task_id), keys in wanted.items():
            literals = [_quote(v) for v in (dag_id, run_id, task_id)]
            if None in literals:
                continue
            cached = self.store.get_executions(ListOptions(filter_query=(
                f"properties.dag_id.string_value = {literals[0]} AND properties.run_id.string_value = "
                f"{literals[1]} AND properties.task_id.string_value = {literals[2]} AND last_known_state = CACHED")))
            if not cached:
                continue
            map_index_of = {e.id: e.properties["map_index"].int_value for e in cached}
            outputs = [e for e in self.store.get_events_by_execution_ids(list(map_index_of))
                       if e.type == _OUTPUT and e.path.steps]
            # only the XComs it served: the CACHED execution's outlet Assets are outputs too, but no XCom input
            xcoms = {a.id for a in self.store.get_artifacts_by_id({e.artifact_id for e in outputs})
                     if a.type == m.XCOM_TYPE}
            for event in outputs:
                if event.artifact_id not in xcoms:
                    continue
                key, map_index = event.path.steps[-1].key, map_index_of[event.execution_id]
                if any((k is None or k == key) and (i is None or i == map_index) for k, i in keys):
                    out.append((event.artifact_id, task_id, key, map_index))
        return out

    # ------------------------------------------------------------------------------------------------ write

    def record(self, run: m.TaskRun) -> int:
        """Writes one TaskRun (creating or updating its Execution) and returns the execution id."""
        with self._lock:
            return self._record(run)

    def _record(self, run: m.TaskRun) -> int:
        contexts = self._contexts(run)
        execution = self._execution(run)
        artifacts: list[pb.Artifact] = []
        index_of: dict[str, int] = {}
        edges: list[tuple[int | None, int | None, pb.Event]] = []

        def add(ref: m.Ref, kind: int) -> None:
            artifact, path_key = self._artifact(ref, run)
            index = index_of.get(artifact.external_id)
            if index is None:
                index = index_of[artifact.external_id] = len(artifacts)
                artifacts.append(artifact)
            event = pb.Event(type=kind)
            event.path.steps.add().key = path_key
            edges.append((0, index, event))

        for ref in run.inputs:
            if not isinstance(ref, (m.XComRef, m.XComQuery)):
                add(ref, _INPUT)
        for artifact_id, task_id, key, _ in self._existing_xcom_inputs(run.inputs):
            event = pb.Event(type=_INPUT, artifact_id=artifact_id)
            event.path.steps.add().key = task_id
            event.path.steps.add().key = key
            edges.append((0, None, event))
        xcom_outputs = [ref for ref in run.outputs if isinstance(ref, m.XComRef)]
        for ref in run.outputs:
            if not (run.cached_outputs and isinstance(ref, m.XComRef)):
                add(ref, _OUTPUT)
        if xcom_outputs and run.cached_outputs:
            # a cache hit: the XCom outputs are the source execution's artifacts, linked, not copied
            for artifact_id, path_key in run.cached_outputs:
                event = pb.Event(type=_OUTPUT, artifact_id=artifact_id)
                event.path.steps.add().key = path_key
                edges.append((0, None, event))

        try:
            execution_ids, _, context_ids = self._put(execution, artifacts, contexts, edges)
        except errors.AlreadyExistsError:
            # The execution (or one of its events, or an artifact being created concurrently) already exists:
            # a repeated write or a race with another worker. Resolve ids, drop stored events, write once more.
            execution, edges = self._without_stored(run, execution, artifacts, edges)
            execution_ids, _, context_ids = self._put(execution, artifacts, contexts, edges)
        execution_id = execution_ids[0]
        if len(self._execution_ids) >= _MAX_CACHED_EXECUTIONS:
            self._execution_ids.clear()
        self._execution_ids[run.external_id] = execution_id
        self._link_run_to_dag(context_ids[1], context_ids[0])
        return execution_id

    def _put(self, execution: pb.Execution, artifacts: list[pb.Artifact], contexts: list[pb.Context],
             edges: list[tuple[int | None, int | None, pb.Event]]) -> tuple[list[int], list[int], list[int]]:
        return self.store.put_lineage_subgraph(
            [execution], artifacts, contexts, edges,
            reuse_context_if_already_exist=True, reuse_artifact_if_already_exist_by_external_id=True)

    def _without_stored(self, run: m.TaskRun, execution: pb.Execution, artifacts: list[pb.Artifact],
                        edges: list[tuple[int | None, int | None, pb.Event]]
                        ) -> tuple[pb.Execution, list[tuple[int | None, int | None, pb.Event]]]:
        if not execution.HasField("id"):
            try:
                [stored] = self.store.get_executions_by_external_ids([run.external_id])
            except errors.NotFoundError:
                return execution, edges  # not a repeated write: the retry re-reads artifacts by external_id
            execution.id = stored.id
        stored_events = {(e.artifact_id, e.type) for e in self.store.get_events_by_execution_ids([execution.id])}
        artifact_ids: dict[str, int] = {}
        wanted = [a.external_id for a in artifacts]
        if wanted:
            try:
                artifact_ids = {a.external_id: a.id for a in self.store.get_artifacts_by_external_ids(wanted)}
            except errors.NotFoundError:
                artifact_ids = {}
        kept = []
        for execution_index, artifact_index, event in edges:
            artifact_id = event.artifact_id if artifact_index is None else artifact_ids.get(
                artifacts[artifact_index].external_id)
            if (artifact_id, event.type) not in stored_events:
                kept.append((execution_index, artifact_index, event))
        return execution, kept

    def _link_run_to_dag(self, run_context_id: int, dag_context_id: int) -> None:
        if run_context_id in self._parented:
            return
        try:
            self.store.put_parent_contexts([pb.ParentContext(child_id=run_context_id, parent_id=dag_context_id)])
        except errors.AlreadyExistsError:
            pass
        self._parented.add(run_context_id)

