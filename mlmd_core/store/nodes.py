"""Artifacts, executions and contexts: reads, inserts and updates, one code path for the three kinds.

Writes are set-based: a batch of N nodes costs a bounded number of statements (multi-row INSERTs), whatever N.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    literal,
    literal_column,
    null,
    select,
    type_coerce,
    union_all,
)

from mlmd_core import errors
from mlmd_core.store import schema, values
from mlmd_core.store.context import Call, TypeInfo
from mlmd_core.store.kinds import ARTIFACT, CONTEXT, EXECUTION, NodeKind
from mlmd_core.store.sql import Statement, insert_values, packed_rows, update_by_id
from mlmd_core.store.types import type_info

T = schema.type_table

PROPERTY_COLUMNS = ("int_value", "double_value", "string_value", "proto_value", "bool_value")
# load_by_ids, by DB-API driver: up to this many ids a node's row comes joined to its property rows in one
# statement (less server work than two; MariaDB on mysqlclient: 1 id 337 against 377 µs, 100 ids 1.6 against
# 1.9 ms, 500 ids 10.6 against 8.8 ms). PostgreSQL plans the join as a hash join over the whole property table
# while its statistics lag behind a bulk insert (10 ids 3.8 against 1.7 ms): joined for one id only. Never on
# pymysql, which parses every value in Python and reads the two statements packed (100 ids 6.7 against 3.5 ms),
# nor on SQLite (no round trips to save).
JOINED_READ_MAX_IDS = {"mysqldb": 100, "psycopg": 1}
BY_ID = operator.itemgetter(0)  # the order of node_select rows by id (packed_rows' order)


# ---------------------------------------------------------------------------------------------- reads


def node_select(kind: NodeKind) -> Any:
    """SELECT of node rows with their type name, for build(); callers add WHERE and ORDER BY.

    An outer join (every node has its type, so the rows are the same) keeps the node table first: with an
    inner join MySQL/MariaDB start from the small type table and sort every matching node before a LIMIT."""
    return select(*kind.columns, T.c.name).outerjoin(T, T.c.id == kind.table.c.type_id)


def load_by_ids(call: Call, kind: NodeKind, ids: Iterable[int], into: Any = None) -> dict[int, Any]:
    """The nodes with these ids (missing ids are left out), keyed by id, in id order (built in `into`,
    a response's repeated field, when given). load_kinds for one kind, with less to do in Python (the
    point reads' path)."""
    t = kind.table
    ids = sorted(set(ids))
    if 0 < len(ids) <= JOINED_READ_MAX_IDS.get(call.statements.dialect.driver, 0):
        return _load_joined(call, kind, "by_id", lambda q: q.where(t.c.id.in_(bindparam("ids", expanding=True))),
                            {"ids": ids}, kind.proto if into is None else into.add)
    q = call.q(("nodes_by_id", kind.name), lambda: packed_rows(node_select(kind).where(
        t.c.id.in_(bindparam("ids", expanding=True))).order_by(t.c.id), order=BY_ID))
    props_q = _props_query(call, kind)
    rows: list[tuple] = []
    props: list[tuple] = []
    for chunk in call.chunked(ids):  # the nodes and their properties in one round trip
        params = {"ids": chunk}
        node_rows, prop_rows = call.all_each([(q, params), (props_q, params)])
        rows += node_rows
        props += prop_rows
    built = _protos(kind, rows, kind.proto if into is None else into.add)
    _fill_properties(call, built, props)
    return built


def build(call: Call, kind: NodeKind, rows: Sequence[tuple], into: Any = None,
          props: Sequence[tuple] | None = None) -> list[Any]:
    """Node protos for node_select rows (in row order), with their properties: `props` (property rows, which may
    hold some of other nodes), else read by the nodes' ids.

    With `into` (a repeated field of a response) the nodes are built in place there, saving a copy.
    (Two queries beat one LEFT JOIN on SQLite: the join repeats every node column on every property row.)"""
    if not rows:
        return []
    built = _protos(kind, rows, kind.proto if into is None else into.add)
    if props is not None:
        _fill_properties(call, built, props)
        return list(built.values())
    q = _props_query(call, kind)
    for chunk in call.chunked(list(built)):
        _fill_properties(call, built, call.all(q, {"ids": chunk}))
    return list(built.values())


def joined_pages(call: Call) -> bool:
    """Whether a page of nodes is read joined to its property rows (read_page_joined): where joins pay at all
    (JOINED_READ_MAX_IDS: a server whose driver parses rows in C), as a page's second statement would cost a
    round trip of its own."""
    return call.statements.dialect.driver in JOINED_READ_MAX_IDS


def read_page_joined(call: Call, kind: NodeKind, key: Any, page: Callable[[], Any], params: Mapping[str, Any],
                     order: Callable[[tuple], Any], descending: bool) -> tuple[list[tuple], list[tuple]]:
    """A page of node_select rows (`page` builds its SELECT, with ORDER BY and LIMIT) and the property rows of
    its nodes, in one statement: the page as a derived table joined to the property table. One round trip
    instead of two (the properties are read by the ids the page gives), and one snapshot. The rows come back
    in `order` (MySQL may drop the ORDER BY of a derived table)."""
    def build() -> Any:
        rows = page().subquery("page")
        return select(*rows.c, *_property_columns(kind, call.dialect_name)).select_from(
            rows.outerjoin(kind.props, kind.fk == rows.c.id))

    rows, props = split_joined(call.all(call.q(("joined", key), build), params), len(kind.columns) + 1)
    rows.sort(key=order, reverse=descending)
    return rows, props


def split_joined(joined: Sequence[tuple], width: int, key: int = 1) -> tuple[list[tuple], list[tuple]]:
    """(node rows, property rows) of rows joined to their property rows (or an event's to its path steps): each
    node's row once, in the order met, its first `width` columns; a property row per joined row that has one
    (all NULLs: the node has none), its first `key` columns (those that name the node) then the property's."""
    rows = list({row[:key]: row[:width] for row in joined}.values())
    return rows, [(*row[:key], *row[width:]) for row in joined if row[width] is not None]


def load_all(call: Call, kind: NodeKind, key: Any, narrow: Callable[[Any], Any], params: Mapping[str, Any],
             into: Any = None) -> list[Any]:
    """Every node that `narrow` (which adds a WHERE to a SELECT from the kind's table) selects, in id order,
    with its properties: in one round trip on a server, the properties selected by the same condition
    instead of by the ids read first. Without a LIMIT that is safe between two statements: nodes are never
    deleted, nor moved to another type or out of a context, so a node written in between only adds property
    rows, which are skipped. (`key` names the selection in the statement cache.)

    The property rows come from the node table left-joined to the property table, which keeps the node table
    first, so the condition on it leads: read as `node_id IN (SELECT ...)`, MariaDB, misjudging the property
    rows per node after a bulk insert, could scan the whole property table (a context's 30 artifacts: 58 ms a
    call instead of 0.7)."""
    t = kind.table
    nodes_q = call.q(("all_nodes", kind.name, key), lambda: packed_rows(
        narrow(node_select(kind)).order_by(t.c.id), order=BY_ID))
    if call.dialect_name == "sqlite":  # no round trips to save: by the ids read, cheaper than the subquery
        return build(call, kind, call.all(nodes_q, params), into)
    props_q = call.q(("all_props", kind.name, key), lambda: packed_rows(
        narrow(select(t.c.id, *_property_columns(kind, call.dialect_name))
               .select_from(t.outerjoin(kind.props, kind.fk == t.c.id))),
        binary=[_PROTO_COLUMN]))
    rows, props = call.all_each([(nodes_q, params), (props_q, params)])
    built = _protos(kind, rows, kind.proto if into is None else into.add)
    _fill_properties(call, built, [row for row in props if row[1] is not None])  # (a node without any: NULLs)
    return list(built.values())


def load_where(call: Call, kind: NodeKind, key: Any, narrow: Callable[[Any], Any], params: Mapping[str, Any],
               into: Any = None) -> list[Any]:
    """load_all in one statement on a server, the nodes joined to their property rows: for conditions on
    columns an update can change (uri, name, external_id), as both come from one snapshot (load_all's two
    statements could meet a node whose property rows no longer match, its uri changed in between, and return
    it without them); and for reads of a few nodes, as one statement beats two in one round trip (MariaDB,
    the contexts of an execution: 0.30 against 0.43 ms). On SQLite load_all's (no round trips to save)."""
    if call.dialect_name == "sqlite":
        return load_all(call, kind, key, narrow, params, into)
    return list(_load_joined(call, kind, key, narrow, params, kind.proto if into is None else into.add).values())


def _load_joined(call: Call, kind: NodeKind, key: Any, narrow: Callable[[Any], Any], params: Mapping[str, Any],
                 make: Any) -> dict[int, Any]:
    """The nodes `narrow` selects, by id in id order, made with `make` (as _protos), with their properties: one
    statement, each node row joined to its property rows (fewer bytes than two statements for a few nodes)."""
    t, p = kind.table, kind.props
    joined_q = call.q(("nodes_joined", kind.name, key), lambda: narrow(
        node_select(kind).add_columns(*_property_columns(kind, call.dialect_name))
        .outerjoin(p, kind.fk == t.c.id)).order_by(t.c.id))
    rows = call.all(joined_q, params)
    node_rows, props = split_joined(rows, len(kind.columns) + 1)  # node_select rows, then property columns
    built = _protos(kind, node_rows, make)
    _fill_properties(call, built, props)
    return built


def _props_query(call: Call, kind: NodeKind) -> Any:
    """The property rows (node id, then _property_columns) of the nodes of one kind with ids in :ids."""
    return call.q(("node_props", kind.name), lambda: packed_rows(
        select(kind.fk, *_property_columns(kind, call.dialect_name))
        .where(kind.fk.in_(bindparam("ids", expanding=True))),
        binary=[_PROTO_COLUMN]))


def _property_columns(kind: NodeKind, dialect_name: str) -> tuple:
    """A property row's columns after its node id: name, is_custom_property, then the values (PROPERTY_COLUMNS).

    On SQLite the value comes in one column, and is_custom_property with the index in PROPERTY_COLUMNS of the
    column that holds it (len(PROPERTY_COLUMNS) for none) as one number (`2 * index + is_custom`): 4 columns
    instead of 8 (SQLite, typed by value, returns each value as stored). Python's sqlite3 gives up and takes
    back the GIL around every value it reads, which made the other four, NULL but for one, a fifth of a file
    store's property read (500 rows: 672 against 559 µs)."""
    p = kind.props
    if dialect_name != "sqlite":
        return (p.c.name, p.c.is_custom_property, *(p.c[c] for c in PROPERTY_COLUMNS))
    held_in = case(*((p.c[c].is_not(None), literal_column(str(2 * i))) for i, c in enumerate(PROPERTY_COLUMNS)),
                   else_=literal_column(str(2 * len(PROPERTY_COLUMNS))))
    return (p.c.name, (held_in + type_coerce(p.c.is_custom_property, Integer)).label("held_in"),
            func.coalesce(*(p.c[c] for c in PROPERTY_COLUMNS)).label("value"))


_PROTO_COLUMN = 3 + PROPERTY_COLUMNS.index("proto_value")  # in _props_query's rows: sent as hex when packed


_KINDS = (ARTIFACT, EXECUTION, CONTEXT)
_KIND_PARAMS = ("artifact_ids", "execution_ids", "context_ids")  # their IN-lists in the statements below


def load_kinds(call: Call, ids: Mapping[NodeKind, Iterable[int]], into: Mapping[NodeKind, Any]
               ) -> dict[NodeKind, dict[int, Any]]:
    """The nodes of several kinds by id, each kind in id order (built in `into[kind]` when given), in two
    statements whatever the kinds, their rows and their properties (one round trip on a server)."""
    reads = _kinds_statements(call, ids)
    if reads is None:
        return {kind: {} for kind in _KINDS if kind in ids}
    statements, chunks = reads
    return _built_kinds(call, ids, [call.all_each([(q, params) for q in statements]) for params in chunks], into)


def _kinds_statements(call: Call, ids: Mapping[NodeKind, Iterable[int]]
                      ) -> tuple[list[Statement], list[dict[str, list[int]]]] | None:
    """load_kinds' statements and their parameters, a dict per chunk of ids; None when there are no ids. Two
    statements (node rows, property rows), or one of the node rows joined to their property rows where joins
    pay (JOINED_READ_MAX_IDS)."""
    wanted = [sorted(set(ids.get(kind, ()))) for kind in _KINDS]
    # only the kinds with ids: an empty branch costs MariaDB's planner as much as a small one
    present = tuple(i for i, kind_ids in enumerate(wanted) if kind_ids)
    if not present:
        return None
    chunks = [{_KIND_PARAMS[i]: chunk for i, chunk in zip(present, chunks)}
              for chunks in call.zip_chunks([wanted[i] for i in present])]
    if len(chunks) == 1 and sum(len(wanted[i]) for i in present) <= JOINED_READ_MAX_IDS.get(
            call.statements.dialect.driver, 0):
        return [call.q(("joined_of_kinds", present),
                       lambda: _select_nodes_of_kinds(present, call.dialect_name, joined=True))], chunks
    nodes_q = call.q(("nodes_of_kinds", present),
                     lambda: packed_rows(_select_nodes_of_kinds(present, call.dialect_name)))
    props_q = call.q(("props_of_kinds", present), lambda: packed_rows(
        _select_props_of_kinds(present, call.dialect_name), binary=[1 + _PROTO_COLUMN]))  # the kind's index comes first
    return [nodes_q, props_q], chunks


# A _select_nodes_of_kinds row: the kind's index, the columns of an artifact's node_select row (the other kinds
# padded to them), then (joined) those of a property row.
_JOINED_WIDTH = 2 + len(ARTIFACT.columns)


def _built_kinds(call: Call, ids: Mapping[NodeKind, Iterable[int]], results: list[list[Sequence[tuple]]],
                 into: Mapping[NodeKind, Any]) -> dict[NodeKind, dict[int, Any]]:
    """load_kinds' nodes from the results of each chunk: (node rows, property rows), or (joined rows,)."""
    rows: list[list[tuple]] = [[] for _ in _KINDS]
    props: list[list[tuple]] = [[] for _ in _KINDS]
    for result in results:
        if len(result) == 1:  # node rows joined to their property rows, named by (kind's index, id)
            node_rows, prop_rows = split_joined(result[0], _JOINED_WIDTH, key=2)
        else:
            node_rows, prop_rows = result
        for row in node_rows:
            rows[row[0]].append(row[1:])
        for row in prop_rows:
            props[row[0]].append(row[1:])
    for of_kind in rows:
        of_kind.sort()
    built = [_protos(kind, rows[i], kind.proto if into.get(kind) is None else into[kind].add)
             for i, kind in enumerate(_KINDS)]
    for i, of_kind in enumerate(built):
        _fill_properties(call, of_kind, props[i])
    return {kind: built[i] for i, kind in enumerate(_KINDS) if kind in ids}


def _select_nodes_of_kinds(present: tuple[int, ...], dialect_name: str, joined: bool = False) -> Any:
    """Node rows of some kinds (their indexes in _KINDS) in one UNION ALL: the kind's index, then
    node_select's columns with every kind padded to the artifact's (uri, state); `joined`: each followed by the
    columns of one of its property rows. (Sorting them is left to the caller: SQLite would sort the union in a
    temporary table.)"""
    parts = []
    for i in present:
        kind = _KINDS[i]
        t = kind.table
        uri = t.c.uri if kind.has_uri else cast(null(), String)
        state = t.c[kind.state_field] if kind.state_field else cast(null(), Integer)
        part = (select(literal(i).label("kind"), t.c.id.label("id"), t.c.type_id, t.c.name, t.c.external_id,
                       t.c.create_time_since_epoch, t.c.last_update_time_since_epoch, uri.label("uri"),
                       state.label("state"), T.c.name.label("type_name"))
                .outerjoin(T, T.c.id == t.c.type_id))
        if joined:
            part = part.add_columns(*_property_columns(kind, dialect_name)).outerjoin(kind.props, kind.fk == t.c.id)
        parts.append(part.where(t.c.id.in_(bindparam(_KIND_PARAMS[i], expanding=True))))
    return union_all(*parts) if len(parts) > 1 else parts[0]


def _select_props_of_kinds(present: tuple[int, ...], dialect_name: str) -> Any:
    """Property rows of some kinds (their indexes in _KINDS) in one UNION ALL, the kind's index first."""
    parts = [select(literal(i).label("kind"), _KINDS[i].fk.label("node_id"),
                    *_property_columns(_KINDS[i], dialect_name))
             .where(_KINDS[i].fk.in_(bindparam(_KIND_PARAMS[i], expanding=True))) for i in present]
    return union_all(*parts) if len(parts) > 1 else parts[0]


def _protos(kind: NodeKind, rows: Sequence[tuple], make: Any) -> dict[int, Any]:
    """Node protos by id from node_select rows, made with `make` (the proto class or a repeated field's add).
    Fields are set one by one: with upb that is about a fifth faster than keyword arguments."""
    nodes: dict[int, Any] = {}
    has_uri, state_field = kind.has_uri, kind.state_field
    for row in rows:
        node_id, type_id, name, external_id, ctime, utime = row[:6]
        nodes[node_id] = node = make()
        node.id = node_id
        node.type_id = type_id
        if row[-1] is not None:  # the outer join's type name (a type is never deleted, but be safe)
            node.type = row[-1]
        node.create_time_since_epoch = ctime
        node.last_update_time_since_epoch = utime
        if name is not None:
            node.name = name
        if external_id is not None:
            node.external_id = external_id
        if has_uri:
            node.uri = row[6] or ""
        if state_field is not None and row[-2] is not None:
            setattr(node, state_field, row[-2])
    return nodes


def _fill_properties(call: Call, nodes: Mapping[int, Any], rows: Iterable[tuple]) -> None:
    """Sets the properties of `nodes` (by id) from property rows (node id, then _property_columns)."""
    if call.dialect_name == "sqlite":
        _fill_held_properties(nodes, rows)
        return
    struct_prefix, decode = values.STRUCT_PREFIX, values.decode
    raw_proto = call.dialect_name == "postgresql"
    for node_id, name, is_custom, int_v, double_v, string_v, proto_v, bool_v in rows:
        node = nodes.get(node_id)
        if node is None:  # a property row whose node is not there (read by the ids asked for, not found)
            continue
        target = (node.custom_properties if is_custom else node.properties)[name]
        if int_v is not None:
            target.int_value = int_v
        elif string_v is not None and not string_v.startswith(struct_prefix):
            target.string_value = string_v
        elif double_v is not None:
            target.double_value = double_v
        else:
            decode(target, int_v, double_v, string_v, proto_v, bool_v, raw_proto)


_HELD_IN_NONE = len(PROPERTY_COLUMNS)  # a property row without a value (a downgrade below schema 10 leaves some)


def _fill_held_properties(nodes: Mapping[int, Any], rows: Iterable[tuple]) -> None:
    """_fill_properties for SQLite's property rows: (node id, name, 2 * value column + is_custom, value)."""
    struct_prefix, decode = values.STRUCT_PREFIX, values.decode
    for node_id, name, held_in, value in rows:
        node = nodes.get(node_id)
        if node is None:
            continue
        target = (node.custom_properties if held_in & 1 else node.properties)[name]
        column = held_in >> 1
        if column == 0:
            target.int_value = value
        elif column == 2 and not value.startswith(struct_prefix):
            target.string_value = value
        elif column == 1:
            target.double_value = value
        elif column != _HELD_IN_NONE:
            columns: list[Any] = [None] * len(PROPERTY_COLUMNS)
            columns[column] = value
            decode(target, *columns)


# --------------------------------------------------------------------------------------------- writes


def put(call: Call, kind: NodeKind, nodes: Sequence[Any], mask_paths: Sequence[str] = (), *,
        abort_if_latest_updated_time_changed: bool = False, force_update_time: bool = False,
        stored: Mapping[int, Any] | None = None, inserted: list[int] | None = None) -> list[int]:
    """Inserts the nodes without id and updates those with one; returns ids index-aligned with input.

    `stored`: the nodes with those ids as load_kinds read them, when the caller read them already;
    `inserted`: the ids of the nodes without one, when load_and_insert inserted them already."""
    ids: list[int] = [0] * len(nodes)
    inserts = [i for i, n in enumerate(nodes) if not n.HasField("id")]
    updates = [i for i, n in enumerate(nodes) if n.HasField("id")]
    if inserts:
        new_ids = inserted if inserted is not None else _insert(call, kind, [nodes[i] for i in inserts])
        for i, node_id in zip(inserts, new_ids):
            ids[i] = node_id
    if updates:
        _update(call, kind, [nodes[i] for i in updates], mask_paths,
                abort_if_latest_updated_time_changed, force_update_time, stored)
        for i in updates:
            ids[i] = nodes[i].id
    return ids


def _type_of(call: Call, kind: NodeKind, node: Any) -> TypeInfo:
    if not node.HasField("type_id"):
        raise errors.InvalidArgumentError(f"Type id is missing. {kind.label} must have a type_id.")
    info = type_info(call, node.type_id)
    if info is None or info.kind != kind.type_kind:
        raise errors.NotFoundError(f"No {kind.name} type found with id {node.type_id}.")
    return info


def property_rows(call: Call, kind: NodeKind, node_id: int, node: Any, info: TypeInfo,
                  only: set[tuple[str, bool]] | None = None) -> list[tuple]:
    """The property-table rows of a node, checked against its type (InvalidArgumentError otherwise).

    Rows are tuples in PROPERTY_ROW order; `only` restricts them to some (name, is_custom) keys."""
    rows: list[tuple] = []
    encode = values.encode
    raw_proto = call.dialect_name == "postgresql"  # see values.encode
    props = node.properties
    if props:
        declared = info.properties
        for name in props:
            value = props[name]
            which = value.WhichOneof("value")
            data_type = declared.get(name)
            if data_type is None:
                info = type_info(call, info.id, refresh=True) or info
                declared = info.properties
                data_type = declared.get(name)
                if data_type is None:
                    raise errors.InvalidArgumentError(f"Found unknown property: {name}")
            if values.FIELD_OF_PROPERTY_TYPE.get(data_type) != which:
                raise errors.InvalidArgumentError(f"Found unmatched property type: {name}")
            if which == "double_value" and value.double_value != value.double_value:
                raise errors.InvalidArgumentError(f"Property {name} is NaN, which databases cannot store.")
            if only is None or (name, False) in only:
                rows.append((node_id, name, False, *encode(value, which, raw_proto)))
    props = node.custom_properties
    if props:
        for name in props:
            value = props[name]
            which = value.WhichOneof("value")
            if which is None:
                raise errors.InvalidArgumentError(f"Found custom property with no value set: {name}")
            if which == "double_value" and value.double_value != value.double_value:
                raise errors.InvalidArgumentError(f"Custom property {name} is NaN, which databases cannot store.")
            if only is None or (name, True) in only:
                rows.append((node_id, name, True, *encode(value, which, raw_proto)))
    if kind.name_required and not node.name:
        raise errors.InvalidArgumentError(f"{kind.label} name should not be empty.")
    return rows


PROPERTY_ROW = ("name", "is_custom_property", *PROPERTY_COLUMNS)  # after the node id column


def _node_row(kind: NodeKind, node: Any) -> tuple:
    """The mutable node columns (_mutable_columns order) of a node proto."""
    row = [
        node.name if node.HasField("name") else None,
        node.external_id if node.HasField("external_id") else None,
    ]
    if kind.has_uri:
        row.append(node.uri)
    if kind.state_field:
        row.append(getattr(node, kind.state_field) if node.HasField(kind.state_field) else None)
    return tuple(row)


def _mutable_columns(kind: NodeKind) -> tuple[str, ...]:
    cols = ["name", "external_id"]
    if kind.has_uri:
        cols.append("uri")
    if kind.state_field:
        cols.append(kind.state_field)
    return tuple(cols)


def _insert_properties(call: Call, kind: NodeKind, rows: list[tuple]) -> None:
    q = call.q(("insert_props", kind.name), lambda: insert_values(kind.props, kind.fk.name, *PROPERTY_ROW))
    call.defer(q, rows)


class _NewNodes:
    """New nodes of one kind, validated: their INSERT, and their property rows once their ids are known."""

    def __init__(self, call: Call, kind: NodeKind, nodes: Sequence[Any]):
        now = call.now_ms()
        self.kind = kind
        self.rows: list[tuple] = []
        self.props_per_node: list[list[tuple]] = []
        for node in nodes:
            info = _type_of(call, kind, node)
            self.props_per_node.append(property_rows(call, kind, 0, node, info))  # validated before any write
            self.rows.append((node.type_id, now, now, *_node_row(kind, node)))
        self.insert = call.q(("insert_nodes", kind.name), lambda: insert_values(
            kind.table, "type_id", "create_time_since_epoch", "last_update_time_since_epoch",
            *_mutable_columns(kind)))

    def write_properties(self, call: Call, ids: list[int]) -> None:
        _insert_properties(call, self.kind, [(node_id, *row[1:]) for node_id, props in zip(ids, self.props_per_node)
                                             for row in props])


def _insert(call: Call, kind: NodeKind, nodes: Sequence[Any]) -> list[int]:
    new = _NewNodes(call, kind, nodes)
    ids = call.insert_ids(new.insert, new.rows)
    new.write_properties(call, ids)
    return ids


def load_and_insert(call: Call, load: Mapping[NodeKind, Iterable[int]], new: Mapping[NodeKind, Sequence[Any]]
                    ) -> tuple[dict[NodeKind, dict[int, Any]], dict[NodeKind, list[int]]]:
    """load_kinds(load) and the inserts of the `new` nodes (without ids; validated first), in one round trip
    on a server that returns new ids (put_execution's reads and inserts took three): the nodes read, and the
    new ids of each kind for put(..., inserted=)."""
    new_nodes = [_NewNodes(call, kind, nodes) for kind, nodes in new.items() if nodes]
    reads = _kinds_statements(call, load)
    items = []
    if reads is not None and len(reads[1]) == 1:
        statements, [params] = reads
        items = [(q, params) for q in statements]
    stored = {} if items else load_kinds(call, load, {})  # nothing to read, or reads of several chunks first
    results, ids = call.all_each_and_insert(items, [(n.insert, n.rows) for n in new_nodes])
    if items:
        stored = _built_kinds(call, load, [results], {})
    inserted: dict[NodeKind, list[int]] = {kind: [] for kind in new}
    for of_kind, kind_ids in zip(new_nodes, ids):
        of_kind.write_properties(call, kind_ids)
        inserted[of_kind.kind] = kind_ids
    return stored, inserted


def merge(kind: NodeKind, stored: Any, given: Any, mask_paths: Sequence[str]) -> Any:
    """The node as it will be stored: `given` replaces everything (no mask) or the masked fields."""
    if not mask_paths:
        merged = kind.proto()
        merged.CopyFrom(given)
    else:
        merged = kind.proto()
        merged.CopyFrom(stored)
        scalar_paths = {"external_id"}
        if kind.has_uri:
            scalar_paths.add("uri")
        if kind.state_field:
            scalar_paths.add(kind.state_field)
        if kind.name_mutable:
            scalar_paths.add("name")
        whole_maps = {p for p in mask_paths if p in ("properties", "custom_properties")}
        for path in mask_paths:
            if path in scalar_paths:
                if given.HasField(path):
                    setattr(merged, path, getattr(given, path))
                else:
                    merged.ClearField(path)
            elif path in whole_maps:
                merged.ClearField(path)
                for key, value in getattr(given, path).items():
                    getattr(merged, path)[key].CopyFrom(value)
            else:
                map_name, dot, key = path.partition(".")
                if not dot or not key or map_name not in ("properties", "custom_properties") or map_name in whole_maps:
                    continue  # unknown or empty paths are ignored, as MLMD does
                source, target = getattr(given, map_name), getattr(merged, map_name)
                if key in source:
                    target[key].CopyFrom(source[key])
                elif key in target:
                    del target[key]
    # Output-only and immutable fields always come from the stored node.
    merged.id = stored.id
    merged.type_id = stored.type_id
    merged.type = stored.type
    merged.create_time_since_epoch = stored.create_time_since_epoch
    merged.last_update_time_since_epoch = stored.last_update_time_since_epoch
    merged.ClearField("system_metadata")
    if not kind.name_mutable:
        if stored.HasField("name"):
            merged.name = stored.name
        else:
            merged.ClearField("name")
    if kind.has_uri and not merged.HasField("uri"):
        merged.uri = ""
    return merged


def _update(call: Call, kind: NodeKind, nodes: Sequence[Any], mask_paths: Sequence[str],
            abort_if_changed: bool, force_update_time: bool, stored_nodes: Mapping[int, Any] | None) -> None:
    if stored_nodes is None:
        stored_nodes = load_by_ids(call, kind, (n.id for n in nodes))
    now = call.now_ms()
    # A node given several times is updated as if one call followed the other: each update applies to the
    # one before; what is written is the last, diffed against the stored node.
    last: dict[int, tuple[Any, list[tuple] | None]] = {}  # node id -> (merged node, its property rows)
    for node in nodes:
        stored = last[node.id][0] if node.id in last else stored_nodes.get(node.id)
        if stored is None:
            raise errors.InvalidArgumentError(f"Cannot find the given id {node.id}")
        if node.HasField("type_id") and node.type_id != stored.type_id:
            raise errors.InvalidArgumentError(
                f"Given type_id {node.type_id} is different from the one known before: {stored.type_id}"
            )
        if abort_if_changed and node.last_update_time_since_epoch != stored.last_update_time_since_epoch:
            raise errors.FailedPreconditionError(
                f"`abort_if_latest_updated_time_changed` is set, and the stored {kind.name} with id {node.id} "
                f"has a different last_update_time_since_epoch: {stored.last_update_time_since_epoch}, given "
                f"{node.last_update_time_since_epoch}"
            )
        # (a node given again in the call is diffed as a whole: the stored node holds none of its changes yet)
        touched = _touched_copy(kind, node, stored) if not mask_paths and node.id not in last else None
        if touched is not None:
            # the stored node again: nothing to merge, validate or diff, only its time to write (ml-metadata
            # skips an exact copy unless told to force the time)
            exact, merged = touched
            if exact and not force_update_time:
                continue
            new_props = None
        else:
            merged = merge(kind, stored, node, mask_paths)
            info = _type_of(call, kind, stored)
            new_props = property_rows(call, kind, merged.id, merged, info)  # validates
            if not force_update_time and _is_copy_of(kind, node, stored):
                continue
        merged.last_update_time_since_epoch = max(now, stored.last_update_time_since_epoch)
        last[merged.id] = (merged, new_props)
    if not last:
        return
    # Only the columns that changed are set: SQLite rewrites the entries of every index on a column in the
    # SET list, changed or not (updating the time alone costs a third of updating every column).
    rows_by_columns: dict[tuple[int, ...], list[tuple]] = {}
    deleted_props: list[tuple] = []
    inserted_props: list[tuple] = []
    for node_id, (merged, new_props) in last.items():
        if new_props is None:  # only its time changes
            rows_by_columns.setdefault((), []).append((merged.last_update_time_since_epoch, node_id))
            continue
        stored_row, merged_row = _node_row(kind, stored_nodes[node_id]), _node_row(kind, merged)
        changed_columns = tuple(i for i, value in enumerate(merged_row) if value != stored_row[i])
        rows_by_columns.setdefault(changed_columns, []).append(
            (*(merged_row[i] for i in changed_columns), merged.last_update_time_since_epoch, node_id))
        changed = _changed_properties(stored_nodes[node_id], merged)
        deleted_props.extend((node_id, name, is_custom) for name, is_custom in changed)
        inserted_props.extend(r for r in new_props if (r[1], r[2]) in changed)
    t, mutable = kind.table, _mutable_columns(kind)
    for changed_columns, rows in rows_by_columns.items():
        columns = (*(mutable[i] for i in changed_columns), "last_update_time_since_epoch")
        q = call.q(("update_nodes", kind.name, changed_columns), lambda c=columns: update_by_id(t, *c))
        call.defer(q, rows)  # nothing later in a call reads these rows back: sent with the commit
    if deleted_props:
        p = kind.props
        q = call.q(("delete_props", kind.name), lambda: delete(p).where(and_(
            kind.fk == bindparam("node_id"), p.c.name == bindparam("pname"),
            p.c.is_custom_property == bindparam("custom"))))
        call.defer(q, deleted_props)
    _insert_properties(call, kind, inserted_props)


def _touched_copy(kind: NodeKind, given: Any, stored: Any) -> tuple[bool, Any] | None:
    """An update without a mask that leaves the stored node as it is but for its time: (whether `given` is an
    exact copy (see _is_copy_of), a copy of the stored node) when `given` differs from it at most in its
    timestamps and `type` (which merge() takes from the stored node, and whose absence ml-metadata counts as a
    change); None when it changes anything else."""
    probe = kind.proto()
    probe.CopyFrom(given)
    probe.create_time_since_epoch = stored.create_time_since_epoch
    probe.last_update_time_since_epoch = stored.last_update_time_since_epoch
    if probe == stored:
        return True, probe
    if probe.type == stored.type and probe.HasField("type") == stored.HasField("type"):
        return None
    probe.type = stored.type
    return (False, probe) if probe == stored else None


def _is_copy_of(kind: NodeKind, given: Any, stored: Any) -> bool:
    """ml-metadata skips an update (keeps last_update_time) only when the given node equals the stored one
    in every field but the timestamps: one without its `type` or `name` counts as a change."""
    probe = kind.proto()
    probe.CopyFrom(given)
    probe.create_time_since_epoch = stored.create_time_since_epoch
    probe.last_update_time_since_epoch = stored.last_update_time_since_epoch
    return probe == stored


def _changed_properties(stored: Any, merged: Any) -> set[tuple[str, bool]]:
    """(name, is_custom) of every property added, removed or changed between two versions."""
    changed = set()
    for is_custom, old, new in ((False, stored.properties, merged.properties),
                                (True, stored.custom_properties, merged.custom_properties)):
        for name in set(old) | set(new):
            if name not in old or name not in new or old[name] != new[name]:
                changed.add((name, is_custom))
    return changed
