"""The migration steps on MariaDB/MySQL and PostgreSQL (ALTER TABLE instead of SQLite's table rebuilds):
a store written by mlmd_core goes down to 7 and to 0 and up again, and keeps exactly what the same round trip
keeps on SQLite (whose steps are checked against ml-metadata's in test_migrations.py); the upgraded schema is
the one a new store gets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Loaded as Airflow loads it (its resetdb runs in the same test processes): Alembic then overrides how
# SQLAlchemy compiles MySQL's DROP CONSTRAINT, which our migrations must survive.
import alembic.ddl.mysql  # noqa: F401
import pytest
import server_backends
import sqlalchemy
from sqlalchemy import inspect
from test_interop import scenario, without_timestamps

import mlmd_core as mlmd
from mlmd_core.proto import metadata_store_pb2 as pb
from mlmd_core.store import bootstrap
from mlmd_core.store.schema import LOOKUP_INDEXES


def _populate(store: mlmd.MetadataStore) -> None:
    """Something of everything the schema versions differ in: external ids, base types, type versions,
    every property value kind, named nodes with states, events with paths, links, parent contexts."""
    at = pb.ArtifactType(name="Data", version="v1", description="d", external_id="t-data",
                         base_type=pb.ArtifactType.DATASET)
    at.properties["n"] = pb.INT
    at.properties["s"] = pb.STRING
    data = store.put_artifact_type(at)
    train = store.put_execution_type(pb.ExecutionType(name="Train", external_id="t-train"))
    run = store.put_context_type(pb.ContextType(name="Run"))
    proto = pb.Value()
    proto.proto_value.Pack(pb.Artifact(uri="packed"))
    artifacts = []
    for i in range(6):
        a = pb.Artifact(type_id=data, uri=f"u{i}", name=f"a{i}", state=pb.Artifact.LIVE,
                        external_id=f"ext-a{i}" if i % 2 else None)
        a.properties["n"].int_value = i
        a.properties["s"].string_value = f"s{i}"
        a.custom_properties["d"].double_value = i / 3
        a.custom_properties["b"].bool_value = bool(i % 2)
        a.custom_properties["p"].CopyFrom(proto)
        a.custom_properties["st"].struct_value.update({"k": i})
        artifacts.append(a)
    parent = pb.Context(type_id=run, name="parent", external_id="ext-parent")
    [parent_id] = store.put_contexts([parent])
    for i in range(3):
        e = pb.Execution(type_id=train, name=f"e{i}", last_known_state=pb.Execution.COMPLETE)
        e.custom_properties["i"].int_value = i
        c = pb.Context(type_id=run, name=f"run{i}")
        c.custom_properties["x"].string_value = "y"
        pairs = []
        for j, a in enumerate(artifacts[2 * i: 2 * i + 2]):
            ev = pb.Event(type=pb.Event.OUTPUT if j else pb.Event.INPUT)
            ev.path.steps.add().key = f"k{j}"
            ev.path.steps.add().index = j
            pairs.append((a, ev))
        _, _, [context_id] = store.put_execution(e, pairs, [c])
        store.put_parent_contexts([pb.ParentContext(child_id=context_id, parent_id=parent_id)])


def _content(config: pb.ConnectionConfig) -> dict[str, Any]:
    """What the store holds, through the API, without the writer's timestamps."""
    with mlmd.MetadataStore(config) as store:
        contexts = store.get_contexts()
        executions = store.get_executions()
        out: dict[str, Any] = {
            "types": [store.get_artifact_types(), store.get_execution_types(), store.get_context_types()],
            "artifacts": store.get_artifacts(), "executions": executions, "contexts": contexts,
            "events": store.get_events_by_execution_ids([e.id for e in executions]),
            "attributions": [store.get_artifacts_by_context(c.id) for c in contexts],
            "associations": [store.get_executions_by_context(c.id) for c in contexts],
            "parents": [store.get_parent_contexts_by_context(c.id) for c in contexts],
        }
    return {k: without_timestamps(v) for k, v in out.items()}


def _shape(config: pb.ConnectionConfig) -> dict[str, Any]:
    """Tables, columns (names, nullability), unique constraints' and indexes' columns of a server database."""
    backend = config.WhichOneof("config")
    database = config.mysql.database if backend == "mysql" else config.postgresql.dbname
    url = "mysql+pymysql://" if backend == "mysql" else "postgresql+psycopg://"
    engine = sqlalchemy.create_engine(url, creator=lambda: server_backends.admin_connection(backend, database))
    try:
        insp = inspect(engine)
        out = {}
        for table in sorted(insp.get_table_names()):
            out[table] = (
                sorted((c["name"], c["nullable"]) for c in insp.get_columns(table)),
                sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
                sorted((i["name"].lower(), tuple(i["column_names"])) for i in insp.get_indexes(table)
                       if not i.get("unique")),
            )
        return out
    finally:
        engine.dispose()


def _round_trips(config: pb.ConnectionConfig) -> list[dict[str, Any]]:
    with mlmd.MetadataStore(config) as store:
        _populate(store)
    seen = [_content(config)]
    for target in (7, 0):
        assert mlmd.downgrade_schema(config, target) is None
        assert bootstrap.stored_version(config) == target
        with pytest.raises(mlmd.errors.FailedPreconditionError):
            mlmd.MetadataStore(config)
        mlmd.MetadataStore(config, enable_upgrade_migration=True).close()
        assert bootstrap.stored_version(config) == 10
        seen.append(_content(config))
    return seen


@pytest.fixture(scope="module")
def on_sqlite(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    path: Path = tmp_path_factory.mktemp("sqlite-round-trips") / "db.sqlite"
    return _round_trips(scenario.connection_config(pb, str(path)))


@pytest.mark.parametrize("backend", server_backends.SERVERS)
def test_round_trips_keep_what_sqlite_keeps(backend: str, on_sqlite: list[dict[str, Any]]) -> None:
    config = server_backends.fresh_config(backend)
    seen = _round_trips(config)
    for what, expected, got in zip(("written", "after 10 -> 7 -> 10", "after 10 -> 0 -> 10"), on_sqlite, seen):
        for key in expected:
            assert got[key] == expected[key], f"{backend}, {what}: {key} differ from SQLite's"
    fresh = server_backends.fresh_config(backend)
    mlmd.MetadataStore(fresh).close()
    assert _shape(config) == _shape(fresh)


@pytest.mark.parametrize("backend", server_backends.SERVERS)
def test_each_step_round_trips(backend: str) -> None:
    config = server_backends.fresh_config(backend)
    mlmd.MetadataStore(config).close()
    fresh = _shape(config)
    lookup = sorted(i.name for i in LOOKUP_INDEXES)
    assert bootstrap.missing_lookup_indexes(config) == []
    for version in range(10, 0, -1):
        assert bootstrap.migrate(config, version - 1) == (version, version - 1)
        if version == 10:  # leaving v10 drops mlmd_core's own indexes (the upgrade back creates them)
            assert sorted(bootstrap.missing_lookup_indexes(config)) == lookup
    for version in range(1, 11):
        assert bootstrap.migrate(config, version) == (version - 1, version)
    assert _shape(config) == fresh
