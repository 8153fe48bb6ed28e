"""Events, attributions/associations and parent contexts (reference §1.3, §10.5, §10.6)."""

# Fixtures are imported from store_fixtures and used as test arguments (pytest's way), which reads as F811.
# ruff: noqa: F811

from __future__ import annotations

import time

import pytest
from store_fixtures import errors, make_types, pb, store  # noqa: F401


class G:
    """A small graph: 3 artifacts, 2 executions, 4 contexts."""


@pytest.fixture
def g(store):
    t = make_types(store)
    g = G()
    g.s = store
    g.types = t
    g.a = store.put_artifacts([pb.Artifact(type_id=t.artifact, uri=f"/a{i}") for i in range(3)])
    g.e = store.put_executions([pb.Execution(type_id=t.execution) for _ in range(2)])
    g.c = store.put_contexts([pb.Context(type_id=t.context, name=f"c{i}") for i in range(4)])
    return g


def _ev(a, e, t=pb.Event.INPUT, **kw):
    return pb.Event(artifact_id=a, execution_id=e, type=t, **kw)


def _key(ev):
    return (ev.artifact_id, ev.execution_id, ev.type)


# ------------------------------------------------------------------------------------------------ events


def test_put_and_get_events(g):
    s = g.s
    before = int(time.time() * 1000)
    s.put_events([_ev(g.a[0], g.e[0], pb.Event.INPUT), _ev(g.a[1], g.e[0], pb.Event.OUTPUT),
                  _ev(g.a[1], g.e[1], pb.Event.INPUT)])
    after = int(time.time() * 1000)
    by_e0 = s.get_events_by_execution_ids([g.e[0]])
    assert sorted(_key(e) for e in by_e0) == sorted([(g.a[0], g.e[0], pb.Event.INPUT),
                                                     (g.a[1], g.e[0], pb.Event.OUTPUT)])
    by_a1 = s.get_events_by_artifact_ids([g.a[1]])
    assert sorted(_key(e) for e in by_a1) == sorted([(g.a[1], g.e[0], pb.Event.OUTPUT),
                                                     (g.a[1], g.e[1], pb.Event.INPUT)])
    for ev in by_e0 + by_a1:
        assert before <= ev.milliseconds_since_epoch <= after
    assert len(s.get_events_by_execution_ids(g.e)) == 3
    assert len(s.get_events_by_artifact_ids(set(g.a))) == 3
    assert len(s.get_events_by_artifact_ids(i for i in g.a)) == 3


def test_get_events_empty(g):
    assert g.s.get_events_by_execution_ids([g.e[0]]) == []
    assert g.s.get_events_by_artifact_ids([g.a[0]]) == []
    assert g.s.get_events_by_execution_ids([]) == []
    assert g.s.get_events_by_artifact_ids([424242]) == []


def test_event_milliseconds_are_kept_when_given(g):
    g.s.put_events([_ev(g.a[0], g.e[0], milliseconds_since_epoch=12345)])
    [ev] = g.s.get_events_by_execution_ids([g.e[0]])
    assert ev.milliseconds_since_epoch == 12345


def test_event_path_round_trip(g):
    ev = _ev(g.a[0], g.e[0], pb.Event.OUTPUT)
    # (a key that reads as a number stays a key: SQLite reads a step's index or key as one value, by its type)
    for step in ({"key": "examples"}, {"index": 0}, {"key": "7"}, {"index": 7}, {"key": ""}, {"index": -(2**31)}):
        ev.path.steps.add(**step)
    g.s.put_events([ev, _ev(g.a[1], g.e[0])])
    events = {e.artifact_id: e for e in g.s.get_events_by_execution_ids([g.e[0]])}
    got = events[g.a[0]]
    assert [s.WhichOneof("value") for s in got.path.steps] == ["key", "index", "key", "index", "key", "index"]
    assert list(got.path.steps) == list(ev.path.steps)
    assert len(events[g.a[1]].path.steps) == 0
    assert not events[g.a[1]].path.steps
    [by_artifact] = g.s.get_events_by_artifact_ids([g.a[0]])
    assert by_artifact.path == ev.path


def test_many_events_in_one_call_keep_their_paths(g):
    """1,200 events with 2-step paths in one put_events: past one multi-row INSERT on every backend (SQLite: 249
    events a statement, servers: 1,000), each event's path steps still land on that event, in order."""
    s, t = g.s, g.types
    artifacts = s.put_artifacts([pb.Artifact(type_id=t.artifact, uri=f"/many/{i}") for i in range(600)])
    events = []
    for i, artifact_id in enumerate(artifacts):
        for execution_id, event_type in ((g.e[0], pb.Event.INPUT), (g.e[1], pb.Event.OUTPUT)):
            ev = _ev(artifact_id, execution_id, event_type)
            ev.path.steps.add(key=f"k{i}-{execution_id}")
            ev.path.steps.add(index=i)
            events.append(ev)
    s.put_events(events)
    got = s.get_events_by_execution_ids(g.e)
    assert len(got) == 1200
    index_of = {artifact_id: i for i, artifact_id in enumerate(artifacts)}
    for ev in got:
        i = index_of[ev.artifact_id]
        assert [(step.WhichOneof("value"), step.key or step.index) for step in ev.path.steps] == [
            ("key", f"k{i}-{ev.execution_id}"), ("index", i)]
    assert {(ev.artifact_id, ev.execution_id) for ev in got} == {
        (a, e) for a in artifacts for e in g.e}


def test_event_type_unknown_counts_as_missing(g):
    # verified on ml-metadata 1.17.1: an explicit UNKNOWN (0) type is rejected like a missing one
    with pytest.raises(errors.InvalidArgumentError, match="No event type is specified"):
        g.s.put_events([pb.Event(artifact_id=g.a[0], execution_id=g.e[0], type=pb.Event.UNKNOWN)])
    assert g.s.get_events_by_execution_ids(g.e) == []


@pytest.mark.parametrize("missing", ["artifact_id", "execution_id"])
def test_event_missing_ids_is_invalid_argument(g, missing):
    ev = _ev(g.a[0], g.e[0])
    ev.ClearField(missing)
    with pytest.raises(errors.InvalidArgumentError):
        g.s.put_events([ev])
    assert g.s.get_events_by_execution_ids(g.e) == []


def test_event_missing_type_is_invalid_argument(g):
    with pytest.raises(errors.InvalidArgumentError, match="No event type is specified"):
        g.s.put_events([pb.Event(artifact_id=g.a[0], execution_id=g.e[0])])
    assert g.s.get_events_by_execution_ids(g.e) == []


def test_event_unknown_ids_are_invalid_argument(g):
    with pytest.raises(errors.InvalidArgumentError, match="No execution with the given id 9999"):
        g.s.put_events([_ev(g.a[0], 9999)])
    with pytest.raises(errors.InvalidArgumentError, match="9998"):
        g.s.put_events([_ev(9998, g.e[0])])
    assert g.s.get_events_by_execution_ids(g.e) == []
    assert g.s.get_events_by_artifact_ids(g.a) == []


def test_duplicate_event_is_already_exists(g):
    g.s.put_events([_ev(g.a[0], g.e[0], pb.Event.INPUT)])
    with pytest.raises(errors.AlreadyExistsError):
        g.s.put_events([_ev(g.a[0], g.e[0], pb.Event.INPUT)])
    # a different type on the same pair is a different event
    g.s.put_events([_ev(g.a[0], g.e[0], pb.Event.OUTPUT)])
    assert len(g.s.get_events_by_execution_ids([g.e[0]])) == 2


def test_duplicate_event_within_one_call_is_already_exists(g):
    with pytest.raises(errors.AlreadyExistsError):
        g.s.put_events([_ev(g.a[1], g.e[1], pb.Event.OUTPUT), _ev(g.a[2], g.e[1]),
                        _ev(g.a[1], g.e[1], pb.Event.OUTPUT)])
    assert g.s.get_events_by_execution_ids([g.e[1]]) == []


def test_put_events_empty_is_fine(g):
    g.s.put_events([])
    assert g.s.get_events_by_execution_ids(g.e) == []


# ------------------------------------------------------------------------ attributions and associations


def test_attributions_and_associations(g):
    s = g.s
    s.put_attributions_and_associations(
        [pb.Attribution(artifact_id=g.a[0], context_id=g.c[0]), pb.Attribution(artifact_id=g.a[1], context_id=g.c[0]),
         pb.Attribution(artifact_id=g.a[0], context_id=g.c[1])],
        [pb.Association(execution_id=g.e[0], context_id=g.c[0]),
         pb.Association(execution_id=g.e[1], context_id=g.c[1])])
    assert sorted(a.id for a in s.get_artifacts_by_context(g.c[0])) == [g.a[0], g.a[1]]
    assert [a.id for a in s.get_artifacts_by_context(g.c[1])] == [g.a[0]]
    assert [e.id for e in s.get_executions_by_context(g.c[0])] == [g.e[0]]
    assert [e.id for e in s.get_executions_by_context(g.c[1])] == [g.e[1]]
    assert sorted(c.id for c in s.get_contexts_by_artifact(g.a[0])) == [g.c[0], g.c[1]]
    assert [c.id for c in s.get_contexts_by_artifact(g.a[1])] == [g.c[0]]
    assert [c.id for c in s.get_contexts_by_execution(g.e[1])] == [g.c[1]]
    ctx = s.get_contexts_by_execution(g.e[0])[0]
    assert ctx.name == "c0" and ctx.type == "Pipeline"
    artifact = s.get_artifacts_by_context(g.c[1])[0]
    assert artifact.uri == "/a0" and artifact.type == "DataSet"
    assert s.get_artifacts_by_context(g.c[3]) == []
    assert s.get_executions_by_context(g.c[3]) == []


def test_duplicate_links_are_silent_no_ops(g):
    s = g.s
    attr = pb.Attribution(artifact_id=g.a[0], context_id=g.c[0])
    assoc = pb.Association(execution_id=g.e[0], context_id=g.c[0])
    s.put_attributions_and_associations([attr], [assoc])
    s.put_attributions_and_associations([attr, attr], [assoc, assoc])
    s.put_attributions_and_associations([attr], [])
    s.put_attributions_and_associations([], [assoc])
    assert [a.id for a in s.get_artifacts_by_context(g.c[0])] == [g.a[0]]
    assert [e.id for e in s.get_executions_by_context(g.c[0])] == [g.e[0]]
    assert [c.id for c in s.get_contexts_by_artifact(g.a[0])] == [g.c[0]]


def test_present_links_in_a_batch_of_new_ones_are_skipped(g):
    """Links already there, among new ones in one call (one multi-row statement on servers), are left out;
    the new ones are all written."""
    s = g.s
    s.put_attributions_and_associations([pb.Attribution(artifact_id=g.a[0], context_id=g.c[1])],
                                        [pb.Association(execution_id=g.e[0], context_id=g.c[1])])
    attrs = [pb.Attribution(artifact_id=a, context_id=g.c[1]) for a in (g.a[0], g.a[1], g.a[0], g.a[2])]
    assocs = [pb.Association(execution_id=e, context_id=g.c[1]) for e in (g.e[1], g.e[0])]
    s.put_attributions_and_associations(attrs, assocs)
    assert sorted(a.id for a in s.get_artifacts_by_context(g.c[1])) == sorted([g.a[0], g.a[1], g.a[2]])
    assert sorted(e.id for e in s.get_executions_by_context(g.c[1])) == sorted([g.e[0], g.e[1]])
    assert [c.id for c in s.get_contexts_by_artifact(g.a[0])] == [g.c[1]]


def test_duplicates_within_first_call_are_no_ops(g):
    attr = pb.Attribution(artifact_id=g.a[2], context_id=g.c[2])
    g.s.put_attributions_and_associations([attr, attr, attr], [])
    assert [a.id for a in g.s.get_artifacts_by_context(g.c[2])] == [g.a[2]]


@pytest.mark.parametrize("case", ["attr_context", "attr_artifact", "assoc_context", "assoc_execution"])
def test_link_to_missing_ids_is_invalid_argument(g, case):
    attrs, assocs = [], []
    if case == "attr_context":
        attrs = [pb.Attribution(artifact_id=g.a[0], context_id=9999)]
    elif case == "attr_artifact":
        attrs = [pb.Attribution(artifact_id=9999, context_id=g.c[0])]
    elif case == "assoc_context":
        assocs = [pb.Association(execution_id=g.e[0], context_id=9999)]
    else:
        assocs = [pb.Association(execution_id=9999, context_id=g.c[0])]
    good = pb.Attribution(artifact_id=g.a[1], context_id=g.c[1])
    with pytest.raises(errors.InvalidArgumentError):
        g.s.put_attributions_and_associations([good] + attrs, assocs)
    assert g.s.get_artifacts_by_context(g.c[1]) == []  # the valid link was not written either


def test_link_with_unset_ids_is_invalid_argument(g):
    with pytest.raises(errors.InvalidArgumentError):
        g.s.put_attributions_and_associations([pb.Attribution(artifact_id=g.a[0])], [])
    with pytest.raises(errors.InvalidArgumentError):
        g.s.put_attributions_and_associations([], [pb.Association(context_id=g.c[0])])


def test_contexts_by_node_not_found(g):
    with pytest.raises(errors.NotFoundError, match=f"No contexts found for artifact_id: {g.a[0]}"):
        g.s.get_contexts_by_artifact(g.a[0])
    with pytest.raises(errors.NotFoundError):
        g.s.get_contexts_by_execution(g.e[0])
    with pytest.raises(errors.NotFoundError):
        g.s.get_contexts_by_artifact(424242)
    with pytest.raises(errors.NotFoundError):
        g.s.get_contexts_by_execution(424242)


# -------------------------------------------------------------------------------------- parent contexts


def _pc(child, parent):
    return pb.ParentContext(child_id=child, parent_id=parent)


def test_parent_and_children_contexts(g):
    s = g.s
    c0, c1, c2, c3 = g.c
    s.put_parent_contexts([_pc(c1, c0), _pc(c2, c0), _pc(c2, c1)])
    assert [c.id for c in s.get_parent_contexts_by_context(c1)] == [c0]
    assert sorted(c.id for c in s.get_parent_contexts_by_context(c2)) == [c0, c1]
    assert sorted(c.id for c in s.get_children_contexts_by_context(c0)) == [c1, c2]
    assert [c.id for c in s.get_children_contexts_by_context(c1)] == [c2]
    assert s.get_parent_contexts_by_context(c0) == []
    assert s.get_children_contexts_by_context(c3) == []
    assert s.get_parent_contexts_by_context(424242) == []
    parent = s.get_parent_contexts_by_context(c1)[0]
    assert parent.name == "c0" and parent.type == "Pipeline"


def test_self_parent_is_invalid_argument(g):
    with pytest.raises(errors.InvalidArgumentError):
        g.s.put_parent_contexts([_pc(g.c[0], g.c[0])])
    assert g.s.get_parent_contexts_by_context(g.c[0]) == []


@pytest.mark.parametrize("case", ["no_child", "no_parent", "unknown_child", "unknown_parent"])
def test_parent_context_missing_ids_is_invalid_argument(g, case):
    rel = {"no_child": pb.ParentContext(parent_id=g.c[0]), "no_parent": pb.ParentContext(child_id=g.c[1]),
           "unknown_child": _pc(9999, g.c[0]), "unknown_parent": _pc(g.c[1], 9999)}[case]
    with pytest.raises(errors.InvalidArgumentError):
        g.s.put_parent_contexts([rel])
    assert g.s.get_children_contexts_by_context(g.c[0]) == []
    assert g.s.get_parent_contexts_by_context(g.c[1]) == []


def test_duplicate_parent_context_is_already_exists(g):
    g.s.put_parent_contexts([_pc(g.c[1], g.c[0])])
    with pytest.raises(errors.AlreadyExistsError):
        g.s.put_parent_contexts([_pc(g.c[1], g.c[0])])
    with pytest.raises(errors.AlreadyExistsError):
        g.s.put_parent_contexts([_pc(g.c[2], g.c[0]), _pc(g.c[2], g.c[0])])
    assert [c.id for c in g.s.get_children_contexts_by_context(g.c[0])] == [g.c[1]]


def test_two_cycle_is_invalid_argument(g):
    g.s.put_parent_contexts([_pc(g.c[1], g.c[0])])
    with pytest.raises(errors.InvalidArgumentError, match="cycle"):
        g.s.put_parent_contexts([_pc(g.c[0], g.c[1])])
    assert g.s.get_parent_contexts_by_context(g.c[0]) == []


def test_three_cycle_is_invalid_argument(g):
    c0, c1, c2, _ = g.c
    g.s.put_parent_contexts([_pc(c1, c0), _pc(c2, c1)])  # c0 -> c1 -> c2
    with pytest.raises(errors.InvalidArgumentError, match="There is a cycle detected of the given relationship"):
        g.s.put_parent_contexts([_pc(c0, c2)])
    assert g.s.get_parent_contexts_by_context(c0) == []
    assert g.s.get_children_contexts_by_context(c2) == []


def test_cycle_within_one_call_is_invalid_argument(g):
    c0, c1, c2, _ = g.c
    with pytest.raises(errors.InvalidArgumentError):
        g.s.put_parent_contexts([_pc(c1, c0), _pc(c2, c1), _pc(c0, c2)])
    assert g.s.get_children_contexts_by_context(c0) == []
    assert g.s.get_children_contexts_by_context(c1) == []


def test_diamond_is_not_a_cycle(g):
    c0, c1, c2, c3 = g.c
    g.s.put_parent_contexts([_pc(c1, c0), _pc(c2, c0), _pc(c3, c1), _pc(c3, c2)])
    assert sorted(c.id for c in g.s.get_parent_contexts_by_context(c3)) == [c1, c2]
