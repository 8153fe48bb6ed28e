"""Several processes writing one SQLite file at once: no "database is locked" reaches the caller, nothing is
lost, ids are unique (reference §6.4 "Concurrency"; SQLite busy handling, §2)."""

from __future__ import annotations

import multiprocessing as mp
import traceback

from store_fixtures import close_store, dump_db, file_config, only_mlmd_core, open_store, pb

# ml-metadata 1.17.1 itself fails here intermittently ("Concurrent writes aborted after max number of
# retries" from its constructor), so this is a requirement on mlmd_core only.
pytestmark = only_mlmd_core

N_PROCS = 4
N_CALLS = 200
START_TIMEOUT = 120


def _execution_worker(path: str, worker: int, type_ids: tuple[int, int, int], start, out) -> None:
    """N_CALLS put_execution calls, each with one output artifact, its event and the shared context."""
    try:
        artifact_type, execution_type, context_type = type_ids
        s = open_store(file_config(path))
        start.wait(START_TIMEOUT)
        results = []
        for i in range(N_CALLS):
            event = pb.Event(type=pb.Event.OUTPUT)
            event.path.steps.add(key=f"w{worker}")
            event.path.steps.add(index=i)
            eid, aids, cids = s.put_execution(
                pb.Execution(type_id=execution_type, name=f"w{worker}-{i}"),
                [(pb.Artifact(type_id=artifact_type, uri=f"/w{worker}/{i}"), event)],
                [pb.Context(type_id=context_type, name="shared")],
                reuse_context_if_already_exist=True)
            results.append((eid, aids[0], cids[0]))
        close_store(s)
        out.put((worker, "ok", results))
    except BaseException:  # noqa: BLE001 - reported to the parent
        out.put((worker, "error", traceback.format_exc()))


def _type_worker(path: str, worker: int, start, out) -> None:
    """Opens the (possibly new) store and races put_artifact_type with the same name."""
    try:
        start.wait(START_TIMEOUT)
        s = open_store(file_config(path))
        t = pb.ArtifactType(name="Raced")
        t.properties["p"] = pb.INT
        ids = [s.put_artifact_type(t) for _ in range(20)]
        e = pb.ExecutionType(name=f"Own{worker}")
        own = s.put_execution_type(e)
        close_store(s)
        out.put((worker, "ok", (ids, own)))
    except BaseException:  # noqa: BLE001
        out.put((worker, "error", traceback.format_exc()))


def _run(target, args_for):
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args_for(w), start, out)) for w in range(N_PROCS)]
    for p in procs:
        p.start()
    start.set()
    results = {}
    try:
        for _ in procs:
            worker, status, payload = out.get(timeout=240)
            results[worker] = (status, payload)
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.terminate()
    errors_seen = {w: payload for w, (status, payload) in results.items() if status != "ok"}
    assert not errors_seen, "\n".join(errors_seen.values())
    assert all(p.exitcode == 0 for p in procs)
    return {w: payload for w, (_, payload) in results.items()}


def test_concurrent_put_execution(tmp_path):
    path = tmp_path / "shared.sqlite"
    s = open_store(file_config(path))
    type_ids = (s.put_artifact_type(pb.ArtifactType(name="A")), s.put_execution_type(pb.ExecutionType(name="E")),
                s.put_context_type(pb.ContextType(name="C")))
    close_store(s)

    results = _run(_execution_worker, lambda w: (str(path), w, type_ids))
    rows = [r for w in sorted(results) for r in results[w]]
    assert len(rows) == N_PROCS * N_CALLS
    eids = [r[0] for r in rows]
    aids = [r[1] for r in rows]
    assert len(set(eids)) == len(eids), "execution ids must be unique"
    assert len(set(aids)) == len(aids), "artifact ids must be unique"
    assert len({r[2] for r in rows}) == 1, "every process must reuse the one shared context"
    [context_id] = {r[2] for r in rows}

    s = open_store(file_config(path))
    try:
        executions = s.get_executions()
        assert sorted(e.id for e in executions) == sorted(eids)
        assert {e.name for e in executions} == {f"w{w}-{i}" for w in range(N_PROCS) for i in range(N_CALLS)}
        artifacts = s.get_artifacts()
        assert sorted(a.id for a in artifacts) == sorted(aids)
        by_id = {a.id: a for a in artifacts}
        for w in results:
            for i, (_, aid, _) in enumerate(results[w]):
                assert by_id[aid].uri == f"/w{w}/{i}"
        [ctx] = s.get_contexts()
        assert ctx.id == context_id and ctx.name == "shared"
        assert sorted(e.id for e in s.get_executions_by_context(context_id)) == sorted(eids)
        assert sorted(a.id for a in s.get_artifacts_by_context(context_id)) == sorted(aids)
        events = s.get_events_by_execution_ids(eids)
        assert len(events) == N_PROCS * N_CALLS
        pairs = {(ev.execution_id, ev.artifact_id) for ev in events}
        assert pairs == {(e, a) for e, a, _ in rows}
        for ev in events:
            assert len(ev.path.steps) == 2
    finally:
        close_store(s)
    db = dump_db(path)
    assert len(db["Association"]) == N_PROCS * N_CALLS
    assert len(db["Attribution"]) == N_PROCS * N_CALLS
    assert len(db["EventPath"]) == 2 * N_PROCS * N_CALLS


def test_concurrent_put_type_on_a_new_file(tmp_path):
    path = tmp_path / "new.sqlite"  # does not exist: the processes also race creating the schema
    results = _run(_type_worker, lambda w: (str(path), w))
    raced_ids = {i for ids, _ in results.values() for i in ids}
    assert len(raced_ids) == 1, f"one type expected, got ids {raced_ids}"
    own_ids = [own for _, own in results.values()]
    assert len(set(own_ids)) == N_PROCS
    s = open_store(file_config(path))
    try:
        types = s.get_artifact_types()
        assert [t.name for t in types] == ["Raced"]
        assert types[0].id == raced_ids.pop()
        assert dict(types[0].properties) == {"p": pb.INT}
        assert sorted(t.name for t in s.get_execution_types()) == [f"Own{w}" for w in range(N_PROCS)]
    finally:
        close_store(s)
    db = dump_db(path)
    assert db["MLMDEnv"] == [(10,)]
    assert len([r for r in db["Type"] if r[1].startswith("mlmd.")]) == 9
    assert len(db["TypeProperty"]) == 1
