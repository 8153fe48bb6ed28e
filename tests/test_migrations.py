"""Schema versions and migrations against ml-metadata 1.17.1's own (side virtualenv).

Fixtures: ml-metadata writes the interop scenario (types, artifacts/executions/contexts with every kind of
property, events with paths, attributions, associations, parent types and contexts) at schema 10 and
downgrades it step by step to 0, keeping a copy at each version; it also upgrades a copy of each back to
10. They are made once per session in a pytest temp dir (a second or two). Then:

- an old database is refused without enable_upgrade_migration, with MLMD's message, and left unchanged;
- mlmd_core's upgrade of each version gives the same SQLite schema (columns, constraints, indexes) and the
  same rows as ml-metadata's upgrade of it, and reads as ml-metadata reads its own;
- mlmd_core's downgrade to each version gives ml-metadata's database at that version, which ml-metadata
  upgrades and reads as its own;
- every step round-trips (up then down; down then up), and a failing step rolls back.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable
from test_interop import BASIC_GROUPS, _affinity, _core_dump, _side_json, assert_same, scenario

import mlmd_core as mlmd
from mlmd_core import errors
from mlmd_core.proto import metadata_store_pb2 as pb
from mlmd_core.store import bootstrap
from mlmd_core.store import schema as v10_schema
from mlmd_core.store.migrations import LATEST, STEPS, schema_at

try:
    from mlmd_side_venv import side_python
except ImportError:  # tests/ imported as a package
    from tests.mlmd_side_venv import side_python

SCRIPT = Path(__file__).resolve().parent / "interop_scripts" / "mlmd_migrations.py"
OLD_VERSIONS = list(range(LATEST))
# ml-metadata releases still in use write these (KFP 1.x/2.x: 7 and 8; MLMD 1.11-1.16: 10).
MAIN_OLD_VERSIONS = [7, 8, 9]

OLDER_MESSAGE = (
    "MLMD database version {v} is older than library version 10. Schema migration is disabled. Please upgrade "
    "the database then use the library version; or switch to a older library version to use the current "
    "database. For more details, please refer to ml-metadata "
    "g3doc/third_party/ml_metadata/g3doc/get_started.md#upgrade-the-database-schema")


def _side(*args: str) -> str:
    proc = subprocess.run([side_python(), str(SCRIPT), *args], capture_output=True, text=True, timeout=600,
                          check=False)
    if proc.returncode != 0:
        pytest.fail(f"ml-metadata `{SCRIPT.name} {' '.join(args)}` exited {proc.returncode}:\n"
                    + "\n".join(proc.stderr.strip().splitlines()[-30:]))
    return proc.stdout


def _config(path: Path, mode: str = "READWRITE") -> pb.ConnectionConfig:
    return scenario.connection_config(pb, str(path), mode)


def _copy(src: Path, dst_dir: Path, name: str) -> Path:
    dst = dst_dir / name
    shutil.copy(src, dst)
    return dst


@pytest.fixture(scope="session")
def mlmd_db(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """ml-metadata's database at every schema version 0..10 (read-only: tests copy them)."""
    out = tmp_path_factory.mktemp("mlmd-versions")
    _side("versions", str(out))
    return {v: out / f"v{v}.sqlite" for v in range(LATEST + 1)}


@pytest.fixture(scope="session")
def mlmd_upgraded(mlmd_db: dict[int, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """ml-metadata's upgrade to 10 of each older version."""
    out = tmp_path_factory.mktemp("mlmd-upgraded")
    paths = {v: _copy(mlmd_db[v], out, f"up-from-v{v}.sqlite") for v in OLD_VERSIONS}
    _side("upgrade", *map(str, paths.values()))
    return paths


# ------------------------------------------------------------------------------ SQLite comparison


# mlmd_core's own indexes beside MLMD's v10 schema (a new store, an upgrade to 10): (table, name, columns).
LOOKUP_INDEXES = sorted((i.table.name, i.name, [c.name for c in i.columns]) for i in v10_schema.LOOKUP_INDEXES)


def with_lookup_indexes(struct: dict[str, Any]) -> dict[str, Any]:
    """An ml-metadata v10 structure as mlmd_core makes it: with its lookup indexes."""
    return {**struct, "lookup indexes": LOOKUP_INDEXES}


def structure(db: Path) -> dict[str, Any]:
    """What a SQLite schema does, whatever its DDL text says: per table the columns (affinity, NOT NULL,
    default, key position), AUTOINCREMENT, unique constraints and named indexes (columns, partial);
    mlmd_core's lookup indexes apart, under "lookup indexes"."""
    lookup_names = {name for _, name, _ in LOOKUP_INDEXES}
    con = sqlite3.connect(db)
    try:
        out: dict[str, Any] = {"lookup indexes": []}
        for table, sql in con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' "
                                      "AND name NOT LIKE 'sqlite_%' ORDER BY name").fetchall():
            columns = con.execute(f"PRAGMA table_info('{table}')").fetchall()
            keys = [c for c in columns if c[5]]
            rowid = keys[0][1] if len(keys) == 1 and keys[0][2].upper() in ("INTEGER", "INT") else None
            cols = [(name, _affinity(declared), None if name == rowid else bool(notnull),
                     None if default is None else str(default).strip("'\""), pk)
                    for _, name, declared, notnull, default, pk in columns]
            indexes = []
            for _, index, unique, origin, partial in con.execute(f"PRAGMA index_list('{table}')").fetchall():
                idx_cols = [r[2] for r in con.execute(f"PRAGMA index_info('{index}')")]
                label = index if origin == "c" else origin
                where = None
                if partial:
                    idx_sql = con.execute("SELECT sql FROM sqlite_master WHERE name = ?", (index,)).fetchone()[0]
                    where = re.sub(r"[\s`\"]+", " ", re.split(r"\bWHERE\b", idx_sql, flags=re.I)[1]).strip().lower()
                if label in lookup_names:
                    out["lookup indexes"].append((table, label, idx_cols))
                    continue
                indexes.append((label, bool(unique), idx_cols, where))
            out[table] = {"autoincrement": "AUTOINCREMENT" in sql.upper(), "columns": cols,
                          "indexes": sorted(indexes, key=repr)}
        out["lookup indexes"].sort()
        return out
    finally:
        con.close()


def rows(db: Path) -> dict[str, list[tuple]]:
    """Every row of every table (sqlite_sequence included), sorted."""
    con = sqlite3.connect(db)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(con.execute(f"SELECT * FROM '{t}'").fetchall(), key=repr) for t in tables}
    finally:
        con.close()


def assert_same_db(expected: Path, got: Path, what: str, lookup_indexes_added: bool = False) -> None:
    """The same structure and rows; with `lookup_indexes_added`, `got` has mlmd_core's lookup indexes
    besides (an ml-metadata store brought to v10 by mlmd_core)."""
    e, g = structure(expected), structure(got)
    if lookup_indexes_added:
        e = with_lookup_indexes(e)
    assert sorted(e) == sorted(g), f"{what}: tables differ"
    for table in e:
        assert e[table] == g[table], f"{what}: table {table} differs"
    er, gr = rows(expected), rows(got)
    for table in er:
        assert er[table] == gr.get(table), f"{what}: rows of {table} differ"
    assert sorted(er) == sorted(gr)


def _version(db: Path) -> int | None:
    return bootstrap.stored_version(_config(db))


# ------------------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("version", OLD_VERSIONS)
def test_old_database_refused_without_upgrade(mlmd_db: dict[int, Path], tmp_path: Path, version: int) -> None:
    db = _copy(mlmd_db[version], tmp_path, "old.sqlite")
    before = rows(db)
    with pytest.raises(errors.FailedPreconditionError) as caught:
        mlmd.MetadataStore(_config(db))
    assert isinstance(caught.value, RuntimeError)  # what ml-metadata raises
    assert str(caught.value) == OLDER_MESSAGE.format(v=version)
    assert rows(db) == before


def test_ml_metadata_refuses_with_the_same_message(mlmd_db: dict[int, Path], tmp_path: Path) -> None:
    db = _copy(mlmd_db[8], tmp_path, "old.sqlite")
    assert _side("open", str(db)).strip() == "RuntimeError: " + OLDER_MESSAGE.format(v=8)


def test_newer_database_refused(mlmd_db: dict[int, Path], tmp_path: Path) -> None:
    db = _copy(mlmd_db[10], tmp_path, "new.sqlite")
    with sqlite3.connect(db) as con:
        con.execute("UPDATE MLMDEnv SET schema_version = 11")
    for upgrade in (False, True):
        with pytest.raises(errors.FailedPreconditionError, match=r"^MLMD database version 11 is greater than "
                           r"library version 10\. Please upgrade the library"):
            mlmd.MetadataStore(_config(db), enable_upgrade_migration=upgrade)
    with pytest.raises(errors.FailedPreconditionError) as caught:
        mlmd.downgrade_schema(_config(db), 5)
    assert isinstance(caught.value, RuntimeError)
    assert str(caught.value) == (
        "MLMD database version 11 is greater than library version 10. The current library does not know how to "
        "downgrade it. Please upgrade the library to downgrade the schema.")


@pytest.mark.parametrize("version", OLD_VERSIONS)
def test_upgrade_matches_ml_metadata(mlmd_db: dict[int, Path], mlmd_upgraded: dict[int, Path], tmp_path: Path,
                                     version: int) -> None:
    db = _copy(mlmd_db[version], tmp_path, "old.sqlite")
    mlmd.MetadataStore(_config(db), enable_upgrade_migration=True).close()
    assert _version(db) == LATEST
    assert_same_db(mlmd_upgraded[version], db, f"upgrade from v{version}", lookup_indexes_added=True)


@pytest.mark.parametrize("version", MAIN_OLD_VERSIONS)
def test_upgraded_store_reads_as_ml_metadata_reads_its_own(mlmd_db: dict[int, Path], mlmd_upgraded: dict[int, Path],
                                                          tmp_path: Path, version: int) -> None:
    db = _copy(mlmd_db[version], tmp_path, "old.sqlite")
    mlmd.MetadataStore(_config(db), enable_upgrade_migration=True).close()
    expected = _side_json("dump", _copy(mlmd_upgraded[version], tmp_path, "theirs.sqlite"))
    got = _core_dump(db)
    crashed = _null_value_crashes(expected)
    assert crashed, "the fixture should have the value-less property rows a downgrade through v9 leaves"
    for key in crashed:  # ml-metadata cannot read them; mlmd_core reads them as properties with no value
        assert "error" not in got[key], key
    assert_same(_without(expected, crashed), _without(got, crashed), BASIC_GROUPS,
                f"mlmd_core reading its upgrade from v{version}")


# Downgrading below 10 drops bool_value and proto_value but keeps their property rows, with no value left;
# reading such a node, ml-metadata raises InternalError (this message), mlmd_core gives the property an empty
# Value. Calls that touch them are compared no further than that.
NULL_VALUE_CRASH = "Attempt to populate property with null value in every known *_value column."


def _null_value_crashes(dump: dict[str, Any]) -> set[str]:
    return {k for k, r in dump.items() if r.get("error") == "InternalError" and NULL_VALUE_CRASH in r["message"]}


def _without(dump: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    return {k: v for k, v in dump.items() if k not in keys}


def test_upgrade_dedupes_events_as_ml_metadata(mlmd_db: dict[int, Path], tmp_path: Path) -> None:
    """Schema 8 makes (artifact, execution, type) unique: duplicates keep their newest row, and orphaned
    event paths go."""
    db = _copy(mlmd_db[7], tmp_path, "dups.sqlite")
    with sqlite3.connect(db) as con:
        for event_id, artifact_id, execution_id, kind, ms in con.execute(
                "SELECT id, artifact_id, execution_id, type, milliseconds_since_epoch FROM Event "
                "ORDER BY id LIMIT 5").fetchall():
            cur = con.execute("INSERT INTO Event (artifact_id, execution_id, type, milliseconds_since_epoch) "
                              "VALUES (?, ?, ?, ?)", (artifact_id, execution_id, kind, ms + 1))
            con.execute("INSERT INTO EventPath VALUES (?, 0, NULL, ?)", (cur.lastrowid, f"dup-of-{event_id}"))
        con.execute("INSERT INTO EventPath VALUES (100000, 1, 7, NULL)")  # an orphan path
    theirs = _copy(db, tmp_path, "theirs.sqlite")
    _side("upgrade", str(theirs))
    mlmd.MetadataStore(_config(db), enable_upgrade_migration=True).close()
    assert_same_db(theirs, db, "upgrade of duplicated events", lookup_indexes_added=True)
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM EventPath WHERE step_key LIKE 'dup-of-%'").fetchone()[0] == 5


@pytest.mark.parametrize("version", OLD_VERSIONS)
def test_downgrade_matches_ml_metadata(mlmd_db: dict[int, Path], tmp_path: Path, version: int) -> None:
    db = _copy(mlmd_db[10], tmp_path, "v10.sqlite")
    assert mlmd.downgrade_schema(_config(db), version) is None
    assert _version(db) == version
    assert_same_db(mlmd_db[version], db, f"downgrade to v{version}")


@pytest.mark.parametrize("version", MAIN_OLD_VERSIONS)
def test_ml_metadata_upgrades_and_reads_our_downgrade(mlmd_db: dict[int, Path], mlmd_upgraded: dict[int, Path],
                                                      tmp_path: Path, version: int) -> None:
    ours = _copy(mlmd_db[10], tmp_path, "ours.sqlite")
    mlmd.downgrade_schema(_config(ours), version)
    _side("upgrade", str(ours))
    expected = _side_json("dump", _copy(mlmd_upgraded[version], tmp_path, "theirs.sqlite"))
    got = _side_json("dump", ours)
    assert _null_value_crashes(expected) == _null_value_crashes(got)
    assert_same(expected, got, BASIC_GROUPS, f"ml-metadata reading mlmd_core's downgrade to v{version}")


@pytest.mark.parametrize("version", range(1, LATEST + 1))
def test_step_up_then_down_restores_the_database(mlmd_db: dict[int, Path], tmp_path: Path, version: int) -> None:
    db = _copy(mlmd_db[version - 1], tmp_path, "db.sqlite")
    assert bootstrap.migrate(_config(db), version) == (version - 1, version)
    theirs = structure(mlmd_db[version])
    assert structure(db) == (with_lookup_indexes(theirs) if version == LATEST else theirs), \
        f"v{version - 1} -> v{version} is not MLMD's v{version}"
    assert bootstrap.migrate(_config(db), version - 1) == (version, version - 1)
    assert_same_db(mlmd_db[version - 1], db, f"v{version - 1} -> v{version} -> v{version - 1}")


@pytest.mark.parametrize("version", range(1, LATEST + 1))
def test_step_down_then_up_keeps_what_the_older_schema_holds(mlmd_db: dict[int, Path], tmp_path: Path,
                                                             version: int) -> None:
    db = _copy(mlmd_db[version], tmp_path, "db.sqlite")
    bootstrap.migrate(_config(db), version - 1)
    bootstrap.migrate(_config(db), version)
    # What survives is what MLMD's own downgrade kept, brought up again.
    expected = _copy(mlmd_db[version - 1], tmp_path, "expected.sqlite")
    bootstrap.migrate(_config(expected), version)
    theirs = structure(mlmd_db[version])
    assert structure(db) == (with_lookup_indexes(theirs) if version == LATEST else theirs)
    assert_same_db(expected, db, f"v{version} -> v{version - 1} -> v{version}")


def test_lookup_indexes_come_with_consent_and_go_with_a_downgrade(mlmd_db: dict[int, Path],
                                                                   tmp_path: Path) -> None:
    """ml-metadata's v10 store gets mlmd_core's lookup indexes only when schema changes are allowed
    (enable_upgrade_migration); ml-metadata reads it the same with them; a downgrade leaves ml-metadata's v9."""
    db = _copy(mlmd_db[10], tmp_path, "theirs.sqlite")
    theirs = structure(db)
    mlmd.MetadataStore(_config(db)).close()
    assert structure(db) == theirs
    expected = _side_json("dump", _copy(db, tmp_path, "before.sqlite"))
    mlmd.MetadataStore(_config(db), enable_upgrade_migration=True).close()
    assert structure(db) == with_lookup_indexes(theirs)
    assert_same(expected, _side_json("dump", db), BASIC_GROUPS,
                "ml-metadata without (expected) and with (got) mlmd_core's lookup indexes")
    mlmd.downgrade_schema(_config(db), 9)
    assert_same_db(mlmd_db[9], db, "downgrade to v9 of a store with the lookup indexes")


def test_failed_step_rolls_back(mlmd_db: dict[int, Path], tmp_path: Path) -> None:
    """The v8 step creates the property indexes, then fails rebuilding Event: nothing of it stays."""
    db = _copy(mlmd_db[7], tmp_path, "db.sqlite")
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE EventTemp (x INT)")  # in the way of the rebuild
    before_structure, before_rows = structure(db), rows(db)
    with pytest.raises(errors.StatusError, match=r"^Upgrade query failed: schema version 7 -> 8") as caught:
        mlmd.MetadataStore(_config(db), enable_upgrade_migration=True)
    assert isinstance(caught.value, RuntimeError)
    assert structure(db) == before_structure
    assert rows(db) == before_rows


def test_downgrade_refusals_and_no_ops(mlmd_db: dict[int, Path], tmp_path: Path) -> None:
    db = _copy(mlmd_db[8], tmp_path, "db.sqlite")
    with pytest.raises(errors.InvalidArgumentError, match="^downgrade_to_schema_version not specified$"):
        mlmd.downgrade_schema(_config(db), -1)
    with pytest.raises(errors.InvalidArgumentError) as caught:
        mlmd.downgrade_schema(_config(db), 11)
    assert not isinstance(caught.value, RuntimeError)  # ml-metadata turns this one into InvalidArgumentError
    assert str(caught.value) == (
        "MLMD cannot be downgraded to schema_version: 11. The target version should be greater or equal to 0, "
        "and the current library version: 10 needs to be greater than the target version.")
    before = rows(db)
    for target in (8, 9, 10):  # not below the current version: nothing to do, and no error (as ml-metadata)
        assert mlmd.downgrade_schema(_config(db), target) is None
    assert rows(db) == before
    empty = tmp_path / "empty.sqlite"
    with pytest.raises(errors.InvalidArgumentError) as caught:
        mlmd.downgrade_schema(_config(empty, "READWRITE_OPENCREATE"), 5)
    assert isinstance(caught.value, RuntimeError)
    assert str(caught.value) == "Empty database is given. Downgrade operation is not needed."


def test_downgrade_to_zero_drops_mlmd_env_and_upgrade_from_zero(mlmd_db: dict[int, Path], tmp_path: Path) -> None:
    db = _copy(mlmd_db[10], tmp_path, "db.sqlite")
    mlmd.downgrade_schema(_config(db), 0)
    assert "MLMDEnv" not in structure(db) and _version(db) == 0
    with mlmd.MetadataStore(_config(db), enable_upgrade_migration=True) as store:
        assert [t.name for t in store.get_artifact_types_by_id(range(1, 5))] == [
            "mlmd.Dataset", "mlmd.Model", "mlmd.Metrics", "mlmd.Statistics"]
        assert len(store.get_artifacts()) == 151


def test_schema_history_ends_at_the_current_schema() -> None:
    """schema_at(10) is store/schema.py on every dialect, so new databases and upgraded ones agree."""
    latest = schema_at(LATEST)
    assert sorted(latest.tables) == sorted(v10_schema.metadata.tables)
    for dialect in (sqlite.dialect(), mysql.dialect(), postgresql.dialect()):
        for name, table in v10_schema.metadata.tables.items():
            other = latest.tables[name]
            assert str(CreateTable(other).compile(dialect=dialect)) == str(CreateTable(table).compile(dialect=dialect))
            assert sorted(str(CreateIndex(i).compile(dialect=dialect)) for i in other.indexes) == sorted(
                str(CreateIndex(i).compile(dialect=dialect)) for i in table.indexes)


def test_steps_cover_every_version() -> None:
    assert sorted(STEPS) == list(range(1, LATEST + 1))
    assert all(s.description and s.version == v for v, s in STEPS.items())


def test_side_fixture_versions(mlmd_db: dict[int, Path]) -> None:
    """The fixtures are what they claim to be (ml-metadata's MLMDEnv, none at 0)."""
    for version, path in mlmd_db.items():
        assert _version(path) == version
    assert json.dumps(sorted(set(structure(mlmd_db[0])) - {"lookup indexes"})) == json.dumps(
        ["Artifact", "ArtifactProperty", "Event", "EventPath", "Execution", "ExecutionProperty", "Type",
         "TypeProperty"])
