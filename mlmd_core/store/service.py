"""The SQL engine behind MetadataStore and mlmd-server: one MetadataStoreService request in, its response
out, in one database transaction. Handlers are registered per RPC name; the three node kinds share them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import bindparam, select

from mlmd_core import errors
from mlmd_core.proto import metadata_store_pb2 as pb
from mlmd_core.proto import metadata_store_service_pb2 as service_pb
from mlmd_core.store import lineage, nodes, paging, relations, types
from mlmd_core.store.context import RPC_PAGE_ROWS, Call, TypeCache
from mlmd_core.store.engine import Database, is_duplicate_key, map_db_error
from mlmd_core.store.kinds import ARTIFACT, CONTEXT, EXECUTION, NodeKind
from mlmd_core.store.sql import Statements

# A request's repeated fields are read with [:] (a list) where they are walked: iterating upb's container
# goes by index until an IndexError.
Handler = Callable[[Call, Any, Any], None]
# RPC name -> (handler, response class, whether it writes)
HANDLERS: dict[str, tuple[Handler, Any, bool]] = {}


def rpc(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = (fn, getattr(service_pb, f"{name}Response"), name.startswith("Put"))
        return fn
    return register


# How many connections a call tries when the server drops them (killed sessions, a restarting server);
# each drop costs one (tests/test_server_backends.py drops all sessions up to 3 times during a call).
RECONNECT_ATTEMPTS = 4


class SqlService:
    """Answers MetadataStoreService requests from a database (in-process backend of MetadataStore)."""

    def __init__(self, database: Database):
        self.database = database
        self.statements = Statements(database.dialect, database.insert_strategy, database.id_step)
        self.type_cache = TypeCache()

    def call(self, method: str, request: Any, page_rows: int | None = RPC_PAGE_ROWS) -> Any:
        """Runs one RPC by name; raises mlmd_core.errors classes. `page_rows`: as Call's."""
        entry = HANDLERS.get(method)
        if entry is None:
            raise errors.UnimplementedError(f"{method} is not implemented.")
        handler, response_class, write = entry
        return self.run(method, handler, request, response_class, write, page_rows)

    def run(self, method: str, handler: Handler, request: Any, response_class: Any, write: bool,
            page_rows: int | None = RPC_PAGE_ROWS) -> Any:
        """Runs a handler in one transaction (`method` names it in errors): an RPC, or an in-process
        composite such as the hydrated lineage subgraph."""
        if write and self.database.read_only:
            raise errors.PermissionDeniedError(f"{method} cannot run on a store opened READONLY.")
        db = self.database
        # A server connection found dead (killed, timed out, server restarted) before the commit is replaced
        # and the call run again on a new one: nothing of it was committed. Lost during the commit, the
        # outcome is unknown, so the caller gets UnavailableError.
        for attempt in range(RECONNECT_ATTEMPTS):
            response = response_class()
            committing = False
            try:
                handle, raw, cursor = db.acquire()
            except db.errors as exc:  # a new connection can be cut off while it is set up
                if db.is_disconnect(exc, None) and attempt + 1 < RECONNECT_ATTEMPTS:
                    continue
                raise (errors.UnavailableError(f"Cannot connect to the database server: {exc}")
                       if db.is_disconnect(exc, None) else map_db_error(exc)) from exc
            try:
                db.begin(raw, write, cursor)
                try:
                    call = Call(raw, self.statements, self.type_cache, cursor, page_rows)
                    handler(call, request, response)
                    committing = True
                    # the deferred writes (Cursor.defer), on MySQL in one round trip with the COMMIT
                    if not call.send_deferred(commit=write):
                        db.commit(raw)
                except BaseException:
                    db.rollback(raw)
                    raise
            except db.errors as exc:
                if db.is_disconnect(exc, raw):
                    db.invalidate(handle)
                    handle = False
                    if attempt + 1 < RECONNECT_ATTEMPTS and not committing:
                        continue
                    raise errors.UnavailableError(
                        f"Lost the connection to the database server{' while committing' if committing else ''}: "
                        f"{exc}") from exc
                raise map_db_error(exc) from exc
            finally:
                db.release(handle)
            call.commit_caches()
            return response
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.database.dispose()


KINDS = (ARTIFACT, EXECUTION, CONTEXT)


def _plural(kind: NodeKind) -> str:
    return kind.name + "s"


# ------------------------------------------------------------------------------------------------ types


def _register_type_rpcs(kind: NodeKind) -> None:
    label, field = kind.label, f"{kind.name}_type"

    @rpc(f"Put{label}Type")
    def put_type(call: Call, req: Any, resp: Any) -> None:
        resp.type_id = types.put_type(call, kind, getattr(req, field), req.can_add_fields, req.can_omit_fields)

    @rpc(f"Get{label}Type")
    def get_type(call: Call, req: Any, resp: Any) -> None:
        getattr(resp, field).CopyFrom(types.get_type(call, kind, req.type_name, req.type_version or None))

    @rpc(f"Get{label}Types")
    def get_types(call: Call, req: Any, resp: Any) -> None:
        getattr(resp, field + "s").extend(types.get_types(call, kind))

    @rpc(f"Get{label}TypesByID")
    def get_types_by_id(call: Call, req: Any, resp: Any) -> None:
        getattr(resp, field + "s").extend(types.get_types_by_id(call, kind, req.type_ids))

    @rpc(f"Get{label}TypesByExternalIds")
    def get_types_by_external_ids(call: Call, req: Any, resp: Any) -> None:
        getattr(resp, field + "s").extend(types.get_types_by_external_ids(call, kind, req.external_ids[:]))


@rpc("PutTypes")
def put_types(call: Call, req: service_pb.PutTypesRequest, resp: service_pb.PutTypesResponse) -> None:
    if not req.all_fields_match:
        raise errors.UnimplementedError("Must match all fields.")
    for kind in KINDS:
        out = getattr(resp, f"{kind.name}_type_ids")
        for t in getattr(req, f"{kind.name}_types"):
            out.append(types.put_type(call, kind, t, req.can_add_fields, req.can_omit_fields))


# ------------------------------------------------------------------------------------------------ nodes


def _type_condition(kind: NodeKind) -> Any:
    return kind.table.c.type_id == bindparam("type_id")


def _register_node_rpcs(kind: NodeKind) -> None:
    label, plural, ids_field = kind.label, _plural(kind), f"{kind.name}_ids"
    table = kind.table

    @rpc(f"Put{label}s")
    def put_nodes(call: Call, req: Any, resp: Any) -> None:
        abort = kind is ARTIFACT and req.options.abort_if_latest_updated_time_changed
        getattr(resp, ids_field).extend(nodes.put(
            call, kind, getattr(req, plural)[:], req.update_mask.paths,
            abort_if_latest_updated_time_changed=abort))

    @rpc(f"Get{label}s")
    def get_nodes(call: Call, req: Any, resp: Any) -> None:
        _respond_page(call, kind, req, resp, "all", None)

    @rpc(f"Get{label}sByID")
    def get_by_id(call: Call, req: Any, resp: Any) -> None:
        found = nodes.load_by_ids(call, kind, getattr(req, ids_field)[:], into=getattr(resp, plural))
        if kind is ARTIFACT and req.populate_artifact_types:
            resp.artifact_types.extend(types.get_types_by_id(
                call, kind, list(dict.fromkeys(a.type_id for a in found.values())), with_base_type=False))

    @rpc(f"Get{label}sByType")
    def get_by_type(call: Call, req: Any, resp: Any) -> None:
        rows = types.find_types(call, kind, req.type_name, req.type_version or None)
        if not rows:
            return
        _respond_page(call, kind, req, resp, "by_type", _type_condition, {"type_id": rows[0][0]})

    @rpc(f"Get{label}ByTypeAndName")
    def get_by_type_and_name(call: Call, req: Any, resp: Any) -> None:
        versioned = bool(req.type_version)

        def narrow(query: Any) -> Any:
            return query.where(table.c.type_id == types.type_id_of_name(kind, versioned),
                               table.c.name == bindparam("name"))

        found = nodes.load_where(call, kind, ("by_type_and_name", versioned), narrow, {
            "type_name": req.type_name, "type_version": req.type_version, "name": getattr(req, f"{kind.name}_name")})
        if found:
            getattr(resp, kind.name).CopyFrom(found[0])

    @rpc(f"Get{label}sByExternalIds")
    def get_by_external_ids(call: Call, req: Any, resp: Any) -> None:
        wanted = sorted(set(req.external_ids[:]))
        if not wanted:
            return
        if not _load_where_in(call, kind, table.c.external_id, wanted, getattr(resp, plural)):
            raise errors.NotFoundError(f"No {plural} found for external_ids.")


def _respond_page(call: Call, kind: NodeKind, req: Any, resp: Any, key: str, condition: paging.Condition,
                  params: dict[str, Any] | None = None) -> None:
    """One page of the nodes a Get*Request's options ask for, built in the response (paging.list_nodes)."""
    options = req.options if req.HasField("options") else None
    _, token = paging.list_nodes(call, kind, options, key, condition, params, into=getattr(resp, _plural(kind)))
    if token:
        resp.next_page_token = token


for _kind in KINDS:
    _register_type_rpcs(_kind)
    _register_node_rpcs(_kind)


def _load_where_in(call: Call, kind: NodeKind, column: Any, values: list[Any], into: Any) -> bool:
    """The nodes whose `column` is in `values`, in id order, built in `into`; whether there were any. One round
    trip per chunk of values (nodes.load_where); a node has one value of the column, so it is in one chunk only."""
    def narrow(query: Any) -> Any:
        return query.where(column.in_(bindparam("values", expanding=True)))

    chunks = call.chunked(values)
    if len(chunks) == 1:  # the common case: built in place
        return bool(nodes.load_where(call, kind, ("in", column.name), narrow, {"values": values}, into))
    found = {n.id: n for chunk in chunks for n in nodes.load_where(call, kind, ("in", column.name), narrow,
                                                                   {"values": chunk})}
    into.extend(found[i] for i in sorted(found))
    return bool(found)


@rpc("GetArtifactsByURI")
def get_artifacts_by_uri(call: Call, req: Any, resp: Any) -> None:
    _load_where_in(call, ARTIFACT, ARTIFACT.table.c.uri, sorted(set(req.uris[:])), resp.artifacts)


# ---------------------------------------------------------------------------------------- relationships


@rpc("PutEvents")
def put_events(call: Call, req: Any, resp: Any) -> None:
    relations.put_events(call, req.events[:])


@rpc("GetEventsByExecutionIDs")
def get_events_by_execution_ids(call: Call, req: Any, resp: Any) -> None:
    relations.get_events(call, "execution_id", req.execution_ids[:], into=resp.events)


@rpc("GetEventsByArtifactIDs")
def get_events_by_artifact_ids(call: Call, req: Any, resp: Any) -> None:
    relations.get_events(call, "artifact_id", req.artifact_ids[:], into=resp.events)


@rpc("PutAttributionsAndAssociations")
def put_attributions_and_associations(call: Call, req: Any, resp: Any) -> None:
    relations.put_links(call, req.attributions[:], req.associations[:])


@rpc("PutParentContexts")
def put_parent_contexts(call: Call, req: Any, resp: Any) -> None:
    relations.put_parent_contexts(call, req.parent_contexts)


@rpc("GetContextsByArtifact")
def get_contexts_by_artifact(call: Call, req: Any, resp: Any) -> None:
    resp.contexts.extend(relations.contexts_of(call, ARTIFACT, req.artifact_id))


@rpc("GetContextsByExecution")
def get_contexts_by_execution(call: Call, req: Any, resp: Any) -> None:
    resp.contexts.extend(relations.contexts_of(call, EXECUTION, req.execution_id))


@rpc("GetParentContextsByContext")
def get_parent_contexts_by_context(call: Call, req: Any, resp: Any) -> None:
    resp.contexts.extend(relations.related_contexts(call, [req.context_id], parents=True).get(req.context_id, []))


@rpc("GetChildrenContextsByContext")
def get_children_contexts_by_context(call: Call, req: Any, resp: Any) -> None:
    resp.contexts.extend(relations.related_contexts(call, [req.context_id], parents=False).get(req.context_id, []))


@rpc("GetParentContextsByContexts")
def get_parent_contexts_by_contexts(call: Call, req: Any, resp: Any) -> None:
    for child, parents in relations.related_contexts(call, req.context_ids, parents=True).items():
        resp.contexts[child].parent_contexts.extend(parents)


@rpc("GetChildrenContextsByContexts")
def get_children_contexts_by_contexts(call: Call, req: Any, resp: Any) -> None:
    for parent, children in relations.related_contexts(call, req.context_ids, parents=False).items():
        resp.contexts[parent].children_contexts.extend(children)


def _member_condition(kind: NodeKind) -> Any:
    return kind.table.c.id.in_(relations.member_ids_query(kind))


@rpc("GetArtifactsByContext")
def get_artifacts_by_context(call: Call, req: Any, resp: Any) -> None:
    _respond_page(call, ARTIFACT, req, resp, "by_context", _member_condition, {"context_id": req.context_id})


@rpc("GetExecutionsByContext")
def get_executions_by_context(call: Call, req: Any, resp: Any) -> None:
    _respond_page(call, EXECUTION, req, resp, "by_context", _member_condition, {"context_id": req.context_id})


# ----------------------------------------------------------------------------------- composite writes


def _put_artifacts_reusing_external_ids(call: Call, artifacts: list[pb.Artifact]) -> list[int]:
    """put_artifacts where a new artifact whose external_id is stored (or given earlier in the same
    request) updates that artifact instead of clashing with it."""
    wanted = [a.external_id for a in artifacts if not a.HasField("id") and a.external_id]
    found: dict[str, int] = {}
    if wanted:
        t = ARTIFACT.table
        q = call.q("artifact_ids_by_ext", lambda: select(t.c.external_id, t.c.id).where(
            t.c.external_id.in_(bindparam("ids", expanding=True))))
        for chunk in call.chunked(sorted(set(wanted))):
            found.update(call.all(q, {"ids": chunk}))
    first_new: dict[str, int] = {}
    same_as: dict[int, int] = {}
    to_put: list[int] = []
    for i, a in enumerate(artifacts):
        if not a.HasField("id") and a.external_id:
            if a.external_id in found:
                a.id = found[a.external_id]
            elif a.external_id in first_new:
                same_as[i] = first_new[a.external_id]
                continue
            else:
                first_new[a.external_id] = i
        to_put.append(i)
    ids = [0] * len(artifacts)
    for i, artifact_id in zip(to_put, nodes.put(call, ARTIFACT, [artifacts[i] for i in to_put])):
        ids[i] = artifact_id
    for i, first in same_as.items():
        ids[i] = ids[first]
    return ids


def _upsert_contexts(call: Call, contexts: Any, reuse_if_exists: bool, force_reuse: bool = False,
                     stored: Mapping[int, Any] | None = None) -> list[int]:
    """Context ids for put_execution/put_lineage_subgraph: existing ones reused as the options say (`stored`:
    the contexts with ids, read already)."""
    ids = [0] * len(contexts)
    to_put: list[int] = []
    t = CONTEXT.table
    by_name = call.q("context_id_by_type_name", lambda: select(t.c.id).where(
        t.c.type_id == bindparam("type_id"), t.c.name == bindparam("name")))
    forced = [c.id for c in contexts if c.HasField("id")] if force_reuse else []
    existing = relations.existing_ids(call, CONTEXT, forced) if forced else set()
    same_as: dict[int, int] = {}  # with reuse, a repeated new context is the one created first
    first_new: dict[tuple[int, str], int] = {}
    named = list(dict.fromkeys((c.type_id, c.name) for c in contexts
                               if not c.HasField("id") and reuse_if_exists and c.name))
    stored_ids: dict[tuple[int, str], int] = {}
    if named:  # looked up together: one round trip on a server
        found = call.all_each([(by_name, {"type_id": type_id, "name": name}) for type_id, name in named])
        stored_ids = {key: rows[0][0] for key, rows in zip(named, found) if rows}
    for i, ctx in enumerate(contexts):
        if ctx.HasField("id") and force_reuse:
            if ctx.id not in existing:
                raise errors.NotFoundError(f"Cannot find the context with the given id {ctx.id}")
            ids[i] = ctx.id
            continue
        if not ctx.HasField("id") and reuse_if_exists and ctx.name:
            key = (ctx.type_id, ctx.name)
            if key in first_new:
                same_as[i] = first_new[key]
                continue
            if key in stored_ids:
                ids[i] = stored_ids[key]
                continue
            first_new[key] = i
        to_put.append(i)
    try:
        new_ids = nodes.put(call, CONTEXT, [contexts[i] for i in to_put], stored=stored)
    except Exception as exc:
        if reuse_if_exists and first_new and is_duplicate_key(exc):
            # A concurrent call created one of these contexts after we looked (servers): retried, it is reused.
            raise errors.AbortedError(f"A context was created concurrently, retry: {exc}") from exc
        raise
    for i, context_id in zip(to_put, new_ids):
        ids[i] = context_id
    for i, first in same_as.items():
        ids[i] = ids[first]
    return ids


@rpc("PutExecution")
def put_execution(call: Call, req: service_pb.PutExecutionRequest, resp: Any) -> None:
    opts = req.options
    pairs = req.artifact_event_pairs[:]
    contexts = req.contexts[:]
    artifacts = [pb.Artifact() for _ in pairs]
    for artifact, pair in zip(artifacts, pairs):
        artifact.CopyFrom(pair.artifact)
    # The nodes to update read and the new ones inserted at once (one round trip on a server).
    reusing = opts.reuse_artifact_if_already_exist_by_external_id  # looks up external ids before inserting
    stored, inserted = nodes.load_and_insert(call, {
        EXECUTION: [req.execution.id] if req.execution.HasField("id") else [],
        ARTIFACT: [a.id for a in artifacts if a.HasField("id")],
        CONTEXT: [] if opts.force_reuse_context else [c.id for c in contexts if c.HasField("id")]}, {
        EXECUTION: [] if req.execution.HasField("id") else [req.execution],
        ARTIFACT: [] if reusing else [a for a in artifacts if not a.HasField("id")]})
    [execution_id] = nodes.put(call, EXECUTION, [req.execution], force_update_time=opts.force_update_time,
                               stored=stored[EXECUTION], inserted=inserted[EXECUTION])
    if reusing:
        artifact_ids = _put_artifacts_reusing_external_ids(call, artifacts)
    else:
        artifact_ids = nodes.put(call, ARTIFACT, artifacts, stored=stored[ARTIFACT], inserted=inserted[ARTIFACT])
    events = []
    for artifact_id, pair in zip(artifact_ids, pairs):
        if not pair.HasField("event"):
            continue
        ev = pb.Event()
        ev.CopyFrom(pair.event)
        if ev.HasField("artifact_id") and ev.artifact_id != artifact_id:
            raise errors.InvalidArgumentError(
                f"Given event.artifact_id is not aligned with the artifact: {ev.artifact_id} vs {artifact_id}")
        if ev.HasField("execution_id") and ev.execution_id != execution_id:
            raise errors.InvalidArgumentError(
                f"Given event.execution_id is not aligned with the execution: {ev.execution_id} vs {execution_id}")
        if not ev.type:
            raise errors.InvalidArgumentError("No event type is specified.")
        ev.artifact_id, ev.execution_id = artifact_id, execution_id
        events.append(ev)
    relations.insert_events(call, events)
    context_ids = _upsert_contexts(call, contexts, opts.reuse_context_if_already_exist, opts.force_reuse_context,
                                   stored[CONTEXT])
    relations.link(call, [(c, a) for c in context_ids for a in artifact_ids], [(c, execution_id) for c in context_ids])
    resp.execution_id = execution_id
    resp.artifact_ids.extend(artifact_ids)
    resp.context_ids.extend(context_ids)


@rpc("PutLineageSubgraph")
def put_lineage_subgraph(call: Call, req: service_pb.PutLineageSubgraphRequest, resp: Any) -> None:
    opts = req.options
    reusing = opts.reuse_artifact_if_already_exist_by_external_id  # looks up external ids before inserting
    given = {EXECUTION: req.executions, ARTIFACT: [] if reusing else req.artifacts}
    stored, inserted = nodes.load_and_insert(  # one round trip on a server
        call, {kind: [n.id for n in of_kind if n.HasField("id")] for kind, of_kind in given.items()},
        {kind: [n for n in of_kind if not n.HasField("id")] for kind, of_kind in given.items()})
    execution_ids = nodes.put(call, EXECUTION, req.executions, stored=stored[EXECUTION], inserted=inserted[EXECUTION])
    if reusing:
        artifacts = [pb.Artifact() for _ in req.artifacts]
        for copy, given_artifact in zip(artifacts, req.artifacts):
            copy.CopyFrom(given_artifact)
        artifact_ids = _put_artifacts_reusing_external_ids(call, artifacts)
    else:
        artifact_ids = nodes.put(call, ARTIFACT, req.artifacts, stored=stored[ARTIFACT], inserted=inserted[ARTIFACT])
    context_ids = _upsert_contexts(call, req.contexts, opts.reuse_context_if_already_exist)
    events = []
    for edge in req.event_edges:
        ev = pb.Event()
        ev.CopyFrom(edge.event)
        for index_field, id_field, ids, what in (("execution_index", "execution_id", execution_ids, "execution"),
                                                 ("artifact_index", "artifact_id", artifact_ids, "artifact")):
            if edge.HasField(index_field):
                index = getattr(edge, index_field)
                if not 0 <= index < len(ids):
                    raise errors.OutOfRangeError(
                        f"{index_field} {index} is out of range: the request has {len(ids)} {what}s")
                if ev.HasField(id_field) and getattr(ev, id_field) != ids[index]:
                    raise errors.InvalidArgumentError(
                        f"Event {id_field} {getattr(ev, id_field)} does not match the {what} at "
                        f"{index_field} {index} (id {ids[index]})")
                setattr(ev, id_field, ids[index])
            elif not ev.HasField(id_field):
                raise errors.InvalidArgumentError(f"Event has neither {index_field} nor event.{id_field}.")
        events.append(ev)
    relations.put_events(call, events, known={ARTIFACT: artifact_ids, EXECUTION: execution_ids})
    relations.link(call, [(c, a) for c in context_ids for a in artifact_ids],
                   [(c, e) for c in context_ids for e in execution_ids])
    resp.execution_ids.extend(execution_ids)
    resp.artifact_ids.extend(artifact_ids)
    resp.context_ids.extend(context_ids)


# --------------------------------------------------------------------------------------------- lineage


@rpc("GetLineageGraph")
def get_lineage_graph(call: Call, req: Any, resp: Any) -> None:
    lineage.get_lineage_graph(call, req.options, resp)


@rpc("GetLineageSubgraph")
def get_lineage_subgraph(call: Call, req: Any, resp: Any) -> None:
    lineage.get_lineage_subgraph(call, req.lineage_subgraph_query_options, req.read_mask.paths[:],
                                 resp.lineage_subgraph)


def hydrated_lineage_subgraph(call: Call, req: Any, resp: Any) -> None:
    """GetLineageSubgraph as ml-metadata's client returns it (full nodes, their types), in one transaction:
    MetadataStore's in-process path (over gRPC the client hydrates with follow-up RPCs)."""
    lineage.get_lineage_subgraph(call, req.lineage_subgraph_query_options, req.read_mask.paths[:],
                                 resp.lineage_subgraph, hydrate=True)


