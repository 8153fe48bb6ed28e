"""mlmd-server on the real database backends: the MySQL and PostgreSQL flags open a real server database,
and a --downgrade_db_schema_version run migrates the database and exits, as ml-metadata's server does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from server_backends import MYSQL, POSTGRES, fresh_config

import mlmd_core as mlmd
from mlmd_core.grpc.testing import ServerProcess
from mlmd_core.proto import metadata_store_pb2 as pb


def _flags(backend: str, config: pb.ConnectionConfig) -> list[str]:
    if backend == "mysql":
        c = config.mysql
        flags = [f"--mysql_config_host={c.host}", f"--mysql_config_port={c.port}",
                 f"--mysql_config_database={c.database}", f"--mysql_config_user={c.user}"]
        return flags + ([f"--mysql_config_password={MYSQL['password']}"] if MYSQL["password"] else [])
    c = config.postgresql
    flags = [f"--postgres_config_host={c.host}", f"--postgres_config_port={c.port}",
             f"--postgres_config_dbname={c.dbname}", f"--postgres_config_user={c.user}"]
    return flags + ([f"--postgres_config_password={POSTGRES['password']}"] if POSTGRES["password"] else [])


@pytest.mark.parametrize("backend", ["mysql", "postgresql"])
def test_server_flags_serve_a_real_database(backend: str) -> None:
    config = fresh_config(backend)
    with ServerProcess(_flags(backend, config)) as server:
        remote = mlmd.MetadataStore(server.client_config())
        type_id = remote.put_artifact_type(pb.ArtifactType(name="Data", properties={"n": pb.INT}))
        [artifact_id] = remote.put_artifacts([pb.Artifact(type_id=type_id, uri="/d", properties={
            "n": pb.Value(int_value=7)})])
        remote.close()
    # The rows are in the server database itself: an in-process store on it reads them.
    with mlmd.MetadataStore(config) as local:
        [artifact] = local.get_artifacts_by_id([artifact_id])
        assert (artifact.uri, artifact.properties["n"].int_value, artifact.type) == ("/d", 7, "Data")


def test_downgrade_flag_migrates_and_exits(tmp_path: Path) -> None:
    path = tmp_path / "mlmd.sqlite"
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    with mlmd.MetadataStore(config) as store:
        store.put_artifact_type(pb.ArtifactType(name="Data"))
    server_config = tmp_path / "server.pbtxt"
    server_config.write_text(f'connection_config {{ sqlite {{ filename_uri: "{path}" }} }}\n')
    done = subprocess.run([sys.executable, "-m", "mlmd_core.grpc", "--grpc_port=0",
                           f"--metadata_store_server_config_file={server_config}", "--downgrade_db_schema_version=8"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "downgraded to schema version 8" in done.stderr
    with pytest.raises(RuntimeError, match="version 8 is older than library version 10"):
        mlmd.MetadataStore(config)
    with mlmd.MetadataStore(config, enable_upgrade_migration=True) as store:
        assert [t.name for t in store.get_artifact_types()] == ["Data"]
