"""The interop scenario, run unchanged by google's ml-metadata (side venv) and by mlmd_core.

Every function takes the library module (``ml_metadata`` or ``mlmd_core``) as ``mlmd`` and its
``metadata_store_pb2`` as ``pb``, so both libraries write the same store and answer the same reads:

* ``populate`` writes a rich store (types of every kind and property type, nodes with every value
  kind and state, events with paths, links, parent contexts, put_execution, put_lineage_subgraph,
  updates), enough nodes to span result pages;
* ``append`` adds more of everything to an existing store (for the id-consistency tests);
* ``dump`` runs every read method over everything in the store and records the answers as
  serialized protos: {key: record}, where key names the call (``get_artifacts_by_id([1, 2])``) and a
  record is {"items": [b64, ...]} (a list), {"item": b64} (one message), {"none": true},
  {"tuple": [record, ...]} or {"error": class name, "message": text}.

Which calls ``dump`` makes depends only on what the database holds (``read_plan``, plain SQL before the
store is opened), never on the answers of the library under test, so both sides make exactly the same
calls.

A store is ``where``: a SQLite file's path, a MySQL/MariaDB address
``mysql://USER[:PASSWORD]@HOST:PORT/DATABASE`` or a PostgreSQL address
``postgresql://USER[:PASSWORD]@HOST:PORT/DATABASE``. ``read_plan`` reads a server database with pymysql or
psycopg, which the side venv lacks: there the plan is read by the caller and handed to ``dump``.
"""

from __future__ import annotations

import base64
import sqlite3
import time
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from google.protobuf import any_pb2, struct_pb2

# Groups of keys a test compares separately: key -> group is the method name before "(", except for
# the calls grouped under these names.
FILTER_GROUP = "filter_query"
LINEAGE_GROUP = "get_lineage_subgraph"

# Sleep between write calls, so that every write lands in a later millisecond: then ordering by
# create/update time is the same whichever library wrote the store.
TICK_S = 0.004


def tick() -> None:
    time.sleep(TICK_S)


def is_mysql(where: str) -> bool:
    return str(where).startswith("mysql://")


def is_postgresql(where: str) -> bool:
    return str(where).startswith("postgresql://")


def is_server(where: str) -> bool:
    """A server database (MySQL or PostgreSQL), not a SQLite file."""
    return is_mysql(where) or is_postgresql(where)


def mysql_address(host: str, port: int, user: str, password: str, database: str) -> str:
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    return f"mysql://{auth}@{host}:{port}/{database}"


def postgresql_address(host: str, port: int | str, user: str, password: str, database: str) -> str:
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    return f"postgresql://{auth}@{host}:{port}/{database}"


def _server_parts(where: str) -> dict[str, Any]:
    url = urlsplit(where)
    return {"host": url.hostname or "127.0.0.1", "port": url.port or (3306 if is_mysql(where) else 5432),
            "user": unquote(url.username or ""), "password": unquote(url.password or ""),
            "database": url.path.lstrip("/")}


def connection_config(pb: Any, where: str, mode: str = "READWRITE_OPENCREATE") -> Any:
    """The store at `where`; `mode` (a SqliteMetadataSourceConfig.ConnectionMode) is for SQLite only."""
    config = pb.ConnectionConfig()
    if is_mysql(where):
        parts = _server_parts(where)
        c = config.mysql
        c.host, c.port, c.user, c.database = parts["host"], parts["port"], parts["user"], parts["database"]
        if parts["password"]:
            c.password = parts["password"]
        return config
    if is_postgresql(where):
        parts = _server_parts(where)
        c = config.postgresql
        c.host, c.port, c.user, c.dbname = parts["host"], str(parts["port"]), parts["user"], parts["database"]
        if parts["password"]:
            c.password = parts["password"]
        return config
    config.sqlite.filename_uri = str(where)
    config.sqlite.connection_mode = getattr(pb.SqliteMetadataSourceConfig, mode)
    return config


def _rows_of(con, statements) -> list[list[tuple]]:
    """The rows of each statement on a DB-API connection, which is closed afterwards."""
    try:
        out = []
        for statement in statements:
            with con.cursor() as cur:
                cur.execute(statement)
                out.append([tuple(r) for r in cur.fetchall()])
        return out
    finally:
        con.close()


def query(where: str, *statements: str) -> list[list[tuple]]:
    """The rows of each statement, read with the database's own driver (for MySQL: pymysql, reading text
    as ml-metadata does: a latin1 session whose bytes are the UTF-8 of the text; for PostgreSQL: psycopg)."""
    if is_mysql(where):
        import pymysql

        con = pymysql.connect(charset="latin1", **_server_parts(where))
        con.encoding = "utf-8"  # pymysql decodes text with this: the bytes as they are
        return _rows_of(con, statements)
    if is_postgresql(where):
        import psycopg

        parts = _server_parts(where)
        return _rows_of(psycopg.connect(host=parts["host"], port=parts["port"], user=parts["user"],
                                        password=parts["password"] or None, dbname=parts["database"],
                                        autocommit=True), statements)
    con = sqlite3.connect(where)
    try:
        return [con.execute(statement).fetchall() for statement in statements]
    finally:
        con.close()


# ------------------------------------------------------------------------------------------ values


def _struct(seed: int = 0) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update({
        "number": 1.5 + seed,
        "text": f"struct text {seed} \u00e9\u2713",
        "flag": True,
        "nothing": None,
        "list": [1, "two", {"three": False}, []],
        "nested": {"deep": {"deeper": -3.25}, "empty": {}},
    })
    return s


def _packed(pb: Any, seed: int = 0) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(pb.Event(artifact_id=seed, execution_id=seed + 1, type=pb.Event.OUTPUT,
                         milliseconds_since_epoch=1_600_000_000_000 + seed))
    return packed


def _raw_any() -> any_pb2.Any:
    return any_pb2.Any(type_url="example.com/custom.Raw", value=b"\x00\x01\xfe\xff raw bytes")


PROPERTY_NAMES = ("p_int", "p_double", "p_string", "p_struct", "p_proto", "p_bool")


def _all_types(pb: Any) -> dict[str, int]:
    """A property of every PropertyType."""
    return {"p_int": pb.INT, "p_double": pb.DOUBLE, "p_string": pb.STRING, "p_struct": pb.STRUCT,
            "p_proto": pb.PROTO, "p_bool": pb.BOOLEAN}


def _fill_declared(pb: Any, props: Any, seed: int = 0, int_bits: int = 64) -> None:
    """Values for the properties of _all_types."""
    props["p_int"].int_value = -(2**40 if int_bits == 64 else 2**30) + seed
    props["p_double"].double_value = 0.375 + seed
    props["p_string"].string_value = f"it's \"quoted\" \u65e5\u672c {seed}"
    props["p_struct"].struct_value.CopyFrom(_struct(seed))
    props["p_proto"].proto_value.CopyFrom(_packed(pb, seed))
    props["p_bool"].bool_value = bool(seed % 2)


def _fill_custom(pb: Any, props: Any, seed: int = 0, int_bits: int = 64, big_double: float = 1.5e300,
                 backslash: bool = True) -> None:
    """Custom properties of every value kind, with edge values (doubles that survive ml-metadata's
    6-decimal writes and 15-digit reads: EDGE_DOUBLES has the others; ints of `int_bits` bits; a string
    with a backslash unless not `backslash`)."""
    props["c_int"].int_value = 7 + seed
    props["c_int_min"].int_value = -(2 ** (int_bits - 1))
    props["c_int_max"].int_value = 2 ** (int_bits - 1) - 1
    props["c_int_zero"].int_value = 0
    props["c_double"].double_value = 2.5 + seed
    props["c_double_big"].double_value = big_double
    props["c_double_neg"].double_value = -123456.75
    props["c_double_zero"].double_value = 0.0
    slash = "\\ back" if backslash else "/ slash"
    props["c_string"].string_value = f"custom \u2603 'single' \"double\" {slash} {seed}"
    props["c_string_empty"].string_value = ""
    props["c_string_multiline"].string_value = "line 1\nline 2\ttab"
    props["c_bool_true"].bool_value = True
    props["c_bool_false"].bool_value = False
    props["c_struct"].struct_value.CopyFrom(_struct(seed + 100))
    props["c_struct_empty"].struct_value.SetInParent()
    props["c_proto"].proto_value.CopyFrom(_packed(pb, seed + 100))
    props["c_proto_raw"].proto_value.CopyFrom(_raw_any())


def _path(pb: Any, *steps: Any) -> Any:
    path = pb.Event.Path()
    for step in steps:
        if isinstance(step, int):
            path.steps.add(index=step)
        else:
            path.steps.add(key=step)
    return path


# ---------------------------------------------------------------------------------------- populate


def populate_options(where: str) -> dict[str, Any]:
    """The keyword arguments of POPULATE's functions for the store at `where`. On MySQL, ml-metadata keeps
    int values in INT columns (32 bits), and writes doubles as decimal literals with 6 decimals, which the
    server caps at 65 digits (1.5e300 becomes 1e65). On PostgreSQL, int values are INTEGER (32 bits) as
    well, and ml-metadata cannot write a string holding a backslash (it quotes the E'...' literal libpq
    makes for it once more: a syntax error)."""
    if is_mysql(where):
        return {"int_bits": 32, "big_double": 1.5e50}
    if is_postgresql(where):
        return {"int_bits": 32, "backslash": False}
    return {}


def populate(mlmd: Any, pb: Any, store: Any, int_bits: int = 64, big_double: float = 1.5e300,
             backslash: bool = True) -> None:
    """Writes the scenario into an empty store (int values of `int_bits` bits, a big double)."""
    # ---- types
    dataset = pb.ArtifactType(name="DataSet", description="a data set", external_id="ext-type-dataset",
                              base_type=pb.ArtifactType.DATASET)
    for name, data_type in _all_types(pb).items():
        dataset.properties[name] = data_type
    dataset_id = store.put_artifact_type(dataset)
    tick()
    assert store.put_artifact_type(dataset) == dataset_id  # idempotent re-put
    tick()
    # can_add_fields adds a property; can_omit_fields keeps the omitted ones.
    grown = pb.ArtifactType(name="DataSet", properties={"p_added": pb.STRING})
    assert store.put_artifact_type(grown, can_add_fields=True, can_omit_fields=True) == dataset_id
    tick()
    model_v1 = store.put_artifact_type(pb.ArtifactType(
        name="Model", version="v1", description="model v1", external_id="ext-type-model-v1",
        base_type=pb.ArtifactType.MODEL, properties={"accuracy": pb.DOUBLE, "framework": pb.STRING}))
    tick()
    model_v2 = store.put_artifact_type(pb.ArtifactType(
        name="Model", version="v2", properties={"accuracy": pb.DOUBLE, "layers": pb.INT}))
    tick()
    stats_id = store.put_artifact_type(pb.ArtifactType(name="Stats", base_type=pb.ArtifactType.STATISTICS,
                                                       properties={"rows": pb.INT}))
    tick()
    # external_id is set later on an existing type.
    assert store.put_artifact_type(pb.ArtifactType(name="Stats", external_id="ext-type-stats",
                                                   properties={"rows": pb.INT})) == stats_id
    tick()
    bare_artifact_type = store.put_artifact_type(pb.ArtifactType(name="BareArtifact"))
    tick()
    bulk_artifact_type = store.put_artifact_type(pb.ArtifactType(name="BulkArtifact",
                                                                 properties={"n": pb.INT}))
    tick()

    trainer = pb.ExecutionType(name="Trainer", version="1.0", description="trains",
                               external_id="ext-type-trainer", base_type=pb.ExecutionType.TRAIN)
    for name, data_type in _all_types(pb).items():
        trainer.properties[name] = data_type
    trainer.input_type.dict.properties["examples"].simple.CopyFrom(pb.ArtifactType(name="DataSet"))
    trainer.input_type.dict.none_type_not_required = True
    union = trainer.output_type.union_type
    union.candidates.add().simple.CopyFrom(pb.ArtifactType(name="Model", version="v1"))
    union.candidates.add().none.SetInParent()
    union.candidates.add().list.element.any.SetInParent()
    trainer_id = store.put_execution_type(trainer)
    tick()
    process_id = store.put_execution_type(pb.ExecutionType(
        name="Processor", base_type=pb.ExecutionType.PROCESS, properties={"step": pb.STRING}))
    tick()
    bare_execution_type = store.put_execution_type(pb.ExecutionType(name="BareExecution"))
    tick()
    bulk_execution_type = store.put_execution_type(pb.ExecutionType(
        name="BulkExecution", description="", properties={"n": pb.INT}))
    tick()
    # Same name as an artifact type: types are per kind.
    store.put_execution_type(pb.ExecutionType(name="DataSet", external_id="ext-type-exec-dataset"))
    tick()

    pipeline = pb.ContextType(name="Pipeline", version="2.0", description="a pipeline",
                              external_id="ext-type-pipeline")
    for name, data_type in _all_types(pb).items():
        pipeline.properties[name] = data_type
    pipeline_id = store.put_context_type(pipeline)
    tick()
    run_id = store.put_context_type(pb.ContextType(name="Run", properties={"attempt": pb.INT}))
    tick()
    bulk_context_type = store.put_context_type(pb.ContextType(name="BulkContext", properties={"n": pb.INT}))
    tick()

    # ---- artifacts
    full = pb.Artifact(type_id=dataset_id, name="full", uri="s3://bucket/full", external_id="ext-art-full",
                       state=pb.Artifact.LIVE)
    _fill_declared(pb, full.properties, 1, int_bits)
    full.properties["p_added"].string_value = "added later"
    _fill_custom(pb, full.custom_properties, 1, int_bits, big_double, backslash)
    artifacts = [
        full,
        pb.Artifact(type_id=bare_artifact_type),  # nothing set: uri comes back as ""
        pb.Artifact(type_id=dataset_id, name="reusable", external_id="ext-reuse", uri="s3://bucket/reuse"),
        pb.Artifact(type_id=model_v1, name="m", uri="s3://models/m", properties={
            "accuracy": pb.Value(double_value=0.875), "framework": pb.Value(string_value="tf")}),
        pb.Artifact(type_id=model_v2, name="m", uri="s3://models/m", properties={
            "accuracy": pb.Value(double_value=0.9), "layers": pb.Value(int_value=12)}),
        pb.Artifact(type_id=stats_id, name="stats", uri="s3://bucket/full",
                    properties={"rows": pb.Value(int_value=1000)}),
        pb.Artifact(type_id=dataset_id, name="", uri=""),  # empty name is a name
    ]
    for state in pb.Artifact.State.values():
        artifacts.append(pb.Artifact(type_id=bare_artifact_type, name=f"state-{state}", state=state,
                                     uri=f"state://{state % 2}", external_id=f"ext-art-state-{state}"))
    artifact_ids = store.put_artifacts(artifacts)
    tick()
    full_id, bare_id, reusable_id = artifact_ids[0], artifact_ids[1], artifact_ids[2]
    bulk_artifacts: list[int] = []
    for batch in range(5):
        batch_nodes = []
        for j in range(26):
            i = batch * 26 + j
            a = pb.Artifact(type_id=bulk_artifact_type, uri=f"bulk://{i % 4}", properties={"n": pb.Value(int_value=i)})
            if i % 10:
                a.name = f"bulk-{i:03d}"
            if i % 3 == 0:
                a.state = pb.Artifact.LIVE
                a.custom_properties["even"].bool_value = i % 2 == 0
            if i % 5 == 0:
                a.external_id = f"ext-bulk-{i:03d}"
            batch_nodes.append(a)
        bulk_artifacts.extend(store.put_artifacts(batch_nodes))
        tick()

    # ---- executions
    full_exec = pb.Execution(type_id=trainer_id, name="train-1", external_id="ext-exec-train-1",
                             last_known_state=pb.Execution.RUNNING)
    _fill_declared(pb, full_exec.properties, 2, int_bits)
    _fill_custom(pb, full_exec.custom_properties, 2, int_bits, big_double, backslash)
    executions = [full_exec, pb.Execution(type_id=bare_execution_type),
                  pb.Execution(type_id=process_id, name="proc-0", properties={"step": pb.Value(string_value="x")})]
    for state in pb.Execution.State.values():
        executions.append(pb.Execution(type_id=bare_execution_type, name=f"state-{state}", last_known_state=state))
    execution_ids = store.put_executions(executions)
    tick()
    full_exec_id, bare_exec_id = execution_ids[0], execution_ids[1]
    bulk_executions: list[int] = []
    for batch in range(4):
        batch_nodes = []
        for j in range(30):
            i = batch * 30 + j
            e = pb.Execution(type_id=bulk_execution_type, name=f"bulk-{i:03d}", properties={"n": pb.Value(int_value=i)})
            if i % 4 == 0:
                e.last_known_state = pb.Execution.COMPLETE
            if i % 6 == 0:
                e.external_id = f"ext-exec-bulk-{i:03d}"
            batch_nodes.append(e)
        bulk_executions.extend(store.put_executions(batch_nodes))
        tick()

    # ---- contexts
    full_ctx = pb.Context(type_id=pipeline_id, name="pipeline-1", external_id="ext-ctx-pipeline-1")
    _fill_declared(pb, full_ctx.properties, 3, int_bits)
    _fill_custom(pb, full_ctx.custom_properties, 3, int_bits, big_double, backslash)
    contexts = [full_ctx] + [
        pb.Context(type_id=run_id, name=f"run-{i}", properties={"attempt": pb.Value(int_value=i)})
        for i in range(1, 4)
    ] + [pb.Context(type_id=bulk_context_type, name="big", external_id="ext-ctx-big")]
    context_ids = store.put_contexts(contexts)
    tick()
    pipeline_ctx, run1, run2, run3, big = context_ids
    bulk_contexts: list[int] = []
    for batch in range(3):
        bulk_contexts.extend(store.put_contexts([
            pb.Context(type_id=bulk_context_type, name=f"ctx-{batch * 40 + j:03d}",
                       properties={"n": pb.Value(int_value=batch * 40 + j)})
            for j in range(40)
        ]))
        tick()

    # ---- updates (full replace, field masks), each in its own millisecond
    updated = []
    for i, node_id in enumerate(bulk_artifacts):
        if i % 9 == 4:
            a = pb.Artifact(id=node_id, type_id=bulk_artifact_type, uri=f"bulk://updated/{i}",
                            state=pb.Artifact.MARKED_FOR_DELETION, properties={"n": pb.Value(int_value=1000 + i)})
            a.custom_properties["updated"].bool_value = True
            updated.append(a)
    store.put_artifacts(updated[: len(updated) // 2])
    tick()
    store.put_artifacts(updated[len(updated) // 2:])
    tick()
    # a field-masked update: one custom property set, one deleted, the rest kept
    masked = pb.Artifact(id=full_id)
    masked.custom_properties["c_masked"].string_value = "set through a field mask"
    store.put_artifacts([masked], field_mask_paths=["custom_properties.c_masked", "custom_properties.c_string_empty"])
    tick()
    # an update that changes nothing does not move last_update_time
    store.put_artifacts([pb.Artifact(id=reusable_id, type_id=dataset_id, name="reusable", external_id="ext-reuse",
                                     uri="s3://bucket/reuse")])
    tick()
    store.put_executions([pb.Execution(id=node_id, last_known_state=pb.Execution.FAILED,
                                       properties={"n": pb.Value(int_value=-i)})
                          for i, node_id in enumerate(bulk_executions) if i % 11 == 5])
    tick()
    store.put_contexts([pb.Context(id=node_id, name=f"ctx-renamed-{i:03d}", properties={"n": pb.Value(int_value=i)})
                        for i, node_id in enumerate(bulk_contexts) if i % 13 == 6])
    tick()

    # ---- events, every type, with paths of index and key steps
    events = []
    for n, event_type in enumerate(t for t in pb.Event.Type.values() if t != pb.Event.UNKNOWN):
        ev = pb.Event(artifact_id=artifact_ids[7 + n], execution_id=full_exec_id, type=event_type)
        if n % 2:
            ev.path.CopyFrom(_path(pb, n, f"key-{n}", 0, ""))
        if n % 3 == 0:
            ev.milliseconds_since_epoch = 1_500_000_000_000 + n
        events.append(ev)
    events.append(pb.Event(artifact_id=full_id, execution_id=full_exec_id, type=pb.Event.INPUT,
                           path=_path(pb, "examples", 0)))
    events.append(pb.Event(artifact_id=full_id, execution_id=bare_exec_id, type=pb.Event.OUTPUT))
    events.append(pb.Event(artifact_id=full_id, execution_id=bare_exec_id, type=pb.Event.DECLARED_OUTPUT,
                           path=_path(pb, "out", "nested", 3)))
    store.put_events(events)
    tick()
    bulk_events = []
    for i in range(40):
        bulk_events.append(pb.Event(artifact_id=bulk_artifacts[i], execution_id=bulk_executions[i],
                                    type=pb.Event.OUTPUT, path=_path(pb, i)))
        bulk_events.append(pb.Event(artifact_id=bulk_artifacts[i], execution_id=bulk_executions[i + 1],
                                    type=pb.Event.INPUT, path=_path(pb, f"in-{i}")))
    store.put_events(bulk_events)
    tick()
    # a late event of an early execution and artifact (event id order != execution/artifact id order)
    store.put_events([pb.Event(artifact_id=bulk_artifacts[50], execution_id=full_exec_id,
                               type=pb.Event.INTERNAL_OUTPUT, path=_path(pb, "late")),
                      pb.Event(artifact_id=full_id, execution_id=bulk_executions[50], type=pb.Event.INPUT)])
    tick()

    # ---- attributions, associations (duplicates are no-ops), parent contexts
    store.put_attributions_and_associations(
        [pb.Attribution(artifact_id=a, context_id=big) for a in bulk_artifacts]
        + [pb.Attribution(artifact_id=full_id, context_id=c) for c in (pipeline_ctx, run1, run1)]
        + [pb.Attribution(artifact_id=artifact_ids[7 + i], context_id=run2) for i in range(5)],
        [pb.Association(execution_id=e, context_id=big) for e in bulk_executions]
        + [pb.Association(execution_id=full_exec_id, context_id=c) for c in (pipeline_ctx, run1)]
        + [pb.Association(execution_id=e, context_id=run3) for e in execution_ids[2:]])
    tick()
    store.put_attributions_and_associations(
        [pb.Attribution(artifact_id=full_id, context_id=pipeline_ctx)], [])
    tick()
    store.put_parent_contexts([
        pb.ParentContext(child_id=run1, parent_id=pipeline_ctx),
        pb.ParentContext(child_id=run2, parent_id=pipeline_ctx),
        pb.ParentContext(child_id=run3, parent_id=run1),
        pb.ParentContext(child_id=run3, parent_id=big),
    ] + [pb.ParentContext(child_id=c, parent_id=big) for c in bulk_contexts[:15]])
    tick()

    # ---- put_execution
    pe_exec = pb.Execution(type_id=process_id, name="proc-pe", last_known_state=pb.Execution.COMPLETE,
                           properties={"step": pb.Value(string_value="put_execution")})
    pe_exec.custom_properties["c"].int_value = 1
    pe_in = pb.Artifact(type_id=dataset_id, name="pe-in", uri="s3://pe/in")
    _fill_declared(pb, pe_in.properties, 4, int_bits)
    store.put_execution(
        pe_exec,
        [
            (pe_in, pb.Event(type=pb.Event.INPUT, path=_path(pb, "examples", 0))),
            (pb.Artifact(type_id=model_v1, name="pe-out", uri="s3://pe/out",
                         properties={"accuracy": pb.Value(double_value=0.5)}),
             pb.Event(type=pb.Event.OUTPUT, path=_path(pb, "model"), milliseconds_since_epoch=1_234_567_890_123)),
            (pb.Artifact(type_id=bare_artifact_type, name="pe-no-event"), None),
            [pb.Artifact(type_id=bare_artifact_type, name="pe-single")],
            (pb.Artifact(id=bare_id, type_id=bare_artifact_type), pb.Event(type=pb.Event.INTERNAL_INPUT)),
        ],
        [pb.Context(type_id=run_id, name="run-pe", properties={"attempt": pb.Value(int_value=9)}),
         pb.Context(type_id=run_id, name="run-1", properties={"attempt": pb.Value(int_value=1)})],
        reuse_context_if_already_exist=True)
    tick()
    # reuse by external_id: updates the stored artifact instead of inserting one
    store.put_execution(
        pb.Execution(type_id=bare_execution_type, name="reuser"),
        [(pb.Artifact(type_id=dataset_id, external_id="ext-reuse", uri="s3://bucket/reused"),
          pb.Event(type=pb.Event.OUTPUT))],
        [], reuse_artifact_if_already_exist_by_external_id=True)
    tick()

    # ---- put_lineage_subgraph
    ls_data = pb.Artifact(type_id=dataset_id, name="ls-data", uri="s3://ls/data", external_id="ext-ls-data")
    ls_data.custom_properties["source"].string_value = "lineage"
    store.put_lineage_subgraph(
        [pb.Execution(type_id=trainer_id, name="ls-train", last_known_state=pb.Execution.COMPLETE),
         pb.Execution(type_id=process_id, name="ls-proc", external_id="ext-ls-proc")],
        [ls_data,
         pb.Artifact(type_id=model_v1, name="ls-model", uri="s3://ls/model", state=pb.Artifact.LIVE),
         pb.Artifact(type_id=bare_artifact_type, uri="s3://ls/out")],
        [pb.Context(type_id=run_id, name="ls-run"), pb.Context(type_id=run_id, name="run-2")],
        [(0, 0, pb.Event(type=pb.Event.INPUT, path=_path(pb, "data", 0))),
         (0, 1, pb.Event(type=pb.Event.OUTPUT, path=_path(pb, "model"))),
         (1, 1, pb.Event(type=pb.Event.INPUT)),
         (1, 2, pb.Event(type=pb.Event.OUTPUT, milliseconds_since_epoch=1_111_111_111_111))],
        reuse_context_if_already_exist=True)
    tick()


# Doubles that ml-metadata does not store or read back exactly: it writes a double into SQL with 6
# decimals (std::to_string) and reads it back through SQLite's 15-significant-digit text.
EDGE_DOUBLES = (0.1 + 0.2, 2.5e-7, 1e-300, 5e-324, 1.7976931348623157e308, -123456.789012345678,
                123456789.123456789, 2.0**60 + 2048, 1 / 3, 6.02214076e23, -0.0)


def populate_doubles(mlmd: Any, pb: Any, store: Any, **_: Any) -> None:
    """A small store of EDGE_DOUBLES, as declared and as custom properties."""
    type_id = store.put_artifact_type(pb.ArtifactType(name="Doubles", properties={"d": pb.DOUBLE}))
    artifacts = []
    for i, value in enumerate(EDGE_DOUBLES):
        a = pb.Artifact(type_id=type_id, name=f"d{i}", uri=f"doubles://{i}",
                        properties={"d": pb.Value(double_value=value)})
        a.custom_properties["c"].double_value = value
        artifacts.append(a)
    store.put_artifacts(artifacts)


# Non-ASCII text (2-, 3- and 4-byte UTF-8, and characters whose UTF-8 has the bytes 0x81 0x8d 0x8f 0x90 0x9d
# that cp1252 leaves undefined): ml-metadata's MySQL client sends text over a latin1 session, so a server
# stores it double-encoded; both libraries must store the same bytes and read back the same text.
TEXTS = ("\u00e9 \u2713 \u65e5\u672c \u2603", "emoji \U0001f600", "\u00c1\u00d0\u00cf\u00dd\u014d",
         "\u00ff\u0100 \u20ac\u2122 \u00a0nbsp", "plain ascii")


def _populate_strings(pb: Any, store: Any, artifact_type: Any, prop: str, texts: tuple[str, ...]) -> None:
    """One artifact per text, the text as its name (+ index), uri, external id, property value and in a custom
    property's name and value."""
    type_id = store.put_artifact_type(artifact_type)
    artifacts = []
    for i, text in enumerate(texts):
        a = pb.Artifact(type_id=type_id, name=f"{text} {i}", uri=text, external_id=f"ext {text} {i}",
                        properties={prop: pb.Value(string_value=text)})
        a.custom_properties[f"c {text}"].string_value = text
        artifacts.append(a)
    store.put_artifacts(artifacts)


def populate_text(mlmd: Any, pb: Any, store: Any, **_: Any) -> None:
    """A small store of TEXTS in every kind of text column (names, uris, external ids, string values,
    property names)."""
    _populate_strings(pb, store, pb.ArtifactType(name="Text \u2603", external_id="ext \u65e5",
                                                 properties={"s \u00e9": pb.STRING}), "s \u00e9", TEXTS)


# Backslashes in every kind of text column (ml-metadata on PostgreSQL cannot write them, see populate_options).
BACKSLASHED = ("back\\slash", "\\", "end\\", "\\n not a newline", "quote\\' after")


def populate_backslashes(mlmd: Any, pb: Any, store: Any, **_: Any) -> None:
    """A small store of BACKSLASHED strings as names, uris, external ids, property names and values."""
    _populate_strings(pb, store, pb.ArtifactType(name="Back\\slash", properties={"s\\": pb.STRING}), "s\\",
                      BACKSLASHED)


POPULATE = {"full": populate, "doubles": populate_doubles, "text": populate_text, "backslashes": populate_backslashes}


# --------------------------------------------------------------------------------------- write errors


def write_errors(mlmd: Any, pb: Any, store: Any) -> dict[str, str]:
    """Writes that may fail, into an empty store: {case: the error's class name, or "OK"} (each case on its
    own; the store keeps what the successful ones wrote)."""
    type_id = store.put_artifact_type(pb.ArtifactType(name="Errors", properties={"i": pb.INT}))
    store.put_artifacts([pb.Artifact(type_id=type_id, name="taken", external_id="taken")])
    cases = {
        "duplicate name": lambda: store.put_artifacts([pb.Artifact(type_id=type_id, name="taken")]),
        "duplicate external_id": lambda: store.put_artifacts([pb.Artifact(type_id=type_id, external_id="taken")]),
        "unknown type_id": lambda: store.put_artifacts([pb.Artifact(type_id=type_id + 1000)]),
        "name of 256 characters": lambda: store.put_artifacts([pb.Artifact(type_id=type_id, name="n" * 256)]),
        "type name of 256 characters": lambda: store.put_artifact_type(pb.ArtifactType(name="t" * 256)),
        "int property beyond 32 bits": lambda: store.put_artifacts(
            [pb.Artifact(type_id=type_id, properties={"i": pb.Value(int_value=2**31)})]),
        "custom int property beyond 32 bits": lambda: store.put_artifacts(
            [pb.Artifact(type_id=type_id, custom_properties={"c": pb.Value(int_value=-(2**31) - 1)})]),
        "NUL in a uri": lambda: store.put_artifacts([pb.Artifact(type_id=type_id, uri="before\x00after")]),
    }
    out = {}
    for case, write in cases.items():
        try:
            write()
            out[case] = "OK"
        except Exception as exc:  # noqa: BLE001 - the class is the answer
            out[case] = type(exc).__name__
    return out


# ------------------------------------------------------------------------------------------ append


def append(mlmd: Any, pb: Any, store: Any, tag: str) -> dict[str, list[int]]:
    """Adds more of everything (names carry `tag`); returns the ids the writes returned."""
    out: dict[str, list[int]] = {}
    at = store.put_artifact_type(pb.ArtifactType(name=f"Appended-{tag}", properties={"v": pb.INT}))
    et = store.put_execution_type(pb.ExecutionType(name=f"AppendedExec-{tag}"))
    ct = store.put_context_type(pb.ContextType(name=f"AppendedCtx-{tag}"))
    # grow a type the other library created (the writer must see the new property at once)
    dataset_id = store.put_artifact_type(
        pb.ArtifactType(name="DataSet", properties={f"added_{tag}": pb.INT}), can_add_fields=True, can_omit_fields=True)
    out["type_ids"] = [at, et, ct, dataset_id]
    a = store.put_artifacts(
        [pb.Artifact(type_id=at, name=f"a-{tag}-{i}", uri=f"append://{tag}", properties={"v": pb.Value(int_value=i)})
         for i in range(3)]
        + [pb.Artifact(type_id=dataset_id, name=f"ds-{tag}", properties={f"added_{tag}": pb.Value(int_value=5)})])
    e = store.put_executions([pb.Execution(type_id=et, name=f"e-{tag}-{i}") for i in range(2)])
    c = store.put_contexts([pb.Context(type_id=ct, name=f"c-{tag}-{i}") for i in range(2)])
    store.put_events([pb.Event(artifact_id=a[0], execution_id=e[0], type=pb.Event.INPUT, path=_path(pb, tag, 1)),
                      pb.Event(artifact_id=a[1], execution_id=e[0], type=pb.Event.OUTPUT)])
    store.put_attributions_and_associations([pb.Attribution(artifact_id=a[0], context_id=c[0])],
                                            [pb.Association(execution_id=e[0], context_id=c[0])])
    store.put_parent_contexts([pb.ParentContext(child_id=c[1], parent_id=c[0])])
    pe_id, pe_artifacts, pe_contexts = store.put_execution(
        pb.Execution(type_id=et, name=f"pe-{tag}"),
        [(pb.Artifact(type_id=at, name=f"pe-a-{tag}"), pb.Event(type=pb.Event.OUTPUT))],
        [pb.Context(type_id=ct, name=f"pe-c-{tag}")])
    ls_e, ls_a, ls_c = store.put_lineage_subgraph(
        [pb.Execution(type_id=et, name=f"ls-e-{tag}")], [pb.Artifact(type_id=at, name=f"ls-a-{tag}")],
        [pb.Context(type_id=ct, name=f"ls-c-{tag}")], [(0, 0, pb.Event(type=pb.Event.INPUT))])
    out["artifact_ids"] = list(a) + list(pe_artifacts) + list(ls_a)
    out["execution_ids"] = list(e) + [pe_id] + list(ls_e)
    out["context_ids"] = list(c) + list(pe_contexts) + list(ls_c)
    return out


# -------------------------------------------------------------------------------------------- dump


KINDS = (
    # (singular, plural, table, Type.type_kind)
    ("artifact", "artifacts", "Artifact", 1),
    ("execution", "executions", "Execution", 0),
    ("context", "contexts", "Context", 2),
)


def read_plan(where: str) -> dict[str, Any]:
    """What is in the store (plain SQL, before any library opens it): which calls to make."""
    statements = ["SELECT id, name, version, type_kind, external_id FROM Type ORDER BY id"]
    statements += [f"SELECT n.id, n.name, n.external_id, t.name, t.version FROM {table} AS n "
                   f"JOIN Type AS t ON t.id = n.type_id ORDER BY n.id" for _, _, table, _ in KINDS]
    statements += [
        "SELECT uri FROM Artifact",
        # the contexts with the most members (paged through by dump)
        "SELECT context_id FROM Attribution GROUP BY context_id ORDER BY COUNT(*) DESC, context_id LIMIT 2",
        "SELECT context_id FROM Association GROUP BY context_id ORDER BY COUNT(*) DESC, context_id LIMIT 2",
    ]
    types, *nodes, uris, attributed, associated = query(where, *statements)
    plan: dict[str, Any] = {"types": types}
    for (_, _, table, _), rows in zip(KINDS, nodes):
        plan[table] = rows
    plan["uris"] = sorted({r[0] for r in uris if r[0] is not None})
    plan["biggest"] = sorted({r[0] for r in attributed + associated})
    return plan


def encode(result: Any) -> dict[str, Any]:
    if result is None:
        return {"none": True}
    if isinstance(result, tuple):
        return {"tuple": [encode(r) for r in result]}
    if isinstance(result, list):
        return {"items": [base64.b64encode(m.SerializeToString()).decode("ascii") for m in result],
                "type": type(result[0]).DESCRIPTOR.name if result else None}
    return {"item": base64.b64encode(result.SerializeToString()).decode("ascii"), "type": result.DESCRIPTOR.name}


def _describe(value: Any) -> str:
    if hasattr(value, "is_asc") and hasattr(value, "limit"):  # ListOptions (attrs or dataclass)
        order = value.order_by.name if value.order_by is not None else None
        return f"ListOptions(limit={value.limit!r}, order_by={order}, is_asc={value.is_asc!r}" + (
            f", filter_query={value.filter_query!r})" if value.filter_query else ")")
    if hasattr(value, "SerializeToString"):
        from google.protobuf import text_format

        return f"{type(value).__name__}({text_format.MessageToString(value, as_one_line=True)})"
    return repr(value)


class Recorder:
    def __init__(self, store: Any):
        self.store = store
        self.out: dict[str, dict[str, Any]] = {}

    def __call__(self, method: str, *args: Any, group: str | None = None, **kwargs: Any) -> None:
        shown = [_describe(a) for a in args] + [f"{k}={_describe(v)}" for k, v in kwargs.items()]
        key = f"{method}({', '.join(shown)})"
        if group:
            key = f"{group}: {key}"
        if key in self.out:
            return
        try:
            result = getattr(self.store, method)(*args, **kwargs)
        except Exception as exc:  # recorded: both libraries must fail the same way
            self.out[key] = {"error": type(exc).__name__, "message": str(exc)[:500]}
            return
        self.out[key] = encode(result)


def list_option_variants(mlmd: Any, limits: tuple = (None, 1, 7, 100, 101, 150, 1000)) -> list[Any]:
    variants = []
    for order_by in (None, mlmd.OrderByField.ID, mlmd.OrderByField.CREATE_TIME, mlmd.OrderByField.UPDATE_TIME):
        for is_asc in (True, False):
            for limit in limits:
                variants.append(mlmd.ListOptions(limit=limit, order_by=order_by, is_asc=is_asc))
    return variants


FILTERS = {
    "artifacts": [
        "type = 'DataSet'",
        "uri LIKE 'bulk://%'",
        "properties.n.int_value > 100",
        "custom_properties.even.bool_value = true",
        "state = LIVE",
        "name = 'full' OR external_id = 'ext-reuse'",
        "contexts_a.name = 'big' AND id < 40",
        "create_time_since_epoch > 0 AND id > 50 AND id < 60",
        "events_0.type = INPUT",
    ],
    "executions": [
        "last_known_state = COMPLETE",
        "type = 'BulkExecution' AND properties.n.int_value < 10",
        "contexts_a.name = 'run-3'",
    ],
    "contexts": [
        "parent_contexts_a.name = 'pipeline-1'",
        "child_contexts_a.name = 'run-3'",
        "name LIKE 'ctx-0%'",
        "type = 'Run'",
    ],
}


def dump(mlmd: Any, pb: Any, store: Any, where: str, plan: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Every read method over everything in the store at `where` (whose read_plan is `plan` if given)."""
    plan = read_plan(where) if plan is None else plan
    rec = Recorder(store)
    type_ids = [t[0] for t in plan["types"]]
    all_type_ids = type_ids + [max(type_ids) + 1, max(type_ids) + 50]
    node_ids = {table: [r[0] for r in plan[table]] for _, _, table, _ in KINDS}
    artifact_ids, execution_ids, context_ids = node_ids["Artifact"], node_ids["Execution"], node_ids["Context"]

    # ---- types
    for kind, _, _, type_kind in KINDS:
        rec(f"get_{kind}_types")
        rec(f"get_{kind}_types_by_id", all_type_ids)
        rec(f"get_{kind}_types_by_id", list(range(1, 10)))
        rec(f"get_{kind}_types_by_id", [])
        for type_id in all_type_ids:
            rec(f"get_{kind}_types_by_id", [type_id])
        kind_types = [t for t in plan["types"] if t[3] == type_kind]
        for _, name, version, _, _ in kind_types:
            rec(f"get_{kind}_type", name, version)
            rec(f"get_{kind}_type", name)  # no version: only an unversioned type matches
        rec(f"get_{kind}_type", "NoSuchType")
        rec(f"get_{kind}_type", "DataSet", "no-such-version")
        external_ids = [t[4] for t in plan["types"] if t[4] is not None]
        rec(f"get_{kind}_types_by_external_ids", external_ids)
        for external_id in external_ids:
            rec(f"get_{kind}_types_by_external_ids", [external_id])
        rec(f"get_{kind}_types_by_external_ids", ["no-such-external-id"])
        rec(f"get_{kind}_types_by_external_ids", [])

    # ---- nodes
    for kind, plural, table, _ in KINDS:
        ids = node_ids[table]
        unknown = [max(ids, default=0) + 1, max(ids, default=0) + 1000]
        rec(f"get_{plural}")
        for options in list_option_variants(mlmd):
            rec(f"get_{plural}", list_options=options)
        rec(f"get_{plural}_by_id", ids + unknown)
        rec(f"get_{plural}_by_id", list(reversed(ids)) + ids[:5])
        rec(f"get_{plural}_by_id", [])
        for node_id in ids + unknown:
            rec(f"get_{plural}_by_id", [node_id])
        for _, name, version, _, _ in plan["types"]:
            rec(f"get_{plural}_by_type", name, version)
        rec(f"get_{plural}_by_type", "NoSuchType")
        rec(f"get_{plural}_by_type", "Model")  # only versioned types of that name
        for _, name, _, type_name, type_version in plan[table]:
            if name is not None:
                rec(f"get_{kind}_by_type_and_name", type_name, name, type_version)
        rec(f"get_{kind}_by_type_and_name", "BareArtifact", "no-such-name")
        rec(f"get_{kind}_by_type_and_name", "NoSuchType", "full")
        external_ids = [r[2] for r in plan[table] if r[2] is not None]
        rec(f"get_{plural}_by_external_ids", external_ids)
        for external_id in external_ids:
            rec(f"get_{plural}_by_external_ids", [external_id])
        rec(f"get_{plural}_by_external_ids", ["no-such-external-id"])
        rec(f"get_{plural}_by_external_ids", [])
    rec("get_artifacts_and_types_by_artifact_ids", artifact_ids + [max(artifact_ids, default=0) + 1])
    rec("get_artifacts_and_types_by_artifact_ids", artifact_ids[:3])
    for uri in plan["uris"] + ["", "no-such-uri"]:
        rec("get_artifacts_by_uri", uri)

    # ---- relationships
    rec("get_events_by_execution_ids", execution_ids)
    rec("get_events_by_artifact_ids", artifact_ids)
    rec("get_events_by_execution_ids", [])
    rec("get_events_by_artifact_ids", [])
    for execution_id in execution_ids + [max(execution_ids, default=0) + 1]:
        rec("get_events_by_execution_ids", [execution_id])
        rec("get_contexts_by_execution", execution_id)
    for artifact_id in artifact_ids + [max(artifact_ids, default=0) + 1]:
        rec("get_events_by_artifact_ids", [artifact_id])
        rec("get_contexts_by_artifact", artifact_id)
    for context_id in context_ids + [max(context_ids, default=0) + 1]:
        rec("get_artifacts_by_context", context_id)
        rec("get_executions_by_context", context_id)
        rec("get_parent_contexts_by_context", context_id)
        rec("get_children_contexts_by_context", context_id)
    # the contexts with the most members, paged
    for context_id in plan["biggest"]:
        for options in list_option_variants(mlmd, limits=(None, 1, 100, 101, 1000)):
            rec("get_artifacts_by_context", context_id, list_options=options)
            rec("get_executions_by_context", context_id, list_options=options)

    # ---- filter queries (their own group)
    for plural, queries in FILTERS.items():
        for query in queries:
            rec(f"get_{plural}", group=FILTER_GROUP,
                list_options=mlmd.ListOptions(filter_query=query))
            rec(f"get_{plural}", group=FILTER_GROUP,
                list_options=mlmd.ListOptions(limit=5, order_by=mlmd.OrderByField.CREATE_TIME, is_asc=False,
                                              filter_query=query))

    # ---- lineage subgraph (its own group)
    direction = pb.LineageSubgraphQueryOptions.Direction
    for start, query in (("starting_artifacts", "name = 'ls-data'"), ("starting_executions", "name = 'train-1'"),
                         ("starting_artifacts", "uri = 's3://bucket/full'")):
        for hops in (0, 1, 2, 10):
            for way in (direction.DIRECTION_UNSPECIFIED, direction.UPSTREAM, direction.DOWNSTREAM):
                options = pb.LineageSubgraphQueryOptions(max_num_hops=hops, direction=way)
                getattr(options, start).filter_query = query
                rec("get_lineage_subgraph", options, group=LINEAGE_GROUP)
        options = pb.LineageSubgraphQueryOptions(max_num_hops=3)
        getattr(options, start).filter_query = query
        rec("get_lineage_subgraph", options, group=LINEAGE_GROUP,
            field_mask_paths=["artifacts", "executions", "artifact_types", "events"])
    return rec.out


def group_of(key: str) -> str:
    """The group a dump key is compared in (its method name, or FILTER_GROUP / LINEAGE_GROUP)."""
    if ": " in key.split("(", 1)[0]:
        return key.split(": ", 1)[0]
    return key.split("(", 1)[0]
