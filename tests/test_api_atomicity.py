"""Every failing write changes nothing (DESIGN: "every public call is all-or-nothing"; reference §10.12).

Each test builds some state, runs a call that fails on its LAST element, and compares every row of the
SQLite file (file store) or the answers of every getter (in-memory store) before and after.
"""

# Fixtures are imported from store_fixtures and used as test arguments (pytest's way), which reads as F811.
# ruff: noqa: F811

from __future__ import annotations

import pytest
from store_fixtures import (  # noqa: F401
    dump_db,
    errors,
    file_store,
    file_store_path,
    make_types,
    pb,
    store,
    store_dialect,
    store_snapshot,
)


@pytest.fixture
def env(file_store, file_store_path):
    """A file store with types, a few nodes, links and events already in it."""
    s = file_store
    t = make_types(s)
    eid, aids, cids = s.put_execution(
        pb.Execution(type_id=t.execution, name="seed"),
        [(pb.Artifact(type_id=t.artifact, uri="/seed-in", external_id="seed-a"), pb.Event(type=pb.Event.INPUT)),
         (pb.Artifact(type_id=t.artifact, uri="/seed-out"), pb.Event(type=pb.Event.OUTPUT))],
        [pb.Context(type_id=t.context, name="seed-ctx")])
    [child] = s.put_contexts([pb.Context(type_id=t.context2, name="child")])
    s.put_parent_contexts([pb.ParentContext(child_id=child, parent_id=cids[0])])

    class Env:
        pass

    e = Env()
    e.s, e.t, e.path = s, t, file_store_path
    e.eid, e.aids, e.cids, e.child = eid, aids, cids, child
    return e


def _assert_unchanged(env, fn, exc, match=None):
    before = dump_db(env.path)
    snap = store_snapshot(env.s)
    with pytest.raises(exc, match=match):
        fn()
    assert dump_db(env.path) == before
    assert store_snapshot(env.s) == snap


def _arts(t, n, **kw):
    return [pb.Artifact(type_id=t.artifact, uri=f"/new{i}", **kw) for i in range(n)]


# ------------------------------------------------------------------------------------------ put_execution


def test_put_execution_bad_last_event(env):
    t = env.t
    pairs = [(a, pb.Event(type=pb.Event.INPUT)) for a in _arts(t, 3)]
    pairs.append((pb.Artifact(type_id=t.artifact, uri="/last"), pb.Event()))  # no event type
    _assert_unchanged(env, lambda: env.s.put_execution(
        pb.Execution(type_id=t.execution, name="new"), pairs, [pb.Context(type_id=t.context, name="new-ctx")]),
        errors.InvalidArgumentError)


def test_put_execution_misaligned_last_event(env):
    t = env.t
    pairs = [(a, pb.Event(type=pb.Event.OUTPUT)) for a in _arts(t, 2)]
    pairs.append((pb.Artifact(type_id=t.artifact), pb.Event(type=pb.Event.OUTPUT, artifact_id=env.aids[0])))
    _assert_unchanged(env, lambda: env.s.put_execution(pb.Execution(type_id=t.execution), pairs, []),
                      errors.InvalidArgumentError)


def test_put_execution_duplicate_last_event_on_existing_execution(env):
    t = env.t
    pairs = [(a, pb.Event(type=pb.Event.OUTPUT)) for a in _arts(t, 2)]
    pairs.append((pb.Artifact(id=env.aids[0], type_id=t.artifact, uri="/seed-in", external_id="seed-a"),
                  pb.Event(type=pb.Event.INPUT)))  # this event exists already
    _assert_unchanged(env, lambda: env.s.put_execution(
        pb.Execution(id=env.eid, type_id=t.execution, name="seed", last_known_state=pb.Execution.COMPLETE),
        pairs, []), errors.AlreadyExistsError)


def test_put_execution_duplicate_last_context(env):
    t = env.t
    contexts = [pb.Context(type_id=t.context, name="fresh-1"), pb.Context(type_id=t.context, name="fresh-2"),
                pb.Context(type_id=t.context, name="seed-ctx")]
    _assert_unchanged(env, lambda: env.s.put_execution(
        pb.Execution(type_id=t.execution), [(a, pb.Event(type=pb.Event.INPUT)) for a in _arts(t, 2)], contexts),
        errors.AlreadyExistsError)


def test_put_execution_bad_property_on_last_artifact(env):
    t = env.t
    arts = _arts(t, 3)
    arts[-1].properties["zzz_unknown"].int_value = 1
    _assert_unchanged(env, lambda: env.s.put_execution(
        pb.Execution(type_id=t.execution), [(a, pb.Event(type=pb.Event.OUTPUT)) for a in arts],
        [pb.Context(type_id=t.context, name="c-new")]),
        errors.InvalidArgumentError, match="zzz_unknown")


def test_put_execution_last_context_update_of_unknown_id(env):
    t = env.t
    contexts = [pb.Context(type_id=t.context, name="fresh"), pb.Context(id=4242, type_id=t.context, name="x")]
    _assert_unchanged(env, lambda: env.s.put_execution(
        pb.Execution(type_id=t.execution), [(a, None) for a in _arts(t, 2)], contexts), errors.InvalidArgumentError)


def test_put_execution_force_reuse_missing_last_context(env):
    t = env.t
    contexts = [pb.Context(id=env.cids[0], type_id=t.context, name="seed-ctx"),
                pb.Context(id=4242, type_id=t.context, name="x")]
    _assert_unchanged(env, lambda: env.s.put_execution(
        pb.Execution(type_id=t.execution), [(a, None) for a in _arts(t, 2)], contexts, force_reuse_context=True),
        errors.NotFoundError)


def test_put_execution_reuse_artifact_then_fail(env):
    t = env.t
    arts = [pb.Artifact(type_id=t.artifact, uri="/changed", external_id="seed-a")] + _arts(t, 1)
    arts[-1].properties["day"].string_value = "not an int"
    _assert_unchanged(env, lambda: env.s.put_execution(
        pb.Execution(type_id=t.execution), [(a, None) for a in arts], [],
        reuse_artifact_if_already_exist_by_external_id=True), errors.InvalidArgumentError, match="day")


# ----------------------------------------------------------------------------------- put_lineage_subgraph


def _subgraph_parts(t):
    executions = [pb.Execution(type_id=t.execution, name=f"x{i}") for i in range(2)]
    artifacts = _arts(t, 3)
    contexts = [pb.Context(type_id=t.context, name=f"sub-{i}") for i in range(2)]
    edges = [(0, 0, pb.Event(type=pb.Event.INPUT)), (0, 1, pb.Event(type=pb.Event.OUTPUT)),
             (1, 1, pb.Event(type=pb.Event.INPUT)), (1, 2, pb.Event(type=pb.Event.OUTPUT))]
    return executions, artifacts, contexts, edges


def test_put_lineage_subgraph_last_edge_out_of_range(env):
    ex, ar, cx, edges = _subgraph_parts(env.t)
    edges.append((1, 3, pb.Event(type=pb.Event.OUTPUT)))
    _assert_unchanged(env, lambda: env.s.put_lineage_subgraph(ex, ar, cx, edges), errors.OutOfRangeError)


def test_put_lineage_subgraph_last_edge_duplicate(env):
    ex, ar, cx, edges = _subgraph_parts(env.t)
    edges.append((1, 2, pb.Event(type=pb.Event.OUTPUT)))
    _assert_unchanged(env, lambda: env.s.put_lineage_subgraph(ex, ar, cx, edges), errors.AlreadyExistsError)


def test_put_lineage_subgraph_last_edge_mismatch(env):
    ex, ar, cx, edges = _subgraph_parts(env.t)
    edges.append((0, 2, pb.Event(type=pb.Event.OUTPUT, artifact_id=env.aids[1])))
    _assert_unchanged(env, lambda: env.s.put_lineage_subgraph(ex, ar, cx, edges), errors.InvalidArgumentError)


def test_put_lineage_subgraph_duplicate_last_context(env):
    ex, ar, cx, edges = _subgraph_parts(env.t)
    cx.append(pb.Context(type_id=env.t.context, name="seed-ctx"))
    _assert_unchanged(env, lambda: env.s.put_lineage_subgraph(ex, ar, cx, edges), errors.AlreadyExistsError)


def test_put_lineage_subgraph_bad_property_on_last_artifact(env):
    ex, ar, cx, edges = _subgraph_parts(env.t)
    ar[-1].properties["split"].int_value = 3
    _assert_unchanged(env, lambda: env.s.put_lineage_subgraph(ex, ar, cx, edges), errors.InvalidArgumentError,
                      match="split")


def test_put_lineage_subgraph_bad_last_execution(env):
    ex, ar, cx, edges = _subgraph_parts(env.t)
    ex[-1].properties["nope"].int_value = 1
    _assert_unchanged(env, lambda: env.s.put_lineage_subgraph(ex, ar, cx, edges), errors.InvalidArgumentError,
                      match="nope")


# ------------------------------------------------------------------------------------------- node writes


def test_put_artifacts_batch_with_bad_last_inserts_none(env):
    arts = _arts(env.t, 5)
    arts[-1].properties["zzz_last"].string_value = "x"
    _assert_unchanged(env, lambda: env.s.put_artifacts(arts), errors.InvalidArgumentError,
                      match="Found unknown property: zzz_last")


def test_put_artifacts_batch_with_duplicate_last_inserts_none(env):
    arts = _arts(env.t, 4)
    arts[-1].external_id = "seed-a"
    _assert_unchanged(env, lambda: env.s.put_artifacts(arts), errors.AlreadyExistsError)


def test_put_artifacts_update_batch_with_bad_last_updates_none(env):
    t = env.t
    batch = [pb.Artifact(id=env.aids[0], type_id=t.artifact, uri="/changed"),
             pb.Artifact(type_id=t.artifact, uri="/inserted"),
             pb.Artifact(id=4242, type_id=t.artifact)]
    _assert_unchanged(env, lambda: env.s.put_artifacts(batch), errors.InvalidArgumentError, match="4242")


def test_put_executions_batch_with_wrong_type_last(env):
    t = env.t
    batch = [pb.Execution(type_id=t.execution), pb.Execution(id=env.eid, type_id=t.artifact)]
    _assert_unchanged(env, lambda: env.s.put_executions(batch), errors.InvalidArgumentError)


def test_put_contexts_batch_with_unknown_type_last(env):
    t = env.t
    batch = [pb.Context(type_id=t.context, name="ok"), pb.Context(type_id=99999, name="bad")]
    _assert_unchanged(env, lambda: env.s.put_contexts(batch), errors.NotFoundError)


def test_put_contexts_batch_with_unmatched_property_last(env):
    t = env.t
    bad = pb.Context(type_id=t.context, name="bad")
    bad.properties["owner"].bool_value = True
    batch = [pb.Context(type_id=t.context, name="ok"), bad]
    _assert_unchanged(env, lambda: env.s.put_contexts(batch), errors.InvalidArgumentError,
                      match="Found unmatched property type: owner")


def test_masked_update_batch_with_bad_last(env):
    good = pb.Artifact(id=env.aids[0], uri="/masked")
    bad = pb.Artifact(id=env.aids[1])
    bad.properties["day"].double_value = 1.0
    _assert_unchanged(env, lambda: env.s.put_artifacts([good, bad], field_mask_paths=["uri", "properties.day"]),
                      errors.InvalidArgumentError, match="day")


# ------------------------------------------------------------------------------------------ edge writes


def test_put_events_bad_last_inserts_none(env):
    [new_e] = env.s.put_executions([pb.Execution(type_id=env.t.execution)])
    events = [pb.Event(artifact_id=a, execution_id=new_e, type=pb.Event.INPUT) for a in env.aids]
    events.append(pb.Event(artifact_id=env.aids[0], execution_id=9999, type=pb.Event.INPUT))
    _assert_unchanged(env, lambda: env.s.put_events(events), errors.InvalidArgumentError, match="9999")


def test_put_events_duplicate_last_inserts_none(env):
    [new_e] = env.s.put_executions([pb.Execution(type_id=env.t.execution)])
    events = [pb.Event(artifact_id=a, execution_id=new_e, type=pb.Event.INPUT) for a in env.aids]
    events.append(pb.Event(artifact_id=env.aids[0], execution_id=env.eid, type=pb.Event.INPUT))
    _assert_unchanged(env, lambda: env.s.put_events(events), errors.AlreadyExistsError)


def test_put_links_bad_last_inserts_none(env):
    attrs = [pb.Attribution(artifact_id=a, context_id=env.child) for a in env.aids]
    assocs = [pb.Association(execution_id=env.eid, context_id=env.child),
              pb.Association(execution_id=9999, context_id=env.child)]
    _assert_unchanged(env, lambda: env.s.put_attributions_and_associations(attrs, assocs),
                      errors.InvalidArgumentError)


def test_put_parent_contexts_cycle_last_inserts_none(env):
    t = env.t
    extra = env.s.put_contexts([pb.Context(type_id=t.context2, name=f"p{i}") for i in range(2)])
    rels = [pb.ParentContext(child_id=extra[0], parent_id=env.child),
            pb.ParentContext(child_id=extra[1], parent_id=extra[0]),
            pb.ParentContext(child_id=env.cids[0], parent_id=extra[1])]  # closes a 4-cycle
    _assert_unchanged(env, lambda: env.s.put_parent_contexts(rels), errors.InvalidArgumentError)


def test_put_parent_contexts_duplicate_last_inserts_none(env):
    [other] = env.s.put_contexts([pb.Context(type_id=env.t.context2, name="other")])
    rels = [pb.ParentContext(child_id=other, parent_id=env.cids[0]),
            pb.ParentContext(child_id=env.child, parent_id=env.cids[0])]
    _assert_unchanged(env, lambda: env.s.put_parent_contexts(rels), errors.AlreadyExistsError)


# ------------------------------------------------------------------------------------------- type writes


def test_put_type_with_unknown_property_type_leaves_no_type(env):
    t = pb.ArtifactType(name="Partial")
    t.properties["a"] = pb.INT
    t.properties["b"] = pb.STRING
    t.properties["z"] = pb.UNKNOWN
    _assert_unchanged(env, lambda: env.s.put_artifact_type(t), errors.InvalidArgumentError)


def test_put_type_changed_data_type_adds_nothing(env):
    t = pb.ArtifactType(name="DataSet")
    t.properties["day"] = pb.INT
    t.properties["brand_new"] = pb.STRING
    t.properties["split"] = pb.INT  # was STRING
    _assert_unchanged(env, lambda: env.s.put_artifact_type(t, can_add_fields=True, can_omit_fields=True),
                      errors.AlreadyExistsError)


def test_put_type_base_type_change_adds_nothing(env):
    env.s.put_execution_type(pb.ExecutionType(name="Based", base_type=pb.ExecutionType.TRAIN,
                                              external_id="based-1"))
    t = pb.ExecutionType(name="Based", base_type=pb.ExecutionType.PROCESS, external_id="based-2")
    t.properties["added"] = pb.INT
    _assert_unchanged(env, lambda: env.s.put_execution_type(t, can_add_fields=True), errors.UnimplementedError)


def test_put_type_add_without_permission_adds_nothing(env):
    t = pb.ContextType(name="Pipeline", external_id="new-ext")
    t.properties["owner"] = pb.STRING
    t.properties["new"] = pb.INT
    _assert_unchanged(env, lambda: env.s.put_context_type(t), errors.AlreadyExistsError)


# -------------------------------------------------------------------------------- in-memory store as well


def test_in_memory_failing_put_execution_changes_nothing(store):
    t = make_types(store)
    store.put_execution(pb.Execution(type_id=t.execution), [(pb.Artifact(type_id=t.artifact), None)],
                        [pb.Context(type_id=t.context, name="c")])
    snap = store_snapshot(store)
    arts = _arts(t, 3)
    arts[-1].custom_properties["ok"].int_value = 1
    arts[-1].properties["bogus"].int_value = 1
    with pytest.raises(errors.InvalidArgumentError, match="bogus"):
        store.put_execution(pb.Execution(type_id=t.execution), [(a, pb.Event(type=pb.Event.OUTPUT)) for a in arts],
                            [pb.Context(type_id=t.context, name="c2")])
    assert store_snapshot(store) == snap


def test_value_the_server_refuses_in_the_last_round_trip_changes_nothing(store):
    """On a server, put_execution inserts the new execution and artifact in its first round trip (with the
    BEGIN, which goes with the first statement) and their property rows in its last (with the COMMIT): a value
    the server refuses there must undo the rows of the first too."""
    if store_dialect(store) == "sqlite":
        pytest.skip("SQLite stores any 64-bit integer: there is no value for it to refuse")
    t = make_types(store)
    store.put_execution(pb.Execution(type_id=t.execution), [(pb.Artifact(type_id=t.artifact), None)],
                        [pb.Context(type_id=t.context, name="c")])
    snap = store_snapshot(store)
    arts = _arts(t, 2)
    arts[-1].custom_properties["big"].int_value = 2**40  # MLMD's server schemas: int_value is a 32-bit INT
    with pytest.raises(errors.InvalidArgumentError, match="does not fit"):
        store.put_execution(pb.Execution(type_id=t.execution), [(a, pb.Event(type=pb.Event.OUTPUT)) for a in arts],
                            [pb.Context(type_id=t.context, name="c2")])
    assert store_snapshot(store) == snap
