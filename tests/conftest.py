"""Session hooks for every test module."""

from __future__ import annotations

import sys

import pytest
import server_backends


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drops this process's throw-away server databases while pytest still waits for it. Left to exit time,
    the drops (a checkpoint each on PostgreSQL) could outlast pytest-xdist's 10-second exit timeout on a busy
    machine, and the killed worker left its databases behind. A failure here is retried at exit."""
    try:
        server_backends.drop_databases()
    except Exception as exc:  # noqa: BLE001 - a cleanup failure must not fail the run
        sys.stderr.write(f"could not drop the test databases yet ({exc}); trying again at exit\n")
