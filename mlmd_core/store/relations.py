"""Events, attributions, associations and parent contexts."""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, func, select

from mlmd_core import errors
from mlmd_core.proto import metadata_store_pb2 as pb
from mlmd_core.store import nodes, schema
from mlmd_core.store.context import Call
from mlmd_core.store.kinds import ARTIFACT, CONTEXT, EXECUTION, NodeKind
from mlmd_core.store.sql import ROWS_PER_STATEMENT, insert_values, packed_rows

E, EP = schema.event, schema.event_path
ATTR, ASSOC, PC = schema.attribution, schema.association, schema.parent_context


def existing_ids(call: Call, kind: NodeKind, ids: Iterable[int]) -> set[int]:
    """Which of these node ids exist."""
    return _existing_of_kinds(call, [(kind, ids)])[0]


def _existing_of_kinds(call: Call, wanted: Sequence[tuple[NodeKind, Iterable[int]]]) -> list[set[int]]:
    """For each (kind, ids), which of the ids exist: every lookup in one round trip on a server."""
    items, owners = [], []
    for owner, (kind, ids) in enumerate(wanted):
        t = kind.table
        q = call.q(("existing_ids", kind.name), lambda t=t: select(t.c.id).where(
            t.c.id.in_(bindparam("ids", expanding=True))))
        for chunk in call.chunked(sorted(set(ids))):
            items.append((q, {"ids": chunk}))
            owners.append(owner)
    found: list[set[int]] = [set() for _ in wanted]
    for owner, rows in zip(owners, call.all_each(items) if items else []):
        found[owner].update(r[0] for r in rows)
    return found


def require_ids(call: Call, wanted: Sequence[tuple[NodeKind, Iterable[int], str]]) -> None:
    """Raises InvalidArgumentError `message.format(id)` for the first id (kind by kind, in the given order) that
    does not exist; the kinds are looked up together, in one round trip on a server."""
    lists = [(kind, list(ids), message) for kind, ids, message in wanted]
    found = _existing_of_kinds(call, [(kind, ids) for kind, ids, _ in lists])
    for (_, ids, message), present in zip(lists, found):
        for node_id in ids:
            if node_id not in present:
                raise errors.InvalidArgumentError(message.format(node_id))


# ---------------------------------------------------------------------------------------------- events


def put_events(call: Call, events: Sequence[pb.Event], known: Mapping[NodeKind, Iterable[int]] | None = None) -> None:
    """Checks and inserts events; `known`: ids of artifacts and executions the call wrote or read already, which
    need no look."""
    for ev in events:
        if not ev.HasField("artifact_id") or not ev.HasField("execution_id"):
            raise errors.InvalidArgumentError("No artifact id or execution id is specified for the event.")
        if not ev.type:  # unset and UNKNOWN alike, as ml-metadata
            raise errors.InvalidArgumentError("No event type is specified.")
    known_artifacts, known_executions = (set((known or {}).get(kind, ())) for kind in (ARTIFACT, EXECUTION))
    require_ids(call, [
        (ARTIFACT, [e.artifact_id for e in events if e.artifact_id not in known_artifacts],
         "No artifact with the given id {}"),
        (EXECUTION, [e.execution_id for e in events if e.execution_id not in known_executions],
         "No execution with the given id {}")])
    insert_events(call, events)


def insert_events(call: Call, events: Sequence[pb.Event]) -> None:
    """Inserts validated events and their paths; a duplicate raises AlreadyExistsError."""
    if not events:
        return
    seen: set[tuple[int, int, int]] = set()
    now = call.now_ms()
    rows = []
    for ev in events:
        key = (ev.artifact_id, ev.execution_id, ev.type)
        if key in seen:
            raise errors.AlreadyExistsError(
                f"Given event already exists: artifact_id {key[0]}, execution_id {key[1]}, "
                f"type {pb.Event.Type.Name(key[2])}"
            )
        seen.add(key)
        rows.append((*key, ev.milliseconds_since_epoch if ev.HasField("milliseconds_since_epoch") else now))
    q = call.q("insert_events", lambda: insert_values(E, "artifact_id", "execution_id", "type",
                                                      "milliseconds_since_epoch"))
    step = call.statements.id_step
    if call.dialect_name == "mysql" and step is not None:
        # One INSERT's ids follow each other by `step`, so the events can go with the COMMIT as well (a round
        # trip less): each INSERT of them followed by their paths, whose event ids are that INSERT's first
        # (LAST_INSERT_ID(), which no other statement changes in between) plus the event's offset. A defer() of
        # at most ROWS_PER_STATEMENT rows is one INSERT (sql._multi_row), hence the chunks here.
        paths = call.q("insert_event_paths_after_events", lambda: insert_values(
            EP, *_PATH_COLUMNS, expressions={"event_id": "LAST_INSERT_ID() + :event_id"}))
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            call.defer(q, rows[start : start + ROWS_PER_STATEMENT])
            call.defer(paths, _path_rows(
                (offset * step, ev) for offset, ev in enumerate(events[start : start + ROWS_PER_STATEMENT])))
        return
    ids = call.insert_ids(q, rows)
    call.defer(call.q("insert_event_paths", lambda: insert_values(EP, *_PATH_COLUMNS)), _path_rows(zip(ids, events)))


_PATH_COLUMNS = ("event_id", "is_index_step", "step_index", "step_key")


def _path_rows(events: Iterable[tuple[int, pb.Event]]) -> list[tuple]:
    """EventPath rows of (event id, event) pairs, each event's steps in order."""
    rows = []
    for event_id, ev in events:
        for step in ev.path.steps:
            if step.HasField("index"):
                rows.append((event_id, True, step.index, None))
            else:
                rows.append((event_id, False, None, step.key))
    return rows


# ml-metadata's order (that of the SQLite index it reads through).
EVENT_ORDER = {"execution_id": operator.itemgetter(2, 0), "artifact_id": operator.itemgetter(1, 2, 3)}
_EVENT_COLUMNS = (E.c.id, E.c.artifact_id, E.c.execution_id, E.c.type, E.c.milliseconds_since_epoch)
_PATH_STEP_COLUMNS = (EP.c.is_index_step, EP.c.step_index, EP.c.step_key)


def _path_step_columns(dialect_name: str) -> tuple:
    """A path step's columns in a read: _PATH_STEP_COLUMNS, or on SQLite its index or key in one column, told
    apart by type (SQLite gives each value as stored: an int or a str), which halves the values Python's sqlite3
    reads of a path (the paths of 300 events: 365 against 295 µs)."""
    if dialect_name == "sqlite":
        return (func.coalesce(EP.c.step_index, EP.c.step_key).label("step"),)
    return _PATH_STEP_COLUMNS


def _events_where(column: str) -> Any:
    return E.c[column].in_(bindparam("ids", expanding=True))


def get_events(call: Call, column: str, ids: Iterable[int], into: Any = None) -> list[pb.Event]:
    """Events whose artifact_id or execution_id (`column`) is in ids, with their paths (built in `into`, a
    response's repeated field, when given)."""
    rows: list[tuple] = []
    path_rows: list[tuple] | None = None  # SQLite: read by the events' ids after them (none without events)
    if call.statements.dialect.driver == "mysqldb":
        # each event joined to its path steps, in one statement (MariaDB: the events of 2 artifacts 0.22 against
        # 0.29 ms for two statements in one round trip); an event's steps come through the event_id index, in
        # the order they were written. (pymysql, parsing every value in Python, reads two packed statements
        # faster past a few events: 100 executions' 5.6 against 7.1 ms.)
        q = call.q(("events_joined", column), lambda: select(*_EVENT_COLUMNS, *_PATH_STEP_COLUMNS).outerjoin(
            EP, EP.c.event_id == E.c.id).where(_events_where(column)))
        path_rows = []
        for chunk in call.chunked(sorted(set(ids))):
            chunk_rows, chunk_paths = nodes.split_joined(call.all(q, {"ids": chunk}), len(_EVENT_COLUMNS))
            rows.extend(chunk_rows)
            path_rows.extend(chunk_paths)
    else:
        q = call.q(("events_by", column), lambda: packed_rows(select(*_EVENT_COLUMNS).where(_events_where(column))))
        if call.dialect_name != "sqlite":
            # their paths by the same condition, in the same round trip: events are never changed nor deleted,
            # so an event written in between only adds path rows, which are skipped
            paths_q = call.q(("event_paths_by", column),
                             lambda: _select_paths(call, select(E.c.id).where(_events_where(column))))
            path_rows = []
        for chunk in call.chunked(sorted(set(ids))):
            if path_rows is None:
                rows.extend(call.all(q, {"ids": chunk}))
                continue
            chunk_rows, chunk_paths = call.all_each([(q, {"ids": chunk}), (paths_q, {"ids": chunk})])
            rows.extend(chunk_rows)
            path_rows.extend(chunk_paths)
    rows.sort(key=EVENT_ORDER[column])
    return list(events_from_rows(call, rows, into, path_rows).values())


def _select_paths(call: Call, event_ids: Any) -> packed_rows:
    """The path steps of the events whose id is in `event_ids` (a list parameter or a SELECT of ids), each
    event's in the order they were written: (event id, then _path_step_columns)."""
    return packed_rows(select(EP.c.event_id, *_path_step_columns(call.dialect_name))
                       .where(EP.c.event_id.in_(event_ids)))


def events_from_rows(call: Call, rows: Sequence[tuple], into: Any = None,
                     path_rows: Iterable[tuple] | None = None) -> dict[int, pb.Event]:
    """Event protos (with their paths) by event id, in row order, from (id, artifact_id, execution_id,
    type, milliseconds_since_epoch) rows; built in place in `into` (a repeated field) when given. The
    paths are read here unless `path_rows` (rows of _select_paths) are given."""
    if path_rows is None:
        q = call.q("event_paths", lambda: _select_paths(call, bindparam("ids", expanding=True)))
        path_rows = [row for chunk in call.chunked([r[0] for r in rows]) for row in call.all(q, {"ids": chunk})]
    steps: dict[int, list[tuple]] = {}
    for row in path_rows:
        steps.setdefault(row[0], []).append(row[1:])
    # Fields are set one by one (with upb faster than keyword arguments); a path is parsed into each event
    # from its serialized form, which costs half what copying a Path message in does.
    make = pb.Event if into is None else into.add
    events: dict[int, pb.Event] = {}
    for event_id, artifact_id, execution_id, event_type, millis in rows:
        events[event_id] = event = make()
        event.artifact_id = artifact_id
        event.execution_id = execution_id
        event.type = event_type
        if millis is not None:
            event.milliseconds_since_epoch = millis
        if (event_steps := steps.get(event_id)) is not None:
            event.MergeFromString(_serialized_path(tuple(event_steps)))
    return events


# A store's events share a few paths (a pipeline's input and output names), so each is serialized once per
# process; past _PATHS_KEPT distinct paths the memo starts afresh.
_serialized_paths: dict[tuple, bytes] = {}
_PATHS_KEPT = 4096


def _serialized_path(steps: tuple) -> bytes:
    """An Event holding only the path of these steps (each the _path_step_columns of a row), serialized."""
    path = _serialized_paths.get(steps)
    if path is None:
        if len(_serialized_paths) >= _PATHS_KEPT:
            _serialized_paths.clear()
        path = _serialized_paths[steps] = pb.Event(path=pb.Event.Path(steps=[
            _step(step) for step in steps])).SerializeToString()
    return path


def _step(columns: tuple) -> dict[str, Any]:
    """A Path.Step (as a dict) of a row's _path_step_columns."""
    if len(columns) == 1:  # SQLite's one column: an index is an int, a key a str
        return {"index": columns[0]} if isinstance(columns[0], int) else {"key": columns[0]}
    is_index, index, key = columns
    return {"index": index} if is_index else {"key": key}


# ------------------------------------------------------------------------ attributions and associations


def put_links(call: Call, attributions: Sequence[pb.Attribution], associations: Sequence[pb.Association]) -> None:
    """Links artifacts and executions to contexts; a link that exists already is left as it is."""
    require_ids(call, [
        (CONTEXT, [a.context_id for a in attributions] + [a.context_id for a in associations],
         "Context id not found: {}"),
        (ARTIFACT, (a.artifact_id for a in attributions), "Artifact id not found: {}"),
        (EXECUTION, (a.execution_id for a in associations), "Execution id not found: {}")])
    link(call, [(a.context_id, a.artifact_id) for a in attributions],
         [(a.context_id, a.execution_id) for a in associations])


def link(call: Call, attributions: Sequence[tuple[int, int]], associations: Sequence[tuple[int, int]]) -> None:
    """Inserts (context_id, node_id) links of existing nodes, in the given order, skipping those present: one
    statement per table, the unique (context_id, node_id) key leaves out the links already there."""
    for table, node_column, pairs in ((ATTR, "artifact_id", attributions), (ASSOC, "execution_id", associations)):
        insert_q = call.q(("insert_link", table.name), lambda t=table, n=node_column: insert_values(
            t, "context_id", n, skip_duplicates=True))
        call.defer(insert_q, list(dict.fromkeys(pairs)))


def contexts_of(call: Call, kind: NodeKind, node_id: int) -> list[pb.Context]:
    """The contexts an artifact (attribution) or execution (association) belongs to; NotFound if none."""
    table, column = (ATTR, ATTR.c.artifact_id) if kind is ARTIFACT else (ASSOC, ASSOC.c.execution_id)

    def narrow(query: Any) -> Any:
        return query.where(CONTEXT.table.c.id.in_(select(table.c.context_id).where(column == bindparam("id"))))

    found = nodes.load_where(call, CONTEXT, ("contexts_of", kind.name), narrow, {"id": node_id})
    if not found:
        raise errors.NotFoundError(f"No contexts found for {kind.name}_id: {node_id}")
    return found


def member_ids_query(kind: NodeKind) -> Any:
    """SELECT of the ids of artifacts (attributed) or executions (associated) of :context_id."""
    if kind is ARTIFACT:
        return select(ATTR.c.artifact_id).where(ATTR.c.context_id == bindparam("context_id"))
    return select(ASSOC.c.execution_id).where(ASSOC.c.context_id == bindparam("context_id"))


# ----------------------------------------------------------------------------------- parent contexts


def put_parent_contexts(call: Call, relations: Sequence[pb.ParentContext]) -> None:
    for rel in relations:
        if not rel.HasField("child_id") or not rel.HasField("parent_id"):
            raise errors.InvalidArgumentError("Both child_id and parent_id must be set in a ParentContext.")
        if rel.child_id == rel.parent_id:
            raise errors.InvalidArgumentError(
                f"Context {rel.child_id} cannot be its own parent: the given parent context cannot be found."
            )
    require_ids(call, [(CONTEXT, [r.child_id for r in relations] + [r.parent_id for r in relations],
                        "The given context id {} cannot be found.")])
    q = call.q("parent_exists", lambda: select(PC.c.context_id).where(
        PC.c.context_id == bindparam("child"), PC.c.parent_context_id == bindparam("parent")))
    insert_q = call.q("insert_parent", lambda: insert_values(PC, "context_id", "parent_context_id"))
    for rel in relations:  # both looks in one round trip on a server
        present, above = call.all_each([(q, {"child": rel.child_id, "parent": rel.parent_id}),
                                        (_ancestors_query(call), {"id": rel.parent_id})])
        if present:
            raise errors.AlreadyExistsError(
                f"The parent context {rel.parent_id} of context {rel.child_id} already exists."
            )
        if rel.child_id in {r[0] for r in above}:
            raise errors.InvalidArgumentError("There is a cycle detected of the given relationship.")
        call.many_tuples(insert_q, [(rel.child_id, rel.parent_id)])


def _ancestors_query(call: Call) -> Any:
    """The ids of every context above :id (recursive CTE: one statement whatever the depth)."""
    def build() -> Any:
        up = select(PC.c.parent_context_id.label("id")).where(PC.c.context_id == bindparam("id")).cte(
            "ancestors", recursive=True)
        up = up.union(select(PC.c.parent_context_id).join(up, PC.c.context_id == up.c.id))
        return select(up.c.id)
    return call.q("ancestors", build)


def related_contexts(call: Call, context_ids: Sequence[int], parents: bool) -> dict[int, list[pb.Context]]:
    """For each context id, its parent (or child) contexts, in id order."""
    mine, other = (PC.c.context_id, PC.c.parent_context_id) if parents else (PC.c.parent_context_id, PC.c.context_id)
    q = call.q(("related_contexts", parents), lambda: select(mine, other).where(
        mine.in_(bindparam("ids", expanding=True))).order_by(mine, other))
    pairs: list[tuple[int, int]] = []
    for chunk in call.chunked(sorted(set(context_ids))):
        pairs.extend(call.all(q, {"ids": chunk}))
    found = nodes.load_by_ids(call, CONTEXT, (o for _, o in pairs))
    out: dict[int, list[pb.Context]] = {}
    for mine_id, other_id in pairs:
        if other_id in found:
            out.setdefault(mine_id, []).append(found[other_id])
    return out


