"""MetadataStore construction: ConnectionConfig variants, SQLite modes, schema checks (reference §1.2, §6)."""

from __future__ import annotations

import gc
import sqlite3

import pytest
from store_fixtures import (
    MLMD_TABLES,
    ORACLE,
    close_store,
    errors,
    file_config,
    memory_config,
    mlmd,
    only_mlmd_core,
    open_store,
    pb,
)

Mode = pb.SqliteMetadataSourceConfig.ConnectionMode


def _close(s):
    close_store(s)
    del s
    gc.collect()


def _fill(s):
    tid = s.put_artifact_type(pb.ArtifactType(name="T"))
    [aid] = s.put_artifacts([pb.Artifact(type_id=tid, uri="/persisted")])
    return tid, aid


# ------------------------------------------------------------------------------------------- in memory


@pytest.mark.parametrize("which", ["fake_database", "sqlite_empty_uri"])
def test_in_memory_stores_do_not_share_data(which):
    def config():
        if which == "fake_database":
            return memory_config()
        c = pb.ConnectionConfig()
        c.sqlite.SetInParent()
        return c

    a = open_store(config())
    b = open_store(config())
    try:
        _fill(a)
        assert [t.name for t in a.get_artifact_types()] == ["T"]
        assert b.get_artifact_types() == []
        assert b.get_artifacts() == []
        # both are complete stores with the system types
        assert b.get_artifact_type("mlmd.Dataset").id == 1
    finally:
        _close(a)
        _close(b)


def test_in_memory_store_does_not_create_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = open_store(memory_config())
    _fill(s)
    _close(s)
    c = pb.ConnectionConfig()
    c.sqlite.filename_uri = ""
    s = open_store(c)
    _fill(s)
    _close(s)
    assert list(tmp_path.iterdir()) == []


@only_mlmd_core
def test_in_memory_store_serves_threads():
    """One in-memory store shared by 8 threads writing and reading at once (its connection has no SQLite
    mutex of its own: the store hands it to one call at a time): every write is there, no call fails."""
    import threading

    s = open_store(memory_config())
    type_id = s.put_artifact_type(pb.ArtifactType(name="T"))
    failures: list[str] = []

    def work(thread: int) -> None:
        try:
            for i in range(100):
                [artifact_id] = s.put_artifacts([pb.Artifact(type_id=type_id, uri=f"/{thread}/{i}")])
                assert s.get_artifacts_by_id([artifact_id])[0].uri == f"/{thread}/{i}"
                s.get_artifacts_by_type("T")
        except Exception as exc:  # noqa: BLE001 - reported below with the thread's number
            failures.append(f"thread {thread}: {exc!r}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert failures == []
        assert sorted(a.uri for a in s.get_artifacts()) == sorted(f"/{t}/{i}" for t in range(8) for i in range(100))
    finally:
        _close(s)


@only_mlmd_core
def test_only_in_memory_stores_run_on_apsw(tmp_path):
    """docs/backends.md: APSW (its own copy of SQLite) serves in-memory stores only; a file store's
    connections are Python's sqlite3, so that reading the file with sqlite3 beside a live store never puts
    two copies of SQLite on one file in one process (closing one drops the other's POSIX locks)."""
    import apsw

    memory, on_file = open_store(memory_config()), open_store(file_config(tmp_path / "db.sqlite"))
    try:
        for s, driver in ((memory, apsw.Connection), (on_file, sqlite3.Connection)):
            _fill(s)
            database = s._backend.database
            handle, raw, _ = database.acquire()
            try:
                assert isinstance(raw, driver)
            finally:
                database.release(handle)
    finally:
        _close(memory)
        _close(on_file)


# ---------------------------------------------------------------------------------------------- files


def test_file_store_persists_across_store_objects(tmp_path):
    path = tmp_path / "db.sqlite"
    s = open_store(file_config(path))
    tid, aid = _fill(s)
    _close(s)
    s2 = open_store(file_config(path))
    try:
        assert s2.get_artifact_type("T").id == tid
        [a] = s2.get_artifacts_by_id([aid])
        assert a.uri == "/persisted"
        # and it keeps counting ids from where it was
        tid2 = s2.put_artifact_type(pb.ArtifactType(name="T2"))
        assert tid2 == tid + 1
    finally:
        _close(s2)


def test_two_store_objects_on_one_file_see_each_other(tmp_path):
    path = tmp_path / "db.sqlite"
    a = open_store(file_config(path))
    b = open_store(file_config(path))
    try:
        tid, aid = _fill(a)
        assert [x.id for x in b.get_artifacts()] == [aid]
        b.put_artifacts([pb.Artifact(type_id=tid, uri="/from-b")])
        assert sorted(x.uri for x in a.get_artifacts()) == ["/from-b", "/persisted"]
    finally:
        _close(a)
        _close(b)


def test_new_file_has_the_15_tables_and_schema_version_10(tmp_path):
    path = tmp_path / "db.sqlite"
    s = open_store(file_config(path, Mode.READWRITE_OPENCREATE))
    _close(s)
    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert set(MLMD_TABLES) <= tables
        assert len(MLMD_TABLES) == 15
        assert tables - set(MLMD_TABLES) <= {"sqlite_sequence"}
        assert conn.execute("SELECT schema_version FROM MLMDEnv").fetchall() == [(10,)]
        types = conn.execute("SELECT id, name, type_kind FROM Type ORDER BY id").fetchall()
        assert types == [(1, "mlmd.Dataset", 1), (2, "mlmd.Model", 1), (3, "mlmd.Metrics", 1),
                         (4, "mlmd.Statistics", 1), (5, "mlmd.Train", 0), (6, "mlmd.Transform", 0),
                         (7, "mlmd.Process", 0), (8, "mlmd.Evaluate", 0), (9, "mlmd.Deploy", 0)]
    finally:
        conn.close()


def test_reopening_does_not_duplicate_system_types(tmp_path):
    path = tmp_path / "db.sqlite"
    for _ in range(3):
        _close(open_store(file_config(path)))
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM Type").fetchone() == (9,)
        assert conn.execute("SELECT COUNT(*) FROM MLMDEnv").fetchone() == (1,)
    finally:
        conn.close()


@only_mlmd_core
def test_file_store_uses_wal(tmp_path):
    path = tmp_path / "db.sqlite"
    s = open_store(file_config(path))
    _fill(s)
    _close(s)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
    finally:
        conn.close()


@only_mlmd_core
def test_file_store_reads_through_a_memory_map(tmp_path):
    """mmap_size is per connection (a plain one reads 0): the store's own connections, read-write and
    read-only, read pages through a memory map of the file."""
    path = tmp_path / "db.sqlite"
    writer = open_store(file_config(path))
    _fill(writer)
    reader = open_store(file_config(path, mode=pb.SqliteMetadataSourceConfig.READONLY))
    for s in (writer, reader):
        database = s._backend.database
        handle, raw, _ = database.acquire()
        try:
            assert raw.execute("PRAGMA mmap_size").fetchone() == (1 << 30,)
        finally:
            database.release(handle)
    plain = sqlite3.connect(path)
    try:
        assert plain.execute("PRAGMA mmap_size").fetchone() == (0,)
    finally:
        plain.close()
    _close(reader)
    _close(writer)


def test_storage_encodings(tmp_path):
    """§6.3: uri '' when unset, NULL state, struct/proto as base64 text, bool as 1/0, EventPath rows."""
    import base64

    from google.protobuf import struct_pb2

    path = tmp_path / "db.sqlite"
    s = open_store(file_config(path))
    at = pb.ArtifactType(name="Enc", base_type=pb.ArtifactType.MODEL)
    at.properties["st"] = pb.STRUCT
    at.properties["pr"] = pb.PROTO
    at.properties["b"] = pb.BOOLEAN
    tid = s.put_artifact_type(at)
    a = pb.Artifact(type_id=tid)
    a.properties["st"].struct_value.update({"k": 1})
    a.properties["pr"].proto_value.Pack(struct_pb2.Value(string_value="v"))
    a.properties["b"].bool_value = True
    a.custom_properties["cb"].bool_value = False
    [aid] = s.put_artifacts([a])
    et = s.put_execution_type(pb.ExecutionType(name="E"))
    [eid] = s.put_executions([pb.Execution(type_id=et)])
    ev = pb.Event(artifact_id=aid, execution_id=eid, type=pb.Event.INPUT)
    ev.path.steps.add(key="k")
    ev.path.steps.add(index=4)
    s.put_events([ev])
    _close(s)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT uri, state FROM Artifact WHERE id=?", (aid,)).fetchone() == ("", None)
        rows = {r[0]: r[1:] for r in conn.execute(
            "SELECT name, is_custom_property, int_value, double_value, string_value, proto_value, bool_value "
            "FROM ArtifactProperty WHERE artifact_id=?", (aid,))}
        struct_text = rows["st"][3]
        assert struct_text.startswith("mlmd-struct::")
        decoded = struct_pb2.Struct()
        decoded.ParseFromString(base64.b64decode(struct_text[len("mlmd-struct::"):]))
        assert decoded == a.properties["st"].struct_value
        proto_blob = rows["pr"][4]
        proto_blob = proto_blob.encode() if isinstance(proto_blob, str) else bytes(proto_blob)
        assert base64.b64decode(proto_blob) == a.properties["pr"].proto_value.SerializeToString()
        assert rows["b"][0] == 0 and rows["b"][5] == 1
        assert rows["cb"][0] == 1 and rows["cb"][5] == 0
        assert conn.execute("SELECT type_id, parent_type_id FROM ParentType").fetchall() == [(tid, 2)]
        assert conn.execute("SELECT data_type FROM TypeProperty WHERE type_id=? AND name='st'",
                            (tid,)).fetchone() == (pb.STRUCT,)
        paths = conn.execute("SELECT is_index_step, step_index, step_key FROM EventPath").fetchall()
        assert sorted(paths, key=repr) == sorted([(0, None, "k"), (1, 4, None)], key=repr)
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------- connection modes


def test_readwrite_opencreate_creates_the_file(tmp_path):
    path = tmp_path / "new.sqlite"
    assert not path.exists()
    s = open_store(file_config(path, Mode.READWRITE_OPENCREATE))
    _fill(s)
    _close(s)
    assert path.exists()


def test_default_mode_creates_the_file(tmp_path):
    path = tmp_path / "default.sqlite"
    s = open_store(file_config(path))
    _close(s)
    assert path.exists()


def test_readwrite_on_missing_file_fails(tmp_path):
    path = tmp_path / "missing.sqlite"
    with pytest.raises(RuntimeError):
        open_store(file_config(path, Mode.READWRITE))
    assert not path.exists()


def test_readwrite_on_existing_file_works(tmp_path):
    path = tmp_path / "db.sqlite"
    _close(open_store(file_config(path)))
    s = open_store(file_config(path, Mode.READWRITE))
    try:
        tid, aid = _fill(s)
        assert [a.id for a in s.get_artifacts()] == [aid]
    finally:
        _close(s)


def test_readonly_on_missing_file_fails(tmp_path):
    path = tmp_path / "missing.sqlite"
    with pytest.raises(RuntimeError):
        open_store(file_config(path, Mode.READONLY))
    assert not path.exists()


def test_readonly_reads_work_and_writes_fail(tmp_path):
    path = tmp_path / "db.sqlite"
    s = open_store(file_config(path))
    tid, aid = _fill(s)
    _close(s)
    ro = open_store(file_config(path, Mode.READONLY))
    try:
        assert ro.get_artifact_type("T").id == tid
        assert [a.uri for a in ro.get_artifacts_by_id([aid])] == ["/persisted"]
        assert ro.get_artifacts_by_uri("/persisted")[0].id == aid
        with pytest.raises(errors.StatusError):
            ro.put_artifacts([pb.Artifact(type_id=tid)])
        with pytest.raises(errors.StatusError):
            ro.put_artifact_type(pb.ArtifactType(name="New"))
        assert len(ro.get_artifacts()) == 1
    finally:
        _close(ro)
    s = open_store(file_config(path))
    try:
        assert len(s.get_artifacts()) == 1
        assert [t.name for t in s.get_artifact_types()] == ["T"]
    finally:
        _close(s)


# --------------------------------------------------------------------------------------- config errors


def test_unset_config_raises_runtime_error():
    with pytest.raises(RuntimeError) as info:
        open_store(pb.ConnectionConfig())
    if not ORACLE:
        # mlmd_core's constructor errors are also mlmd errors
        assert isinstance(info.value, errors.StatusError)


def test_wrong_config_type_is_value_error():
    with pytest.raises(ValueError):
        mlmd.MetadataStore(pb.SqliteMetadataSourceConfig())


def test_grpc_client_config_does_no_io_and_rejects_upgrade():
    config = pb.MetadataStoreClientConfig(host="127.0.0.1", port=1)
    s = mlmd.MetadataStore(config)  # no connection attempt in the constructor
    assert s is not None
    with pytest.raises(ValueError):
        mlmd.MetadataStore(config, enable_upgrade_migration=True)


def _set_schema_version(path, version):
    conn = sqlite3.connect(path)
    try:
        conn.execute("UPDATE MLMDEnv SET schema_version = ?", (version,))
        conn.commit()
    finally:
        conn.close()


def test_newer_schema_version_is_refused(tmp_path):
    path = tmp_path / "db.sqlite"
    s = open_store(file_config(path))
    _fill(s)
    _close(s)
    _set_schema_version(path, 11)
    with pytest.raises(RuntimeError, match="greater than library version"):
        open_store(file_config(path))
    with pytest.raises(RuntimeError, match="greater than library version"):
        open_store(file_config(path), enable_upgrade_migration=True)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT schema_version FROM MLMDEnv").fetchall() == [(11,)]
    finally:
        conn.close()


def test_older_schema_version_is_refused_without_migration(tmp_path):
    path = tmp_path / "db.sqlite"
    s = open_store(file_config(path))
    _fill(s)
    _close(s)
    _set_schema_version(path, 9)
    with pytest.raises(RuntimeError, match="older than library version"):
        open_store(file_config(path))
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT schema_version FROM MLMDEnv").fetchall() == [(9,)]
    finally:
        conn.close()


def test_enable_upgrade_migration_on_current_schema_is_harmless(tmp_path):
    path = tmp_path / "db.sqlite"
    s = open_store(file_config(path), enable_upgrade_migration=True)
    tid, aid = _fill(s)
    _close(s)
    s = open_store(file_config(path), enable_upgrade_migration=True)
    try:
        assert [a.id for a in s.get_artifacts()] == [aid]
    finally:
        _close(s)


# ------------------------------------------------------------------------------------------ retry options


def test_retry_options(tmp_path):
    config = memory_config()
    config.retry_options.max_num_retries = 3
    s = open_store(config)
    try:
        assert s._max_num_retries == 3
        _fill(s)
        assert len(s.get_artifacts()) == 1
    finally:
        _close(s)
    s = open_store(memory_config())
    try:
        assert s._max_num_retries == 5
    finally:
        _close(s)
