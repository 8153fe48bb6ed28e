"""MlmdHook: each connection form maps to the right MLMD proto, the embedded default, the per-process cache."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from airflow.sdk import BaseHook, Connection

from mlmd_airflow.hooks.mlmd import (
    EXTRA_FIELDS,
    MlmdConnectionError,
    MlmdHook,
    backend_of,
    reset_stores,
    store_config,
    store_for,
)
from mlmd_core import MetadataStore, errors
from mlmd_core.proto import metadata_store_pb2 as pb

CA_PEM = "-----BEGIN CERTIFICATE-----\nY2E=\n-----END CERTIFICATE-----\n"
CERT_PEM = "-----BEGIN CERTIFICATE-----\nY2VydA==\n-----END CERTIFICATE-----\n"
KEY_PEM = "-----BEGIN PRIVATE KEY-----\na2V5\n-----END PRIVATE KEY-----\n"


def conn(**fields) -> Connection:
    """An mlmd Connection as Airflow builds it from JSON (extra given as a dict)."""
    fields.setdefault("conn_type", "mlmd")
    return Connection.from_json(json.dumps(fields), conn_id="t")


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, value: dict | str) -> None:
    """Defines a connection the way deployments do: an AIRFLOW_CONN_* env var (JSON or URI)."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value if isinstance(value, str) else json.dumps(value))


def schema_version(path: Path) -> int:
    import sqlite3

    with sqlite3.connect(path) as db:
        return db.execute("SELECT schema_version FROM MLMDEnv").fetchone()[0]


# ----------------------------------------------------------------------------------------------- sqlite


def test_sqlite_connection_opens_that_file(mlmd_sqlite_path: Path) -> None:
    hook = MlmdHook()
    config = hook.get_store_config()
    assert config.WhichOneof("config") == "sqlite"
    assert config.sqlite.filename_uri == str(mlmd_sqlite_path)
    assert config.sqlite.connection_mode == pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE

    store = hook.get_conn()
    type_id = store.put_context_type(pb.ContextType(name="probe"))
    assert mlmd_sqlite_path.exists() and schema_version(mlmd_sqlite_path) == 10
    other = MetadataStore(config)  # another handle on the same file sees the write
    assert [t.id for t in other.get_context_types()] == [type_id]
    other.close()


def test_sqlite_relative_path_is_relative_to_airflow_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    config = store_config(conn(extra={"backend": "sqlite", "path": "stores/m.sqlite", "connection_mode": "READONLY"}))
    assert config.sqlite.filename_uri == str(tmp_path / "stores" / "m.sqlite")
    assert config.sqlite.connection_mode == pb.SqliteMetadataSourceConfig.READONLY


def test_sqlite_file_uri_is_passed_through() -> None:
    config = store_config(conn(extra={"backend": "sqlite", "path": "file:/data/m.sqlite?cache=shared"}))
    assert config.sqlite.filename_uri == "file:/data/m.sqlite?cache=shared"


def test_missing_connection_is_the_embedded_store_in_airflow_home(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.delenv("AIRFLOW_CONN_MLMD_DEFAULT", raising=False)
    reset_stores()
    try:
        store = store_for("mlmd_default")
        store.put_execution_type(pb.ExecutionType(name="probe"))
        assert schema_version(tmp_path / "mlmd.sqlite") == 10
        config = MlmdHook().get_store_config()
        assert config.sqlite.filename_uri == str(tmp_path / "mlmd.sqlite")
    finally:
        reset_stores()


def test_store_for_defaults_to_the_configured_conn_id(mlmd_sqlite_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    set_conn(monkeypatch, "mlmd_other", {"conn_type": "mlmd", "extra": {"path": str(other)}})
    monkeypatch.setenv("AIRFLOW__MLMD__CONN_ID", "mlmd_other")
    store_for().put_context_type(pb.ContextType(name="x"))
    assert other.exists() and not mlmd_sqlite_path.exists()
    assert MlmdHook().mlmd_conn_id == "mlmd_other"


def test_store_is_cached_per_process_and_conn_id(mlmd_sqlite_path: Path) -> None:
    first = store_for("mlmd_default")
    assert store_for("mlmd_default") is first
    assert MlmdHook().get_conn() is first
    reset_stores()
    assert store_for("mlmd_default") is not first


def test_forked_child_opens_its_own_store(mlmd_sqlite_path: Path) -> None:
    parent = store_for("mlmd_default")
    parent.put_context_type(pb.ContextType(name="parent"))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must not reuse the parent's handle, and its writes must land in the same file
        code = 1
        try:
            child = store_for("mlmd_default")
            if child is not parent:
                child.put_context_type(pb.ContextType(name="child"))
                code = 0
        finally:
            os.write(write, bytes([code]))
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 1) == b"\x00" and status == 0
    os.close(read)
    assert store_for("mlmd_default") is parent
    assert sorted(t.name for t in parent.get_context_types()) == ["child", "parent"]


# ---------------------------------------------------------------------------------------- mysql/postgres


def _open_fails_cleanly(config: pb.ConnectionConfig) -> None:
    """The MySQL/PostgreSQL engines may not exist yet (UnimplementedError); once they do, a server that is not
    there (port 1) must still give an MLMD error, not a crash."""
    with pytest.raises(errors.StatusError):
        MetadataStore(config).close()


def test_mysql_fields_map_to_mysql_config() -> None:
    config = store_config(conn(
        host="db.example", port=3307, schema="mlmd", login="airflow", password="s3cret",
        extra={"backend": "mysql", "ssl_ca": "/etc/ssl/ca.pem", "ssl_cert": "/etc/ssl/c.pem", "ssl_key": "/k.pem",
               "ssl_capath": "/etc/ssl", "ssl_cipher": "AES256", "ssl_verify_server_cert": "true",
               "skip_db_creation": True, "max_num_retries": 3}))
    expected = pb.ConnectionConfig(
        mysql=pb.MySQLDatabaseConfig(
            host="db.example", port=3307, database="mlmd", user="airflow", password="s3cret", skip_db_creation=True,
            ssl_options=pb.MySQLDatabaseConfig.SSLOptions(
                ca="/etc/ssl/ca.pem", cert="/etc/ssl/c.pem", key="/k.pem", capath="/etc/ssl", cipher="AES256",
                verify_server_cert=True)),
        retry_options=pb.RetryOptions(max_num_retries=3))
    assert config == expected
    _open_fails_cleanly(pb.ConnectionConfig(mysql=pb.MySQLDatabaseConfig(host="127.0.0.1", port=1, database="x")))


def test_mysql_uri_form(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "mlmd_uri", "mlmd://airflow:p%40ss@db.example:3306/mlmd?backend=mysql&socket=%2Ftmp%2Fm.sock")
    config = MlmdHook("mlmd_uri").get_store_config()
    assert config.mysql == pb.MySQLDatabaseConfig(host="db.example", port=3306, database="mlmd", user="airflow",
                                                  password="p@ss", socket="/tmp/m.sock")


def test_postgresql_fields_map_to_postgresql_config() -> None:
    config = store_config(conn(
        host="pg.example", port=5433, schema="mlmd", login="airflow", password="pw",
        extra={"backend": "postgresql", "sslmode": "verify-full", "sslrootcert": "/ca.pem", "sslcert": "/c.pem",
               "sslkey": "/k.pem", "sslpassword": "kp", "hostaddr": "10.0.0.5", "passfile": "/pgpass"}))
    expected = pb.PostgreSQLDatabaseConfig(
        host="pg.example", port="5433", dbname="mlmd", user="airflow", password="pw", hostaddr="10.0.0.5",
        passfile="/pgpass",
        ssloption=pb.PostgreSQLDatabaseConfig.SSLOptions(
            sslmode="verify-full", sslrootcert="/ca.pem", sslcert="/c.pem", sslkey="/k.pem", sslpassword="kp"))
    assert config.WhichOneof("config") == "postgresql" and config.postgresql == expected
    assert backend_of(conn(host="h", schema="d", extra={"backend": "postgres"})) == "postgresql"
    _open_fails_cleanly(pb.ConnectionConfig(postgresql=pb.PostgreSQLDatabaseConfig(host="127.0.0.1", port="1",
                                                                                      dbname="x")))


# ----------------------------------------------------------------------------------------------- grpc


def test_grpc_with_mutual_tls_from_files(tmp_path: Path) -> None:
    for name, text in (("ca.pem", CA_PEM), ("client.pem", CERT_PEM), ("client.key", KEY_PEM)):
        (tmp_path / name).write_text(text)
    config = store_config(conn(
        host="mlmd.example", port=9090,
        extra={"backend": "grpc", "tls_ca": str(tmp_path / "ca.pem"), "tls_cert": str(tmp_path / "client.pem"),
               "tls_key": str(tmp_path / "client.key"), "client_timeout_sec": "2.5",
               "max_receive_message_length": 1048576, "http2_max_ping_strikes": "3"}))
    assert isinstance(config, pb.MetadataStoreClientConfig)
    assert config == pb.MetadataStoreClientConfig(
        host="mlmd.example", port=9090, client_timeout_sec=2.5,
        ssl_config=pb.MetadataStoreClientConfig.SSLConfig(custom_ca=CA_PEM, server_cert=CERT_PEM, client_key=KEY_PEM),
        channel_arguments=pb.GrpcChannelArguments(max_receive_message_length=1048576, http2_max_ping_strikes=3))


def test_grpc_inline_pem_and_tls_without_ca() -> None:
    inline = store_config(conn(host="s", extra={"tls_ca": CA_PEM}))
    assert inline.ssl_config == pb.MetadataStoreClientConfig.SSLConfig(custom_ca=CA_PEM)
    system_roots = store_config(conn(host="s", extra={"tls": "true"}))
    assert system_roots.HasField("ssl_config") and system_roots.ssl_config.ByteSize() == 0
    plain = store_config(conn(host="s", port=8081))
    assert plain == pb.MetadataStoreClientConfig(host="s", port=8081) and not plain.HasField("ssl_config")


def test_grpc_is_the_default_with_a_host_and_port_defaults_to_8080() -> None:
    config = store_config(conn(host="mlmd-server"))
    assert config == pb.MetadataStoreClientConfig(host="mlmd-server", port=8080)
    assert backend_of(conn()) == "sqlite"


# ----------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("fields", "names"), [
    ({"extra": {"backend": "mongo"}}, ["backend", "mongo"]),
    ({"extra": {"paht": "x.sqlite"}}, ["'paht'", "known fields"]),
    ({"extra": {"backend": "mysql", "tls_ca": CA_PEM}, "host": "h", "schema": "d"}, ["'tls_ca'", "mysql"]),
    ({"extra": {"backend": "sqlite"}, "host": "h"}, ["'host'", "sqlite"]),
    ({"extra": {"backend": "mysql"}, "host": "h"}, ["schema", "database name"]),
    ({"extra": {"backend": "postgresql"}, "schema": "d"}, ["host", "postgresql"]),
    ({"extra": {"backend": "grpc"}}, ["host", "mlmd-server"]),
    ({"host": "h", "extra": {"tls_cert": CERT_PEM}}, ["tls_cert", "tls_key"]),
    ({"host": "h", "extra": {"tls_ca": "/nonexistent/ca.pem"}}, ["tls_ca", "PEM"]),
    ({"host": "h", "extra": {"tls": "maybe"}}, ["tls", "true or false"]),
    ({"host": "h", "extra": {"tls": False, "tls_ca": CA_PEM}}, ["tls is false"]),
    ({"host": "h", "extra": {"client_timeout_sec": "soon"}}, ["client_timeout_sec", "number"]),
    ({"host": "h", "extra": {"client_timeout_sec": -1}}, ["client_timeout_sec", "greater than 0"]),
    ({"extra": {"connection_mode": "rw"}}, ["connection_mode", "readwrite_opencreate"]),
    ({"conn_type": "mysql", "host": "h"}, ["conn_type", "'mysql'"]),
])
def test_bad_connection_names_the_field(fields: dict, names: list[str]) -> None:
    with pytest.raises(MlmdConnectionError) as info:
        store_config(conn(**fields))
    message = str(info.value)
    assert "connection 't'" in message
    for name in names:
        assert name in message


def test_ui_form_prefixed_keys_and_blank_fields_are_accepted() -> None:
    # What a connection form may save: prefixed keys, and blanks for the fields of other backends.
    extra = {f"extra__mlmd__{name}": "" for name in EXTRA_FIELDS}
    extra.update({"extra__mlmd__backend": "grpc", "extra__mlmd__client_timeout_sec": 3})
    config = store_config(conn(host="s", port=1234, extra=extra))
    assert config == pb.MetadataStoreClientConfig(host="s", port=1234, client_timeout_sec=3)


# ----------------------------------------------------------------------------------------------- hook


def test_airflow_resolves_mlmd_connections_to_mlmd_hook(mlmd_sqlite_path: Path) -> None:
    hook = BaseHook.get_hook("mlmd_default")
    assert type(hook) is MlmdHook and hook.mlmd_conn_id == "mlmd_default"


def test_test_connection_opens_the_store(mlmd_sqlite_path: Path) -> None:
    ok, message = MlmdHook().test_connection()
    assert ok, message
    assert message == f"Connected to {mlmd_sqlite_path}"
    assert schema_version(mlmd_sqlite_path) == 10


def test_test_connection_reports_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    set_conn(monkeypatch, "mlmd_down", {"conn_type": "mlmd", "host": "127.0.0.1", "port": port,
                                        "extra": {"client_timeout_sec": 2}})
    ok, message = MlmdHook("mlmd_down").test_connection()
    assert not ok and message.startswith("UnavailableError")
    set_conn(monkeypatch, "mlmd_bad", {"conn_type": "mlmd", "extra": {"backend": "oracle"}})
    ok, message = MlmdHook("mlmd_bad").test_connection()
    assert not ok and "backend must be one of" in message
