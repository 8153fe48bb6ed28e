"""TLS and mutual TLS from MetadataStoreServerConfig.ssl_config, with certificates made by the test: a CA,
a server certificate for localhost/127.0.0.1, a client certificate, and a stranger CA nobody trusts."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import mlmd_core as mlmd
from mlmd_core import errors
from mlmd_core.grpc.server import MetadataStoreServer, serve
from mlmd_core.grpc.testing import ServerProcess, write_server_config
from mlmd_core.proto import metadata_store_pb2 as pb

SSL = pb.MetadataStoreServerConfig.SSLConfig
ClientSSL = pb.MetadataStoreClientConfig.SSLConfig


@dataclass
class Pem:
    key: str
    cert: str


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def make_ca(name: str) -> tuple[Pem, ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return Pem(_pem_key(key), cert.public_bytes(serialization.Encoding.PEM).decode()), key, cert


def make_leaf(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, name: str, server: bool) -> Pem:
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage(
                   [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return Pem(_pem_key(key), cert.public_bytes(serialization.Encoding.PEM).decode())


@dataclass
class Certs:
    ca: Pem
    server: Pem
    client: Pem
    stranger_ca: Pem
    stranger_client: Pem


@pytest.fixture(scope="module")
def certs() -> Certs:
    ca, ca_key, ca_cert = make_ca("mlmd test CA")
    stranger, s_key, s_cert = make_ca("untrusted CA")
    return Certs(ca=ca, server=make_leaf(ca_key, ca_cert, "localhost", server=True),
                 client=make_leaf(ca_key, ca_cert, "airflow-worker", server=False),
                 stranger_ca=stranger, stranger_client=make_leaf(s_key, s_cert, "intruder", server=False))


def _server(certs: Certs, client_verify: bool) -> MetadataStoreServer:
    config = pb.MetadataStoreServerConfig(ssl_config=SSL(
        server_key=certs.server.key, server_cert=certs.server.cert, custom_ca=certs.ca.cert,
        client_verify=client_verify))
    return serve(config, port=0)


@pytest.fixture
def tls_server(certs: Certs) -> Iterator[MetadataStoreServer]:
    s = _server(certs, client_verify=False)
    yield s
    s.stop(grace=1.0)


@pytest.fixture
def mtls_server(certs: Certs) -> Iterator[MetadataStoreServer]:
    s = _server(certs, client_verify=True)
    yield s
    s.stop(grace=1.0)


def _client(port: int, ssl: ClientSSL | None = None, host: str = "localhost") -> mlmd.MetadataStore:
    config = pb.MetadataStoreClientConfig(host=host, port=port, client_timeout_sec=10)
    if ssl is not None:
        config.ssl_config.CopyFrom(ssl)
    return mlmd.MetadataStore(config)


def _roundtrip(s: Any) -> list[str]:
    type_id = s.put_artifact_type(pb.ArtifactType(name="Secret"))
    s.put_artifacts([pb.Artifact(type_id=type_id, uri="/tls")])
    return [a.uri for a in s.get_artifacts()]


def test_tls_with_the_ca(tls_server: MetadataStoreServer, certs: Certs) -> None:
    assert tls_server.tls
    assert _roundtrip(_client(tls_server.port, ClientSSL(custom_ca=certs.ca.cert))) == ["/tls"]
    # the certificate names 127.0.0.1 too
    assert _client(tls_server.port, ClientSSL(custom_ca=certs.ca.cert), host="127.0.0.1").get_artifact_types()


def test_tls_rejects_plaintext_and_unknown_ca(tls_server: MetadataStoreServer, certs: Certs) -> None:
    with pytest.raises(errors.UnavailableError):
        _client(tls_server.port).get_artifacts()
    with pytest.raises(errors.UnavailableError):
        _client(tls_server.port, ClientSSL(custom_ca=certs.stranger_ca.cert)).get_artifacts()


def test_mtls_accepts_a_client_certificate_of_the_ca(mtls_server: MetadataStoreServer, certs: Certs) -> None:
    # ml-metadata's naming: the client's own chain goes in ssl_config.server_cert
    ssl = ClientSSL(client_key=certs.client.key, server_cert=certs.client.cert, custom_ca=certs.ca.cert)
    assert _roundtrip(_client(mtls_server.port, ssl)) == ["/tls"]


def test_mtls_rejects_missing_or_foreign_client_certificates(mtls_server: MetadataStoreServer, certs: Certs) -> None:
    with pytest.raises(errors.UnavailableError):
        _client(mtls_server.port, ClientSSL(custom_ca=certs.ca.cert)).get_artifacts()
    foreign = ClientSSL(client_key=certs.stranger_client.key, server_cert=certs.stranger_client.cert,
                        custom_ca=certs.ca.cert)
    with pytest.raises(errors.UnavailableError):
        _client(mtls_server.port, foreign).get_artifacts()


def test_client_verify_without_ca_is_refused(certs: Certs) -> None:
    config = pb.MetadataStoreServerConfig(ssl_config=SSL(
        server_key=certs.server.key, server_cert=certs.server.cert, client_verify=True))
    with pytest.raises(errors.InvalidArgumentError, match="custom_ca"):
        serve(config, port=0)


def test_mtls_from_a_config_file_in_a_server_process(tmp_path: Any, certs: Certs) -> None:
    """The real `mlmd-server` process reads ssl_config (PEM contents) from its text-format config file."""
    config = pb.MetadataStoreServerConfig(ssl_config=SSL(
        server_key=certs.server.key, server_cert=certs.server.cert, custom_ca=certs.ca.cert, client_verify=True))
    config.connection_config.sqlite.filename_uri = str(tmp_path / "tls.sqlite")
    path = write_server_config(tmp_path / "server.pbtxt", config)
    with ServerProcess([f"--metadata_store_server_config_file={path}"]) as proc:
        assert '"mtls": true' in "\n".join(proc.log)
        ssl = ClientSSL(client_key=certs.client.key, server_cert=certs.client.cert, custom_ca=certs.ca.cert)
        assert _roundtrip(_client(proc.port, ssl)) == ["/tls"]
        with pytest.raises(errors.UnavailableError):
            _client(proc.port, ClientSSL(custom_ca=certs.ca.cert)).get_artifacts()
        assert proc.terminate() == 0
