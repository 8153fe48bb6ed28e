"""An `mlmd` connection of backend grpc reaches a real mlmd-server on a loopback port, plain and mutual TLS."""

from __future__ import annotations

import datetime
import ipaddress
import json
from pathlib import Path

import pytest

from mlmd_airflow.hooks.mlmd import MlmdHook, reset_stores, store_for
from mlmd_core.proto import metadata_store_pb2 as pb

grpc_server = pytest.importorskip("mlmd_core.grpc.server")


def _write_pki(directory: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(name: str, key, issuer_name, issuer_key, ca: bool, san=None):
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                   .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def pem_key(key) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test ca")])
    ca = cert("test ca", ca_key, ca_name, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = cert("127.0.0.1", server_key, ca_name, ca_key, ca=False,
                  san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = cert("airflow worker", client_key, ca_name, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    files = {"ca": ca.public_bytes(pem), "server": server.public_bytes(pem), "server_key": pem_key(server_key),
             "client": client.public_bytes(pem), "client_key": pem_key(client_key)}
    paths = {}
    for name, data in files.items():
        paths[name] = directory / f"{name}.pem"
        paths[name].write_bytes(data)
    return paths


@pytest.fixture
def fresh_stores():
    reset_stores()
    yield
    reset_stores()


def test_grpc_connection_round_trip(monkeypatch: pytest.MonkeyPatch, fresh_stores) -> None:
    server = grpc_server.serve(host="127.0.0.1", port=0)
    try:
        monkeypatch.setenv("AIRFLOW_CONN_MLMD_GRPC", f"mlmd://127.0.0.1:{server.port}?client_timeout_sec=10")
        store = store_for("mlmd_grpc")
        type_id = store.put_context_type(pb.ContextType(name="over_grpc"))
        ok, message = MlmdHook("mlmd_grpc").test_connection()
        assert ok and message == f"Connected to grpc://127.0.0.1:{server.port}"
        assert [t.id for t in store.get_context_types()] == [type_id]
    finally:
        server.stop(grace=0)


def test_grpc_connection_with_mutual_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_stores) -> None:
    pki = _write_pki(tmp_path)
    ssl = pb.MetadataStoreServerConfig.SSLConfig(server_key=pki["server_key"].read_text(),
                                                 server_cert=pki["server"].read_text(),
                                                 custom_ca=pki["ca"].read_text(), client_verify=True)
    server = grpc_server.serve(pb.MetadataStoreServerConfig(ssl_config=ssl), host="127.0.0.1", port=0)
    try:
        conn = {"conn_type": "mlmd", "host": "127.0.0.1", "port": server.port,
                "extra": {"backend": "grpc", "tls_ca": str(pki["ca"]), "tls_cert": str(pki["client"]),
                          "tls_key": str(pki["client_key"]), "client_timeout_sec": 10}}
        monkeypatch.setenv("AIRFLOW_CONN_MLMD_TLS", json.dumps(conn))
        store_for("mlmd_tls").put_execution_type(pb.ExecutionType(name="over_tls"))
        assert [t.name for t in MlmdHook("mlmd_tls").get_conn().get_execution_types()] == ["over_tls"]

        # Without the client certificate the server (client_verify) refuses the call.
        del conn["extra"]["tls_cert"], conn["extra"]["tls_key"]
        monkeypatch.setenv("AIRFLOW_CONN_MLMD_TLS_NOCERT", json.dumps(conn))
        ok, message = MlmdHook("mlmd_tls_nocert").test_connection()
        assert not ok and message.startswith("UnavailableError")
    finally:
        server.stop(grace=0)
