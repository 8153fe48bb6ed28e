"""`mlmd db current | upgrade | downgrade`: with click's CliRunner, and once through the installed console
script. Databases are ml-metadata's own at old versions (the session fixtures of test_migrations)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_migrations import mlmd_db  # noqa: F401  (session fixture)

import mlmd_core as mlmd
from mlmd_core.cli import cli, main
from mlmd_core.proto import metadata_store_pb2 as pb
from mlmd_core.store import bootstrap


def _config(path: Path) -> pb.ConnectionConfig:
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    return config


def _run(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), input=input)
    return result.exit_code, result.output


def test_current_upgrade_downgrade(mlmd_db: dict[int, Path], tmp_path: Path) -> None:  # noqa: F811
    db = tmp_path / "kfp.sqlite"
    shutil.copy(mlmd_db[7], db)
    assert _run("db", "current", "--sqlite", str(db)) == (
        0, f"{db}: schema version 7 (library version 10: run `mlmd db upgrade`)\n")
    assert _run("db", "upgrade", "--sqlite", str(db), "--to", "8") == (0, f"{db}: upgraded schema version 7 -> 8\n")
    assert _run("db", "upgrade", "--sqlite", str(db)) == (0, f"{db}: upgraded schema version 8 -> 10\n")
    assert _run("db", "current", "--sqlite", str(db)) == (0, f"{db}: schema version 10 (up to date)\n")
    with mlmd.MetadataStore(_config(db)) as store:
        assert len(store.get_artifacts()) == 151
    # downgrade asks first; "n" leaves the store alone
    code, out = _run("db", "downgrade", "--sqlite", str(db), "--to", "9", input="n\n")
    assert code == 1 and "Aborted" in out and bootstrap.stored_version(_config(db)) == 10
    assert _run("db", "downgrade", "--sqlite", str(db), "--to", "9", input="y\n")[0] == 0
    assert bootstrap.stored_version(_config(db)) == 9
    assert _run("db", "downgrade", "--sqlite", str(db), "--to", "7", "--yes") == (
        0, f"{db}: downgraded schema version 9 -> 7\n")
    assert _run("db", "downgrade", "--sqlite", str(db), "--to", "8", "--yes") == (
        0, f"{db}: already at schema version 7 (nothing to do)\n")


def test_errors_are_one_line(mlmd_db: dict[int, Path], tmp_path: Path) -> None:  # noqa: F811
    db = tmp_path / "db.sqlite"
    shutil.copy(mlmd_db[10], db)
    code, out = _run("db", "downgrade", "--sqlite", str(db), "--to", "11", "--yes")
    assert code == 1
    assert out == ("Error: InvalidArgumentError: MLMD cannot be downgraded to schema_version: 11. The target version "
                   "should be greater or equal to 0, and the current library version: 10 needs to be greater than "
                   "the target version.\n")
    code, out = _run("db", "current", "--sqlite", str(tmp_path / "missing.sqlite"))
    assert code == 1 and out.startswith("Error: InvalidArgumentError: Cannot connect sqlite3 database")
    assert not (tmp_path / "missing.sqlite").exists()
    code, out = _run("db", "current")
    assert code == 2 and "exactly one of --db, --sqlite, --config, --mysql-* or --postgres-*" in out
    code, out = _run("db", "current", "--sqlite", str(db), "--postgres-host", "localhost")
    assert code == 2 and "(got --sqlite, --postgres-*)" in out


def test_db_url(tmp_path: Path) -> None:
    """`--db` as the other mlmd commands take it (but no default and no grpc://: schema changes need a database)."""
    db = tmp_path / "url.sqlite"
    assert _run("db", "upgrade", "--db", f"sqlite:///{db}") == (0, f"{db}: created schema version 10\n")
    assert _run("db", "current", "--db", str(db)) == (0, f"{db}: schema version 10 (up to date)\n")
    code, out = _run("db", "current", "--db", "grpc://127.0.0.1:8080")
    assert code == 2 and "not an mlmd-server's" in out
    code, out = _run("db", "current", "--db", str(db), "--sqlite", str(db))
    assert code == 2 and "(got --db, --sqlite)" in out
    code, out = _run("db", "current", "--db", "mysql://nohost")
    assert code == 2 and "expected mysql://user:password@host:port/database" in out


def test_config_file_and_empty_store(tmp_path: Path) -> None:
    db = tmp_path / "new.sqlite"
    config = tmp_path / "store.pbtxt"
    config.write_text(f'sqlite {{ filename_uri: "{db}" connection_mode: READWRITE_OPENCREATE }}\n')
    assert _run("db", "upgrade", "--config", str(config)) == (0, f"{db}: created schema version 10\n")
    assert _run("db", "current", "--config", str(config)) == (0, f"{db}: schema version 10 (up to date)\n")
    config.write_text("sqlite { no_such_field: 1 }")
    code, out = _run("db", "current", "--config", str(config))
    assert code == 2 and "not a text-format ConnectionConfig" in out


def test_main_returns_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "current", "--sqlite", str(tmp_path / "missing.sqlite")]) == 1
    assert "InvalidArgumentError" in capsys.readouterr().err
    assert main(["--help"]) == 0


def test_installed_console_script(mlmd_db: dict[int, Path], tmp_path: Path) -> None:  # noqa: F811
    script = Path(sys.executable).with_name("mlmd")
    if not script.exists():
        pytest.skip(f"the mlmd console script is not installed next to {sys.executable} (pip install -e .)")
    db = tmp_path / "old.sqlite"
    shutil.copy(mlmd_db[8], db)
    proc = subprocess.run([str(script), "db", "upgrade", "--sqlite", str(db)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"{db}: upgraded schema version 8 -> 10\n", "")
    proc = subprocess.run([str(script), "db", "current", "--sqlite", str(db)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.stdout == f"{db}: schema version 10 (up to date)\n"


def test_upgrade_adds_the_lookup_indexes_to_an_ml_metadata_store(mlmd_db: dict[int, Path],  # noqa: F811
                                                                 tmp_path: Path) -> None:
    """A v10 store that ml-metadata created lacks mlmd_core's lookup indexes: `current` says so, `upgrade`
    adds them (opening alone changes no schema)."""
    db = tmp_path / "theirs.sqlite"
    shutil.copy(mlmd_db[10], db)
    names = "idx_attribution_artifact_id, idx_association_execution_id"
    with mlmd.MetadataStore(_config(db)) as store:
        assert len(store.get_artifacts()) == 151
    assert _run("db", "current", "--sqlite", str(db)) == (
        0, f"{db}: schema version 10 (up to date; without mlmd_core's lookup indexes {names}: `mlmd db upgrade` "
           "adds them)\n")
    assert _run("db", "upgrade", "--sqlite", str(db)) == (
        0, f"{db}: at schema version 10; added mlmd_core's lookup indexes {names}\n")
    assert bootstrap.missing_lookup_indexes(_config(db)) == []
    assert _run("db", "current", "--sqlite", str(db)) == (0, f"{db}: schema version 10 (up to date)\n")
    assert _run("db", "upgrade", "--sqlite", str(db)) == (0, f"{db}: already at schema version 10\n")
