"""Artifact, execution and context types: one code path for the three kinds."""

from __future__ import annotations

import json
from collections.abc import Container, Iterable, Mapping, Sequence
from typing import Any

from google.protobuf import json_format
from sqlalchemy import bindparam, func, literal, null, or_, select, union_all, update

from mlmd_core import errors
from mlmd_core.proto import metadata_store_pb2 as pb
from mlmd_core.store import schema
from mlmd_core.store.context import Call, TypeInfo
from mlmd_core.store.kinds import ARTIFACT, CONTEXT, EXECUTION, SYSTEM_TYPE_NAMES, NodeKind
from mlmd_core.store.sql import Statement, insert_values

T = schema.type_table
TP = schema.type_property
PT = schema.parent_type

_TYPE_COLUMNS = (T.c.id, T.c.name, T.c.version, T.c.description, T.c.external_id, T.c.input_type,
                 T.c.output_type)


def _system_type_name(enum_value: Any) -> str:
    """The `(system_type_extension).type_name` option of a SystemDefinedBaseType value."""
    return enum_value.GetOptions().Extensions[pb.system_type_extension].type_name


def _base_type_names(kind: NodeKind) -> dict[int, str]:
    enum = kind.type_proto.SystemDefinedBaseType.DESCRIPTOR
    return {v.number: _system_type_name(v) for v in enum.values if v.number != 0}


BASE_TYPE_NAMES = {k.type_kind: _base_type_names(k) for k in (ARTIFACT, EXECUTION, CONTEXT)}
BASE_TYPE_BY_NAME = {k: {name: num for num, name in names.items()} for k, names in BASE_TYPE_NAMES.items()}


def _version(t: Any) -> str | None:
    return t.version if t.HasField("version") and t.version else None


# ---------------------------------------------------------------------------------------------- reads


def load_types(call: Call, kind: NodeKind, rows: Sequence[tuple], *, with_external_id: bool = True,
               with_base_type: bool = True) -> list[Any]:
    """Type protos of `kind` for Type rows selected with _TYPE_COLUMNS, in row order.

    ml-metadata fills fewer fields on some paths (no external_id when listing all types; no base_type nor
    input/output types by external id or along with artifacts); the flags reproduce that."""
    if not rows:
        return []
    details = _details(call, [r[0] for r in rows])
    return _build_types(kind, rows, details, with_external_id=with_external_id, with_base_type=with_base_type)


def _details(call: Call, ids: list[int]) -> tuple[dict[int, list[tuple[str, int]]], dict[int, str]]:
    """The declared properties and the base type name of these types, by type id."""
    q = _details_statement(call)
    return _details_of_rows(row for chunk in call.chunked(ids) for row in call.all(q, {"ids": chunk}))


def _details_statement(call: Call) -> Statement:
    return call.q("type_props_and_bases", lambda: _select_props_and_bases(bindparam("ids", expanding=True)))


def _details_of_rows(rows: Iterable[tuple]) -> tuple[dict[int, list[tuple[str, int]]], dict[int, str]]:
    props: dict[int, list[tuple[str, int]]] = {}
    bases: dict[int, str] = {}
    for is_base, type_id, name, data_type in rows:
        if is_base:
            bases[type_id] = name
        else:
            props.setdefault(type_id, []).append((name, data_type))
    return props, bases


def _build_types(kind: NodeKind, rows: Sequence[tuple], details: tuple[dict, dict], *, with_external_id: bool,
                 with_base_type: bool) -> list[Any]:
    props, bases = details
    base_by_name = BASE_TYPE_BY_NAME[kind.type_kind]
    out = []
    for type_id, name, version, description, external_id, input_type, output_type in rows:
        t = kind.type_proto(id=type_id, name=name)
        if version is not None:
            t.version = version
        if description is not None:
            t.description = description
        if external_id is not None and with_external_id:
            t.external_id = external_id
        for prop_name, data_type in props.get(type_id, ()):
            t.properties[prop_name] = data_type
        if not with_base_type:
            out.append(t)
            continue
        if type_id in bases and bases[type_id] in base_by_name:
            t.base_type = base_by_name[bases[type_id]]
        if kind is EXECUTION:
            if input_type:
                json_format.Parse(input_type, t.input_type)
            if output_type:
                json_format.Parse(output_type, t.output_type)
        out.append(t)
    return out


def types_of_kinds(call: Call, wanted: Mapping[NodeKind, Sequence[int] | None], *,
                   with_base_type: Container[NodeKind] = (ARTIFACT, EXECUTION, CONTEXT),
                   include_system: bool = True) -> dict[NodeKind, list[Any]]:
    """Types of several kinds in two statements, by kind: every type of it (None; without external ids, and
    without the system types unless `include_system`) or those with the given ids (in that order, repeats
    repeated); base types only for the kinds in `with_base_type`."""
    if not wanted:
        return {}
    every = [kind.type_kind for kind, ids in wanted.items() if ids is None]
    ids = sorted({i for kind_ids in wanted.values() if kind_ids is not None for i in kind_ids})
    if not every and not ids:
        return {kind: [] for kind in wanted}
    by_kind, by_id = bool(every), bool(ids)
    q = call.q(("types_of_kinds", by_kind, by_id),
               lambda: select(T.c.type_kind, *_TYPE_COLUMNS).where(_wanted_types(by_kind, by_id)))
    # the types' properties and bases by the same condition, so both go in one round trip on a server; by the
    # id list itself when that is the condition (SQLite runs an IN subquery of an OR much slower: 66 -> 25 µs)
    details_q = call.q(("details_of_kinds", by_id), lambda: _select_props_and_bases(
        select(T.c.id).where(_wanted_types(by_kind, by_id)))) if by_kind else _details_statement(call)
    found: dict[int, tuple] = {}
    detail_rows: list[tuple] = []
    for chunk in call.chunked(ids) or [[]]:
        params = {"kinds": every, "ids": chunk}
        type_rows, chunk_details = call.all_each([(q, params), (details_q, params)])
        found.update((row[1], row) for row in type_rows)
        detail_rows.extend(chunk_details)
    details = _details_of_rows(detail_rows)
    out = {}
    for kind, kind_ids in wanted.items():
        unique = sorted(found) if kind_ids is None else dict.fromkeys(kind_ids)
        rows = [found[i][1:] for i in unique if i in found and found[i][0] == kind.type_kind
                and (kind_ids is not None or include_system or found[i][2] not in SYSTEM_TYPE_NAMES)]
        built = {t.id: t for t in _build_types(kind, rows, details, with_external_id=kind_ids is not None,
                                                with_base_type=kind in with_base_type)}
        out[kind] = list(built.values()) if kind_ids is None else [built[i] for i in kind_ids if i in built]
    return out


def _wanted_types(by_kind: bool, by_id: bool) -> Any:
    """types_of_kinds' condition: every type of some kinds, or of some ids."""
    return or_(*([T.c.type_kind.in_(bindparam("kinds", expanding=True))] if by_kind else []),
               *([T.c.id.in_(bindparam("ids", expanding=True))] if by_id else []))


def _select_props_and_bases(ids: Any) -> Any:
    """The properties (is_base 0, in name order) and the base type's name (is_base 1) of the types whose id is
    in `ids` (a list parameter or a subquery): one statement, as a statement costs a round trip on a server."""
    props = select(literal(0).label("is_base"), TP.c.type_id.label("type_id"), TP.c.name.label("name"),
                   TP.c.data_type).where(TP.c.type_id.in_(ids))
    bases = select(literal(1), PT.c.type_id, T.c.name, null()).join(T, T.c.id == PT.c.parent_type_id).where(
        PT.c.type_id.in_(ids))
    return union_all(props, bases).order_by("is_base", "type_id", "name")


def _select_types(kind: NodeKind, *where: Any) -> Any:
    return select(*_TYPE_COLUMNS).where(T.c.type_kind == kind.type_kind, *where).order_by(T.c.id)


def get_type(call: Call, kind: NodeKind, name: str, version: str | None) -> Any:
    rows = find_types(call, kind, name, version)
    if not rows:
        shown = f"`{version}`" if version else "`nullopt`"
        raise errors.NotFoundError(f"No type found for query, name: `{name}`, version: {shown}")
    found = load_types(call, kind, rows[:1])[0]
    # known from now on, as a type put is: nodes of it are validated without reading it again
    call.stage_type(TypeInfo(found.id, kind.type_kind, found.name, dict(found.properties)))
    return found


def find_types(call: Call, kind: NodeKind, name: str, version: str | None) -> list[tuple]:
    """Type rows of `kind` with this name and version (None: the unversioned type)."""
    return call.all(*_find_query(call, kind, name, version))


def _find_query(call: Call, kind: NodeKind, name: str, version: str | None) -> tuple[Statement, dict[str, Any]]:
    if version:
        q = call.q(("type_by_name_version", kind.type_kind),
                   lambda: _select_types(kind, T.c.name == bindparam("name"), T.c.version == bindparam("version")))
        return q, {"name": name, "version": version}
    q = call.q(("type_by_name", kind.type_kind),
               lambda: _select_types(kind, T.c.name == bindparam("name"), T.c.version.is_(None)))
    return q, {"name": name}


def type_id_of_name(kind: NodeKind, versioned: bool) -> Any:
    """A scalar subquery of the id find_types would give first (bound: `type_name`, and `type_version` when
    `versioned`), NULL when there is none: a node read narrowed by it needs no round trip of its own."""
    version = T.c.version == bindparam("type_version") if versioned else T.c.version.is_(None)
    return (select(func.min(T.c.id))
            .where(T.c.type_kind == kind.type_kind, T.c.name == bindparam("type_name"), version)
            .scalar_subquery())


def get_types(call: Call, kind: NodeKind, include_system: bool = False) -> list[Any]:
    """All types of a kind; the system types (mlmd.Dataset, ...) only when asked, as GetXTypes hides them."""
    return types_of_kinds(call, {kind: None}, include_system=include_system)[kind]


def get_types_by_id(call: Call, kind: NodeKind, ids: Iterable[int], with_base_type: bool = True) -> list[Any]:
    """Types in the order of the requested ids (repeats repeated, unknown ids skipped), as MLMD answers."""
    return types_of_kinds(call, {kind: list(ids)}, with_base_type=(kind,) if with_base_type else ())[kind]


def get_types_by_external_ids(call: Call, kind: NodeKind, external_ids: Sequence[str]) -> list[Any]:
    if not external_ids:
        return []
    rows: list[tuple] = []
    q = call.q(("types_by_external_id", kind.type_kind),
               lambda: _select_types(kind, T.c.external_id.in_(bindparam("ids", expanding=True))))
    for chunk in call.chunked(sorted(set(external_ids))):
        rows.extend(call.all(q, {"ids": chunk}))
    if not rows:
        raise errors.NotFoundError("No types found for external_ids.")
    rows.sort(key=lambda r: r[4])  # ml-metadata answers in external_id order
    return load_types(call, kind, rows, with_base_type=False)


def type_info(call: Call, type_id: int, refresh: bool = False) -> TypeInfo | None:
    """The type with this id (any kind) for validating nodes; cached, since types only grow."""
    if not refresh:
        info = call.cached_type(type_id)
        if info is not None:
            return info
    q = call.q("type_info", lambda: select(T.c.type_kind, T.c.name).where(T.c.id == bindparam("id")))
    row = call.one(q, {"id": type_id})
    if row is None:
        return None
    q = call.q("type_info_props", lambda: select(TP.c.name, TP.c.data_type).where(TP.c.type_id == bindparam("id")))
    info = TypeInfo(type_id, row[0], row[1], dict(call.all(q, {"id": type_id})))
    call.stage_type(info)
    return info


# --------------------------------------------------------------------------------------------- writes


def put_type(call: Call, kind: NodeKind, new: Any, can_add_fields: bool, can_omit_fields: bool) -> int:
    """Creates the type or reconciles it with the stored one (MLMD's upsert rules); returns its id."""
    if not new.name:
        raise errors.InvalidArgumentError("No type name is specified.")
    properties = _properties(new)
    for prop_name, data_type in properties.items():
        if data_type == pb.UNKNOWN:
            raise errors.InvalidArgumentError(f"Property {prop_name} of type {new.name} has UNKNOWN type.")
    base_name = None
    if new.HasField("base_type") and not new.base_type:
        raise errors.UnimplementedError("base_type deletion is not supported yet")
    if new.HasField("base_type"):
        base_name = BASE_TYPE_NAMES[kind.type_kind].get(new.base_type)
        if base_name is None:
            raise errors.InvalidArgumentError(f"Unknown base_type {new.base_type} of type {new.name}.")
    version = _version(new)
    query = _find_query(call, kind, new.name, version)
    # On a server, a type this process has not met is most likely new: it is looked for under the type lock at
    # once (a round trip less); a known one is looked for without the lock, so putting it again queues for none.
    rows = call.all(*query) if call.dialect_name == "sqlite" or _met(call, kind, new.name) else None
    if not rows:  # (again, under the lock: created by a call we waited for?) None on SQLite
        rows = call.all_after_type_lock(*query)
    if not rows:
        return _insert_type(call, kind, new, properties, version, base_name)
    call.send_deferred(commit=False)  # the properties of a type this call created: load_types reads them
    stored = load_types(call, kind, rows[:1])[0]
    _reconcile(call, kind, stored, new, properties, base_name, can_add_fields, can_omit_fields)
    return stored.id


def _properties(new: Any) -> dict[str, int]:
    """A type proto's declared properties as a dict (a protobuf map's items() iterates in Python)."""
    declared = new.properties
    return {name: declared[name] for name in declared}


def _met(call: Call, kind: NodeKind, name: str) -> bool:
    """Whether a type of this kind and name is in the process's type cache (read or written before)."""
    return (kind.type_kind, name) in call.type_cache.names


def _external_id_clash(call: Call, external_id: str, own_id: int | None) -> None:
    q = call.q("type_by_ext", lambda: select(T.c.id, T.c.name).where(T.c.external_id == bindparam("ext")))
    row = call.one(q, {"ext": external_id})
    if row is not None and row[0] != own_id:
        raise errors.AlreadyExistsError(
            f"Type external_id `{external_id}` is already used by type {row[1]} (id {row[0]})."
        )


def _insert_type(call: Call, kind: NodeKind, new: Any, properties: dict[str, int], version: str | None,
                 base_name: str | None) -> int:
    external_id = new.external_id if new.HasField("external_id") and new.external_id else None
    if external_id is not None:
        _external_id_clash(call, external_id, None)
    input_type = output_type = None
    if kind is EXECUTION:
        if new.HasField("input_type"):
            input_type = _to_json(new.input_type)
        if new.HasField("output_type"):
            output_type = _to_json(new.output_type)
    q = call.q("insert_type", lambda: insert_values(
        T, "name", "version", "type_kind", "description", "input_type", "output_type", "external_id"))
    [type_id] = call.insert_ids(q, [(new.name, version, kind.type_kind,
                                     new.description if new.HasField("description") else None,
                                     input_type, output_type, external_id)])
    _insert_properties(call, type_id, properties)
    if base_name is not None:
        _set_base(call, type_id, base_name)
    call.stage_type(TypeInfo(type_id, kind.type_kind, new.name, properties))
    return type_id


def _insert_properties(call: Call, type_id: int, properties: dict[str, int]) -> None:
    q = call.q("insert_type_prop", lambda: insert_values(TP, "type_id", "name", "data_type"))
    call.defer(q, [(type_id, n, d) for n, d in sorted(properties.items())])  # sent with the COMMIT


def _set_base(call: Call, type_id: int, base_name: str) -> None:
    q = call.q("system_type_id", lambda: select(T.c.id).where(T.c.name == bindparam("name"), T.c.version.is_(None)))
    row = call.one(q, {"name": base_name})
    if row is None:
        raise errors.NotFoundError(f"No system type {base_name} in this store.")
    q = call.q("insert_parent_type", lambda: insert_values(PT, "type_id", "parent_type_id"))
    call.many_tuples(q, [(type_id, row[0])])


def _reconcile(call: Call, kind: NodeKind, stored: Any, new: Any, properties: dict[str, int],
               base_name: str | None, can_add_fields: bool, can_omit_fields: bool) -> None:
    added = {}
    for prop_name, data_type in properties.items():
        if prop_name not in stored.properties:
            added[prop_name] = data_type
        elif stored.properties[prop_name] != data_type:
            raise errors.AlreadyExistsError(
                f"Type {new.name} already exists with property {prop_name} of a different data type "
                f"({pb.PropertyType.Name(stored.properties[prop_name])}, given "
                f"{pb.PropertyType.Name(data_type)})."
            )
    if added and not can_add_fields:
        raise errors.AlreadyExistsError(
            f"Type {new.name} already exists with different properties: {sorted(added)} are new; "
            "set can_add_fields to add them."
        )
    omitted = sorted(set(stored.properties) - set(properties))
    if omitted and not can_omit_fields:
        raise errors.AlreadyExistsError(
            f"Type {new.name} already exists with different properties: {omitted} are missing; "
            "set can_omit_fields to omit them."
        )
    if base_name is not None:
        stored_base = BASE_TYPE_NAMES[kind.type_kind].get(stored.base_type) if stored.HasField("base_type") else None
        if stored_base is None:
            _set_base(call, stored.id, base_name)
        elif stored_base != base_name:
            raise errors.UnimplementedError("base_type update is not supported yet")
    if new.HasField("external_id") and new.external_id and new.external_id != stored.external_id:
        _external_id_clash(call, new.external_id, stored.id)
        q = call.q("update_type_ext", lambda: update(T).where(T.c.id == bindparam("tid"))
                   .values(external_id=bindparam("ext")))
        call.run(q, {"tid": stored.id, "ext": new.external_id})
    if added:
        _insert_properties(call, stored.id, added)
    call.stage_type(TypeInfo(stored.id, kind.type_kind, stored.name, {**stored.properties, **added}))


def _to_json(message: Any) -> str:
    return json.dumps(json_format.MessageToDict(message), separators=(",", ":"), sort_keys=True)
