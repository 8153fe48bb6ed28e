"""A free loopback port for a server a test starts (tests/ is on sys.path for every test module, tests/airflow/
included: pytest puts the directory of tests/conftest.py there)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now (the kernel's pick for a socket bound to port 0 on 127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
