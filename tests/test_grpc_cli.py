"""The `mlmd-server` command: MLMD's flags (gflags spellings too) parsed into the right
MetadataStoreServerConfig, the text-format config file, and the real process (startup, in-memory warning,
file store, SIGTERM finishing an in-flight call, bad flags)."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import mlmd_core as mlmd
from mlmd_core.grpc.server import (
    FlagError,
    build_parser,
    parse_args,
    parse_channel_arguments,
    server_config_from_flags,
)
from mlmd_core.grpc.testing import ServerProcess, write_server_config
from mlmd_core.proto import metadata_store_pb2 as pb


def config_of(*argv: str) -> tuple[pb.MetadataStoreServerConfig, bool]:
    return server_config_from_flags(parse_args(list(argv)))


# ------------------------------------------------------------------------------------------- parsing


def test_defaults_are_mlmd_and_loopback() -> None:
    args = parse_args([])
    assert (args.grpc_port, args.host, args.metadata_source_config_type) == (8080, "127.0.0.1", "default")
    config, fallback = server_config_from_flags(args)
    assert fallback and config.connection_config.WhichOneof("config") == "fake_database"
    assert not config.HasField("migration_options")


@pytest.mark.parametrize("argv", [
    ["--enable_database_upgrade=true"], ["--enable_database_upgrade"], ["-enable_database_upgrade=True"],
    ["--enable_database_upgrade", "true"], ["--enable_database_upgrade=1"],
])
def test_boolean_spellings(argv: list[str]) -> None:
    assert config_of(*argv)[0].migration_options.enable_upgrade_migration is True


def test_negative_boolean_spellings() -> None:
    assert config_of("--enable_database_upgrade=false")[0].migration_options.HasField("enable_upgrade_migration")
    assert not config_of("--noenable_database_upgrade")[0].migration_options.enable_upgrade_migration
    with pytest.raises(SystemExit):
        parse_args(["--enable_database_upgrade=maybe"])


def test_gflags_single_dash_and_equals() -> None:
    args = parse_args(["-grpc_port=9191", "--host", "0.0.0.0", "--grpc_threads=3"])
    assert (args.grpc_port, args.host, args.grpc_threads) == (9191, "0.0.0.0", 3)


def test_mysql_flags() -> None:
    config, fallback = config_of("--mysql_config_host=db", "--mysql_config_port=3306", "--mysql_config_database=mlmd",
                                 "--mysql_config_user=u", "--mysql_config_password=p", "--enable_database_upgrade")
    assert not fallback
    assert config.connection_config == pb.ConnectionConfig(mysql=pb.MySQLDatabaseConfig(
        host="db", port=3306, database="mlmd", user="u", password="p"))
    assert config.migration_options.enable_upgrade_migration


def test_mysql_flags_must_come_together() -> None:
    with pytest.raises(FlagError, match="together"):
        config_of("--metadata_source_config_type=mysql", "--mysql_config_host=db")


def test_postgres_flags() -> None:
    config, _ = config_of(
        "--metadata_source_config_type=postgresql", "--postgres_config_host=pg", "--postgres_config_port=5432",
        "--postgres_config_dbname=mlmd", "--postgres_config_user=u", "--postgres_config_password=p",
        "--postgres_config_sslmode=require", "--postgres_config_sslrootcert=/ca.pem",
        "--postgres_config_skip_db_creation=true")
    expected = pb.PostgreSQLDatabaseConfig(host="pg", port="5432", dbname="mlmd", user="u", password="p",
                                           skip_db_creation=True)
    expected.ssloption.sslmode = "require"
    expected.ssloption.sslrootcert = "/ca.pem"
    assert config.connection_config == pb.ConnectionConfig(postgresql=expected)


def test_postgres_flags_need_exactly_one_host() -> None:
    with pytest.raises(FlagError, match="exactly one"):
        config_of("--metadata_source_config_type=postgresql", "--postgres_config_port=1", "--postgres_config_dbname=d",
                  "--postgres_config_user=u")
    with pytest.raises(FlagError, match="dbname"):
        config_of("--metadata_source_config_type=postgresql", "--postgres_config_hostaddr=10.0.0.1",
                  "--postgres_config_port=1", "--postgres_config_user=u")


def test_config_file_is_text_format_and_overrides_mysql_flags(tmp_path: Path) -> None:
    path = tmp_path / "server.pbtxt"
    path.write_text("connection_config { sqlite { filename_uri: '/tmp/test_db' "
                    "connection_mode: READWRITE_OPENCREATE } }\n"
                    "migration_options { enable_upgrade_migration: true }\n")
    config, fallback = config_of(f"--metadata_store_server_config_file={path}", "--mysql_config_host=ignored")
    assert not fallback
    assert config.connection_config.sqlite.filename_uri == "/tmp/test_db"
    assert config.migration_options.enable_upgrade_migration
    path.write_text("connection_config { nonsense: 1 }")
    with pytest.raises(FlagError, match="text-format"):
        config_of(f"--metadata_store_server_config_file={path}")
    with pytest.raises(FlagError, match="config_file needs"):
        config_of("--metadata_source_config_type=config_file")


def test_upgrade_and_downgrade_together_are_refused() -> None:
    with pytest.raises(FlagError, match="together"):
        config_of("--enable_database_upgrade", "--downgrade_db_schema_version=8")
    assert config_of("--downgrade_db_schema_version=8")[0].migration_options.downgrade_to_schema_version == 8


def test_channel_arguments() -> None:
    assert parse_channel_arguments("grpc.max_connection_age_ms=2000, grpc.primary_user_agent=mlmd") == [
        ("grpc.max_connection_age_ms", 2000), ("grpc.primary_user_agent", "mlmd")]
    assert parse_channel_arguments("") == []
    with pytest.raises(ValueError):
        parse_channel_arguments("novalue")


def test_help_lists_mlmd_flags() -> None:
    text = build_parser().format_help()
    for flag in ("--grpc_port", "--metadata_store_server_config_file", "--metadata_source_config_type",
                 "--mysql_config_host", "--postgres_config_sslmode", "--enable_database_upgrade",
                 "--downgrade_db_schema_version", "--grpc_channel_arguments", "--host", "--grpc_threads"):
        assert flag in text


# ------------------------------------------------------------------------------------------ processes


def _run(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlmd_core.grpc", *argv], capture_output=True, text=True,
                          timeout=timeout)


def test_console_script_is_installed() -> None:
    script = shutil.which("mlmd-server", path=str(Path(sys.executable).parent))
    assert script, "run `pip install -e .` to register the mlmd-server console script"
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "--grpc_port" in result.stdout


def test_bad_flags_exit_2() -> None:
    result = _run("--grpc_port=-5")
    assert result.returncode == 2 and "grpc_port" in result.stderr
    result = _run("--metadata_source_config_type=mysql", "--mysql_config_host=h")
    assert result.returncode == 2 and "must be given together" in result.stderr


def test_unreachable_mysql_exits_1_with_the_engine_error() -> None:
    result = _run("--mysql_config_host=127.0.0.1", "--mysql_config_port=1", "--mysql_config_database=mlmd")
    assert result.returncode == 1
    assert "cannot open the store (mysql://127.0.0.1:1/mlmd)" in result.stderr


def test_in_memory_default_warns_and_persists() -> None:
    with ServerProcess() as proc:
        assert any("IN-MEMORY" in line for line in proc.log)
        a = mlmd.MetadataStore(proc.client_config())
        type_id = a.put_artifact_type(pb.ArtifactType(name="Kept"))
        b = mlmd.MetadataStore(proc.client_config())
        assert b.get_artifact_type("Kept").id == type_id
        assert proc.terminate() == 0


def test_file_store_survives_a_restart(tmp_path: Path) -> None:
    config = pb.MetadataStoreServerConfig()
    config.connection_config.sqlite.filename_uri = str(tmp_path / "restart.sqlite")
    path = write_server_config(tmp_path / "server.pbtxt", config)
    with ServerProcess([f"--metadata_store_server_config_file={path}", "--grpc_threads=2"]) as proc:
        assert not any("IN-MEMORY" in line for line in proc.log)
        s = mlmd.MetadataStore(proc.client_config())
        type_id = s.put_artifact_type(pb.ArtifactType(name="Durable"))
        s.put_artifacts([pb.Artifact(type_id=type_id, uri="/kept")])
        assert proc.terminate() == 0
    with ServerProcess(["--metadata_source_config_type=config_file",
                        f"--metadata_store_server_config_file={path}"]) as proc:
        assert [a.uri for a in mlmd.MetadataStore(proc.client_config()).get_artifacts()] == ["/kept"]
    local = mlmd.MetadataStore(config.connection_config)
    assert [a.uri for a in local.get_artifacts()] == ["/kept"]
    local.close()


def _wait_for_write_lock(db: Path, timeout: float = 30.0) -> None:
    """Returns once another connection holds the SQLite write lock (a write transaction is running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = sqlite3.connect(db, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                return
            raise
        finally:
            conn.close()
        time.sleep(0.005)
    raise AssertionError("the server never started writing")


def test_sigterm_finishes_the_in_flight_call(tmp_path: Path) -> None:
    """SIGTERM while a big put is running: the put completes and is stored, then the process exits 0."""
    config = pb.MetadataStoreServerConfig()
    config.connection_config.sqlite.filename_uri = str(tmp_path / "sigterm.sqlite")
    path = write_server_config(tmp_path / "server.pbtxt", config)
    with ServerProcess([f"--metadata_store_server_config_file={path}"]) as proc:
        s = mlmd.MetadataStore(proc.client_config())
        type_id = s.put_artifact_type(pb.ArtifactType(name="Bulk", properties={"n": pb.INT}))
        batch = [pb.Artifact(type_id=type_id, uri=f"/bulk/{i}", properties={"n": pb.Value(int_value=i)},
                             custom_properties={"c": pb.Value(string_value="x" * 50)}) for i in range(40_000)]
        result: dict[str, Any] = {}

        def put() -> None:
            try:
                result["ids"] = s.put_artifacts(batch)
            except Exception as exc:  # pragma: no cover - what the assertion reports
                result["error"] = exc
            result["done"] = time.monotonic()

        worker = threading.Thread(target=put)
        worker.start()
        _wait_for_write_lock(tmp_path / "sigterm.sqlite")  # the server is inside the put's transaction
        signalled = time.monotonic()
        code = proc.terminate()
        worker.join(60)
    assert code == 0
    assert "error" not in result, result
    assert result["done"] > signalled, "the put finished before SIGTERM: make the batch bigger"
    assert len(result["ids"]) == 40_000
    assert any("shutting down" in line for line in proc.log)
    local = mlmd.MetadataStore(config.connection_config)
    assert len(local.get_artifacts()) == 40_000
    local.close()


# ----------------------------------------------------------------------------------------------- docs

DOC = Path(__file__).resolve().parent.parent / "docs" / "server.md"


def test_doc_config_examples_parse() -> None:
    """Every ```protobuf block of docs/server.md is a valid text-format MetadataStoreServerConfig."""
    from google.protobuf import text_format

    blocks = re.findall(r"```protobuf\n(.*?)```", DOC.read_text(), re.S)
    assert blocks
    for block in blocks:
        config = text_format.Parse(block, pb.MetadataStoreServerConfig())
        assert config.connection_config.WhichOneof("config")


def test_doc_lists_every_flag() -> None:
    text = DOC.read_text()
    flags = [a.option_strings[0] for a in build_parser()._actions if a.option_strings[0] != "-h"]
    short = {f: "`_" + re.sub(r"^--(mysql|postgres)_config_", "", f) + "`" for f in flags}  # table shorthand
    missing = [f for f in flags if f not in text and short[f] not in text]
    assert not missing, missing
