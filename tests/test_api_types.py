"""put_*_type / get_*_type(s): MLMD's type upsert rules, system types and type lookups (reference §1.3)."""

# Fixtures are imported from store_fixtures and used as test arguments (pytest's way), which reads as F811.
# ruff: noqa: F811

from __future__ import annotations

import pytest
from store_fixtures import errors, pb, raw_call, store, svc_pb  # noqa: F401

KINDS = [
    # (kind name, type proto, put method, get method)
    ("artifact", pb.ArtifactType),
    ("execution", pb.ExecutionType),
    ("context", pb.ContextType),
]


def _put(s, kind, t, **kw):
    return getattr(s, f"put_{kind}_type")(t, **kw)


def _get(s, kind, name, version=None):
    return getattr(s, f"get_{kind}_type")(name, version) if version else getattr(s, f"get_{kind}_type")(name)


def _typ(cls, name="T", **props):
    t = cls(name=name)
    for k, v in props.items():
        t.properties[k] = v
    return t


# ------------------------------------------------------------------------------------------ system types


def test_system_types_have_ids_1_to_9_and_first_user_type_is_10(store):
    artifact_system = store.get_artifact_types_by_id([1, 2, 3, 4])
    assert [t.name for t in artifact_system] == ["mlmd.Dataset", "mlmd.Model", "mlmd.Metrics", "mlmd.Statistics"]
    assert [t.id for t in artifact_system] == [1, 2, 3, 4]
    execution_system = store.get_execution_types_by_id([5, 6, 7, 8, 9])
    assert [t.name for t in execution_system] == [
        "mlmd.Train", "mlmd.Transform", "mlmd.Process", "mlmd.Evaluate", "mlmd.Deploy"]
    for t in artifact_system + execution_system:
        assert len(t.properties) == 0
        assert not t.HasField("version")
    assert store.put_artifact_type(pb.ArtifactType(name="first")) == 10
    assert store.put_execution_type(pb.ExecutionType(name="second")) == 11
    assert store.put_context_type(pb.ContextType(name="third")) == 12


def test_system_types_are_hidden_from_get_types(store):
    assert store.get_artifact_types() == []
    assert store.get_execution_types() == []
    assert store.get_context_types() == []
    store.put_artifact_type(pb.ArtifactType(name="A"))
    store.put_execution_type(pb.ExecutionType(name="E"))
    assert [t.name for t in store.get_artifact_types()] == ["A"]
    assert [t.name for t in store.get_execution_types()] == ["E"]


def test_system_types_are_fetchable_by_name(store):
    model = store.get_artifact_type("mlmd.Model")
    assert model.id == 2 and model.name == "mlmd.Model"
    train = store.get_execution_type("mlmd.Train")
    assert train.id == 5
    with pytest.raises(errors.NotFoundError):
        store.get_execution_type("mlmd.Model")  # an artifact type, not an execution type


def test_types_by_id_skip_other_kinds_and_unknown_ids(store):
    a = store.put_artifact_type(pb.ArtifactType(name="A"))
    e = store.put_execution_type(pb.ExecutionType(name="E"))
    c = store.put_context_type(pb.ContextType(name="C"))
    assert sorted(t.id for t in store.get_artifact_types_by_id([a, e, c, 1, 5, 999])) == [1, a]
    assert sorted(t.id for t in store.get_execution_types_by_id([a, e, c, 1, 5, 999])) == [5, e]
    assert [t.id for t in store.get_context_types_by_id([a, e, c, 1, 5, 999])] == [c]
    assert store.get_artifact_types_by_id([]) == []
    assert store.get_context_types_by_id([999]) == []


def test_types_by_id_accepts_sets_and_generators(store):
    a = store.put_artifact_type(pb.ArtifactType(name="A"))
    b = store.put_artifact_type(pb.ArtifactType(name="B"))
    assert sorted(t.id for t in store.get_artifact_types_by_id({a, b})) == [a, b]
    assert sorted(t.id for t in store.get_artifact_types_by_id(i for i in (b, a))) == [a, b]
    # ml-metadata 1.17.1 answers [a, a, a] with the type repeated; only its presence is asserted here.
    assert {t.id for t in store.get_artifact_types_by_id([a, a, a])} == {a}


def test_types_by_id_follow_request_order(store):
    # The reference says "not index-aligned" and is silent on order; ml-metadata 1.17.1 answers in the order
    # of the requested ids (callers zip the answer with their ids), repeating a repeated id.
    a = store.put_artifact_type(pb.ArtifactType(name="A"))
    b = store.put_artifact_type(pb.ArtifactType(name="B"))
    assert [t.id for t in store.get_artifact_types_by_id([b, 999, a, 1])] == [b, a, 1]
    assert [t.id for t in store.get_artifact_types_by_id([a, b, a])] == [a, b, a]


# ---------------------------------------------------------------------------------------- insert / read


@pytest.mark.parametrize("kind,cls", KINDS)
def test_put_type_round_trip(store, kind, cls):
    t = _typ(cls, "MyType", i=pb.INT, d=pb.DOUBLE, s=pb.STRING, st=pb.STRUCT, p=pb.PROTO, b=pb.BOOLEAN)
    t.description = "a description"
    t.external_id = f"ext-{kind}"
    type_id = _put(store, kind, t)
    assert type_id >= 10
    got = _get(store, kind, "MyType")
    expected = cls()
    expected.CopyFrom(t)
    expected.id = type_id
    assert got == expected
    assert not got.HasField("version")
    assert getattr(store, f"get_{kind}_types_by_id")([type_id]) == [expected]
    assert getattr(store, f"get_{kind}_types_by_external_ids")([f"ext-{kind}"]) == [expected]
    # ml-metadata 1.17.1's get_*_types() leaves external_id out of its answer; the rest must match.
    listed = getattr(store, f"get_{kind}_types")()
    assert len(listed) == 1
    listed[0].external_id = expected.external_id
    assert listed == [expected]


@pytest.mark.parametrize("kind,cls", KINDS)
def test_returned_type_carries_only_set_fields(store, kind, cls):
    type_id = _put(store, kind, cls(name="Bare"))
    got = _get(store, kind, "Bare")
    assert got == cls(id=type_id, name="Bare")
    for field in ("version", "description", "external_id", "base_type"):
        assert not got.HasField(field), field


@pytest.mark.parametrize("kind,cls", KINDS)
def test_reput_is_idempotent(store, kind, cls):
    t = _typ(cls, "T", a=pb.INT, b=pb.STRING)
    first = _put(store, kind, t)
    assert _put(store, kind, t) == first
    assert _put(store, kind, t, can_add_fields=True, can_omit_fields=True) == first
    assert len(getattr(store, f"get_{kind}_types")()) == 1


@pytest.mark.parametrize("kind,cls", KINDS)
def test_missing_name_is_invalid_argument(store, kind, cls):
    with pytest.raises(errors.InvalidArgumentError, match="No type name is specified"):
        _put(store, kind, _typ(cls, "", a=pb.INT))
    with pytest.raises(errors.InvalidArgumentError):
        _put(store, kind, cls())
    assert getattr(store, f"get_{kind}_types")() == []


@pytest.mark.parametrize("kind,cls", KINDS)
def test_unknown_property_type_is_invalid_argument(store, kind, cls):
    with pytest.raises(errors.InvalidArgumentError):
        _put(store, kind, _typ(cls, "T", ok=pb.INT, bad=pb.UNKNOWN))
    assert getattr(store, f"get_{kind}_types")() == []
    with pytest.raises(errors.NotFoundError):
        _get(store, kind, "T")


def test_unknown_property_type_on_existing_type_is_invalid_argument(store):
    type_id = store.put_artifact_type(_typ(pb.ArtifactType, "T", ok=pb.INT))
    with pytest.raises(errors.InvalidArgumentError):
        store.put_artifact_type(_typ(pb.ArtifactType, "T", ok=pb.INT, bad=pb.UNKNOWN), can_add_fields=True)
    assert dict(store.get_artifact_types_by_id([type_id])[0].properties) == {"ok": pb.INT}


@pytest.mark.parametrize("kind,cls", KINDS)
def test_adding_fields_needs_can_add_fields(store, kind, cls):
    type_id = _put(store, kind, _typ(cls, "T", a=pb.INT))
    with pytest.raises(errors.AlreadyExistsError):
        _put(store, kind, _typ(cls, "T", a=pb.INT, b=pb.STRING))
    assert dict(_get(store, kind, "T").properties) == {"a": pb.INT}
    assert _put(store, kind, _typ(cls, "T", a=pb.INT, b=pb.STRING), can_add_fields=True) == type_id
    assert dict(_get(store, kind, "T").properties) == {"a": pb.INT, "b": pb.STRING}


@pytest.mark.parametrize("kind,cls", KINDS)
def test_omitting_fields_needs_can_omit_fields_and_keeps_them(store, kind, cls):
    type_id = _put(store, kind, _typ(cls, "T", a=pb.INT, b=pb.STRING))
    with pytest.raises(errors.AlreadyExistsError):
        _put(store, kind, _typ(cls, "T", a=pb.INT))
    assert _put(store, kind, _typ(cls, "T", a=pb.INT), can_omit_fields=True) == type_id
    # Omitted properties are kept, never deleted.
    assert dict(_get(store, kind, "T").properties) == {"a": pb.INT, "b": pb.STRING}
    assert _put(store, kind, cls(name="T"), can_omit_fields=True) == type_id
    assert dict(_get(store, kind, "T").properties) == {"a": pb.INT, "b": pb.STRING}


def test_add_and_omit_together(store):
    type_id = store.put_artifact_type(_typ(pb.ArtifactType, "T", a=pb.INT, b=pb.STRING))
    with pytest.raises(errors.AlreadyExistsError):
        store.put_artifact_type(_typ(pb.ArtifactType, "T", a=pb.INT, c=pb.DOUBLE), can_add_fields=True)
    with pytest.raises(errors.AlreadyExistsError):
        store.put_artifact_type(_typ(pb.ArtifactType, "T", a=pb.INT, c=pb.DOUBLE), can_omit_fields=True)
    assert store.put_artifact_type(_typ(pb.ArtifactType, "T", a=pb.INT, c=pb.DOUBLE), can_add_fields=True,
                                   can_omit_fields=True) == type_id
    assert dict(store.get_artifact_type("T").properties) == {"a": pb.INT, "b": pb.STRING, "c": pb.DOUBLE}


@pytest.mark.parametrize("kind,cls", KINDS)
def test_changing_a_property_data_type_is_already_exists(store, kind, cls):
    _put(store, kind, _typ(cls, "T", a=pb.INT))
    for flags in ({}, {"can_add_fields": True, "can_omit_fields": True}):
        with pytest.raises(errors.AlreadyExistsError):
            _put(store, kind, _typ(cls, "T", a=pb.STRING), **flags)
    assert dict(_get(store, kind, "T").properties) == {"a": pb.INT}


def test_description_is_never_updated(store):
    t = pb.ArtifactType(name="T", description="first")
    type_id = store.put_artifact_type(t)
    assert store.put_artifact_type(pb.ArtifactType(name="T", description="second")) == type_id
    assert store.get_artifact_type("T").description == "first"
    assert store.put_artifact_type(pb.ArtifactType(name="T")) == type_id
    assert store.get_artifact_type("T").description == "first"


def test_id_in_request_is_ignored(store):
    a = store.put_artifact_type(pb.ArtifactType(name="A"))
    b = store.put_artifact_type(pb.ArtifactType(id=a, name="B"))
    assert b != a
    assert [t.name for t in store.get_artifact_types()] == ["A", "B"]
    assert store.put_artifact_type(pb.ArtifactType(id=12345, name="A")) == a


# --------------------------------------------------------------------------------------------- versions


@pytest.mark.parametrize("kind,cls", KINDS)
def test_versions_are_distinct_types(store, kind, cls):
    plain = _put(store, kind, _typ(cls, "T", a=pb.INT))
    v1 = _put(store, kind, cls(name="T", version="v1"))
    v2t = _typ(cls, "T", b=pb.STRING)
    v2t.version = "v2"
    v2 = _put(store, kind, v2t)
    assert len({plain, v1, v2}) == 3
    assert _get(store, kind, "T").id == plain
    assert not _get(store, kind, "T").HasField("version")
    got_v2 = _get(store, kind, "T", "v2")
    assert got_v2.id == v2 and got_v2.version == "v2" and dict(got_v2.properties) == {"b": pb.STRING}
    assert _put(store, kind, cls(name="T", version="v1")) == v1
    with pytest.raises(errors.NotFoundError):
        _get(store, kind, "T", "v3")
    assert sorted(t.id for t in getattr(store, f"get_{kind}_types")()) == sorted([plain, v1, v2])


def test_empty_version_is_unset(store):
    plain = store.put_artifact_type(pb.ArtifactType(name="T"))
    assert store.put_artifact_type(pb.ArtifactType(name="T", version="")) == plain
    assert not store.get_artifact_type("T").HasField("version")
    only_versioned = store.put_context_type(pb.ContextType(name="V", version="1"))
    with pytest.raises(errors.NotFoundError):
        store.get_context_type("V")  # no version: only the unversioned type matches
    assert store.get_context_type("V", "1").id == only_versioned


# ------------------------------------------------------------------------------------------- get_*_type


@pytest.mark.parametrize("kind,cls", KINDS)
def test_get_type_not_found(store, kind, cls):
    with pytest.raises(errors.NotFoundError, match="No type found for query"):
        _get(store, kind, "nope")


def test_same_name_different_kinds_are_different_types(store):
    a = store.put_artifact_type(pb.ArtifactType(name="Same"))
    e = store.put_execution_type(pb.ExecutionType(name="Same"))
    c = store.put_context_type(pb.ContextType(name="Same"))
    assert len({a, e, c}) == 3
    assert store.get_artifact_type("Same").id == a
    assert store.get_execution_type("Same").id == e
    assert store.get_context_type("Same").id == c


def test_execution_type_input_output_type_round_trip(store):
    t = pb.ExecutionType(name="WithIO")
    t.input_type.any.SetInParent()
    t.output_type.none.SetInParent()
    type_id = store.put_execution_type(t)
    got = store.get_execution_type("WithIO")
    assert got.id == type_id
    assert got.input_type.HasField("any")
    assert got.output_type.HasField("none")


# ------------------------------------------------------------------------------------------ external_id


@pytest.mark.parametrize("kind,cls", KINDS)
def test_types_by_external_ids(store, kind, cls):
    get = getattr(store, f"get_{kind}_types_by_external_ids")
    assert get([]) == []
    with pytest.raises(errors.NotFoundError, match="No types found for external_ids"):
        get(["missing"])
    a = _put(store, kind, cls(name="A", external_id="ea"))
    b = _put(store, kind, cls(name="B", external_id="eb"))
    assert sorted(t.id for t in get(["ea", "eb", "missing"])) == sorted([a, b])
    assert [t.id for t in get(["eb"])] == [b]
    assert get(["eb"])[0].external_id == "eb"


def test_types_by_external_ids_are_kind_specific(store):
    store.put_artifact_type(pb.ArtifactType(name="A", external_id="ea"))
    with pytest.raises(errors.NotFoundError):
        store.get_execution_types_by_external_ids(["ea"])
    with pytest.raises(errors.NotFoundError):
        store.get_context_types_by_external_ids(["ea"])


def test_external_id_is_updated_when_non_empty_and_kept_otherwise(store):
    type_id = store.put_artifact_type(pb.ArtifactType(name="T", external_id="e1"))
    assert store.put_artifact_type(pb.ArtifactType(name="T")) == type_id
    assert store.get_artifact_type("T").external_id == "e1"
    assert store.put_artifact_type(pb.ArtifactType(name="T", external_id="")) == type_id
    assert store.get_artifact_type("T").external_id == "e1"
    assert store.put_artifact_type(pb.ArtifactType(name="T", external_id="e2")) == type_id
    assert store.get_artifact_type("T").external_id == "e2"
    assert [t.id for t in store.get_artifact_types_by_external_ids(["e2"])] == [type_id]
    with pytest.raises(errors.NotFoundError):
        store.get_artifact_types_by_external_ids(["e1"])


def test_external_id_can_be_added_later(store):
    type_id = store.put_context_type(pb.ContextType(name="T"))
    assert store.put_context_type(pb.ContextType(name="T", external_id="late")) == type_id
    assert store.get_context_type("T").external_id == "late"


def test_external_id_clash_within_a_kind_is_already_exists(store):
    store.put_artifact_type(pb.ArtifactType(name="A", external_id="shared"))
    with pytest.raises(errors.AlreadyExistsError):
        store.put_artifact_type(pb.ArtifactType(name="B", external_id="shared"))
    b = store.put_artifact_type(pb.ArtifactType(name="B"))
    # Giving an existing type a taken external_id: ml-metadata 1.17.1 lets the UPDATE's UNIQUE violation
    # through as InternalError; AlreadyExists is the documented intent. Either way nothing changes.
    with pytest.raises((errors.AlreadyExistsError, errors.InternalError)):
        store.put_artifact_type(pb.ArtifactType(name="B", external_id="shared"))
    assert [t.name for t in store.get_artifact_types()] == ["A", "B"]
    assert not store.get_artifact_types_by_id([b])[0].HasField("external_id")


def test_external_id_clash_across_kinds_is_an_error_and_writes_nothing(store):
    # ml-metadata 1.17.1 surfaces the raw UNIQUE violation as InternalError; AlreadyExists is the
    # documented-intent alternative. Either way nothing may be written.
    store.put_artifact_type(pb.ArtifactType(name="A", external_id="shared"))
    with pytest.raises((errors.InternalError, errors.AlreadyExistsError)):
        store.put_execution_type(pb.ExecutionType(name="E", external_id="shared"))
    assert store.get_execution_types() == []
    with pytest.raises(errors.NotFoundError):
        store.get_execution_type("E")


# -------------------------------------------------------------------------------------------- base_type


def test_base_type_round_trip(store):
    t = pb.ArtifactType(name="MyModel", base_type=pb.ArtifactType.MODEL)
    type_id = store.put_artifact_type(t)
    got = store.get_artifact_type("MyModel")
    assert got.id == type_id
    assert got.base_type == pb.ArtifactType.MODEL
    e = store.put_execution_type(pb.ExecutionType(name="MyTrain", base_type=pb.ExecutionType.TRAIN))
    assert store.get_execution_types_by_id([e])[0].base_type == pb.ExecutionType.TRAIN


def test_base_type_can_be_set_once_and_change_is_unimplemented(store):
    type_id = store.put_artifact_type(pb.ArtifactType(name="T"))
    assert not store.get_artifact_type("T").HasField("base_type")
    assert store.put_artifact_type(pb.ArtifactType(name="T", base_type=pb.ArtifactType.DATASET)) == type_id
    assert store.get_artifact_type("T").base_type == pb.ArtifactType.DATASET
    # same base again is fine
    assert store.put_artifact_type(pb.ArtifactType(name="T", base_type=pb.ArtifactType.DATASET)) == type_id
    # no base in the re-put keeps it
    assert store.put_artifact_type(pb.ArtifactType(name="T")) == type_id
    assert store.get_artifact_type("T").base_type == pb.ArtifactType.DATASET
    with pytest.raises(errors.UnimplementedError, match="base_type update is not supported yet"):
        store.put_artifact_type(pb.ArtifactType(name="T", base_type=pb.ArtifactType.MODEL))
    assert store.get_artifact_type("T").base_type == pb.ArtifactType.DATASET


def test_execution_base_type_change_is_unimplemented(store):
    store.put_execution_type(pb.ExecutionType(name="T", base_type=pb.ExecutionType.TRAIN))
    with pytest.raises(errors.UnimplementedError):
        store.put_execution_type(pb.ExecutionType(name="T", base_type=pb.ExecutionType.DEPLOY))
    assert store.get_execution_type("T").base_type == pb.ExecutionType.TRAIN


def test_unsetting_base_type_is_unimplemented(store):
    # Reference silent; verified on ml-metadata 1.17.1: an explicit UNSET base_type is a deletion request.
    type_id = store.put_artifact_type(pb.ArtifactType(name="T", base_type=pb.ArtifactType.MODEL))
    with pytest.raises(errors.UnimplementedError, match="base_type deletion is not supported yet"):
        store.put_artifact_type(pb.ArtifactType(name="T", base_type=pb.ArtifactType.UNSET))
    assert store.get_artifact_types_by_id([type_id])[0].base_type == pb.ArtifactType.MODEL


@pytest.mark.parametrize("kind,cls", KINDS)
def test_explicit_unset_base_type_on_new_type_is_unimplemented(store, kind, cls):
    # Reference silent; verified on ml-metadata 1.17.1 (even for a type that does not exist yet).
    with pytest.raises(errors.UnimplementedError, match="base_type deletion is not supported yet"):
        _put(store, kind, cls(name="New", base_type=cls.UNSET))
    assert getattr(store, f"get_{kind}_types")() == []


def test_put_types_naming_a_new_type_again(store):
    """One PutTypes request that creates a type and names it twice more (adding a property, then omitting it):
    one type with both properties and its base type; the later puts read the rows the first wrote in the same
    transaction."""
    first = _typ(pb.ArtifactType, name="Again", a=pb.INT)
    first.base_type = pb.ArtifactType.DATASET
    second = _typ(pb.ArtifactType, name="Again", a=pb.INT, b=pb.STRING)
    second.base_type = pb.ArtifactType.DATASET
    request = svc_pb.PutTypesRequest(artifact_types=[first, second, first], can_add_fields=True,
                                     can_omit_fields=True)
    ids = list(raw_call(store, "PutTypes", request).artifact_type_ids)
    assert len(ids) == 3 and len(set(ids)) == 1
    got = store.get_artifact_type("Again")
    assert dict(got.properties) == {"a": pb.INT, "b": pb.STRING}
    assert got.base_type == pb.ArtifactType.DATASET
