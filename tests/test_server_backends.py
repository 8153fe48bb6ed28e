"""MariaDB and PostgreSQL specifics: MLMD's table layout, database creation, connection loss, lock errors
and concurrent writers (reference §6, §6.4 "Concurrency"; MLMD issues #221 and #50). Real servers; one mock
only, for a race that cannot be timed from outside. A backend whose server is unreachable is skipped (see
tests/server_backends.py)."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import socket
import threading
import traceback

import pytest
import server_backends
from pytest_mock import MockerFixture
from server_backends import SERVER_BACKENDS, admin_connection, fresh_config
from store_fixtures import ORACLE, close_store, errors, make_types, mlmd, open_store, pb

from mlmd_core.store.engine import map_db_error

pytestmark = [pytest.mark.skipif(ORACLE or not SERVER_BACKENDS, reason="needs MLMD_TEST_BACKENDS servers"),
              pytest.mark.parametrize("backend", SERVER_BACKENDS)]


def _database(config: pb.ConnectionConfig) -> str:
    return config.mysql.database if config.WhichOneof("config") == "mysql" else config.postgresql.dbname


def _kill_sessions(backend: str, database: str) -> int:
    """Kills every server session connected to the database (as a DBA or a server restart would)."""
    conn = admin_connection(backend)
    try:
        cur = conn.cursor()
        if backend == "mysql":
            cur.execute("SELECT id FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()",
                        (database,))
            ids = [r[0] for r in cur.fetchall()]
            for session in ids:
                try:
                    cur.execute(f"KILL {int(session)}")
                except Exception as exc:  # noqa: BLE001 - 1094: the session ended meanwhile
                    if not exc.args or exc.args[0] != 1094:
                        raise
            return len(ids)
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                    "AND pid <> pg_backend_pid()", (database,))
        return len(cur.fetchall())
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------- layout


def _columns(backend: str, database: str) -> dict[str, list[tuple]]:
    conn = admin_connection(backend, database)
    try:
        cur = conn.cursor()
        if backend == "mysql":
            cur.execute("SELECT table_name, column_name, column_type, is_nullable, column_default, extra "
                        "FROM information_schema.columns WHERE table_schema = DATABASE() "
                        "ORDER BY table_name, ordinal_position")
        else:
            cur.execute("SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, "
                        "column_default FROM information_schema.columns WHERE table_schema = current_schema() "
                        "ORDER BY table_name, ordinal_position")
        out: dict[str, list[tuple]] = {}
        for row in cur.fetchall():
            out.setdefault(row[0], []).append(tuple(row[1:]))
        if backend == "mysql":
            cur.execute("SELECT table_name, index_name, non_unique, GROUP_CONCAT(column_name ORDER BY seq_in_index),"
                        " GROUP_CONCAT(IFNULL(sub_part, '') ORDER BY seq_in_index) FROM information_schema.statistics"
                        " WHERE table_schema = DATABASE() GROUP BY table_name, index_name, non_unique")
        else:
            cur.execute("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()")
        out["indexes"] = sorted(tuple(r) for r in cur.fetchall())
        return out
    finally:
        conn.close()


EXPECTED_MYSQL_ARTIFACT = [
    ("id", "int(11)", "NO", None, "auto_increment"),
    ("type_id", "int(11)", "NO", None, ""),
    ("uri", "text", "YES", "NULL", ""),
    ("state", "int(11)", "YES", "NULL", ""),
    ("name", "varchar(255)", "YES", "NULL", ""),
    ("external_id", "varchar(255)", "YES", "NULL", ""),
    ("create_time_since_epoch", "bigint(20)", "NO", "0", ""),
    ("last_update_time_since_epoch", "bigint(20)", "NO", "0", ""),
]


def test_fresh_schema_has_mlmd_layout(backend: str) -> None:
    """Tables, column types and index names as ml-metadata 1.17 creates them on the server (§6), so a
    KFP/TFX database and ours are interchangeable. (tests/test_interop.py compares against ml-metadata itself.)"""
    config = fresh_config(backend)
    close_store(open_store(config))
    layout = _columns(backend, _database(config))
    if backend == "mysql":
        assert sorted(t for t in layout if t != "indexes") == sorted(server_backends._TABLES + ("MLMDEnv",))
        assert layout["Artifact"] == EXPECTED_MYSQL_ARTIFACT
        props = {c[0]: c[1] for c in layout["ArtifactProperty"]}
        assert props == {"artifact_id": "int(11)", "name": "varchar(255)", "is_custom_property": "tinyint(1)",
                         "int_value": "int(11)", "double_value": "double", "string_value": "mediumtext",
                         "byte_value": "mediumblob", "proto_value": "mediumblob", "bool_value": "tinyint(1)"}
        indexes = {(r[0], r[1]): r[2:] for r in layout["indexes"]}
        assert indexes[("ArtifactProperty", "idx_artifact_property_string")] == (
            1, "name,is_custom_property,string_value", ",,255")
        assert indexes[("Artifact", "idx_artifact_uri")] == (1, "uri", "255")
        assert indexes[("Artifact", "UniqueArtifactTypeName")][0] == 0
        assert indexes[("Context", "type_id")] == (0, "type_id,name", ",")
    else:
        assert sorted(t for t in layout if t != "indexes") == sorted(
            t.lower() for t in server_backends._TABLES + ("MLMDEnv",))
        props = {c[0]: c[1] for c in layout["artifactproperty"]}
        assert props["is_custom_property"] == "boolean" and props["proto_value"] == "bytea"
        assert props["double_value"] == "double precision" and props["int_value"] == "integer"
        assert {c[0]: c[1] for c in layout["type"]}["type_kind"] == "smallint"
        assert {c[0]: c[-1] for c in layout["artifact"]}["id"] == "nextval('artifact_id_seq'::regclass)"
        names = {r[1] for r in layout["indexes"]}
        assert {"uniqueartifacttypename", "context_type_id_name_key", "idx_artifact_uri",
                "idx_execution_property_string", "idx_eventpath_event_id"} <= names


def test_database_is_created_unless_told_not_to(backend: str) -> None:
    config = fresh_config(backend)
    which = config.WhichOneof("config")
    getattr(config, which).skip_db_creation = True
    with pytest.raises(errors.FailedPreconditionError, match="does not exist"):
        open_store(config)
    getattr(config, which).skip_db_creation = False
    s = open_store(config)
    assert s.get_artifact_types() == []
    close_store(s)
    getattr(config, which).skip_db_creation = True  # exists now
    close_store(open_store(config))


def test_opening_a_store_sets_up_one_connection(backend: str, mocker: MockerFixture) -> None:
    """The connection that finds the database becomes the store's first: opening a store of an existing database
    sets up one connection (PostgreSQL starts a server process for each, 3-4 ms), of a new one three (the look
    that fails, the one that creates the database, the store's). Counted with a spy on the driver's connect:
    the connections are real."""
    import importlib

    from mlmd_core.store.engine import mysql_driver

    config = fresh_config(backend)
    driver = ("psycopg" if backend == "postgresql"
              else "MySQLdb" if mysql_driver() == "mysqlclient" else "pymysql")
    connect = mocker.spy(importlib.import_module(driver), "connect")
    close_store(mlmd.MetadataStore(config))
    assert connect.call_count == 3
    connect.reset_mock()
    store = mlmd.MetadataStore(config)
    store.put_artifact_type(pb.ArtifactType(name="Opened"))
    assert [t.name for t in store.get_artifact_types()] == ["Opened"]
    close_store(store)
    assert connect.call_count == 1


def test_unreachable_server_is_unavailable(backend: str) -> None:
    config = fresh_config(backend)
    if backend == "mysql":
        config.mysql.port = 1
    else:
        config.postgresql.port = "1"
    with pytest.raises(errors.UnavailableError, match="Cannot connect"):
        open_store(config)


# --------------------------------------------------------------------------------------- robustness


def test_reads_sent_together_fail_together_and_leave_the_connection_usable(backend: str) -> None:
    """Cursor.all_each sends independent reads in one round trip (MySQL: one multi-statement query;
    PostgreSQL: a pipeline): a failing one raises the driver's error, and the connection runs the next batch
    as if nothing happened."""
    from sqlalchemy import literal, select, table

    from mlmd_core.store.context import Call

    s = open_store(fresh_config(backend))
    service = s._backend
    handle, raw, _ = service.database.acquire()
    try:
        call = Call(raw, service.statements, {})
        one = call.q("test_one", lambda: select(literal(1)))
        missing = call.q("test_missing", lambda: select(literal(1)).select_from(table("NoSuchTable")))
        with pytest.raises(service.database.errors, match="(?i)nosuchtable"):
            call.all_each([(one, {}), (missing, {}), (one, {})])
        service.database.rollback(raw)
        assert [[tuple(r) for r in rows] for rows in call.all_each([(one, {}), (one, {})])] == [[(1,)], [(1,)]]
    finally:
        service.database.release(handle)
        close_store(s)


def test_no_call_leaves_its_connection_in_a_transaction(backend: str) -> None:
    """A write's BEGIN travels with its first statement: a write that fails there, or that runs no statement at
    all, must not leave the pooled connection inside a transaction (it would hold its locks) nor its BEGIN
    pending for the next call."""
    s = open_store(fresh_config(backend))
    database = s._backend.database

    def idle() -> bool:
        """What the server says of the pooled connection (MariaDB: @@in_transaction), not our own flags."""
        handle, raw, _ = database.acquire()
        try:
            if getattr(raw, "mlmd_begin_pending", False) or database._in_transaction(raw):
                return False
            if backend == "postgresql":
                return raw.info.transaction_status == 0
            cursor = raw.cursor()
            cursor.execute("SELECT @@in_transaction")
            return list(cursor.fetchall()) == [(0,)]
        finally:
            database.release(handle)

    try:
        types = make_types(s)
        calls = [
            lambda: s.put_artifacts([]),  # a write that runs no statement
            lambda: s.put_artifacts([pb.Artifact(type_id=types.artifact, uri="/ok")]),
            lambda: s.put_artifacts([pb.Artifact(type_id=types.artifact, external_id="x")] * 2),  # fails
            lambda: s.get_artifacts(),
        ]
        for call in calls:
            with contextlib.suppress(errors.StatusError):
                call()
            assert idle()
    finally:
        close_store(s)


def test_a_writes_begin_goes_with_whichever_statement_comes_first(backend: str) -> None:
    """Database.begin only marks a write's BEGIN pending; the driver's cursor sends it with the call's first
    statement however that goes (on its own, by executemany, in a PostgreSQL pipeline). Rolled back, none of the
    rows stays (without the BEGIN they would have been committed one by one)."""
    from mlmd_core.store import schema

    s = open_store(fresh_config(backend))
    database = s._backend.database
    sql = (f"INSERT INTO {database.dialect.identifier_preparer.format_table(schema.type_table)} (name, type_kind) "
           "VALUES (%s, %s)")

    def in_pipeline(raw, rows):
        with raw.pipeline():
            raw.cursor().execute(sql, rows[0])

    ways = {"execute": lambda raw, rows: raw.cursor().execute(sql, rows[0]),
            "executemany": lambda raw, rows: raw.cursor().executemany(sql, rows)}
    if backend == "postgresql":
        ways["pipeline"] = in_pipeline
    try:
        for way, run in ways.items():
            handle, raw, _ = database.acquire()
            try:
                database.begin(raw, write=True)
                run(raw, [(f"begun_by_{way}", 1), (f"begun_by_{way}_too", 1)])
                database.rollback(raw)
            finally:
                database.release(handle)
        assert not [t.name for t in s.get_artifact_types() if t.name.startswith("begun_by_")]
    finally:
        close_store(s)


def test_a_write_sent_with_the_commit_that_fails_changes_nothing(backend: str) -> None:
    """Writes nothing in the call reads back (property rows, updates, links: Cursor.defer) go to the server
    with the commit; one that fails there still fails the whole call and leaves nothing behind."""
    s = open_store(fresh_config(backend))
    try:
        types = make_types(s)
        ctx, other = s.put_contexts([pb.Context(type_id=types.context, name=n) for n in ("a", "b")])

        def state() -> tuple:
            return (s.get_artifacts(), s.get_executions(), s.get_contexts(),
                    s.get_events_by_execution_ids([e.id for e in s.get_executions()]))

        before = state()
        out = pb.Artifact(type_id=types.artifact, uri="/out")
        out.properties["day"].int_value = 2**40  # the server's INT column cannot hold it
        with pytest.raises(errors.InvalidArgumentError, match="does not fit"):
            s.put_execution(pb.Execution(type_id=types.execution), [(out, pb.Event(type=pb.Event.OUTPUT))],
                            [pb.Context(id=ctx, type_id=types.context, name="a")])
        assert state() == before
        with pytest.raises(errors.AlreadyExistsError):  # a context renamed onto another's name
            s.put_contexts([pb.Context(type_id=types.context, name="new"),
                            pb.Context(id=other, type_id=types.context, name="a")])
        assert state() == before
    finally:
        close_store(s)


# Text that a packed read (sql.packed_rows: MySQL's rows as one JSON text) must bring back byte for byte:
# non-ASCII over the latin1 session, every byte MariaDB's latin1 (cp1252) leaves undefined, JSON's escapes.
_PACKED_TEXTS = ("\u00e9 \u2713 \u65e5\u672c", "emoji \U0001f600", "\u0101 \u008d\u008f\u0090\u009d \u20ac\u2122",
                 'quote " back\\slash / \\u0041', "ctl \x01\x1f\t\n\r\x7f", "")


def _packed_lineage(s, types) -> tuple[int, list[pb.Event]]:
    """A chain of executions whose artifacts, contexts and event path keys carry _PACKED_TEXTS; the last
    artifact's id and the events as written."""
    written, previous = [], None
    ctx = pb.Context(type_id=types.context, name="packed \u2603")
    ctx.properties["owner"].string_value = _PACKED_TEXTS[0]
    [ctx.id] = s.put_contexts([ctx])
    for i, text in enumerate(_PACKED_TEXTS * 4):
        out = pb.Artifact(type_id=types.artifact, uri=text, name=f"{text} {i}", external_id=f"x {text} {i}")
        out.properties["split"].string_value = text
        out.custom_properties[text or "empty"].int_value = -(2**31) + i  # the servers' INT column
        pairs = [(out, pb.Event(type=pb.Event.OUTPUT, path=pb.Event.Path(steps=[{"key": text}, {"index": i}])))]
        if previous is not None:
            pairs.insert(0, (previous, pb.Event(type=pb.Event.INPUT, path=pb.Event.Path(
                steps=[{"index": -i}, {"key": f"in {text}"}, {"key": text}]))))
        execution = pb.Execution(type_id=types.execution, name=f"run {text} {i}")
        execution.properties["state"].string_value = text
        execution_id, artifact_ids, _ = s.put_execution(execution, pairs, [ctx])
        for (_, event), artifact_id in zip(pairs, artifact_ids):
            event.artifact_id, event.execution_id = artifact_id, execution_id
            written.append(event)
        out.id = artifact_ids[-1]
        previous = out  # as written: put_execution stores its input artifacts as given
    return previous.id, written


@pytest.mark.parametrize("pack_from", [0, None, 10**9], ids=["all packed", "by size", "none packed"])
def test_packed_reads_bring_back_what_was_written(backend: str, pack_from: int | None,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads of many rows come from MySQL as one JSON text (sql.packed_rows): lineage, events and their paths,
    the nodes of a context read back exactly what was written, text of every kind included, whichever reads
    are packed (a listing is packed by the size it read last time; pymysql only); and when the JSON text does not fit
    (here: the session's group_concat_max_len lowered to cut it), the same read runs unpacked, same answer."""
    from mlmd_core.store import sql

    if pack_from is not None:
        monkeypatch.setattr(sql, "PACK_FROM_VALUES", pack_from)
    monkeypatch.setenv("MLMD_MYSQL_DRIVER", "pymysql")  # mysqlclient parses rows in C: it reads them plain
    s = open_store(fresh_config(backend))
    try:
        types = make_types(s)
        last, written = _packed_lineage(s, types)
        query = pb.LineageSubgraphQueryOptions(max_num_hops=100, direction=pb.LineageSubgraphQueryOptions.UPSTREAM)
        query.starting_artifacts.filter_query = f"id = {last}"

        def read() -> tuple:
            graph = s.get_lineage_subgraph(query)
            events = s.get_events_by_execution_ids([e.id for e in s.get_executions()])
            context_id = graph.contexts[0].id
            return graph, events, (s.get_artifacts_by_context(context_id), s.get_executions_by_context(context_id))

        first = read()
        graph, events, members = first
        by_id = [sorted(nodes, key=lambda node: node.id) for nodes in members]
        assert by_id == [s.get_artifacts(), s.get_executions()]  # every node is in the one context
        assert len(graph.artifacts) == len(_PACKED_TEXTS) * 4 and len(graph.executions) == len(_PACKED_TEXTS) * 4
        assert sorted(a.uri for a in graph.artifacts) == sorted(_PACKED_TEXTS * 4)
        assert {a.id: a for a in graph.artifacts} == {a.id: a for a in s.get_artifacts()}
        assert [c.properties["owner"].string_value for c in graph.contexts] == [_PACKED_TEXTS[0]]
        for got in (list(graph.events), list(events)):
            assert sorted(e.SerializeToString(deterministic=True) for e in got) == sorted(
                e.SerializeToString(deterministic=True) for e in _timeless(got, written))
        assert read() == first
        if backend == "mysql":
            # the listings' statements (nodes, properties) know their size now; packed again when big enough
            listings = [stmt for key, stmt in s._backend.statements._cache.items() if key[0] in ("all_nodes",
                                                                                              "all_props")]
            assert len(listings) == 6 and all(stmt.last_rows for stmt in listings)
            if pack_from is not None:
                assert all((stmt.packing({}) is not None) == (pack_from == 0) for stmt in listings)
            database = s._backend.database
            handle, raw, _ = database.acquire()
            try:
                with raw.cursor() as cursor:  # the pool's one connection (one thread): cut packed texts at 64 bytes
                    cursor.execute("SET SESSION group_concat_max_len = 64")
            finally:
                database.release(handle)
            assert read() == first
    finally:
        close_store(s)


def _timeless(read: list[pb.Event], written: list[pb.Event]) -> list[pb.Event]:
    """The written events with the times the store gave them (matched by artifact, execution and type)."""
    times = {(e.artifact_id, e.execution_id, e.type): e.milliseconds_since_epoch for e in read}
    return [pb.Event(artifact_id=e.artifact_id, execution_id=e.execution_id, type=e.type, path=e.path,
                     milliseconds_since_epoch=times[(e.artifact_id, e.execution_id, e.type)]) for e in written]


def test_killed_connections_are_replaced_transparently(backend: str) -> None:
    """MLMD #221: a long-lived store whose server sessions were killed (idle timeout, DBA, restart) goes on
    working on the next call, for reads and writes alike."""
    config = fresh_config(backend)
    s = open_store(config)
    try:
        types = make_types(s)
        [aid] = s.put_artifacts([pb.Artifact(type_id=types.artifact, uri="/before")])
        for _ in range(3):
            assert _kill_sessions(backend, _database(config)) >= 1
            assert [a.uri for a in s.get_artifacts_by_id([aid])] == ["/before"]
            assert _kill_sessions(backend, _database(config)) >= 1
            s.put_artifacts([pb.Artifact(type_id=types.artifact, uri="/after")])
        assert sorted(a.uri for a in s.get_artifacts()) == ["/after"] * 3 + ["/before"]
    finally:
        close_store(s)


def test_connection_killed_by_threads_in_flight(backend: str) -> None:
    """Sessions of a store shared by threads are killed while calls run. A call whose connection dies before
    its commit is re-run on a new connection; one whose commit was cut off may or may not have committed, so
    it fails with UnavailableError (never a silent double write). The store works on afterwards."""
    config = fresh_config(backend)
    s = open_store(config)
    types = make_types(s)
    done: list[int] = []
    unknown: list[int] = []
    failures: list[str] = []

    def work(worker: int) -> None:
        for i in range(20):
            try:
                s.put_artifacts([pb.Artifact(type_id=types.artifact, uri=f"/{worker}/{i}")])
                done.append(1)
            except errors.UnavailableError as exc:
                if "while committing" not in str(exc):
                    failures.append(str(exc))
                unknown.append(1)
            except Exception:  # noqa: BLE001 - reported below
                failures.append(traceback.format_exc())

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for _ in range(3):
        _kill_sessions(backend, _database(config))
    for t in threads:
        t.join()
    try:
        assert not failures, failures[0]
        assert len(done) <= len(s.get_artifacts()) <= len(done) + len(unknown)
        s.put_artifacts([pb.Artifact(type_id=types.artifact, uri="/last")])
    finally:
        close_store(s)


def _deadlock(backend: str, database: str) -> Exception:
    """Makes the server detect a real deadlock between two sessions; returns the victim's driver error."""
    a, b = admin_connection(backend, database), admin_connection(backend, database)
    try:
        for conn in (a, b):
            conn.autocommit = False if backend == "postgresql" else conn.autocommit
        if backend == "mysql":
            a.autocommit(False)
            b.autocommit(False)
        ca, cb = a.cursor(), b.cursor()
        table = "MLMDEnv" if backend == "mysql" else "mlmdenv"
        ca.execute(f"INSERT INTO {table} VALUES (1001)")
        cb.execute(f"INSERT INTO {table} VALUES (1002)")
        caught: list[Exception] = []

        def second() -> None:
            try:
                cb.execute(f"INSERT INTO {table} VALUES (1001)")  # waits for a
            except Exception as exc:  # noqa: BLE001
                caught.append(exc)

        t = threading.Thread(target=second)
        t.start()
        try:
            ca.execute(f"INSERT INTO {table} VALUES (1002)")  # waits for b: deadlock
        except Exception as exc:  # noqa: BLE001
            caught.append(exc)
        a.rollback()
        t.join()
        b.rollback()
        return caught[0]
    finally:
        a.close()
        b.close()


def test_deadlock_and_lock_wait_timeout_are_aborted(backend: str) -> None:
    """Deadlocks and lock-wait timeouts reach callers as AbortedError, which MetadataStore retries."""
    config = fresh_config(backend)
    close_store(open_store(config))
    database = _database(config)
    assert isinstance(map_db_error(_deadlock(backend, database)), errors.AbortedError)
    holder, waiter = admin_connection(backend, database), admin_connection(backend, database)
    try:
        cur, wait = holder.cursor(), waiter.cursor()
        if backend == "mysql":
            holder.autocommit(False)
            waiter.autocommit(False)
            wait.execute("SET SESSION innodb_lock_wait_timeout = 1")
            cur.execute("SELECT * FROM MLMDEnv FOR UPDATE")
            statement = "SELECT * FROM MLMDEnv FOR UPDATE"
        else:
            holder.autocommit = waiter.autocommit = False
            wait.execute("SET lock_timeout = '1s'")
            cur.execute("SELECT * FROM mlmdenv FOR UPDATE")
            statement = "SELECT * FROM mlmdenv FOR UPDATE"
        with pytest.raises(Exception) as caught:
            wait.execute(statement)
        assert isinstance(map_db_error(caught.value), errors.AbortedError), caught.value
    finally:
        holder.close()
        waiter.close()


def test_lock_wait_inside_a_call_is_retried(backend: str) -> None:
    """A put_artifact_type blocked behind another session's lock for longer than the lock timeout fails
    with AbortedError and succeeds on MetadataStore's retry once the lock is gone."""
    config = fresh_config(backend)
    config.retry_options.max_num_retries = 50
    s = open_store(config)
    database = _database(config)
    holder = admin_connection(backend, database)
    try:
        cur = holder.cursor()
        if backend == "mysql":
            holder.autocommit(False)
            cur.execute("SET GLOBAL innodb_lock_wait_timeout = 1")
            cur.execute("SELECT * FROM MLMDEnv FOR UPDATE")
        else:
            holder.autocommit = False
            cur.execute(f'ALTER DATABASE "{database}" SET lock_timeout = \'1s\'')
            holder.commit()
            cur.execute("SELECT * FROM mlmdenv FOR UPDATE")
        s.close()
        s = open_store(config)  # new sessions pick up the short lock timeout
        timer = threading.Timer(2.5, holder.rollback)
        timer.start()
        type_id = s.put_artifact_type(pb.ArtifactType(name="Waited"))
        timer.join()
        assert s.get_artifact_type("Waited").id == type_id
    finally:
        if backend == "mysql":
            holder.cursor().execute("SET GLOBAL innodb_lock_wait_timeout = 50")
        holder.close()
        close_store(s)


# ------------------------------------------------------------------------------------ many processes

N_PROCS = 8
N_CALLS = 500  # per process: the 8 x 500
START_TIMEOUT = 120


def _execution_worker(config_bytes: bytes, worker: int, type_ids: tuple[int, int, int], start, out) -> None:
    try:
        config = pb.ConnectionConfig.FromString(config_bytes)
        config.retry_options.max_num_retries = 20
        artifact_type, execution_type, context_type = type_ids
        s = open_store(config)
        start.wait(START_TIMEOUT)
        results = []
        for i in range(N_CALLS):
            pairs = []
            for k in range(2):  # two events: their paths find their ids within the INSERT of both
                event = pb.Event(type=pb.Event.OUTPUT)
                event.path.steps.add(key=f"w{worker}-{i}")
                event.path.steps.add(index=k)
                pairs.append((pb.Artifact(type_id=artifact_type, uri=f"/w{worker}/{i}/{k}"), event))
            eid, aids, cids = s.put_execution(
                pb.Execution(type_id=execution_type, name=f"w{worker}-{i}"), pairs,
                [pb.Context(type_id=context_type, name="shared")], reuse_context_if_already_exist=True)
            results.append((eid, tuple(aids), cids[0]))
        close_store(s)
        out.put((worker, "ok", results))
    except BaseException:  # noqa: BLE001 - reported to the parent
        out.put((worker, "error", traceback.format_exc()))


def _type_worker(config_bytes: bytes, worker: int, start, out) -> None:
    try:
        config = pb.ConnectionConfig.FromString(config_bytes)
        start.wait(START_TIMEOUT)
        s = open_store(config)  # racing on a database that does not exist yet
        t = pb.ArtifactType(name="Raced")
        t.properties["p"] = pb.INT
        ids = {s.put_artifact_type(t) for _ in range(10)}
        close_store(s)
        out.put((worker, "ok", sorted(ids)))
    except BaseException:  # noqa: BLE001
        out.put((worker, "error", traceback.format_exc()))


def _run(target, args_of) -> list:
    ctx = mp.get_context("fork")
    start, out = ctx.Barrier(N_PROCS), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args_of(w), start, out)) for w in range(N_PROCS)]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(60)
    errors_seen = [r[2] for r in results if r[1] != "ok"]
    assert not errors_seen, errors_seen[0]
    return results


def test_processes_writing_executions_lose_nothing(backend: str) -> None:
    config = fresh_config(backend)
    s = open_store(config)
    types = make_types(s)
    type_ids = (types.artifact, types.execution, types.context)
    results = _run(_execution_worker, lambda w: (config.SerializeToString(), w, type_ids))
    rows = [r for _, _, rs in results for r in rs]
    assert len({r[0] for r in rows}) == len({a for r in rows for a in r[1]}) / 2 == N_PROCS * N_CALLS
    assert len({r[2] for r in rows}) == 1
    executions = s.get_executions()
    assert sorted(e.id for e in executions) == sorted(r[0] for r in rows)
    artifacts = {a.id: a for a in s.get_artifacts()}
    assert len(artifacts) == 2 * N_PROCS * N_CALLS
    [ctx] = s.get_contexts()
    assert len(s.get_executions_by_context(ctx.id)) == N_PROCS * N_CALLS
    assert len(s.get_artifacts_by_context(ctx.id)) == 2 * N_PROCS * N_CALLS
    # every event, with its path, where its call put it, though the writers' events interleave. PostgreSQL keeps
    # an event's path steps in heap order only, which writers extending the table at once can swap at the end of
    # a page (docs/compatibility.md): there the steps are compared in any order.
    def path(steps: list[tuple[str, int]]) -> list[tuple[str, int]]:
        return sorted(steps) if backend == "postgresql" else steps

    name_of = {e.id: e.name for e in executions}
    events = s.get_events_by_execution_ids(list(name_of))
    got = sorted((name_of[ev.execution_id], artifacts[ev.artifact_id].uri,
                  path([(step.key, step.index) for step in ev.path.steps])) for ev in events)
    assert got == sorted((f"w{w}-{i}", f"/w{w}/{i}/{k}", path([(f"w{w}-{i}", 0), ("", k)]))
                         for w in range(N_PROCS) for i in range(N_CALLS) for k in range(2))
    close_store(s)


def test_processes_racing_to_create_a_type_make_one(backend: str) -> None:
    config = fresh_config(backend)  # the database does not exist yet: creation races too
    results = _run(_type_worker, lambda w: (config.SerializeToString(), w))
    assert len({tuple(r[2]) for r in results}) == 1 and len(results[0][2]) == 1
    s = open_store(config)
    assert [t.name for t in s.get_artifact_types()] == ["Raced"]
    # the 9 system types exist once: 4 artifact types and Raced, 5 execution types
    assert len(s.get_artifact_types_by_id(list(range(1, 20)))) == 5
    assert len(s.get_execution_types_by_id(list(range(1, 20)))) == 5
    close_store(s)


def test_metadata_store_over_server_is_mlmd_compatible(backend: str) -> None:
    """The ml_metadata-style entry point: ConnectionConfig.mysql / .postgresql straight into MetadataStore."""
    s = mlmd.MetadataStore(fresh_config(backend))
    try:
        assert s.get_artifact_types() == []
        assert s.get_artifact_type("mlmd.Dataset").id == 1
    finally:
        s.close()


class _CuttingProxy:
    """A loopback TCP proxy to the test server that can cut every connection it carries and refuse the next
    `cut_next` new ones by closing them at once, as a server session killed while it is set up is cut."""

    def __init__(self, port: int):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.target = port
        self.cut_next = 0
        self.cut = 0
        self.open: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut_next:
                self.cut_next -= 1
                self.cut += 1
                client.close()
                continue
            server = socket.create_connection(("127.0.0.1", self.target))
            self.open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def drop_all(self) -> None:
        for s in self.open:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self.open.clear()

    def close(self) -> None:
        self.drop_all()
        self.listener.close()


def test_connection_cut_off_while_set_up_is_retried(backend: str) -> None:
    """A connection cut while the pool opens it (the race test_connection_killed_by_threads_in_flight hits now
    and then) is opened again; a server that cuts every new connection makes the call UnavailableError."""
    config = fresh_config(backend)
    server = config.mysql if backend == "mysql" else config.postgresql
    proxy = _CuttingProxy(int(server.port))
    server.port = proxy.port if backend == "mysql" else str(proxy.port)
    s = open_store(config)
    try:
        types = make_types(s)
        [aid] = s.put_artifacts([pb.Artifact(type_id=types.artifact, uri="/before-cut")])
        proxy.drop_all()  # the pooled connection dies; its replacement is cut while it is set up
        proxy.cut_next = 1
        s.put_artifacts([pb.Artifact(type_id=types.artifact, uri="/after-cut")])
        assert proxy.cut == 1
        proxy.drop_all()
        proxy.cut_next = 100
        with pytest.raises(errors.UnavailableError, match="Cannot connect to the database server"):
            s.get_artifacts_by_id([aid])
        proxy.cut_next = 0
        assert sorted(a.uri for a in s.get_artifacts()) == ["/after-cut", "/before-cut"]
    finally:
        close_store(s)
        proxy.close()
