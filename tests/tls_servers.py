"""Throw-away MariaDB and PostgreSQL servers that speak TLS, on free loopback ports, for tests/test_server_tls.py.

The servers the rest of the suite uses run without TLS, and turning it on there would need a restart (MariaDB
reads its certificate at start-up only), so these tests start their own: a MariaDB data directory made by
`mariadb-install-db`, a PostgreSQL cluster made by `initdb` (run as the `postgres` user: PostgreSQL refuses to
run as root), each serving a certificate of a test CA made here with `openssl`. Both come from the same Debian
packages as the suite's servers (.ci/run installs them).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ports import free_port


def _run(*args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=120, env=env)


@dataclass
class Certs:
    """PEM files: a CA and a server certificate it signed (for 127.0.0.1 and localhost), a client certificate
    (CN `certuser`) with its key in the clear and encrypted with `client_key_password`, and another CA that
    signed nothing here."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    client_key_encrypted: Path
    client_key_password: str
    other_ca: Path


def make_certs(directory: Path) -> Certs:
    def path(name: str) -> Path:
        return directory / name

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    for ca in ("ca", "other-ca"):
        _run("openssl", "req", "-x509", *ec, "-keyout", str(path(f"{ca}.key")), "-out", str(path(f"{ca}.pem")),
             "-days", "2", "-subj", f"/CN=mlmd test {ca}")
    for name, subject, extensions in (("server", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                                      ("client", "/CN=certuser", "extendedKeyUsage=clientAuth")):
        _run("openssl", "req", *ec, "-keyout", str(path(f"{name}.key")), "-out", str(path(f"{name}.csr")),
             "-subj", subject)
        path(f"{name}.ext").write_text(extensions + "\n")
        _run("openssl", "x509", "-req", "-in", str(path(f"{name}.csr")), "-CA", str(path("ca.pem")),
             "-CAkey", str(path("ca.key")), "-CAcreateserial", "-out", str(path(f"{name}.pem")), "-days", "2",
             "-extfile", str(path(f"{name}.ext")))
    password = "client key password"
    _run("openssl", "pkey", "-in", str(path("client.key")), "-aes256", "-passout", f"pass:{password}",
         "-out", str(path("client-encrypted.key")))
    for key in directory.glob("*.key"):
        key.chmod(0o600)  # libpq refuses a client key others can read
    return Certs(path("ca.pem"), path("server.pem"), path("server.key"), path("client.pem"), path("client.key"),
                 path("client-encrypted.key"), password, path("other-ca.pem"))


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server did not listen on 127.0.0.1:{port} in {seconds} s: {log.read_text()[-2000:]}")


def mariadb_missing() -> str | None:
    """Why a TLS MariaDB cannot be started here, or None."""
    for tool in ("mariadb-install-db", "mariadbd", "openssl"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            return f"{tool} is not installed (Debian packages mariadb-server, openssl; .ci/run installs them)"
    return None


def _mariadbd() -> str:
    return shutil.which("mariadbd") or "/usr/sbin/mariadbd"


@dataclass
class MariaDB:
    port: int
    socket: Path


def start_mariadb(directory: Path, certs: Certs) -> Iterator[MariaDB]:
    """A MariaDB serving TLS 1.2 with the test CA's certificate; root (no password) logs in over its socket. Users:
    `tls`@127.0.0.1 (password `pw`, REQUIRE SSL) and `x509`@127.0.0.1 (password `pw`, REQUIRE X509)."""
    data, sock, log = directory / "data", directory / "mysqld.sock", directory / "mysqld.log"
    _run("mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root", "--skip-test-db",
         "--auth-root-authentication-method=normal")
    port = free_port()
    process = subprocess.Popen(
        [_mariadbd(), "--no-defaults", f"--datadir={data}", "--user=root", f"--port={port}",
         "--bind-address=127.0.0.1", f"--socket={sock}", f"--pid-file={directory / 'mysqld.pid'}",
         f"--log-error={log}", "--skip-name-resolve", "--innodb-buffer-pool-size=32M", "--skip-log-bin",
         "--performance-schema=ON", "--tls-version=TLSv1.2",  # a cipher list (ssl_options.cipher) rules TLS 1.2
         f"--ssl-ca={certs.ca}", f"--ssl-cert={certs.server_cert}", f"--ssl-key={certs.server_key}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, process, log)
        import pymysql

        admin = pymysql.connect(unix_socket=str(sock), user="root", autocommit=True)
        with admin.cursor() as cur:
            for user, requirement in (("tls", "SSL"), ("x509", "X509")):
                cur.execute(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY 'pw' REQUIRE {requirement}")
                cur.execute(f"GRANT ALL ON *.* TO '{user}'@'127.0.0.1'")
        admin.close()
        yield MariaDB(port, sock)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def _pg_bin(tool: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))
    return found[-1] if found else None


def postgres_missing() -> str | None:
    """Why a TLS PostgreSQL cannot be started here, or None."""
    if _pg_bin("initdb") is None or shutil.which("openssl") is None:
        return ("PostgreSQL's initdb or openssl is not installed (Debian packages postgresql, openssl; .ci/run "
                "installs them)")
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        return "starting a PostgreSQL cluster needs root, to run initdb as the postgres user (runuser)"
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        return "there is no postgres user (Debian package postgresql)"
    return None


PG_PASSWORD = "pg password"


def start_postgres(certs: Certs) -> Iterator[int]:
    """A PostgreSQL serving TLS with the test CA's certificate; yields its port. Over TCP only TLS connections
    are let in: `certuser` by its client certificate (the test CA's, CN certuser), `pwuser` by its password
    (PG_PASSWORD), everyone else on trust."""
    directory = Path(tempfile.mkdtemp(prefix="mlmd-pg-tls-"))  # not under pytest's tmp_path: postgres must enter it
    try:
        shutil.chown(directory, "postgres", "postgres")
        for source, name in ((certs.server_cert, "server.pem"), (certs.server_key, "server.key"), (certs.ca, "ca.pem")):
            shutil.copy(source, directory / name)
            shutil.chown(directory / name, "postgres", "postgres")
        (directory / "server.key").chmod(0o600)
        data, log = directory / "data", directory / "postgres.log"
        as_postgres = ("runuser", "-u", "postgres", "--")
        _run(*as_postgres, _pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
        (data / "pg_hba.conf").write_text(
            "local all all trust\n"
            "hostssl all certuser 127.0.0.1/32 cert\n"
            "hostssl all pwuser 127.0.0.1/32 scram-sha-256\n"
            "hostssl all all 127.0.0.1/32 trust\n"
            "hostnossl all all 127.0.0.1/32 reject\n")
        port = free_port()
        options = (f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off -c ssl=on "
                   f"-c ssl_cert_file={directory / 'server.pem'} -c ssl_key_file={directory / 'server.key'} "
                   f"-c ssl_ca_file={directory / 'ca.pem'}")
        _run(*as_postgres, _pg_bin("pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options, "start")
        try:
            _run(*as_postgres, _pg_bin("psql"), "-h", str(directory), "-p", str(port), "-U", "postgres", "-d",
                 "postgres", "-c", "CREATE USER certuser SUPERUSER",
                 "-c", f"CREATE USER pwuser SUPERUSER PASSWORD '{PG_PASSWORD}'")
            yield port
        finally:
            subprocess.run([*as_postgres, _pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                           capture_output=True, timeout=120)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
