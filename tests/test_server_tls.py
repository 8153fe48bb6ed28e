"""TLS to MySQL and PostgreSQL (issue #8: ConnectionConfig's ssl_options / ssloption, what Cloud SQL users set),
against servers that speak it: tests/tls_servers.py starts a MariaDB and a PostgreSQL with a test CA's
certificate, whose accounts admit only TLS connections, some only with a client certificate. The MySQL tests run
on both drivers (`make test`'s pymysql pass selects them by "mysql" in their names)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import tls_servers

from mlmd_core import errors
from mlmd_core.metadata_store import MetadataStore
from mlmd_core.proto import metadata_store_pb2 as pb
from mlmd_core.store.engine import mysql_driver


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tls_servers.Certs:
    missing = tls_servers.mariadb_missing() and tls_servers.postgres_missing()
    if missing:
        pytest.skip(missing)
    return tls_servers.make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def mariadb(certs: tls_servers.Certs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tls_servers.MariaDB]:
    if missing := tls_servers.mariadb_missing():
        pytest.skip(missing)
    yield from tls_servers.start_mariadb(tmp_path_factory.mktemp("mariadb"), certs)


@pytest.fixture(scope="module")
def postgres_port(certs: tls_servers.Certs) -> Iterator[int]:
    if missing := tls_servers.postgres_missing():
        pytest.skip(missing)
    yield from tls_servers.start_postgres(certs)


def _mysql(server: tls_servers.MariaDB, user: str, **ssl: object) -> pb.ConnectionConfig:
    config = pb.ConnectionConfig()
    config.mysql.host, config.mysql.port = "127.0.0.1", server.port
    config.mysql.user, config.mysql.password, config.mysql.database = user, "pw", f"mlmd_tls_{user}"
    if ssl:
        config.mysql.ssl_options.SetInParent()
        for key, value in ssl.items():
            setattr(config.mysql.ssl_options, key, str(value) if isinstance(value, Path) else value)
    return config


def _postgres(port: int, user: str = "postgres", **ssl: object) -> pb.ConnectionConfig:
    config = pb.ConnectionConfig()
    pg = config.postgresql
    pg.host, pg.port, pg.user, pg.dbname = "127.0.0.1", str(port), user, f"mlmd_tls_{user}"
    for key, value in ssl.items():
        setattr(pg.ssloption, key, str(value))
    return config


def _round_trip(config: pb.ConnectionConfig) -> None:
    """A write and a read through a store opened with `config` (a new database the first time)."""
    with MetadataStore(config) as store:
        type_id = store.put_artifact_type(pb.ArtifactType(name="Checkpoint"))
        [artifact_id] = store.put_artifacts([pb.Artifact(type_id=type_id, uri=f"/tls/{type_id}")])
        assert [a.uri for a in store.get_artifacts_by_id([artifact_id])] == [f"/tls/{type_id}"]


def _session_cipher(server: tls_servers.MariaDB, user: str) -> str:
    """The TLS cipher of `user`'s sessions on the server, seen from root's (all must use the same one)."""
    import pymysql

    admin = pymysql.connect(unix_socket=str(server.socket), user="root", autocommit=True)
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT DISTINCT s.VARIABLE_VALUE FROM information_schema.PROCESSLIST p JOIN "
                        "performance_schema.status_by_thread s ON s.THREAD_ID = "
                        "(SELECT THREAD_ID FROM performance_schema.threads t WHERE t.PROCESSLIST_ID = p.ID) "
                        "WHERE p.USER = %s AND s.VARIABLE_NAME = 'Ssl_cipher'", (user,))
            return ",".join(row[0] for row in cur.fetchall())
    finally:
        admin.close()


def test_mysql_ssl_options_connect_over_tls_and_verify_the_server(mariadb: tls_servers.MariaDB,
                                                                  certs: tls_servers.Certs) -> None:
    """`tls` may only log in over TLS: ssl_options with the CA and verify_server_cert let the store in."""
    config = _mysql(mariadb, "tls", ca=certs.ca, verify_server_cert=True)
    _round_trip(config)
    with MetadataStore(config):
        assert _session_cipher(mariadb, "tls"), mysql_driver()  # the store's sessions are encrypted


def test_mysql_verify_server_cert_refuses_a_certificate_of_another_ca(mariadb: tls_servers.MariaDB,
                                                                     certs: tls_servers.Certs) -> None:
    with pytest.raises(errors.UnavailableError, match="Cannot connect to MySQL server"):
        MetadataStore(_mysql(mariadb, "tls", ca=certs.other_ca, verify_server_cert=True))


def test_mysql_client_certificate_key_and_cipher(mariadb: tls_servers.MariaDB, certs: tls_servers.Certs) -> None:
    """`x509` must show a certificate of the CA: ssl_options' cert and key are sent, and the cipher asked for
    is the one used (a cipher list rules TLS 1.2, as MySQL's `--ssl-cipher`; the server speaks no TLS 1.3)."""
    cipher = "ECDHE-ECDSA-AES128-GCM-SHA256"  # for the server's EC key; not the server's first choice (AES256)
    config = _mysql(mariadb, "x509", ca=certs.ca, cert=certs.client_cert, key=certs.client_key, cipher=cipher)
    with MetadataStore(config) as store:
        assert store.get_artifact_types() == []
        assert _session_cipher(mariadb, "x509") == cipher, mysql_driver()
    with pytest.raises(errors.UnavailableError, match="Access denied"):
        MetadataStore(_mysql(mariadb, "x509", ca=certs.ca))  # TLS, but no client certificate


def test_postgresql_verify_full_over_tls(postgres_port: int, certs: tls_servers.Certs) -> None:
    _round_trip(_postgres(postgres_port, sslmode="verify-full", sslrootcert=certs.ca))


def test_postgresql_sslmode_disable_is_refused(postgres_port: int) -> None:
    with pytest.raises(errors.UnavailableError, match="no encryption"):
        MetadataStore(_postgres(postgres_port, sslmode="disable"))


def test_postgresql_verify_full_refuses_a_certificate_of_another_ca(postgres_port: int,
                                                                   certs: tls_servers.Certs) -> None:
    with pytest.raises(errors.UnavailableError, match="certificate verify failed"):
        MetadataStore(_postgres(postgres_port, sslmode="verify-full", sslrootcert=certs.other_ca))


def test_postgresql_client_certificate_with_an_encrypted_key(postgres_port: int, certs: tls_servers.Certs) -> None:
    """`certuser` logs in by its certificate alone: sslcert and sslkey, the key opened with sslpassword."""
    _round_trip(_postgres(postgres_port, "certuser", sslmode="verify-full", sslrootcert=certs.ca,
                          sslcert=certs.client_cert, sslkey=certs.client_key))
    _round_trip(_postgres(postgres_port, "certuser", sslmode="verify-full", sslrootcert=certs.ca,
                          sslcert=certs.client_cert, sslkey=certs.client_key_encrypted,
                          sslpassword=certs.client_key_password))
    with pytest.raises(errors.UnavailableError):
        MetadataStore(_postgres(postgres_port, "certuser", sslmode="verify-full", sslrootcert=certs.ca,
                                sslcert=certs.client_cert, sslkey=certs.client_key_encrypted,
                                sslpassword="not the password"))


def test_mysql_over_the_servers_unix_socket(mariadb: tls_servers.MariaDB) -> None:
    """ConnectionConfig.mysql.socket: no host or port, the server's socket (root logs in there)."""
    config = pb.ConnectionConfig()
    config.mysql.socket, config.mysql.user, config.mysql.database = str(mariadb.socket), "root", "mlmd_socket"
    _round_trip(config)


def test_postgresql_hostaddr_and_passfile(postgres_port: int, tmp_path: Path) -> None:
    """`pwuser` logs in by password: read from passfile (libpq's ~/.pgpass format) when the config has none; the
    server found by hostaddr alone."""
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{postgres_port}:*:pwuser:{tls_servers.PG_PASSWORD}\n")
    passfile.chmod(0o600)
    config = _postgres(postgres_port, "pwuser")
    config.postgresql.passfile = str(passfile)
    _round_trip(config)
    by_address = _postgres(postgres_port, "pwuser")
    by_address.postgresql.ClearField("host")
    by_address.postgresql.hostaddr, by_address.postgresql.passfile = "127.0.0.1", str(passfile)
    _round_trip(by_address)
    passfile.write_text(f"127.0.0.1:{postgres_port}:*:pwuser:not the password\n")
    with pytest.raises(errors.UnavailableError, match="password authentication failed"):
        MetadataStore(config)
