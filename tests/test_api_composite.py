"""put_execution and put_lineage_subgraph (reference §1.3 "Composite writes", §10.12)."""

# Fixtures are imported from store_fixtures and used as test arguments (pytest's way), which reads as F811.
# ruff: noqa: F811

from __future__ import annotations

import pytest
import sqlalchemy
from server_backends import SERVER_BACKENDS
from store_fixtures import (  # noqa: F401
    backend_config,
    close_store,
    count_statements,
    errors,
    make_types,
    only_mlmd_core,
    open_store,
    pb,
    store,
    tick,
)


@pytest.fixture
def t(store):
    return make_types(store)


def _art(t, **kw):
    return pb.Artifact(type_id=t.artifact, **kw)


def _exe(t, **kw):
    return pb.Execution(type_id=t.execution, **kw)


def _ctx(t, name, **kw):
    return pb.Context(type_id=t.context, name=name, **kw)


def _key(ev):
    return (ev.artifact_id, ev.execution_id, ev.type)


# ------------------------------------------------------------------------------------------ put_execution


def test_put_execution_new_everything(store, t):
    e = _exe(t, name="run", last_known_state=pb.Execution.COMPLETE)
    e.properties["n"].int_value = 1
    pairs = [(_art(t, uri="/in"), pb.Event(type=pb.Event.INPUT)),
             (_art(t, uri="/out"), pb.Event(type=pb.Event.OUTPUT))]
    eid, aids, cids = store.put_execution(e, pairs, [_ctx(t, "p1"), _ctx(t, "p2")])
    assert isinstance(eid, int) and len(aids) == 2 and len(cids) == 2
    [got_e] = store.get_executions_by_id([eid])
    assert got_e.name == "run" and got_e.properties["n"].int_value == 1
    arts = {a.id: a for a in store.get_artifacts_by_id(aids)}
    assert arts[aids[0]].uri == "/in" and arts[aids[1]].uri == "/out"
    events = store.get_events_by_execution_ids([eid])
    assert sorted(_key(ev) for ev in events) == sorted([(aids[0], eid, pb.Event.INPUT),
                                                        (aids[1], eid, pb.Event.OUTPUT)])
    assert all(ev.milliseconds_since_epoch > 0 for ev in events)
    assert [c.name for c in store.get_contexts_by_id(cids)] == ["p1", "p2"]
    for cid in cids:
        assert sorted(a.id for a in store.get_artifacts_by_context(cid)) == sorted(aids)
        assert [x.id for x in store.get_executions_by_context(cid)] == [eid]
    assert sorted(c.id for c in store.get_contexts_by_execution(eid)) == sorted(cids)
    assert sorted(c.id for c in store.get_contexts_by_artifact(aids[0])) == sorted(cids)


def test_put_execution_pair_forms(store, t):
    pairs = [
        [_art(t, uri="/list")],
        (_art(t, uri="/none"), None),
        (_art(t, uri="/event"), pb.Event(type=pb.Event.OUTPUT)),
    ]
    eid, aids, cids = store.put_execution(_exe(t), pairs, None)
    assert len(aids) == 3 and cids == []
    assert sorted(a.uri for a in store.get_artifacts_by_id(aids)) == ["/event", "/list", "/none"]
    events = store.get_events_by_execution_ids([eid])
    assert [_key(ev) for ev in events] == [(aids[2], eid, pb.Event.OUTPUT)]


def test_put_execution_event_path_and_ids_filled(store, t):
    ev = pb.Event(type=pb.Event.INPUT)
    ev.path.steps.add(key="examples")
    ev.path.steps.add(index=3)
    eid, [aid], _ = store.put_execution(_exe(t), [(_art(t), ev)], [])
    [got] = store.get_events_by_artifact_ids([aid])
    assert got.execution_id == eid and got.artifact_id == aid
    assert list(got.path.steps) == list(ev.path.steps)


def test_put_execution_without_artifacts_or_contexts(store, t):
    eid, aids, cids = store.put_execution(_exe(t, name="alone"), [], [])
    assert aids == [] and cids == []
    assert store.get_executions_by_id([eid])[0].name == "alone"
    with pytest.raises(errors.NotFoundError):
        store.get_contexts_by_execution(eid)


def test_put_execution_updates_existing_nodes(store, t):
    eid, [aid], [cid] = store.put_execution(_exe(t, last_known_state=pb.Execution.RUNNING),
                                            [(_art(t, uri="/x"), pb.Event(type=pb.Event.OUTPUT))],
                                            [_ctx(t, "ctx")])
    upd_e = pb.Execution(id=eid, type_id=t.execution, last_known_state=pb.Execution.COMPLETE)
    upd_a = pb.Artifact(id=aid, type_id=t.artifact, uri="/x", state=pb.Artifact.LIVE)
    upd_c = pb.Context(id=cid, type_id=t.context, name="ctx")
    upd_c.properties["owner"].string_value = "me"
    eid2, aids2, cids2 = store.put_execution(upd_e, [(upd_a, None)], [upd_c])
    assert (eid2, aids2, cids2) == (eid, [aid], [cid])
    assert store.get_executions_by_id([eid])[0].last_known_state == pb.Execution.COMPLETE
    assert store.get_artifacts_by_id([aid])[0].state == pb.Artifact.LIVE
    assert store.get_contexts_by_id([cid])[0].properties["owner"].string_value == "me"
    assert len(store.get_executions()) == 1 and len(store.get_artifacts()) == 1
    assert len(store.get_contexts()) == 1


@pytest.mark.parametrize("new, existing", [(1100, 3), (5, 600)], ids=["new-past-one-insert", "existing-past-one-read"])
def test_put_execution_of_many_new_and_existing_artifacts(store, t, new, existing):
    """The reads of the existing nodes and the inserts of the new ones share a round trip on a server: more new
    artifacts than one INSERT takes (1000), or more existing ones than one read takes (500), come out aligned
    with the pairs, with their properties and events."""
    stored = [_art(t, uri=f"/old/{i}") for i in range(existing)]
    for artifact, artifact_id in zip(stored, store.put_artifacts(stored)):
        artifact.id = artifact_id
        artifact.properties["day"].int_value = -1  # changed by the put_execution below
    [cid] = store.put_contexts([_ctx(t, "before")])
    fresh = []
    for i in range(new):
        artifact = _art(t, uri=f"/new/{i}")
        artifact.properties["day"].int_value = i
        artifact.custom_properties["n"].string_value = f"n{i}"
        fresh.append(artifact)
    artifacts = [a for pair in zip(fresh, stored) for a in pair] + fresh[existing:] + stored[new:]  # interleaved
    pairs = [(a, pb.Event(type=pb.Event.OUTPUT if a.uri.startswith("/new") else pb.Event.INPUT)) for a in artifacts]
    eid, aids, cids = store.put_execution(_exe(t, name="many"), pairs, [_ctx(t, "before", id=cid), _ctx(t, "new")])
    assert len(set(aids)) == len(aids) == new + existing and cids[0] == cid
    got = {a.id: a for a in store.get_artifacts_by_id(aids)}
    assert [got[i].uri for i in aids] == [a.uri for a in artifacts]
    for artifact_id, artifact in zip(aids, artifacts):
        assert got[artifact_id].properties["day"].int_value == artifact.properties["day"].int_value
        assert dict(got[artifact_id].custom_properties) == dict(artifact.custom_properties)
    events = store.get_events_by_execution_ids([eid])
    assert sorted((ev.artifact_id, ev.type) for ev in events) == sorted(zip(aids, (ev.type for _, ev in pairs)))
    assert {a.id for a in store.get_artifacts_by_context(cids[1])} == set(aids)


def test_put_execution_of_more_text_than_one_server_packet_takes(store, t):
    """20,000 artifacts with 1 kB URIs: their INSERTs (about 21 MB of SQL) are more than MariaDB takes in one
    query (max_allowed_packet, 16 MiB by default), so the statements sent together are split into queries."""
    pairs = [(_art(t, uri=f"/{i:05d}/" + "u" * 1000), None) for i in range(20_000)]
    eid, aids, _ = store.put_execution(_exe(t), pairs, [])
    assert len(set(aids)) == 20_000 and eid
    got = store.get_artifacts_by_id(aids[::997])
    assert [a.uri for a in got] == [pairs[i][0].uri for i in range(0, 20_000, 997)]


@pytest.fixture
def mariadb():
    """A store on a new MariaDB database, for what only a MySQL server shows."""
    if "mysql" not in SERVER_BACKENDS:
        pytest.skip("needs the MariaDB server (MLMD_TEST_BACKENDS)")
    s = open_store(backend_config("mysql"))
    yield s
    close_store(s)


@only_mlmd_core
def test_put_execution_on_mariadb_takes_two_round_trips(mariadb):
    """Reading the nodes to update and inserting the new ones share the first round trip; every other write goes
    with the COMMIT in the second, the events too: one INSERT's ids follow each other on MariaDB (its default
    innodb_autoinc_lock_mode 1), so their paths take LAST_INSERT_ID() plus the event's offset."""
    s = mariadb
    t = make_types(s)
    [old] = s.put_artifacts([_art(t, uri="/old")])
    [cid] = s.put_contexts([_ctx(t, "pipeline")])
    e = _exe(t)
    e.properties["n"].int_value = 1
    new = _art(t, uri="/new")
    new.properties["day"].int_value = 7
    pairs = [(_art(t, id=old, uri="/old"), pb.Event(type=pb.Event.INPUT)),
             (new, pb.Event(type=pb.Event.OUTPUT, path=pb.Event.Path(steps=[pb.Event.Path.Step(key="out")])))]
    assert s._backend.statements.id_step == 1
    count, (eid, aids, cids) = count_statements(s, lambda: s.put_execution(e, pairs, [_ctx(t, "pipeline", id=cid)]))
    assert count == 2
    assert aids[0] == old and cids == [cid]
    [got] = s.get_artifacts_by_id([aids[1]])
    assert got.uri == "/new" and got.properties["day"].int_value == 7
    assert s.get_executions_by_id([eid])[0].properties["n"].int_value == 1
    events = sorted(s.get_events_by_execution_ids([eid]), key=lambda ev: ev.type)
    assert [(ev.artifact_id, ev.type) for ev in events] == [(old, pb.Event.INPUT), (aids[1], pb.Event.OUTPUT)]
    assert events[1].path.steps[0].key == "out"
    assert [c.id for c in s.get_contexts_by_execution(eid)] == [cid]


@only_mlmd_core
@pytest.mark.parametrize("strategy", ["consecutive", "per_row"])
def test_put_execution_where_inserts_return_no_ids(mariadb, strategy):
    """MySQL has no INSERT ... RETURNING (MariaDB has, since 10.5): there the new ids come from the insert id
    (sql.INSERT_STRATEGIES) and a put_execution's reads and inserts go one after the other. MariaDB gives insert
    ids too, so it stands in for MySQL here. With "per_row" (interleaved autoincrement locking) one INSERT's ids
    need not follow each other, so the events learn theirs before their paths are written."""
    s = mariadb
    s._backend.statements.insert_strategy = strategy
    s._backend.statements.id_step = None if strategy == "per_row" else 1
    t = make_types(s)
    [old] = s.put_artifacts([_art(t, uri="/old")])
    pairs = [(_art(t, uri=f"/new/{i}"), pb.Event(type=pb.Event.OUTPUT, path=pb.Event.Path(
        steps=[pb.Event.Path.Step(key=f"out{i}")]))) for i in range(3)]
    pairs.insert(1, (_art(t, id=old, uri="/old"), pb.Event(type=pb.Event.INPUT)))
    eid, aids, _ = s.put_execution(_exe(t), pairs, [_ctx(t, "p")])
    assert aids[1] == old and len(set(aids)) == 4
    assert [a.uri for a in s.get_artifacts_by_id(aids)] == ["/old", "/new/0", "/new/1", "/new/2"]
    assert sorted((ev.artifact_id, ev.type, [p.key for p in ev.path.steps])
                  for ev in s.get_events_by_execution_ids([eid])) == sorted(
        (aid, ev.type, [p.key for p in ev.path.steps]) for aid, (_, ev) in zip(aids, pairs))


@only_mlmd_core
def test_consecutive_ids_step_by_auto_increment_increment(mariadb):
    """Servers that hand out every n-th id (auto_increment_increment, e.g. on multi-primary setups) give a
    multi-row insert the ids first, first + n, ...: the "consecutive" strategy reads n when it connects, and so
    do the events' paths, which go with the COMMIT and find their events' ids from the first."""
    s = mariadb
    database = s._backend.database
    sqlalchemy.event.listen(database.engine, "connect", lambda conn, _record: conn.cursor().execute(
        "SET SESSION auto_increment_increment = 3"))
    database.engine.dispose()  # the next connections have that setting
    database._probe_server()
    assert database.id_step == 3
    s._backend.statements.insert_strategy, s._backend.statements.id_step = "consecutive", database.id_step
    t = make_types(s)
    pairs = [(_art(t, uri=f"/new/{i}"), pb.Event(type=pb.Event.OUTPUT, path=pb.Event.Path(
        steps=[pb.Event.Path.Step(key=f"out{i}")]))) for i in range(4)]
    eid, aids, _ = s.put_execution(_exe(t), pairs, [])
    assert [b - a for a, b in zip(aids, aids[1:])] == [3, 3, 3]
    assert [a.uri for a in s.get_artifacts_by_id(aids)] == [f"/new/{i}" for i in range(4)]
    events = sorted(s.get_events_by_execution_ids([eid]), key=lambda ev: ev.artifact_id)
    assert [(ev.artifact_id, ev.path.steps[0].key) for ev in events] == [(a, f"out{i}") for i, a in enumerate(aids)]


def test_put_execution_existing_artifact_new_event(store, t):
    [aid] = store.put_artifacts([_art(t, uri="/pre")])
    eid, aids, _ = store.put_execution(_exe(t), [(pb.Artifact(id=aid, type_id=t.artifact, uri="/pre"),
                                                  pb.Event(type=pb.Event.INPUT))], [])
    assert aids == [aid]
    assert [_key(ev) for ev in store.get_events_by_artifact_ids([aid])] == [(aid, eid, pb.Event.INPUT)]


def test_put_execution_event_ids_must_align(store, t):
    [other_a] = store.put_artifacts([_art(t)])
    [other_e] = store.put_executions([_exe(t)])
    with pytest.raises(errors.InvalidArgumentError, match="not aligned"):
        store.put_execution(_exe(t), [(_art(t), pb.Event(type=pb.Event.INPUT, artifact_id=other_a))], [])
    # ml-metadata 1.17.1: "Request's event.execution_id does not match with the given execution"
    with pytest.raises(errors.InvalidArgumentError, match="execution_id"):
        store.put_execution(_exe(t), [(_art(t), pb.Event(type=pb.Event.INPUT, execution_id=other_e))], [])
    assert len(store.get_artifacts()) == 1 and len(store.get_executions()) == 1


def test_put_execution_event_ids_may_be_given_when_aligned(store, t):
    [eid0] = store.put_executions([_exe(t)])
    [aid0] = store.put_artifacts([_art(t)])
    eid, aids, _ = store.put_execution(
        pb.Execution(id=eid0, type_id=t.execution),
        [(pb.Artifact(id=aid0, type_id=t.artifact), pb.Event(type=pb.Event.OUTPUT, artifact_id=aid0,
                                                             execution_id=eid0))], [])
    assert (eid, aids) == (eid0, [aid0])
    assert len(store.get_events_by_execution_ids([eid0])) == 1


def test_put_execution_event_without_type_is_invalid(store, t):
    with pytest.raises(errors.InvalidArgumentError):
        store.put_execution(_exe(t), [(_art(t), pb.Event())], [])
    assert store.get_executions() == [] and store.get_artifacts() == []


def test_put_execution_unknown_execution_id_is_invalid_argument(store, t):
    with pytest.raises(errors.InvalidArgumentError):
        store.put_execution(pb.Execution(id=4242, type_id=t.execution), [(_art(t), None)], [])
    assert store.get_artifacts() == []


def test_put_execution_new_context_needs_a_name(store, t):
    with pytest.raises(errors.InvalidArgumentError):
        store.put_execution(_exe(t), [], [pb.Context(type_id=t.context)])
    assert store.get_executions() == [] and store.get_contexts() == []


def test_put_execution_existing_context_name_is_already_exists(store, t):
    [cid] = store.put_contexts([_ctx(t, "shared")])
    with pytest.raises(errors.AlreadyExistsError):
        store.put_execution(_exe(t), [(_art(t), None)], [_ctx(t, "shared")])
    assert store.get_executions() == [] and store.get_artifacts() == []
    assert [c.id for c in store.get_contexts()] == [cid]


def test_put_execution_reuse_context_if_already_exist(store, t):
    [cid] = store.put_contexts([_ctx(t, "shared")])
    eid1, _, cids1 = store.put_execution(_exe(t), [], [_ctx(t, "shared")], reuse_context_if_already_exist=True)
    eid2, _, cids2 = store.put_execution(_exe(t), [], [_ctx(t, "shared"), _ctx(t, "fresh")],
                                         reuse_context_if_already_exist=True)
    assert cids1 == [cid] and cids2[0] == cid and cids2[1] != cid
    assert sorted(e.id for e in store.get_executions_by_context(cid)) == sorted([eid1, eid2])
    assert len(store.get_contexts()) == 2


def test_put_execution_same_new_context_twice(store, t):
    with pytest.raises(errors.AlreadyExistsError):
        store.put_execution(_exe(t), [], [_ctx(t, "twice"), _ctx(t, "twice")])
    assert store.get_contexts() == [] and store.get_executions() == []
    # with reuse, the second occurrence reuses the context the first one created (ml-metadata 1.17.1)
    eid, _, cids = store.put_execution(_exe(t), [], [_ctx(t, "twice"), _ctx(t, "twice")],
                                       reuse_context_if_already_exist=True)
    assert len(cids) == 2 and cids[0] == cids[1]
    assert [c.id for c in store.get_contexts()] == [cids[0]]
    assert [e.id for e in store.get_executions_by_context(cids[0])] == [eid]


def test_put_execution_context_with_id_is_updated(store, t):
    [cid] = store.put_contexts([_ctx(t, "old")])
    eid, _, cids = store.put_execution(_exe(t), [], [pb.Context(id=cid, type_id=t.context, name="new")])
    assert cids == [cid]
    assert store.get_contexts_by_id([cid])[0].name == "new"
    assert [e.id for e in store.get_executions_by_context(cid)] == [eid]


def test_put_execution_force_reuse_context_links_without_update(store, t):
    c = _ctx(t, "keep")
    c.properties["owner"].string_value = "orig"
    [cid] = store.put_contexts([c])
    before = store.get_contexts_by_id([cid])[0]
    changed = pb.Context(id=cid, type_id=t.context, name="changed")
    eid, [aid], cids = store.put_execution(_exe(t), [(_art(t), None)], [changed], force_reuse_context=True)
    assert cids == [cid]
    assert store.get_contexts_by_id([cid])[0] == before
    assert [e.id for e in store.get_executions_by_context(cid)] == [eid]
    assert [a.id for a in store.get_artifacts_by_context(cid)] == [aid]


def test_put_execution_force_reuse_context_missing_id_is_not_found(store, t):
    with pytest.raises(errors.NotFoundError):
        store.put_execution(_exe(t), [(_art(t), None)], [pb.Context(id=4242, type_id=t.context, name="x")],
                            force_reuse_context=True)
    assert store.get_executions() == [] and store.get_artifacts() == [] and store.get_contexts() == []


def test_put_execution_reuse_artifact_by_external_id(store, t):
    [aid] = store.put_artifacts([_art(t, uri="/first", external_id="ext")])
    with pytest.raises(errors.AlreadyExistsError):
        store.put_execution(_exe(t), [(_art(t, uri="/second", external_id="ext"), None)], [])
    assert len(store.get_executions()) == 0
    eid, aids, _ = store.put_execution(
        _exe(t), [(_art(t, uri="/second", external_id="ext"), pb.Event(type=pb.Event.OUTPUT))], [],
        reuse_artifact_if_already_exist_by_external_id=True)
    assert aids == [aid]
    [got] = store.get_artifacts_by_id([aid])
    assert got.uri == "/second"  # turned into an update
    assert len(store.get_artifacts()) == 1
    assert [_key(ev) for ev in store.get_events_by_execution_ids([eid])] == [(aid, eid, pb.Event.OUTPUT)]


def test_put_execution_same_new_external_id_twice_with_reuse(store, t):
    # Reference silent; verified on ml-metadata 1.17.1: with reuse_artifact_if_already_exist_by_external_id the
    # second artifact of the request reuses the one the first created.
    eid, aids, _ = store.put_execution(
        _exe(t), [(_art(t, uri="/1", external_id="x9"), pb.Event(type=pb.Event.INPUT)),
                  (_art(t, uri="/2", external_id="x9"), pb.Event(type=pb.Event.OUTPUT))], [],
        reuse_artifact_if_already_exist_by_external_id=True)
    assert len(aids) == 2 and aids[0] == aids[1]
    assert [a.id for a in store.get_artifacts()] == [aids[0]]
    assert sorted(ev.type for ev in store.get_events_by_execution_ids([eid])) == [pb.Event.INPUT, pb.Event.OUTPUT]


def test_put_execution_force_update_time(store, t):
    eid, _, _ = store.put_execution(_exe(t, name="e"), [], [])
    stored = store.get_executions_by_id([eid])[0]
    tick()
    store.put_execution(stored, [], [])
    assert store.get_executions_by_id([eid])[0].last_update_time_since_epoch == stored.last_update_time_since_epoch
    tick()
    store.put_execution(stored, [], [], force_update_time=True)
    assert store.get_executions_by_id([eid])[0].last_update_time_since_epoch > stored.last_update_time_since_epoch


def test_put_execution_contexts_none_or_empty(store, t):
    for contexts in (None, []):
        eid, aids, cids = store.put_execution(_exe(t), [(_art(t), None)], contexts)
        assert cids == []
        with pytest.raises(errors.NotFoundError):
            store.get_contexts_by_artifact(aids[0])


def test_put_execution_links_are_idempotent(store, t):
    eid, [aid], [cid] = store.put_execution(_exe(t), [(_art(t), None)], [_ctx(t, "c")])
    e = store.get_executions_by_id([eid])[0]
    a = store.get_artifacts_by_id([aid])[0]
    store.put_execution(e, [(a, None)], [store.get_contexts_by_id([cid])[0]])
    assert [x.id for x in store.get_artifacts_by_context(cid)] == [aid]
    assert [x.id for x in store.get_executions_by_context(cid)] == [eid]


def test_put_execution_duplicate_event_is_already_exists(store, t):
    eid, [aid], _ = store.put_execution(_exe(t), [(_art(t), pb.Event(type=pb.Event.INPUT))], [])
    with pytest.raises(errors.AlreadyExistsError):
        store.put_execution(pb.Execution(id=eid, type_id=t.execution),
                            [(pb.Artifact(id=aid, type_id=t.artifact), pb.Event(type=pb.Event.INPUT))], [])
    assert len(store.get_events_by_execution_ids([eid])) == 1


# ----------------------------------------------------------------------------------- put_lineage_subgraph


def _edge(ei, ai, t=pb.Event.INPUT, **kw):
    return (ei, ai, pb.Event(type=t, **kw))


def test_put_lineage_subgraph(store, t):
    executions = [_exe(t, name="e0"), _exe(t, name="e1")]
    artifacts = [_art(t, uri="/a0"), _art(t, uri="/a1"), _art(t, uri="/a2")]
    contexts = [_ctx(t, "c0"), _ctx(t, "c1")]
    edges = [_edge(0, 0, pb.Event.INPUT), _edge(0, 1, pb.Event.OUTPUT), _edge(1, 1, pb.Event.INPUT),
             _edge(1, 2, pb.Event.OUTPUT)]
    eids, aids, cids = store.put_lineage_subgraph(executions, artifacts, contexts, edges)
    assert len(eids) == 2 and len(aids) == 3 and len(cids) == 2
    assert [e.name for e in store.get_executions_by_id(eids)] == ["e0", "e1"]
    assert [a.uri for a in store.get_artifacts_by_id(aids)] == ["/a0", "/a1", "/a2"]
    events = store.get_events_by_execution_ids(eids)
    assert sorted(_key(ev) for ev in events) == sorted([
        (aids[0], eids[0], pb.Event.INPUT), (aids[1], eids[0], pb.Event.OUTPUT),
        (aids[1], eids[1], pb.Event.INPUT), (aids[2], eids[1], pb.Event.OUTPUT)])
    # every context is linked to every execution and artifact
    for cid in cids:
        assert sorted(a.id for a in store.get_artifacts_by_context(cid)) == sorted(aids)
        assert sorted(e.id for e in store.get_executions_by_context(cid)) == sorted(eids)


def test_put_lineage_subgraph_edges_by_event_ids(store, t):
    [old_e] = store.put_executions([_exe(t)])
    [old_a] = store.put_artifacts([_art(t)])
    eids, aids, _ = store.put_lineage_subgraph(
        [_exe(t)], [_art(t)], [],
        [(None, 0, pb.Event(type=pb.Event.INPUT, execution_id=old_e)),
         (0, None, pb.Event(type=pb.Event.OUTPUT, artifact_id=old_a)),
         (None, None, pb.Event(type=pb.Event.INPUT, execution_id=old_e, artifact_id=old_a)),
         (0, 0, pb.Event(type=pb.Event.DECLARED_OUTPUT, execution_id=None))])
    events = {_key(ev) for ev in store.get_events_by_execution_ids([old_e] + eids)}
    assert events == {(aids[0], old_e, pb.Event.INPUT), (old_a, eids[0], pb.Event.OUTPUT),
                      (old_a, old_e, pb.Event.INPUT), (aids[0], eids[0], pb.Event.DECLARED_OUTPUT)}


def test_put_lineage_subgraph_empty(store, t):
    assert store.put_lineage_subgraph([], [], [], []) == ([], [], [])


@pytest.mark.parametrize("edge", [(2, 0), (0, 5), (-1, 0), (0, -1)])
def test_put_lineage_subgraph_index_out_of_range(store, t, edge):
    with pytest.raises(errors.OutOfRangeError):
        store.put_lineage_subgraph([_exe(t), _exe(t)], [_art(t)], [_ctx(t, "c")], [_edge(*edge)])
    assert store.get_executions() == [] and store.get_artifacts() == [] and store.get_contexts() == []


@pytest.mark.parametrize("missing", ["execution", "artifact"])
def test_put_lineage_subgraph_missing_index_and_id(store, t, missing):
    edge = (None, 0) if missing == "execution" else (0, None)
    with pytest.raises(errors.InvalidArgumentError):
        store.put_lineage_subgraph([_exe(t)], [_art(t)], [], [_edge(*edge)])
    assert store.get_executions() == [] and store.get_artifacts() == []


def test_put_lineage_subgraph_id_mismatch(store, t):
    [other_e] = store.put_executions([_exe(t)])
    [other_a] = store.put_artifacts([_art(t)])
    with pytest.raises(errors.InvalidArgumentError):
        store.put_lineage_subgraph([_exe(t)], [_art(t)], [], [_edge(0, 0, execution_id=other_e)])
    with pytest.raises(errors.InvalidArgumentError):
        store.put_lineage_subgraph([_exe(t)], [_art(t)], [], [_edge(0, 0, artifact_id=other_a)])
    assert len(store.get_executions()) == 1 and len(store.get_artifacts()) == 1


@only_mlmd_core  # ml-metadata 1.17.1 accepts this edge and writes an event pointing at no execution
def test_put_lineage_subgraph_event_with_unknown_id_is_invalid_argument(store, t):
    with pytest.raises(errors.InvalidArgumentError):
        store.put_lineage_subgraph([], [_art(t)], [], [(None, 0, pb.Event(type=pb.Event.INPUT, execution_id=999))])
    assert store.get_artifacts() == []
    assert store.get_events_by_execution_ids([999]) == []


def test_put_lineage_subgraph_reuse_options(store, t):
    [cid] = store.put_contexts([_ctx(t, "shared")])
    [aid] = store.put_artifacts([_art(t, uri="/v1", external_id="ext")])
    with pytest.raises(errors.AlreadyExistsError):
        store.put_lineage_subgraph([_exe(t)], [], [_ctx(t, "shared")], [])
    with pytest.raises(errors.AlreadyExistsError):
        store.put_lineage_subgraph([_exe(t)], [_art(t, external_id="ext")], [], [])
    assert store.get_executions() == []
    eids, aids, cids = store.put_lineage_subgraph(
        [_exe(t)], [_art(t, uri="/v2", external_id="ext")], [_ctx(t, "shared")], [_edge(0, 0)],
        reuse_context_if_already_exist=True, reuse_artifact_if_already_exist_by_external_id=True)
    assert cids == [cid] and aids == [aid]
    assert store.get_artifacts_by_id([aid])[0].uri == "/v2"
    assert [e.id for e in store.get_executions_by_context(cid)] == eids


def test_put_lineage_subgraph_same_new_context_twice_with_reuse(store, t):
    eids, aids, cids = store.put_lineage_subgraph(
        [_exe(t)], [_art(t)], [_ctx(t, "lsg"), _ctx(t, "lsg")], [_edge(0, 0)], reuse_context_if_already_exist=True)
    assert len(cids) == 2 and cids[0] == cids[1]
    assert [c.id for c in store.get_contexts()] == [cids[0]]
    assert [a.id for a in store.get_artifacts_by_context(cids[0])] == aids


def test_put_lineage_subgraph_duplicate_edges_are_already_exists(store, t):
    with pytest.raises(errors.AlreadyExistsError):
        store.put_lineage_subgraph([_exe(t)], [_art(t)], [], [_edge(0, 0), _edge(0, 0)])
    assert store.get_executions() == [] and store.get_artifacts() == []


@only_mlmd_core
def test_put_lineage_subgraph_on_mariadb_looks_things_up_together(mariadb):
    """put_lineage_subgraph as the Airflow listener records a finished task: its execution updated, a new output
    reused by external id, its contexts reused by name, an input event of a stored artifact. Lookups that do not
    depend on each other share a round trip: the contexts by name one, the events' artifacts and executions one,
    and only those this call did not write itself (the input). Six round trips in all (eight before)."""
    s = mariadb
    t = make_types(s)
    [stored] = s.put_artifacts([_art(t, uri="/in")])
    [eid], _, [dag, run] = s.put_lineage_subgraph([_exe(t)], [], [_ctx(t, "dag"), _ctx(t, "run")], [])
    output = _art(t, uri="/out", external_id="xcom:out")
    edges = [(0, 0, pb.Event(type=pb.Event.OUTPUT)), (0, None, pb.Event(type=pb.Event.INPUT, artifact_id=stored))]
    count, (eids, [out], cids) = count_statements(s, lambda: s.put_lineage_subgraph(
        [_exe(t, id=eid, last_known_state=pb.Execution.COMPLETE)], [output], [_ctx(t, "dag"), _ctx(t, "run")], edges,
        reuse_context_if_already_exist=True, reuse_artifact_if_already_exist_by_external_id=True))
    assert count == 6
    assert eids == [eid] and cids == [dag, run]
    assert sorted((e.artifact_id, e.type) for e in s.get_events_by_execution_ids([eid])) == [
        (stored, pb.Event.INPUT), (out, pb.Event.OUTPUT)]
    with pytest.raises(errors.InvalidArgumentError, match="No artifact with the given id 999"):
        s.put_lineage_subgraph([_exe(t, id=eid)], [], [], [(0, None, pb.Event(type=pb.Event.INPUT, artifact_id=999))])


@only_mlmd_core
def test_put_attributions_and_associations_on_mariadb_checks_in_one_round_trip(mariadb):
    """The contexts, artifacts and executions named are looked up together; the links go with the COMMIT."""
    s = mariadb
    t = make_types(s)
    [aid] = s.put_artifacts([_art(t)])
    [eid] = s.put_executions([_exe(t)])
    [cid] = s.put_contexts([_ctx(t, "c")])
    count, _ = count_statements(s, lambda: s.put_attributions_and_associations(
        [pb.Attribution(context_id=cid, artifact_id=aid)], [pb.Association(context_id=cid, execution_id=eid)]))
    assert count == 2
    assert [a.id for a in s.get_artifacts_by_context(cid)] == [aid]
    assert [e.id for e in s.get_executions_by_context(cid)] == [eid]
    with pytest.raises(errors.InvalidArgumentError, match="Execution id not found: 999"):
        s.put_attributions_and_associations([], [pb.Association(context_id=cid, execution_id=999)])


@only_mlmd_core
def test_put_parent_contexts_on_mariadb_looks_for_the_link_and_a_cycle_together(mariadb):
    """The contexts' look, then the link's and the cycle's in one round trip, then the insert (four before;
    the COMMIT is not counted)."""
    s = mariadb
    t = make_types(s)
    parent, child = s.put_contexts([_ctx(t, "parent"), _ctx(t, "child")])
    count, _ = count_statements(s, lambda: s.put_parent_contexts([pb.ParentContext(child_id=child, parent_id=parent)]))
    assert count == 3
    assert [c.id for c in s.get_parent_contexts_by_context(child)] == [parent]
    with pytest.raises(errors.AlreadyExistsError):
        s.put_parent_contexts([pb.ParentContext(child_id=child, parent_id=parent)])
    with pytest.raises(errors.InvalidArgumentError, match="cycle"):
        s.put_parent_contexts([pb.ParentContext(child_id=parent, parent_id=child)])


@only_mlmd_core
def test_a_type_read_by_name_validates_its_nodes_without_reading_it_again():
    """get_*_type makes the type known to the store as putting it does: a node of it written next is checked
    against it without reading the type (two statements fewer on a server)."""
    if "mysql" not in SERVER_BACKENDS:
        pytest.skip("needs the MariaDB server (MLMD_TEST_BACKENDS)")
    config = backend_config("mysql")
    s = open_store(config)
    type_id = s.put_artifact_type(pb.ArtifactType(name="Model", properties={"accuracy": pb.DOUBLE}))
    cold, warm = open_store(config), open_store(config)  # as other processes' stores: their type caches are empty
    try:
        assert warm.get_artifact_type("Model").id == type_id
        counts = []
        for other in (cold, warm):
            artifact = pb.Artifact(type_id=type_id)
            artifact.properties["accuracy"].double_value = 0.5
            count, _ = count_statements(other, lambda o=other, a=artifact: o.put_artifacts([a]))
            counts.append(count)
        assert counts[1] == counts[0] - 2
        bad = pb.Artifact(type_id=type_id)
        bad.properties["accuracy"].int_value = 1
        with pytest.raises(errors.InvalidArgumentError, match="unmatched property type"):
            warm.put_artifacts([bad])
    finally:
        for other in (cold, warm, s):
            close_store(other)
