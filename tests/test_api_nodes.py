"""put_artifacts / put_executions / put_contexts and the node getters (reference §1.3, §6.3, §10.2-§10.5)."""

# Fixtures are imported from store_fixtures and used as test arguments (pytest's way), which reads as F811.
# ruff: noqa: F811

from __future__ import annotations

import time

import pytest
from google.protobuf import any_pb2, struct_pb2
from store_fixtures import errors, make_types, only_mlmd_core, pb, raw_call, store, store_dialect, svc_pb, tick  # noqa: F401

KINDS = ["artifact", "execution", "context"]


@pytest.fixture
def types(store):
    return make_types(store)


def _cls(kind):
    return {"artifact": pb.Artifact, "execution": pb.Execution, "context": pb.Context}[kind]


def _type_id(types, kind):
    return {"artifact": types.artifact, "execution": types.execution, "context": types.context}[kind]


def _put(s, kind, nodes, mask=None):
    if mask is None:
        return getattr(s, f"put_{kind}s")(nodes)
    return getattr(s, f"put_{kind}s")(nodes, field_mask_paths=mask)


def _by_id(s, kind, ids):
    return getattr(s, f"get_{kind}s_by_id")(ids)


def _one(s, kind, node_id):
    [node] = _by_id(s, kind, [node_id])
    return node


def _new(types, kind, name=None, **kw):
    node = _cls(kind)(type_id=_type_id(types, kind), **kw)
    if name is not None:
        node.name = name
    elif kind == "context":
        node.name = f"ctx-{time.monotonic_ns()}"
    return node


# ------------------------------------------------------------------------------------------------ insert


@pytest.mark.parametrize("kind", KINDS)
def test_insert_returns_index_aligned_ids(store, types, kind):
    nodes = [_new(types, kind, name=f"n{i}") for i in range(5)]
    ids = _put(store, kind, nodes)
    assert len(ids) == 5 and len(set(ids)) == 5
    assert ids == sorted(ids)
    got = {n.id: n for n in _by_id(store, kind, ids)}
    assert [got[i].name for i in ids] == [f"n{i}" for i in range(5)]
    assert _put(store, kind, []) == []


def test_artifact_insert_output_fields(store, types):
    before = int(time.time() * 1000)
    a = pb.Artifact(type_id=types.artifact, create_time_since_epoch=5, last_update_time_since_epoch=6)
    [aid] = store.put_artifacts([a])
    after = int(time.time() * 1000)
    got = _one(store, "artifact", aid)
    assert got.id == aid
    assert got.type_id == types.artifact
    assert got.type == "DataSet"
    # uri is always present (stored as ''), state is absent when unset, name is absent when unset
    assert got.HasField("uri") and got.uri == ""
    assert not got.HasField("state")
    assert not got.HasField("name")
    assert not got.HasField("external_id")
    # times come from the store clock, the client values are ignored
    assert before <= got.create_time_since_epoch <= after
    assert got.last_update_time_since_epoch == got.create_time_since_epoch


def test_execution_and_context_insert_output_fields(store, types):
    [eid] = store.put_executions([pb.Execution(type_id=types.execution, create_time_since_epoch=1)])
    e = _one(store, "execution", eid)
    assert e.type == "Trainer"
    assert not e.HasField("last_known_state")
    assert not e.HasField("name")
    assert e.create_time_since_epoch > 1000
    [cid] = store.put_contexts([pb.Context(type_id=types.context, name="c1")])
    c = _one(store, "context", cid)
    assert c.type == "Pipeline" and c.name == "c1"
    assert c.create_time_since_epoch > 1000
    assert c.last_update_time_since_epoch == c.create_time_since_epoch


def test_artifact_full_round_trip(store, types):
    a = pb.Artifact(type_id=types.artifact, name="a", uri="/data/1", external_id="ext-a",
                    state=pb.Artifact.LIVE)
    a.properties["day"].int_value = 7
    a.properties["split"].string_value = "train"
    a.properties["score"].double_value = 0.25
    a.properties["flag"].bool_value = True
    a.properties["meta"].struct_value.update({"k": [1, "two", {"x": None}], "b": False})
    msg = any_pb2.Any()
    msg.Pack(pb.Artifact(uri="inner", name="packed"))
    a.properties["blob"].proto_value.CopyFrom(msg)
    a.custom_properties["c_int"].int_value = -3
    a.custom_properties["c_bool"].bool_value = False
    a.custom_properties["c_struct"].struct_value.update({"nested": {"deep": 1.5}})
    a.custom_properties["c_proto"].proto_value.Pack(struct_pb2.Value(string_value="s"))
    a.custom_properties["c_str"].string_value = ""
    [aid] = store.put_artifacts([a])
    got = _one(store, "artifact", aid)
    expected = pb.Artifact()
    expected.CopyFrom(a)
    expected.id = aid
    expected.type = "DataSet"
    expected.create_time_since_epoch = got.create_time_since_epoch
    expected.last_update_time_since_epoch = got.last_update_time_since_epoch
    assert got == expected
    inner = pb.Artifact()
    assert got.properties["blob"].proto_value.Unpack(inner)
    assert inner.uri == "inner"
    assert got.properties["meta"].struct_value["k"][1] == "two"
    assert got.custom_properties["c_bool"].HasField("bool_value")
    assert got.custom_properties["c_str"].HasField("string_value")


def test_execution_and_context_full_round_trip(store, types):
    e = pb.Execution(type_id=types.execution, name="e", external_id="ext-e", last_known_state=pb.Execution.RUNNING)
    e.properties["state"].string_value = "ok"
    e.properties["n"].int_value = 3
    e.custom_properties["x"].double_value = 1.5
    [eid] = store.put_executions([e])
    got = _one(store, "execution", eid)
    assert got.name == "e" and got.external_id == "ext-e" and got.last_known_state == pb.Execution.RUNNING
    assert dict(got.properties) == dict(e.properties)
    assert dict(got.custom_properties) == dict(e.custom_properties)
    c = pb.Context(type_id=types.context, name="c", external_id="ext-c")
    c.properties["owner"].string_value = "me"
    c.custom_properties["s"].struct_value.update({"a": 1})
    [cid] = store.put_contexts([c])
    got_c = _one(store, "context", cid)
    assert got_c.external_id == "ext-c"
    assert got_c.properties["owner"].string_value == "me"
    assert got_c.custom_properties["s"].struct_value["a"] == 1


@pytest.mark.parametrize("kind", KINDS)
def test_missing_type_id_is_invalid_argument(store, types, kind):
    node = _cls(kind)(name="x")
    with pytest.raises(errors.InvalidArgumentError, match="Type id is missing"):
        _put(store, kind, [node])
    assert getattr(store, f"get_{kind}s")() == []


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_type_is_not_found(store, types, kind):
    with pytest.raises(errors.NotFoundError):
        _put(store, kind, [_cls(kind)(type_id=9999, name="x")])
    assert getattr(store, f"get_{kind}s")() == []


def test_type_of_another_kind_is_not_found(store, types):
    with pytest.raises(errors.NotFoundError):
        store.put_artifacts([pb.Artifact(type_id=types.execution)])
    with pytest.raises(errors.NotFoundError):
        store.put_executions([pb.Execution(type_id=types.artifact)])
    with pytest.raises(errors.NotFoundError):
        store.put_contexts([pb.Context(type_id=types.artifact, name="c")])
    assert store.get_artifacts() == [] and store.get_executions() == [] and store.get_contexts() == []


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_property_is_invalid_argument(store, types, kind):
    node = _new(types, kind, name="x")
    node.properties["undeclared"].int_value = 1
    with pytest.raises(errors.InvalidArgumentError, match="Found unknown property: undeclared"):
        _put(store, kind, [node])
    assert getattr(store, f"get_{kind}s")() == []


@pytest.mark.parametrize("kind,prop", [("artifact", "day"), ("execution", "n"), ("context", "owner")])
def test_unmatched_property_type_is_invalid_argument(store, types, kind, prop):
    node = _new(types, kind, name="x")
    if prop == "owner":
        node.properties[prop].int_value = 1
    else:
        node.properties[prop].string_value = "not an int"
    with pytest.raises(errors.InvalidArgumentError, match=f"Found unmatched property type: {prop}"):
        _put(store, kind, [node])
    assert getattr(store, f"get_{kind}s")() == []


@pytest.mark.parametrize("kind,prop", [("artifact", "day"), ("execution", "n"), ("context", "owner")])
def test_empty_value_for_declared_property_is_invalid_argument(store, types, kind, prop):
    node = _new(types, kind, name="x")
    node.properties[prop].SetInParent()
    with pytest.raises(errors.InvalidArgumentError):
        _put(store, kind, [node])
    assert getattr(store, f"get_{kind}s")() == []


@only_mlmd_core  # ml-metadata 1.17.1 aborts the process here (reference §10.13)
@pytest.mark.parametrize("kind", KINDS)
def test_empty_value_for_custom_property_is_invalid_argument(store, types, kind):
    node = _new(types, kind, name="x")
    node.custom_properties["empty"].SetInParent()
    with pytest.raises(errors.InvalidArgumentError):
        _put(store, kind, [node])
    assert getattr(store, f"get_{kind}s")() == []


def test_property_type_checks_every_declared_type(store, types):
    cases = {
        "day": ("string_value", "1"),
        "split": ("int_value", 1),
        "score": ("int_value", 1),
        "flag": ("int_value", 1),
        "meta": ("string_value", "{}"),
        "blob": ("string_value", "x"),
    }
    for prop, (field, value) in cases.items():
        a = pb.Artifact(type_id=types.artifact)
        setattr(a.properties[prop], field, value)
        with pytest.raises(errors.InvalidArgumentError, match=f"unmatched property type: {prop}"):
            store.put_artifacts([a])
    assert store.get_artifacts() == []


@pytest.mark.parametrize("kind", KINDS)
def test_custom_properties_need_no_declaration(store, types, kind):
    node = _new(types, kind, name="x")
    node.custom_properties["anything"].string_value = "v"
    node.custom_properties["day"].string_value = "a custom 'day' may have any type"
    [nid] = _put(store, kind, [node])
    got = _one(store, kind, nid)
    assert got.custom_properties["anything"].string_value == "v"
    assert got.custom_properties["day"].string_value.startswith("a custom")
    assert "day" not in got.properties


def test_context_needs_a_name(store, types):
    with pytest.raises(errors.InvalidArgumentError):
        store.put_contexts([pb.Context(type_id=types.context)])
    with pytest.raises(errors.InvalidArgumentError):
        store.put_contexts([pb.Context(type_id=types.context, name="")])
    assert store.get_contexts() == []


def test_artifacts_and_executions_without_name_may_repeat(store, types):
    ids = store.put_artifacts([pb.Artifact(type_id=types.artifact), pb.Artifact(type_id=types.artifact)])
    assert len(set(ids)) == 2
    ids = store.put_executions([pb.Execution(type_id=types.execution)] * 2)
    assert len(set(ids)) == 2


def test_empty_external_id_and_name_are_values(store, types):
    # Reference silent; verified on ml-metadata 1.17.1: "" is stored as given (HasField is True) and a second
    # "" collides like any other value.
    [aid] = store.put_artifacts([pb.Artifact(type_id=types.artifact, external_id="", name="")])
    got = _one(store, "artifact", aid)
    assert got.HasField("external_id") and got.external_id == ""
    assert got.HasField("name") and got.name == ""
    with pytest.raises(errors.AlreadyExistsError):
        store.put_artifacts([pb.Artifact(type_id=types.artifact, external_id="")])
    assert len(store.get_artifacts()) == 1


def test_over_long_name_is_refused_on_servers_not_cut(store, types):
    """MLMD's server schema holds names of up to 255 characters: a longer one is refused, storing nothing, in a
    batch as alone (a batch goes in one multi-row statement, on PostgreSQL as column arrays: no cast on the way
    may cut the value)."""
    long_name = "n" * 256
    batch = [pb.Artifact(type_id=types.artifact, name=f"short{i}") for i in range(20)]
    batch.append(pb.Artifact(type_id=types.artifact, name=long_name))
    if store_dialect(store) == "sqlite":  # SQLite does not enforce VARCHAR lengths, for ml-metadata neither
        store.put_artifacts(batch)
        assert sorted(a.name for a in store.get_artifacts()) == sorted(a.name for a in batch)
        return
    for artifacts in (batch, batch[-1:]):
        with pytest.raises(errors.InvalidArgumentError, match="does not fit"):
            store.put_artifacts(artifacts)
    assert store.get_artifacts() == []


@only_mlmd_core  # ml-metadata 1.17.1 fails with InternalError "no such column: inf" (its SQL text bug)
def test_special_doubles_round_trip(store, types):
    import math

    a = pb.Artifact(type_id=types.artifact)
    a.properties["score"].double_value = float("inf")
    a.custom_properties["ninf"].double_value = float("-inf")
    a.custom_properties["big"].double_value = 1.7976931348623157e308
    a.custom_properties["tiny"].double_value = 5e-324
    a.custom_properties["maxint"].int_value = 2**63 - 1
    a.custom_properties["minint"].int_value = -(2**63)
    a.custom_properties["uni"].string_value = "h\u00e9llo \u2603 \x00 end"
    dialect = store_dialect(store)
    if dialect != "sqlite":
        # MLMD's server schema cannot hold everything SQLite can: int_value is a 32-bit INT, MySQL has no
        # infinities, PostgreSQL text no NUL. Such a value is refused with InvalidArgumentError, storing nothing.
        unstorable = {"maxint", "minint"} | ({"ninf"} if dialect == "mysql" else {"uni"})
        for key in sorted(unstorable):
            bad = pb.Artifact(type_id=types.artifact)
            bad.custom_properties[key].CopyFrom(a.custom_properties[key])
            with pytest.raises(errors.InvalidArgumentError, match="does not fit"):
                store.put_artifacts([bad])
            del a.custom_properties[key]
        assert store.get_artifacts() == []
        if dialect == "mysql":
            a.properties["score"].double_value = 1.5
    [aid] = store.put_artifacts([a])
    got = _one(store, "artifact", aid)
    if dialect != "mysql":
        assert math.isinf(got.properties["score"].double_value) and got.properties["score"].double_value > 0
    if "ninf" in a.custom_properties:
        assert got.custom_properties["ninf"].double_value == float("-inf")
    for key in ("big", "tiny", "maxint", "minint", "uni"):
        if key in a.custom_properties:
            assert got.custom_properties[key] == a.custom_properties[key], key


@only_mlmd_core
def test_nan_is_not_silently_lost(store, types):
    # A NaN must either round-trip or be refused; it must never come back as an empty Value.
    import math

    a = pb.Artifact(type_id=types.artifact)
    a.custom_properties["nan"].double_value = float("nan")
    try:
        [aid] = store.put_artifacts([a])
    except errors.StatusError:
        assert store.get_artifacts() == []
        return
    got = _one(store, "artifact", aid).custom_properties["nan"]
    assert got.WhichOneof("value") == "double_value"
    assert math.isnan(got.double_value)


# ------------------------------------------------------------------------------------------- duplicates


@pytest.mark.parametrize("kind", KINDS)
def test_duplicate_type_and_name_is_already_exists(store, types, kind):
    _put(store, kind, [_new(types, kind, name="dup")])
    with pytest.raises(errors.AlreadyExistsError):
        _put(store, kind, [_new(types, kind, name="dup")])
    with pytest.raises(errors.AlreadyExistsError):
        _put(store, kind, [_new(types, kind, name="d2"), _new(types, kind, name="d2")])
    assert sorted(n.name for n in getattr(store, f"get_{kind}s")()) == ["dup"]


def test_same_name_under_other_type_is_fine(store, types):
    other = store.put_artifact_type(pb.ArtifactType(name="Other"))
    store.put_artifacts([pb.Artifact(type_id=types.artifact, name="n")])
    store.put_artifacts([pb.Artifact(type_id=other, name="n")])
    c1 = store.put_contexts([pb.Context(type_id=types.context, name="n")])
    c2 = store.put_contexts([pb.Context(type_id=types.context2, name="n")])
    assert c1 != c2
    assert len(store.get_artifacts()) == 2


@pytest.mark.parametrize("kind", KINDS)
def test_duplicate_external_id_is_already_exists(store, types, kind):
    _put(store, kind, [_new(types, kind, name="a", external_id="e")])
    with pytest.raises(errors.AlreadyExistsError):
        _put(store, kind, [_new(types, kind, name="b", external_id="e")])
    [other] = _put(store, kind, [_new(types, kind, name="c")])
    # On update ml-metadata 1.17.1 lets the UPDATE's UNIQUE violation through as InternalError.
    with pytest.raises((errors.AlreadyExistsError, errors.InternalError)):
        node = _one(store, kind, other)
        node.external_id = "e"
        _put(store, kind, [node])
    assert sorted(n.name for n in getattr(store, f"get_{kind}s")()) == ["a", "c"]
    assert not _one(store, kind, other).HasField("external_id")


# ----------------------------------------------------------------------------------------------- update


def test_update_is_a_full_replace(store, types):
    a = pb.Artifact(type_id=types.artifact, name="keep", uri="/u", external_id="x", state=pb.Artifact.LIVE)
    a.properties["day"].int_value = 1
    a.custom_properties["c"].string_value = "v"
    [aid] = store.put_artifacts([a])
    created = _one(store, "artifact", aid)
    tick()
    assert store.put_artifacts([pb.Artifact(id=aid)]) == [aid]
    got = _one(store, "artifact", aid)
    # wiped
    assert got.uri == "" and got.HasField("uri")
    assert not got.HasField("state")
    assert not got.HasField("external_id")
    assert len(got.properties) == 0 and len(got.custom_properties) == 0
    # kept
    assert got.type_id == types.artifact and got.type == "DataSet"
    assert got.name == "keep"
    assert got.create_time_since_epoch == created.create_time_since_epoch
    assert got.last_update_time_since_epoch > created.last_update_time_since_epoch
    with pytest.raises(errors.NotFoundError):
        store.get_artifacts_by_external_ids(["x"])


def test_execution_update_is_a_full_replace(store, types):
    e = pb.Execution(type_id=types.execution, name="e", last_known_state=pb.Execution.RUNNING)
    e.properties["n"].int_value = 2
    [eid] = store.put_executions([e])
    store.put_executions([pb.Execution(id=eid, type_id=types.execution, last_known_state=pb.Execution.COMPLETE)])
    got = _one(store, "execution", eid)
    assert got.last_known_state == pb.Execution.COMPLETE
    assert got.name == "e"
    assert len(got.properties) == 0


def test_update_changes_values(store, types):
    a = pb.Artifact(type_id=types.artifact, uri="/old")
    a.properties["day"].int_value = 1
    a.properties["split"].string_value = "train"
    [aid] = store.put_artifacts([a])
    upd = _one(store, "artifact", aid)
    upd.uri = "/new"
    upd.properties["day"].int_value = 2
    del upd.properties["split"]
    upd.custom_properties["added"].bool_value = True
    upd.state = pb.Artifact.MARKED_FOR_DELETION
    store.put_artifacts([upd])
    got = _one(store, "artifact", aid)
    assert got.uri == "/new"
    assert got.state == pb.Artifact.MARKED_FOR_DELETION
    assert dict(got.properties) == {"day": pb.Value(int_value=2)}
    assert dict(got.custom_properties) == {"added": pb.Value(bool_value=True)}
    assert store.get_artifacts_by_uri("/old") == []
    assert [x.id for x in store.get_artifacts_by_uri("/new")] == [aid]


@pytest.mark.parametrize("kind", ["artifact", "execution"])
def test_artifact_and_execution_names_are_immutable(store, types, kind):
    [named] = _put(store, kind, [_new(types, kind, name="orig")])
    [unnamed] = _put(store, kind, [_new(types, kind)])
    _put(store, kind, [_cls(kind)(id=named, name="changed")])
    _put(store, kind, [_cls(kind)(id=unnamed, name="given-later")])
    assert _one(store, kind, named).name == "orig"
    assert not _one(store, kind, unnamed).HasField("name")
    # also through a field mask naming it
    _put(store, kind, [_cls(kind)(id=named, name="masked")], mask=["name"])
    assert _one(store, kind, named).name == "orig"


def test_context_name_is_mutable(store, types):
    [cid] = store.put_contexts([pb.Context(type_id=types.context, name="before")])
    store.put_contexts([pb.Context(id=cid, name="after")])
    assert _one(store, "context", cid).name == "after"
    assert store.get_context_by_type_and_name("Pipeline", "before") is None
    assert store.get_context_by_type_and_name("Pipeline", "after").id == cid
    # renaming onto an existing name collides (InternalError in ml-metadata 1.17.1: the raw UNIQUE violation)
    store.put_contexts([pb.Context(type_id=types.context, name="other")])
    with pytest.raises((errors.AlreadyExistsError, errors.InternalError)):
        store.put_contexts([pb.Context(id=cid, name="other")])
    assert _one(store, "context", cid).name == "after"


def test_context_update_keeps_name_when_masked_out(store, types):
    [cid] = store.put_contexts([pb.Context(type_id=types.context, name="n", external_id="x")])
    store.put_contexts([pb.Context(id=cid, name="n", external_id="y")], field_mask_paths=["external_id"])
    got = _one(store, "context", cid)
    assert got.name == "n" and got.external_id == "y"


def test_update_context_without_name_is_invalid(store, types):
    [cid] = store.put_contexts([pb.Context(type_id=types.context, name="n")])
    with pytest.raises(errors.InvalidArgumentError):
        store.put_contexts([pb.Context(id=cid)])
    assert _one(store, "context", cid).name == "n"


@pytest.mark.parametrize("kind", KINDS)
def test_update_with_other_type_id_is_invalid_argument(store, types, kind):
    [nid] = _put(store, kind, [_new(types, kind, name="n")])
    other = {"artifact": store.put_artifact_type(pb.ArtifactType(name="Other")),
             "execution": store.put_execution_type(pb.ExecutionType(name="Other")),
             "context": types.context2}[kind]
    with pytest.raises(errors.InvalidArgumentError):
        _put(store, kind, [_cls(kind)(id=nid, type_id=other, name="n")])
    assert _one(store, kind, nid).type_id == _type_id(types, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_update_of_unknown_id_is_invalid_argument(store, types, kind):
    with pytest.raises(errors.InvalidArgumentError, match="Cannot find the given id 4242"):
        _put(store, kind, [_cls(kind)(id=4242, type_id=_type_id(types, kind), name="n")])
    assert getattr(store, f"get_{kind}s")() == []


def test_update_validates_properties(store, types):
    [aid] = store.put_artifacts([pb.Artifact(type_id=types.artifact)])
    bad = pb.Artifact(id=aid)
    bad.properties["nope"].int_value = 1
    with pytest.raises(errors.InvalidArgumentError, match="Found unknown property: nope"):
        store.put_artifacts([bad])
    bad = pb.Artifact(id=aid)
    bad.properties["day"].double_value = 1.0
    with pytest.raises(errors.InvalidArgumentError, match="Found unmatched property type: day"):
        store.put_artifacts([bad])
    assert len(_one(store, "artifact", aid).properties) == 0


def test_identical_update_does_not_bump_last_update_time(store, types):
    a = pb.Artifact(type_id=types.artifact, uri="/u", name="n")
    a.properties["day"].int_value = 3
    a.custom_properties["c"].string_value = "v"
    [aid] = store.put_artifacts([a])
    stored = _one(store, "artifact", aid)
    tick()
    store.put_artifacts([stored])
    assert _one(store, "artifact", aid).last_update_time_since_epoch == stored.last_update_time_since_epoch
    # ml-metadata 1.17.1 compares the given proto with the stored one, so `name` and `type` must be given
    # for the update to count as identical.
    same = pb.Artifact(id=aid, type_id=types.artifact, uri="/u", name="n", type="DataSet")
    same.properties["day"].int_value = 3
    same.custom_properties["c"].string_value = "v"
    store.put_artifacts([same])
    assert _one(store, "artifact", aid) == stored
    tick()
    same.uri = "/changed"
    store.put_artifacts([same])
    assert _one(store, "artifact", aid).last_update_time_since_epoch > stored.last_update_time_since_epoch


def test_update_without_type_name_moves_only_the_time(store, types):
    """A node given again as its writer built it (no `type` name, another `type` name, no timestamps) changes
    nothing but its last_update_time: ml-metadata 1.17.1 counts the missing name as a change, so the time
    moves, and takes the type from the stored node. Given twice in one call, it is written once."""
    a = pb.Artifact(type_id=types.artifact, uri="/u", name="n")
    a.properties["day"].int_value = 3
    a.custom_properties["c"].string_value = "v"
    [aid] = store.put_artifacts([a])
    stored = _one(store, "artifact", aid)
    a.id = aid
    for given in ([a], [a, a]):
        before = _one(store, "artifact", aid)
        tick()
        assert store.put_artifacts(given) == [aid] * len(given)
        got = _one(store, "artifact", aid)
        assert got.last_update_time_since_epoch > before.last_update_time_since_epoch
        got.last_update_time_since_epoch = stored.last_update_time_since_epoch
        assert got == stored
    a.type = "NotItsType"
    tick()
    store.put_artifacts([a])
    got = _one(store, "artifact", aid)
    assert got.type == "DataSet" and got.properties == stored.properties and got.uri == "/u"
    # a change, then the changed node given again as its writer has it: the change is kept
    changed = pb.Artifact(id=aid, type_id=types.artifact, uri="/changed", name="n")
    changed.properties["day"].int_value = 4
    store.put_artifacts([changed, changed])
    got = _one(store, "artifact", aid)
    assert got.uri == "/changed" and got.properties["day"].int_value == 4 and "c" not in got.custom_properties


def test_client_times_are_ignored_on_update(store, types):
    [eid] = store.put_executions([pb.Execution(type_id=types.execution)])
    stored = _one(store, "execution", eid)
    store.put_executions([pb.Execution(id=eid, create_time_since_epoch=1, last_update_time_since_epoch=2,
                                       last_known_state=pb.Execution.NEW)])
    got = _one(store, "execution", eid)
    assert got.create_time_since_epoch == stored.create_time_since_epoch
    assert got.last_update_time_since_epoch >= stored.last_update_time_since_epoch > 2


def test_mixed_insert_and_update_in_one_call(store, types):
    [a1] = store.put_artifacts([pb.Artifact(type_id=types.artifact, uri="/1")])
    ids = store.put_artifacts([pb.Artifact(type_id=types.artifact, uri="/2"), pb.Artifact(id=a1, uri="/1b")])
    assert ids[1] == a1 and ids[0] != a1
    assert _one(store, "artifact", a1).uri == "/1b"
    assert _one(store, "artifact", ids[0]).uri == "/2"


@pytest.mark.parametrize("kind", KINDS)
def test_many_updates_in_one_call(store, types, kind):
    """One call updating several nodes (one statement for all of them on MySQL): each gets its own values,
    NULLs included, and a node given twice ends as given last."""
    ids = _put(store, kind, [_new(types, kind, name=f"n{i}", external_id=f"x{i}") for i in range(3)])
    first, second, third = _by_id(store, kind, ids)
    first.ClearField("external_id")
    second.external_id = "changed"
    third.custom_properties["note"].string_value = "once"
    twice = _cls(kind)()
    twice.CopyFrom(third)
    twice.custom_properties["note"].string_value = "twice"
    twice.external_id = "last"
    _put(store, kind, [first, second, third, twice])
    got = _by_id(store, kind, ids)
    assert [n.HasField("external_id") for n in got] == [False, True, True]
    assert [got[1].external_id, got[2].external_id] == ["changed", "last"]
    assert got[2].custom_properties["note"].string_value == "twice"
    assert [n.name for n in got] == ["n0", "n1", "n2"]


@pytest.mark.parametrize("kind", KINDS)
def test_updates_changing_different_columns_in_one_call(store, types, kind):
    """Nodes of one call that change different columns (only the changed ones are written, a statement per
    set of them): each ends as given, and only the changed ones get a new last_update_time."""
    state_field = {"artifact": "state", "execution": "last_known_state", "context": None}[kind]
    nodes = [_new(types, kind, name=f"n{i}", external_id=f"x{i}") for i in range(4)]
    for node in nodes:
        if kind == "artifact":
            node.uri = "/u"
        if state_field:
            setattr(node, state_field, 2)
    ids = _put(store, kind, nodes)
    stored = _by_id(store, kind, ids)
    given = [_cls(kind)() for _ in stored]
    for node, before in zip(given, stored):
        node.CopyFrom(before)
    given[0].external_id = "y0"
    if kind == "artifact":
        given[1].uri = "/v"
    if state_field:
        setattr(given[1], state_field, 3)
    if kind == "context":
        given[1].name = "m1"
    given[2].custom_properties["note"].string_value = "p"
    tick()
    _put(store, kind, given)
    got = _by_id(store, kind, ids)
    for node in (*got, *given):
        node.ClearField("last_update_time_since_epoch")
    assert got == given
    bumped = [after.last_update_time_since_epoch > before.last_update_time_since_epoch
              for after, before in zip(_by_id(store, kind, ids), stored)]
    assert bumped == [True, True, True, False]


def test_updates_of_more_rows_than_one_statement_takes(store, types):
    ids = store.put_artifacts([pb.Artifact(type_id=types.artifact, uri=f"/old/{i}") for i in range(1100)])
    artifacts = store.get_artifacts_by_id(ids)
    for artifact in artifacts:
        artifact.uri = artifact.uri.replace("/old/", "/new/")
        artifact.state = pb.Artifact.LIVE
    store.put_artifacts(artifacts)
    got = store.get_artifacts_by_id(ids)
    assert [a.uri for a in got] == [f"/new/{i}" for i in range(1100)]
    assert {a.state for a in got} == {pb.Artifact.LIVE}


# ------------------------------------------------------------------------------------------- field masks


def _masked_fixture(store, types):
    a = pb.Artifact(type_id=types.artifact, name="n", uri="/u", external_id="x", state=pb.Artifact.LIVE)
    a.properties["day"].int_value = 1
    a.properties["split"].string_value = "train"
    a.custom_properties["c1"].string_value = "one"
    a.custom_properties["c2"].int_value = 2
    [aid] = store.put_artifacts([a])
    return aid


def test_mask_top_level_paths(store, types):
    aid = _masked_fixture(store, types)
    upd = pb.Artifact(id=aid, uri="/new", state=pb.Artifact.DELETED, external_id="ignored")
    store.put_artifacts([upd], field_mask_paths=["uri", "state"])
    got = _one(store, "artifact", aid)
    assert got.uri == "/new" and got.state == pb.Artifact.DELETED
    assert got.external_id == "x"
    assert dict(got.properties) == {"day": pb.Value(int_value=1), "split": pb.Value(string_value="train")}
    assert len(got.custom_properties) == 2


def test_mask_clears_top_level_field_absent_from_input(store, types):
    aid = _masked_fixture(store, types)
    store.put_artifacts([pb.Artifact(id=aid)], field_mask_paths=["external_id", "state"])
    got = _one(store, "artifact", aid)
    assert not got.HasField("external_id")
    assert not got.HasField("state")
    assert got.uri == "/u"


def test_mask_property_key_paths(store, types):
    aid = _masked_fixture(store, types)
    upd = pb.Artifact(id=aid)
    upd.properties["day"].int_value = 99
    upd.properties["split"].string_value = "not in mask"
    upd.custom_properties["c3"].double_value = 3.0
    store.put_artifacts([upd], field_mask_paths=["properties.day", "custom_properties.c3"])
    got = _one(store, "artifact", aid)
    assert got.properties["day"].int_value == 99
    assert got.properties["split"].string_value == "train"
    assert set(got.custom_properties) == {"c1", "c2", "c3"}
    assert got.uri == "/u" and got.external_id == "x"


def test_mask_key_absent_from_input_is_deleted(store, types):
    aid = _masked_fixture(store, types)
    store.put_artifacts([pb.Artifact(id=aid)], field_mask_paths=["properties.split", "custom_properties.c1",
                                                                  "custom_properties.never_there"])
    got = _one(store, "artifact", aid)
    assert set(got.properties) == {"day"}
    assert set(got.custom_properties) == {"c2"}


def test_mask_whole_map_replacement(store, types):
    aid = _masked_fixture(store, types)
    upd = pb.Artifact(id=aid)
    upd.custom_properties["only"].string_value = "this"
    upd.properties["day"].int_value = 5
    store.put_artifacts([upd], field_mask_paths=["custom_properties"])
    got = _one(store, "artifact", aid)
    assert dict(got.custom_properties) == {"only": pb.Value(string_value="this")}
    assert got.properties["day"].int_value == 1  # properties not in the mask
    store.put_artifacts([upd], field_mask_paths=["properties", "properties.split"])
    got = _one(store, "artifact", aid)
    assert dict(got.properties) == {"day": pb.Value(int_value=5)}


def test_mask_unknown_and_empty_paths_are_ignored(store, types):
    aid = _masked_fixture(store, types)
    before = _one(store, "artifact", aid)
    store.put_artifacts([pb.Artifact(id=aid, uri="/zzz")], field_mask_paths=["no_such_field", "", "properties."])
    after = _one(store, "artifact", aid)
    # (ml-metadata 1.17.1 may still bump last_update_time here; the content must not change)
    after.last_update_time_since_epoch = before.last_update_time_since_epoch
    assert after == before


def test_mask_is_ignored_on_insert(store, types):
    a = pb.Artifact(type_id=types.artifact, uri="/u", external_id="e")
    a.properties["day"].int_value = 1
    [aid] = store.put_artifacts([a], field_mask_paths=["state"])
    got = _one(store, "artifact", aid)
    assert got.uri == "/u" and got.external_id == "e" and got.properties["day"].int_value == 1


def test_mask_on_execution_and_context(store, types):
    e = pb.Execution(type_id=types.execution, last_known_state=pb.Execution.RUNNING)
    e.properties["n"].int_value = 1
    [eid] = store.put_executions([e])
    store.put_executions([pb.Execution(id=eid, last_known_state=pb.Execution.COMPLETE)],
                         field_mask_paths=["last_known_state"])
    got = _one(store, "execution", eid)
    assert got.last_known_state == pb.Execution.COMPLETE and got.properties["n"].int_value == 1
    c = pb.Context(type_id=types.context, name="c")
    c.properties["owner"].string_value = "a"
    [cid] = store.put_contexts([c])
    upd = pb.Context(id=cid, name="renamed")
    upd.properties["owner"].string_value = "b"
    store.put_contexts([upd], field_mask_paths=["name"])
    got_c = _one(store, "context", cid)
    assert got_c.name == "renamed" and got_c.properties["owner"].string_value == "a"


def test_masked_update_still_validates(store, types):
    aid = _masked_fixture(store, types)
    upd = pb.Artifact(id=aid)
    upd.properties["day"].string_value = "bad"
    with pytest.raises(errors.InvalidArgumentError, match="unmatched property type: day"):
        store.put_artifacts([upd], field_mask_paths=["properties.day"])
    assert _one(store, "artifact", aid).properties["day"].int_value == 1


# ---------------------------------------------------------------------------------------------- getters


@pytest.mark.parametrize("kind", KINDS)
def test_get_by_id(store, types, kind):
    ids = _put(store, kind, [_new(types, kind, name=f"n{i}") for i in range(4)])
    assert sorted(n.id for n in _by_id(store, kind, ids)) == ids
    assert _by_id(store, kind, []) == []
    assert _by_id(store, kind, [987654]) == []
    assert [n.id for n in _by_id(store, kind, [ids[1], 987654])] == [ids[1]]
    # dedup
    assert [n.id for n in _by_id(store, kind, [ids[2], ids[2], ids[2]])] == [ids[2]]
    # set, generator and dict input
    assert sorted(n.id for n in _by_id(store, kind, set(ids[:2]))) == ids[:2]
    assert sorted(n.id for n in _by_id(store, kind, (i for i in ids[2:]))) == ids[2:]
    assert sorted(n.id for n in _by_id(store, kind, dict.fromkeys(ids[1:3]))) == ids[1:3]


def test_get_by_id_of_another_kind_is_empty(store, types):
    aids = store.put_artifacts([pb.Artifact(type_id=types.artifact) for _ in range(3)])
    [eid] = store.put_executions([pb.Execution(type_id=types.execution)])
    # ids are per kind: only the execution with that id comes back
    assert [e.id for e in store.get_executions_by_id(aids)] == [eid]
    assert store.get_executions_by_id([aids[-1]]) == []
    assert store.get_contexts_by_id(aids) == []


@pytest.mark.parametrize("kind", KINDS)
def test_get_all(store, types, kind):
    assert getattr(store, f"get_{kind}s")() == []
    ids = _put(store, kind, [_new(types, kind, name=f"n{i}") for i in range(3)])
    assert [n.id for n in getattr(store, f"get_{kind}s")()] == ids


@pytest.mark.parametrize("kind", KINDS)
def test_get_by_type(store, types, kind):
    ids = _put(store, kind, [_new(types, kind, name=f"n{i}") for i in range(3)])
    cls_type = {"artifact": pb.ArtifactType, "execution": pb.ExecutionType, "context": pb.ContextType}[kind]
    put_type = getattr(store, f"put_{kind}_type")
    v_id = put_type(cls_type(name="Versioned", version="v1"))
    [vn] = _put(store, kind, [_cls(kind)(type_id=v_id, name="vn")])
    get = getattr(store, f"get_{kind}s_by_type")
    type_name = {"artifact": "DataSet", "execution": "Trainer", "context": "Pipeline"}[kind]
    assert sorted(n.id for n in get(type_name)) == ids
    assert get("NoSuchType") == []
    assert [n.id for n in get("Versioned", "v1")] == [vn]
    assert get("Versioned") == []  # no version: only the unversioned type
    assert get("Versioned", "v2") == []


@pytest.mark.parametrize("kind", KINDS)
def test_get_by_type_and_name(store, types, kind):
    [nid] = _put(store, kind, [_new(types, kind, name="the-name")])
    get = getattr(store, f"get_{kind}_by_type_and_name")
    type_name = {"artifact": "DataSet", "execution": "Trainer", "context": "Pipeline"}[kind]
    got = get(type_name, "the-name")
    assert got is not None and got.id == nid and got.name == "the-name"
    assert got == _one(store, kind, nid)
    assert get(type_name, "other-name") is None
    assert get("NoSuchType", "the-name") is None
    assert get(type_name, "the-name", "no-such-version") is None


def test_get_by_type_and_name_with_version(store, types):
    tid = store.put_artifact_type(pb.ArtifactType(name="V", version="2"))
    [aid] = store.put_artifacts([pb.Artifact(type_id=tid, name="a")])
    assert store.get_artifact_by_type_and_name("V", "a", "2").id == aid
    assert store.get_artifact_by_type_and_name("V", "a") is None


def test_get_artifacts_by_uri(store, types):
    ids = store.put_artifacts([pb.Artifact(type_id=types.artifact, uri=u) for u in ("/a", "/b", "/a", "/a/")])
    assert sorted(a.id for a in store.get_artifacts_by_uri("/a")) == [ids[0], ids[2]]
    assert [a.id for a in store.get_artifacts_by_uri("/b")] == [ids[1]]
    assert store.get_artifacts_by_uri("/nope") == []
    [no_uri] = store.put_artifacts([pb.Artifact(type_id=types.artifact)])
    assert [a.id for a in store.get_artifacts_by_uri("")] == [no_uri]


@pytest.mark.parametrize("kind", KINDS)
def test_get_by_external_ids(store, types, kind):
    get = getattr(store, f"get_{kind}s_by_external_ids")
    assert get([]) == []
    with pytest.raises(errors.NotFoundError, match=f"No {kind}s found for external_ids"):
        get(["nothing"])
    ids = _put(store, kind, [_new(types, kind, name=f"n{i}", external_id=f"e{i}") for i in range(3)])
    assert sorted(n.id for n in get(["e0", "e2"])) == [ids[0], ids[2]]
    # a partial match returns the matches, no error
    assert [n.id for n in get(["e1", "missing"])] == [ids[1]]
    assert get(["e1"])[0].external_id == "e1"


def test_get_by_uris_and_external_ids_past_one_statement(store, types):
    """More values than one statement takes (500): the nodes of every chunk, in id order, with their
    properties (on a server joined to the nodes in one statement per chunk)."""
    artifacts = []
    for i in range(1200):
        a = pb.Artifact(type_id=types.artifact, uri=f"/u/{i % 600}", external_id=f"x{i}")
        a.properties["day"].int_value = i
        artifacts.append(a)
    ids = store.put_artifacts(artifacts)
    request = svc_pb.GetArtifactsByURIRequest(uris=[f"/u/{i}" for i in range(599, -1, -1)] + ["/u/none"])
    by_uri = raw_call(store, "GetArtifactsByURI", request).artifacts
    assert [(a.id, a.properties["day"].int_value) for a in by_uri] == list(zip(ids, range(1200)))
    by_external_id = store.get_artifacts_by_external_ids([f"x{i}" for i in range(1199, 0, -2)])
    assert [(a.id, a.external_id, a.properties["day"].int_value) for a in by_external_id] == [
        (ids[i], f"x{i}", i) for i in range(1, 1200, 2)]


def test_get_artifacts_and_types_by_artifact_ids(store, types):
    other = store.put_artifact_type(pb.ArtifactType(name="Other"))
    ids = store.put_artifacts([pb.Artifact(type_id=types.artifact), pb.Artifact(type_id=other),
                               pb.Artifact(type_id=types.artifact)])
    artifacts, artifact_types = store.get_artifacts_and_types_by_artifact_ids(ids)
    assert sorted(a.id for a in artifacts) == ids
    assert sorted(t.id for t in artifact_types) == sorted([types.artifact, other])
    dataset = [t for t in artifact_types if t.id == types.artifact][0]
    assert dataset.name == "DataSet" and dataset.properties["day"] == pb.INT
    artifacts, artifact_types = store.get_artifacts_and_types_by_artifact_ids([])
    assert artifacts == [] and artifact_types == []
    artifacts, artifact_types = store.get_artifacts_and_types_by_artifact_ids([ids[1], 424242])
    assert [a.id for a in artifacts] == [ids[1]]
    assert [t.id for t in artifact_types] == [other]


def test_get_by_id_past_one_statement_reads_every_node_with_its_properties(store, types):
    """More ids than one statement takes (500): each chunk's nodes and properties come in one round trip
    on a server; quotes, semicolons and percent signs in values travel intact."""
    awkward = "it's; DROP TABLE Artifact; -- 100% \\ done"
    artifacts = []
    for i in range(1200):
        a = pb.Artifact(type_id=types.artifact, uri=f"/a/{i}")
        a.properties["day"].int_value = i
        a.properties["split"].string_value = f"{awkward} {i}"
        artifacts.append(a)
    ids = store.put_artifacts(artifacts)
    got = store.get_artifacts_by_id(ids[::-1] + [ids[-1] + 1000])
    assert [a.id for a in got] == ids
    assert [(a.uri, a.properties["day"].int_value, a.properties["split"].string_value) for a in got] == [
        (f"/a/{i}", i, f"{awkward} {i}") for i in range(1200)]

