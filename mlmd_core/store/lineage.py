"""Lineage traversal: GetLineageSubgraph (ml-metadata 1.17) and GetLineageGraph (1.14's semantics).

Breadth-first and set-based: each hop is one query for the events of the whole frontier (plus one for
the ending/boundary filter of the nodes it discovers), never a query per node.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, literal, select, union_all

from mlmd_core import errors
from mlmd_core import filter as filter_query
from mlmd_core.proto import metadata_store_pb2 as pb
from mlmd_core.store import nodes, relations, schema, types
from mlmd_core.store.context import Call
from mlmd_core.store.kinds import ARTIFACT, CONTEXT, EXECUTION, NodeKind
from mlmd_core.store.sql import packed_rows

SUBGRAPH_MAX_HOPS = 100  # ml-metadata's kQueryLineageSubgraphMaxNumHops
GRAPH_DEFAULT_HOPS = 20  # ml-metadata 1.14's default (it also capped at 20; we cap as the subgraph does)
MAX_STARTING_NODES = 101  # ml-metadata's LIMIT lets one more than the documented 100 through

E = schema.event
_INPUTS = (pb.Event.DECLARED_INPUT, pb.Event.INTERNAL_INPUT, pb.Event.INPUT)
_OUTPUTS = (pb.Event.DECLARED_OUTPUT, pb.Event.INTERNAL_OUTPUT, pb.Event.PENDING_OUTPUT, pb.Event.OUTPUT)
Direction = pb.LineageSubgraphQueryOptions.Direction


def matching_ids(call: Call, kind: NodeKind, query: str, among: Iterable[int] | None = None,
                 limit: int | None = None) -> list[int]:
    """Ids (ascending) of `kind` nodes matching a filter query, optionally only among some ids."""
    shape, params = filter_query.parameters(query)
    t = kind.table
    restricted = among is not None

    def build() -> Any:
        q = select(t.c.id).where(filter_query.condition(kind, query))
        if restricted:
            q = q.where(t.c.id.in_(bindparam("among", expanding=True)))
        q = q.order_by(t.c.id)
        return q.limit(bindparam("limit")) if limit is not None else q

    stmt = call.q(("lineage_filter", kind.name, shape, restricted, limit is not None), build)
    if limit is not None:
        params["limit"] = limit
    if not restricted:
        return [r[0] for r in call.all(stmt, params)]
    found: list[int] = []
    for chunk in call.chunked(sorted(set(among))):  # type: ignore[arg-type]
        found.extend(r[0] for r in call.all(stmt, {**params, "among": chunk}))
    return sorted(found)


def _events_of(call: Call, kind: NodeKind, ids: Sequence[int], event_types: tuple[int, ...] | None) -> list[tuple]:
    """(event id, artifact id, execution id, type, milliseconds) of the events of these nodes, restricted to
    some types, in ml-metadata's order."""
    column = E.c.artifact_id if kind is ARTIFACT else E.c.execution_id
    typed = event_types is not None
    stmt = call.q(("lineage_events", kind.name, typed), lambda: packed_rows(select(
        E.c.id, E.c.artifact_id, E.c.execution_id, E.c.type, E.c.milliseconds_since_epoch).where(
        column.in_(bindparam("ids", expanding=True)),
        *([E.c.type.in_(bindparam("types", expanding=True))] if typed else []))))
    rows: list[tuple] = []
    for chunk in call.chunked(list(ids)):
        rows.extend(call.all(stmt, {"ids": chunk, **({"types": list(event_types)} if typed else {})}))
    rows.sort(key=relations.EVENT_ORDER["artifact_id" if kind is ARTIFACT else "execution_id"])
    return rows


def _event_types(kind: NodeKind, direction: int) -> tuple[int, ...] | None:
    """Which events lead on from a node of `kind` in this direction (None: all of them)."""
    if direction == Direction.UPSTREAM:
        return _OUTPUTS if kind is ARTIFACT else _INPUTS
    if direction == Direction.DOWNSTREAM:
        return _INPUTS if kind is ARTIFACT else _OUTPUTS
    return None


class _Walk:
    """The nodes and events one traversal has reached."""

    def __init__(self) -> None:
        self.visited: dict[NodeKind, set[int]] = {ARTIFACT: set(), EXECUTION: set()}
        self.kept: dict[NodeKind, list[int]] = {ARTIFACT: [], EXECUTION: []}
        self.events: dict[int, tuple] = {}  # event rows by id, in the order the walk met them

    def keep_event(self, row: tuple) -> None:
        self.events.setdefault(row[0], row)


def get_lineage_subgraph(call: Call, options: pb.LineageSubgraphQueryOptions, read_mask: Sequence[str],
                         response: Any, hydrate: bool = False) -> None:
    """GetLineageSubgraph into `response` (a LineageGraph). As the server answers (id-only nodes, every type),
    or with `hydrate` as ml-metadata's client returns it after its follow-up reads (full nodes, the types
    they use): the in-process store does that in the same transaction instead of five more calls."""
    # ml-metadata 1.17.1 answers an unset or empty read_mask with every field (verified against it)
    read_mask = read_mask or _ALL_PATHS
    which = options.WhichOneof("starting_nodes")
    if which is None:
        raise errors.InvalidArgumentError("Missing arguments for listing starting nodes.")
    start_query = getattr(options, which).filter_query
    if not start_query.strip():
        raise errors.InvalidArgumentError("Cannot list starting nodes if `filter_query` is unspecified.")
    if options.max_num_hops < 0:
        raise errors.InvalidArgumentError(f"max_num_hops cannot be negative: max_num_hops = {options.max_num_hops}")
    hops = options.max_num_hops if options.HasField("max_num_hops") else SUBGRAPH_MAX_HOPS
    hops = min(hops, SUBGRAPH_MAX_HOPS)
    start_kind = ARTIFACT if which == "starting_artifacts" else EXECUTION
    starting = matching_ids(call, start_kind, start_query, limit=MAX_STARTING_NODES)
    if not starting:
        raise errors.NotFoundError("Cannot find qualified nodes to start the traversal.")
    ending = {ARTIFACT: options.ending_artifacts, EXECUTION: options.ending_executions}
    direction = options.direction
    bidirectional = direction not in (Direction.UPSTREAM, Direction.DOWNSTREAM)

    if not bidirectional and not any(
            e.filter_query.strip() for e in ending.values()):
        _fill_subgraph(call, _directional_walk(call, start_kind, starting, direction, hops), set(read_mask), response,
                       hydrate)
        return
    walk = _Walk()
    other = {ARTIFACT: EXECUTION, EXECUTION: ARTIFACT}
    # Ending nodes are not expanded; they and the events reaching them are kept only with
    # include_ending_nodes, every time an event reaches them (they never count as visited).
    ended: dict[NodeKind, set[int]] = {ARTIFACT: set(), EXECUTION: set()}

    def split_ending(kind: NodeKind, ids: list[int]) -> list[int]:
        """The ids to expand further; the ending nodes among `ids` go to `ended`."""
        spec = ending[kind]
        if not ids or not spec.filter_query.strip():
            return ids
        ends = set(matching_ids(call, kind, spec.filter_query, among=ids))
        ended[kind] |= ends
        return [i for i in ids if i not in ends]

    frontier = split_ending(start_kind, starting)
    walk.visited[start_kind].update(frontier)
    walk.kept[start_kind].extend(i for i in starting if i in walk.visited[start_kind]
                                 or ending[start_kind].include_ending_nodes)
    kind = start_kind
    for _ in range(hops):
        if not frontier:
            break
        next_kind = other[kind]
        include_ends = ending[next_kind].include_ending_nodes
        rows = _events_of(call, kind, frontier, _event_types(kind, direction))
        far = 2 if kind is ARTIFACT else 1
        new: dict[int, None] = {}  # in the order met
        candidates: list[tuple] = []
        for row in rows:
            far_id = row[far]
            if far_id in ended[next_kind]:
                if include_ends:
                    walk.keep_event(row)
            elif far_id in walk.visited[next_kind]:
                if not bidirectional:
                    walk.keep_event(row)
            else:
                candidates.append(row)
                new[far_id] = None
        expand = split_ending(next_kind, list(new))
        for row in candidates:
            if include_ends or row[far] not in ended[next_kind]:
                walk.keep_event(row)
        walk.visited[next_kind].update(expand)
        walk.kept[next_kind].extend(i for i in new if include_ends or i not in ended[next_kind])
        frontier, kind = expand, next_kind
    _fill_subgraph(call, walk, set(read_mask), response, hydrate)


# An UPSTREAM/DOWNSTREAM walk in one statement. Each row is a node, the hops it was reached in and the event
# it was reached by (`via`; 0 for a starting node): the events leading on from the nodes short of the hop
# limit are exactly the `via` events (their paths are read apart: a join could reorder a path's steps).
# PostgreSQL takes one recursive term only, so both kinds of step share a join there; MySQL and SQLite are
# faster with two. The anchor's `via` is 0, not NULL: MySQL types the recursive columns from the anchor.
# Which event types lead on is a bit mask (bit n: type n), not an IN list: SQLite builds an IN list's
# lookup table anew at every step of the recursion (a third of the walk's time).
_WALK_SQL = """WITH RECURSIVE walk(is_artifact, id, depth, via) AS (
  SELECT {start_is_artifact}, id, 0, 0 FROM {start_table} WHERE id IN :start
  UNION
{steps}
)
SELECT w.is_artifact, w.id, w.depth, e.id, e.artifact_id, e.execution_id, e.type, e.milliseconds_since_epoch
  FROM walk w LEFT JOIN {event} e ON e.id = w.via"""
_TWO_STEPS = """  SELECT 0, e.execution_id, w.depth + 1, e.id FROM walk w JOIN {event} e ON e.artifact_id = w.id
   WHERE w.is_artifact = 1 AND (:artifact_event_types >> e.type) & 1 = 1 AND w.depth < :hops
  UNION
  SELECT 1, e.artifact_id, w.depth + 1, e.id FROM walk w JOIN {event} e ON e.execution_id = w.id
   WHERE w.is_artifact = 0 AND (:execution_event_types >> e.type) & 1 = 1 AND w.depth < :hops"""
_ONE_STEP = """  SELECT 1 - w.is_artifact, CASE WHEN w.is_artifact = 1 THEN e.execution_id ELSE e.artifact_id END,
         w.depth + 1, e.id
    FROM walk w JOIN {event} e
      ON (w.is_artifact = 1 AND e.artifact_id = w.id AND (:artifact_event_types >> e.type) & 1 = 1)
      OR (w.is_artifact = 0 AND e.execution_id = w.id AND (:execution_event_types >> e.type) & 1 = 1)
   WHERE w.depth < :hops"""


def _walk_statement(call: Call, start_kind: NodeKind) -> Any:
    from sqlalchemy import text

    quote = call.statements.dialect.identifier_preparer.quote
    event = quote("Event")
    steps = (_ONE_STEP if call.dialect_name == "postgresql" else _TWO_STEPS).format(event=event)
    sql = _WALK_SQL.format(start_is_artifact=int(start_kind is ARTIFACT), start_table=quote(start_kind.label),
                           steps=steps, event=event)
    return packed_rows(text(sql).bindparams(bindparam("start", expanding=True)), columns=8,
                       expected_rows=lambda params: len(params["start"]) * params["hops"])


def _walk_order(row: tuple) -> tuple:
    """The order the hop-by-hop walk meets a walk row's event: by hop, then in ml-metadata's order of the
    events of a frontier (an artifact's events by execution and id, an execution's by artifact, execution
    and type), so the first row of an event is where that walk would keep it."""
    is_artifact, _, depth, event_id, artifact_id, execution_id, event_type, _ = row
    if event_id is None:  # a starting node
        return (depth, 0, 0, 0)
    if is_artifact:
        return (depth, execution_id, event_id, event_type)
    return (depth, artifact_id, execution_id, event_type)


def _directional_walk(call: Call, start_kind: NodeKind, starting: list[int], direction: int, hops: int) -> _Walk:
    """An UPSTREAM or DOWNSTREAM walk without ending nodes, in one statement (the hop-by-hop walk costs two
    per hop, a round trip each on a server): the same nodes and events, in the same order."""
    stmt = call.q(("lineage_walk", start_kind.name), lambda: _walk_statement(call, start_kind))
    rows = sorted(call.all(stmt, {
        "start": starting, "hops": hops,
        "artifact_event_types": sum(1 << t for t in _event_types(ARTIFACT, direction) or ()),
        "execution_event_types": sum(1 << t for t in _event_types(EXECUTION, direction) or ())}), key=_walk_order)
    reached: tuple[dict[int, None], dict[int, None]] = ({}, {})  # execution ids, artifact ids
    events = {}
    for is_artifact, node_id, _, *event in rows:
        reached[is_artifact][node_id] = None
        if event[0] is not None and event[0] not in events:
            events[event[0]] = tuple(event)
    walk = _Walk()
    walk.kept[EXECUTION].extend(reached[0])
    walk.kept[ARTIFACT].extend(reached[1])
    walk.events = events
    return walk


def _fill_subgraph(call: Call, walk: _Walk, paths: set[str], graph: Any, hydrate: bool) -> None:
    """The LineageGraph of a walk: id-only nodes and every type as ml-metadata's server answers, or full
    nodes and the types they use (`hydrate`); full events and links either way."""
    artifact_ids, execution_ids = sorted(walk.kept[ARTIFACT]), sorted(walk.kept[EXECUTION])
    # ml-metadata's client asks the server without the *_types paths (an empty mask meaning all of them), then
    # hydrates the node stubs it got back: the nodes of the kinds in that mask, and their types if asked.
    fetched = ({p for p in paths if not p.endswith("_types")} or set(_ALL_PATHS)) if hydrate else paths
    if "events" in paths and walk.events:
        relations.events_from_rows(call, list(walk.events.values()), into=graph.events)
    wants_links = bool(fetched & {"attributions", "associations", "contexts"})
    attributions, associations = _links(call, artifact_ids, execution_ids) if wants_links else ([], [])
    if "attributions" in paths:
        add = graph.attributions.add  # built in place (extend() would copy each message once more), field by field
        for c, n in attributions:
            link = add()
            link.artifact_id, link.context_id = n, c
    if "associations" in paths:
        add = graph.associations.add
        for c, n in associations:
            link = add()
            link.execution_id, link.context_id = n, c
    context_ids = sorted({c for c, _ in attributions} | {c for c, _ in associations})
    ids = {ARTIFACT: artifact_ids, EXECUTION: execution_ids, CONTEXT: context_ids}
    if hydrate:
        _hydrate(call, ids, fetched, paths, graph)
        return
    for kind, kind_ids in ids.items():
        if kind.name + "s" in paths:
            getattr(graph, kind.name + "s").extend(kind.proto(id=i) for i in kind_ids)
    listed = {kind: None for kind in ids if kind.name + "_types" in paths}
    for kind, found in types.types_of_kinds(call, listed).items():
        getattr(graph, kind.name + "_types").extend(found)


_ALL_PATHS = tuple(f.name for f in pb.LineageGraph.DESCRIPTOR.fields)


def _hydrate(call: Call, ids: dict[NodeKind, list[int]], fetched: set[str], paths: set[str], graph: Any) -> None:
    """Full nodes and their types into the graph, as ml-metadata's client fetches them for the stubs the
    server sent (`fetched`): artifact types in first-use order without base types, execution and context
    types by the set of their ids. Two statements for the nodes and two for the types, whatever the kinds."""
    load = {kind: kind_ids for kind, kind_ids in ids.items()
            if kind_ids and kind.name + "s" in fetched and paths & {kind.name + "s", kind.name + "_types"}}
    found = nodes.load_kinds(call, load, {kind: getattr(graph, kind.name + "s") for kind in load
                                          if kind.name + "s" in paths})
    used: dict[NodeKind, list[int]] = {}
    for kind, of_kind in found.items():
        if kind.name + "_types" in paths:
            type_ids = (node.type_id for node in of_kind.values())
            used[kind] = list(dict.fromkeys(type_ids)) if kind is ARTIFACT else list(set(type_ids))
    for kind, found_types in types.types_of_kinds(call, used, with_base_type=(EXECUTION, CONTEXT)).items():
        getattr(graph, kind.name + "_types").extend(found_types)


def _links(call: Call, artifact_ids: list[int], execution_ids: list[int]
           ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(context id, node id) of the attributions of these artifacts and of the associations of these
    executions, each in link id order: one statement."""
    A, X = schema.attribution, schema.association
    stmt = call.q("lineage_links", lambda: packed_rows(union_all(
        select(literal(0).label("kind"), A.c.id.label("id"), A.c.context_id, A.c.artifact_id.label("node_id"))
        .where(A.c.artifact_id.in_(bindparam("artifact_ids", expanding=True))),
        select(literal(1), X.c.id, X.c.context_id, X.c.execution_id)
        .where(X.c.execution_id.in_(bindparam("execution_ids", expanding=True))))))
    rows = sorted(row for artifacts, executions in call.zip_chunks([artifact_ids, execution_ids])
                  for row in call.all(stmt, {"artifact_ids": artifacts, "execution_ids": executions}))
    return [(r[2], r[3]) for r in rows if r[0] == 0], [(r[2], r[3]) for r in rows if r[0] == 1]


# ------------------------------------------------------------------------------------- GetLineageGraph


def get_lineage_graph(call: Call, options: pb.LineageGraphQueryOptions, response: Any) -> None:
    """ml-metadata 1.14's GetLineageGraph (1.17's server dropped it): a bidirectional walk from the
    artifacts `artifacts_options` selects, within `stop_conditions`, at most `max_node_size` nodes."""
    from mlmd_core.store import paging

    if options.WhichOneof("query_nodes") != "artifacts_options":
        raise errors.InvalidArgumentError("Missing query_nodes conditions")
    stop = options.stop_conditions
    if stop.max_num_hops < 0:
        raise errors.InvalidArgumentError(f"max_num_hops cannot be negative: max_num_hops = {stop.max_num_hops}")
    hops = min(stop.max_num_hops if stop.HasField("max_num_hops") else GRAPH_DEFAULT_HOPS, SUBGRAPH_MAX_HOPS)
    # max_node_size caps the nodes only when set (ml-metadata 1.14 applied the proto default of 20
    # silently, which cut most graphs short); <= 0 means no cap.
    budget = options.max_node_size if options.HasField("max_node_size") and options.max_node_size > 0 else None
    starting, _ = paging.list_nodes(call, ARTIFACT, options.artifacts_options, "all", None)
    if not starting:
        raise errors.NotFoundError("No artifacts found for the query_nodes conditions.")
    boundary = {ARTIFACT: stop.boundary_artifacts, EXECUTION: stop.boundary_executions}

    def within(kind: NodeKind, ids: list[int]) -> list[int]:
        query = boundary[kind].strip()
        if not ids or not query:
            return ids
        keep = set(matching_ids(call, kind, query, among=ids))
        return [i for i in ids if i in keep]

    start_ids = within(ARTIFACT, [a.id for a in starting])
    if budget is not None:
        start_ids = start_ids[:budget]
    walk = _Walk()
    walk.visited[ARTIFACT].update(start_ids)
    walk.kept[ARTIFACT].extend(start_ids)
    count = len(start_ids)
    frontier, kind = start_ids, ARTIFACT
    for _ in range(hops):
        if not frontier or (budget is not None and count >= budget):
            break
        next_kind = EXECUTION if kind is ARTIFACT else ARTIFACT
        rows = _events_of(call, kind, frontier, None)
        far = 2 if kind is ARTIFACT else 1
        new = list(dict.fromkeys(r[far] for r in rows if r[far] not in walk.visited[next_kind]))
        new = within(next_kind, new)
        if budget is not None:
            new = new[: budget - count]
        count += len(new)
        walk.visited[next_kind].update(new)
        walk.kept[next_kind].extend(new)
        frontier, kind = new, next_kind
    kept_artifacts, kept_executions = set(walk.kept[ARTIFACT]), set(walk.kept[EXECUTION])
    for row in _events_of(call, ARTIFACT, sorted(kept_artifacts), None):
        if row[2] in kept_executions:
            walk.keep_event(row)
    graph = response.subgraph
    nodes.load_kinds(call, {ARTIFACT: kept_artifacts, EXECUTION: kept_executions},
                     {ARTIFACT: graph.artifacts, EXECUTION: graph.executions})
    relations.events_from_rows(call, [walk.events[i] for i in sorted(walk.events)], into=graph.events)
    every = types.types_of_kinds(call, dict.fromkeys((ARTIFACT, EXECUTION, CONTEXT)), include_system=False)
    for kind, of_kind in every.items():
        getattr(graph, kind.name + "_types").extend(of_kind)
