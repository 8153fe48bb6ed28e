"""Store -> JSON for the lineage UI, framework-free so the Airflow plugin and the standalone `mlmd ui` serve the
same answers.

Everything goes through mlmd_core's public API (`MetadataStore`, `mlmd_core.lineage`) with a bounded number of
calls per request whatever the run's size: no call per node.

`readable(dag_id) -> bool` lets the Airflow app hide executions of DAGs the user may not read: their node is kept
(the graph stays honest about its shape) but its Airflow identity and properties are redacted. None = all readable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from mlmd_core import ListOptions, MetadataStore, errors, lineage
from mlmd_core.metadata_store import OrderByField
from mlmd_core.proto import metadata_store_pb2 as pb

DAG_RUN_CONTEXT_TYPE = "airflow.DagRun"  # mlmd_airflow.recording.model.DAG_RUN_CONTEXT_TYPE (kept import-light)
CACHED_FROM = "cached_from"  # mlmd_airflow.cache.index.CACHED_FROM: the execution whose outputs a hit reused

_OUTPUT_EVENTS = {pb.Event.OUTPUT, pb.Event.DECLARED_OUTPUT, pb.Event.INTERNAL_OUTPUT}
_INPUT_EVENTS = {pb.Event.INPUT, pb.Event.DECLARED_INPUT, pb.Event.INTERNAL_INPUT}

Readable = Callable[[str], bool] | None


class LineageNotFound(LookupError):
    """The asked-for run, artifact or execution is not in the store (the API answers 404 with this message)."""


def _value(v: pb.Value) -> Any:
    which = v.WhichOneof("value")
    if which in ("struct_value", "proto_value"):
        return str(getattr(v, which))
    return getattr(v, which) if which else None


def _props(node: Any) -> dict[str, Any]:
    props = {k: _value(v) for k, v in node.properties.items()}
    return props | {k: _value(v) for k, v in node.custom_properties.items()}


def _str_prop(node: Any, name: str) -> str | None:
    for bag in (node.properties, node.custom_properties):
        if name in bag and bag[name].HasField("string_value"):
            return bag[name].string_value
    return None


def _int_prop(node: Any, name: str) -> int | None:
    for bag in (node.properties, node.custom_properties):
        if name in bag and bag[name].HasField("int_value"):
            return bag[name].int_value
    return None


def _allowed(readable: Readable, dag_id: str | None) -> bool:
    return readable is None or dag_id is None or readable(dag_id)


def execution_ref(execution: pb.Execution, readable: Readable = None) -> dict[str, Any]:
    """A short description of an execution (for links to it): id, state and, for Airflow ones, the task instance."""
    state = pb.Execution.State.Name(execution.last_known_state) if execution.HasField("last_known_state") else ""
    dag_id = _str_prop(execution, "dag_id")
    ref: dict[str, Any] = {"execution_id": execution.id, "type": execution.type, "state": state}
    if not _allowed(readable, dag_id):
        return ref | {"hidden": True}
    ref["name"] = execution.name
    if dag_id is not None:
        ref |= {"dag_id": dag_id, "run_id": _str_prop(execution, "run_id"), "task_id": _str_prop(execution, "task_id"),
                "map_index": _int_prop(execution, "map_index"), "try_number": _int_prop(execution, "try_number")}
    return ref


def find_dag_run_context(store: MetadataStore, dag_id: str, run_id: str) -> pb.Context | None:
    """The DAG run's Context (type airflow.DagRun, name `dag_id/run_id`), or None when nothing was recorded."""
    try:
        return store.get_context_by_type_and_name(DAG_RUN_CONTEXT_TYPE, f"{dag_id}/{run_id}")
    except errors.NotFoundError:  # the context type itself does not exist yet: an empty store
        return None


def _executions_by_id(store: MetadataStore, ids: Iterable[int]) -> dict[int, pb.Execution]:
    wanted = sorted(set(ids))
    return {e.id: e for e in store.get_executions_by_id(wanted)} if wanted else {}


def context_graph(store: MetadataStore, context_id: int, readable: Readable = None) -> dict[str, Any]:
    """The lineage of one context (a DAG run, a TFX/KFP pipeline run) as the UI draws it.

    `lineage.run_graph` gives executions, artifacts and edges; on top of it each node says where it comes from:
    CACHED executions carry `cached_from` (the execution that computed the outputs), and artifacts produced in
    another run are `external` with their `origin` (the producing execution) so the UI can link there.
    """
    contexts = store.get_contexts_by_id([context_id])
    if not contexts:
        raise LineageNotFound(f"no context with id {context_id}")
    context = contexts[0]
    graph = lineage.run_graph(store, context_id).to_json()
    in_run = {n["id"] for n in graph["nodes"] if n["kind"] == "execution"}
    artifact_ids = [n["id"] for n in graph["nodes"] if n["kind"] == "artifact"]
    producers: dict[int, list[int]] = {}
    if artifact_ids:
        for event in store.get_events_by_artifact_ids(artifact_ids):
            if event.type in _OUTPUT_EVENTS:
                producers.setdefault(event.artifact_id, []).append(event.execution_id)
    run_executions = _executions_by_id(store, in_run)
    cached_from = {eid: _int_prop(e, CACHED_FROM) for eid, e in run_executions.items()}
    outside = {p for ps in producers.values() for p in ps if p not in in_run}
    others = _executions_by_id(store, outside | {c for c in cached_from.values() if c})
    everything = others | run_executions

    for node in graph["nodes"]:
        node["label"] = _label(node)
        if node["kind"] == "execution":
            execution = run_executions[node["id"]]
            node |= {"task_id": _str_prop(execution, "task_id"), "map_index": _int_prop(execution, "map_index"),
                     "try_number": _int_prop(execution, "try_number"), "cached": node["state"] == "CACHED"}
            source = cached_from.get(node["id"])
            if source:
                node["cached_from"] = (execution_ref(everything[source], readable) if source in everything
                                       else {"execution_id": source, "missing": True})
        else:
            # the execution that really computed it: a non-CACHED producer, else any producer
            ids = producers.get(node["id"], [])
            real = [i for i in ids if i in everything and everything[i].last_known_state != pb.Execution.CACHED]
            here = [i for i in real if i in in_run]
            origin_id = (here or real or [i for i in ids if i in everything] or [None])[0]
            produced_here = any(i in in_run and run_executions[i].last_known_state != pb.Execution.CACHED
                                for i in ids)
            if origin_id is not None and not produced_here and origin_id not in in_run:
                node["external"] = True
            if origin_id is not None:
                node["origin"] = execution_ref(everything[origin_id], readable)
    nodes = graph["nodes"]
    return {
        "context": {"id": context.id, "type": context.type, "name": context.name, "properties": _props(context)},
        "nodes": nodes,
        "edges": graph["edges"],
        "counts": {"executions": len(in_run), "artifacts": len(artifact_ids),
                   "external": sum(1 for n in nodes if n["external"]),
                   "cached": sum(1 for n in nodes if n.get("cached"))},
    }


def _label(node: dict[str, Any]) -> str:
    """What a node is called on the graph: the task (and map index) of an Airflow execution, `task.key` of an
    XCom, an Asset's name; else mlmd_core's label (name, last URI segment, or type #id)."""
    props = node["properties"]
    if node["name"]:
        return node["name"]
    if node["kind"] == "execution" and isinstance(props.get("task_id"), str):
        index = props.get("map_index")
        return props["task_id"] + (f"[{index}]" if isinstance(index, int) and index >= 0 else "")
    if isinstance(props.get("task_id"), str) and isinstance(props.get("key"), str):
        index = props.get("map_index")
        mapped = f"[{index}]" if isinstance(index, int) and index >= 0 else ""
        return f"{props['task_id']}{mapped}.{props['key']}"
    if isinstance(props.get("name"), str) and props["name"]:
        return props["name"]
    return node["label"]


def run_graph(store: MetadataStore, dag_id: str, run_id: str, readable: Readable = None) -> dict[str, Any]:
    """The lineage of a DAG run; an empty graph (with `recorded: false`) when the store has no record of it."""
    context = find_dag_run_context(store, dag_id, run_id)
    if context is None:
        return {"dag_id": dag_id, "run_id": run_id, "recorded": False, "context": None, "nodes": [], "edges": [],
                "counts": {"executions": 0, "artifacts": 0, "external": 0, "cached": 0}}
    return {"dag_id": dag_id, "run_id": run_id, "recorded": True} | context_graph(store, context.id, readable)


def _contexts_json(contexts: Iterable[pb.Context]) -> list[dict[str, Any]]:
    return [{"id": c.id, "type": c.type, "name": c.name} for c in contexts]


def artifact_detail(store: MetadataStore, artifact_id: int, readable: Readable = None) -> dict[str, Any]:
    """An artifact with its properties, the executions that produced it and every consumer, in any run or DAG."""
    found = store.get_artifacts_by_id([artifact_id])
    if not found:
        raise LineageNotFound(f"no artifact with id {artifact_id}")
    artifact = found[0]
    events = store.get_events_by_artifact_ids([artifact_id])
    executions = _executions_by_id(store, (e.execution_id for e in events))
    producers, consumers = [], []
    for event in sorted(events, key=lambda e: (e.milliseconds_since_epoch, e.execution_id)):
        if event.execution_id not in executions:
            continue
        ref = execution_ref(executions[event.execution_id], readable) | {"event": pb.Event.Type.Name(event.type)}
        (consumers if event.type in _INPUT_EVENTS else producers).append(ref)
    return {
        "id": artifact.id, "type": artifact.type, "name": artifact.name, "uri": artifact.uri,
        "external_id": artifact.external_id,
        "state": pb.Artifact.State.Name(artifact.state) if artifact.HasField("state") else "",
        "created_ms": artifact.create_time_since_epoch, "updated_ms": artifact.last_update_time_since_epoch,
        "properties": _props(artifact), "producers": producers, "consumers": consumers,
        "contexts": _contexts_json(store.get_contexts_by_artifact(artifact_id)),
    }


def execution_detail(store: MetadataStore, execution_id: int, readable: Readable = None) -> dict[str, Any]:
    """An execution with its properties, input and output artifacts, contexts and cache source (if CACHED)."""
    found = store.get_executions_by_id([execution_id])
    if not found:
        raise LineageNotFound(f"no execution with id {execution_id}")
    execution = found[0]
    ref = execution_ref(execution, readable)
    if ref.get("hidden"):
        return ref
    events = store.get_events_by_execution_ids([execution_id])
    artifacts = {a.id: a for a in store.get_artifacts_by_id(sorted({e.artifact_id for e in events}))} if events else {}
    inputs, outputs = [], []
    for event in events:
        artifact = artifacts.get(event.artifact_id)
        if artifact is None:
            continue
        item = {"artifact_id": artifact.id, "type": artifact.type, "name": artifact.name, "uri": artifact.uri,
                "event": pb.Event.Type.Name(event.type),
                "path": [s.key if s.HasField("key") else s.index for s in event.path.steps]}
        (inputs if event.type in _INPUT_EVENTS else outputs).append(item)
    detail = ref | {"properties": _props(execution), "inputs": inputs, "outputs": outputs,
                    "created_ms": execution.create_time_since_epoch,
                    "updated_ms": execution.last_update_time_since_epoch,
                    "contexts": _contexts_json(store.get_contexts_by_execution(execution_id))}
    source = _int_prop(execution, CACHED_FROM)
    if source:
        sources = store.get_executions_by_id([source])
        detail["cached_from"] = (execution_ref(sources[0], readable) if sources
                                 else {"execution_id": source, "missing": True})
    return detail


def execution_dag_id(store: MetadataStore, execution_id: int) -> str | None:
    """The DAG an execution belongs to (its `dag_id` property), for access checks; None if not Airflow's."""
    found = store.get_executions_by_id([execution_id])
    return _str_prop(found[0], "dag_id") if found else None


def recent_contexts(store: MetadataStore, limit: int = 50) -> list[dict[str, Any]]:
    """The newest contexts (DAG runs, pipeline runs, ...) first: the standalone UI's list of runs to open."""
    options = ListOptions(limit=limit, order_by=OrderByField.ID, is_asc=False)
    return [{"id": c.id, "type": c.type, "name": c.name, "created_ms": c.create_time_since_epoch,
             "properties": _props(c)} for c in store.get_contexts(options)]


def cache_entries(store: MetadataStore, step: str, readable: Readable = None, limit: int = 100) -> list[dict[str, Any]]:
    """The @cached_step entries of a step (COMPLETE computations and CACHED reuses), newest first, each with the
    execution that computed its outputs. Reads through mlmd_airflow.cache.index, the cache's own lookup rules."""
    from mlmd_airflow.cache import index

    entries = index.list_entries(store, step=step, include_invalidated=True)[:limit]
    sources = _executions_by_id(store, (c for e in entries if (c := _int_prop(e, index.CACHED_FROM))))
    out = []
    for e in entries:
        ref = execution_ref(e, readable)
        if not ref.get("hidden"):
            source = _int_prop(e, index.CACHED_FROM)
            ref |= {"cache_key": _str_prop(e, index.KEY), "invalidated": _str_prop(e, index.INVALIDATED),
                    "computed_at_ms": _int_prop(e, index.COMPUTED_AT),
                    "cached_from": (execution_ref(sources[source], readable) if source in sources else None)}
        out.append(ref)
    return out


def _filter_string(text: str) -> str:
    """A filter_query string literal (backslash escapes, single quotes)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def recent_dag_runs(store: MetadataStore, dag_ids: Iterable[str] | None = None, limit: int = 50
                    ) -> list[dict[str, Any]]:
    """The newest Airflow DAG runs recorded in the store (airflow.DagRun contexts), optionally only those of
    `dag_ids` (the DAGs the user may read; an empty collection gives [])."""
    query = f"type = {_filter_string(DAG_RUN_CONTEXT_TYPE)}"
    if dag_ids is not None:
        wanted = sorted(set(dag_ids))
        if not wanted:
            return []
        query += f" AND properties.dag_id.string_value IN ({', '.join(_filter_string(d) for d in wanted)})"
    options = ListOptions(limit=limit, order_by=OrderByField.ID, is_asc=False, filter_query=query)
    try:
        contexts = store.get_contexts(options)
    except errors.NotFoundError:  # no DagRun type yet
        return []
    out = []
    for c in contexts:
        dag_id, _, run_id = c.name.partition("/")
        out.append({"context_id": c.id, "dag_id": _str_prop(c, "dag_id") or dag_id,
                    "run_id": _str_prop(c, "run_id") or run_id, "run_type": _str_prop(c, "run_type"),
                    "logical_date": _str_prop(c, "logical_date"), "created_ms": c.create_time_since_epoch})
    return out


def search_artifacts(store: MetadataStore, text: str = "", filter_query: str = "", readable: Readable = None,
                     limit: int = 50, scan: int = 1000) -> list[dict[str, Any]]:
    """Artifacts whose name or URI contains `text` (case-insensitive) and that match `filter_query` (ml-metadata's
    filter language), newest first, each with its producers and consumers.

    With `readable`, only artifacts that a readable DAG produced or consumed are answered (and executions of other
    DAGs are redacted); the newest `scan` matches are examined. A bad filter_query raises
    `mlmd_core.errors.InvalidArgumentError`.
    """
    clauses = []
    if text:
        pattern = _filter_string(f"%{text}%")
        clauses.append(f"(name LIKE {pattern} OR uri LIKE {pattern})")
    if filter_query.strip():
        clauses.append(f"({filter_query})")
    options = ListOptions(limit=scan if readable is not None else limit, order_by=OrderByField.ID, is_asc=False,
                          filter_query=" AND ".join(clauses) or None)
    needle = text.lower()
    # LIKE treats % and _ as wildcards: keep only true substrings
    artifacts = [a for a in store.get_artifacts(options)
                 if not needle or needle in a.name.lower() or needle in a.uri.lower()]
    if not artifacts:
        return []
    events = store.get_events_by_artifact_ids([a.id for a in artifacts])
    executions = _executions_by_id(store, (e.execution_id for e in events))
    by_artifact: dict[int, list[pb.Event]] = {}
    for event in sorted(events, key=lambda e: (e.milliseconds_since_epoch, e.execution_id)):
        if event.execution_id in executions:
            by_artifact.setdefault(event.artifact_id, []).append(event)
    out = []
    for artifact in artifacts:
        mine = by_artifact.get(artifact.id, [])
        dags = {_str_prop(executions[e.execution_id], "dag_id") for e in mine} - {None}
        if readable is not None and not any(readable(d) for d in dags):
            continue  # no DAG the user may read touched it
        producers, consumers = [], []
        for event in mine:
            ref = execution_ref(executions[event.execution_id], readable) | {"event": pb.Event.Type.Name(event.type)}
            (consumers if event.type in _INPUT_EVENTS else producers).append(ref)
        props = _props(artifact)
        fallback = artifact.uri.rstrip("/").rsplit("/", 1)[-1] or f"{artifact.type} #{artifact.id}"
        label = _label({"kind": "artifact", "name": artifact.name, "properties": props, "label": fallback})
        out.append({"id": artifact.id, "type": artifact.type, "name": artifact.name, "uri": artifact.uri,
                    "label": label, "created_ms": artifact.create_time_since_epoch, "properties": props,
                    "producers": producers, "consumers": consumers})
        if len(out) >= limit:
            break
    return out
