"""Content fingerprints of files, computed once per file version.

A file version is (real path, size, mtime_ns, inode): while none of those change, the sha256 is reused from a
per-process memo and from a small SQLite sidecar shared by every process on the machine (default
`$AIRFLOW_HOME/mlmd-fingerprints.sqlite`, or `$MLMD_FINGERPRINT_CACHE`; `off` disables the sidecar). So a
100 MB input is read once, not on every lookup (P4 in the caching notes). Directories hash their sorted
(relative path, file digest) list.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from pathlib import Path

_CHUNK = 1 << 20
_memo: dict[tuple[str, int, int, int], str] = {}
_lock = threading.Lock()
_sidecar: dict[int, sqlite3.Connection | None] = {}

#: Counts of full reads (for tests and the benchmark: a file version must be read once).
reads = {"files": 0, "bytes": 0}


class FileFingerprintError(ValueError):
    """A file dependency / input does not exist or cannot be read."""


def sidecar_path() -> str | None:
    """Where fingerprints are shared between processes, or None when disabled."""
    configured = os.environ.get("MLMD_FINGERPRINT_CACHE")
    if configured is not None:
        return None if configured.strip().lower() in ("", "off", "none") else configured
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return os.path.join(home, "mlmd-fingerprints.sqlite")


def _db() -> sqlite3.Connection | None:
    pid = os.getpid()
    if pid in _sidecar:
        return _sidecar[pid]
    path = sidecar_path()
    conn = None
    if path:
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            conn = sqlite3.connect(path, timeout=5, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS fingerprint (path TEXT, size INTEGER, mtime_ns INTEGER, "
                         "inode INTEGER, sha256 TEXT, PRIMARY KEY (path, size, mtime_ns, inode))")
        except sqlite3.Error:
            conn = None  # the sidecar is an optimisation only
    _sidecar[pid] = conn
    return conn


def _hash_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            h.update(chunk)
            reads["bytes"] += len(chunk)
    reads["files"] += 1
    return h.hexdigest()


def _file_version_digest(path: str, st: os.stat_result) -> str:
    version = (path, st.st_size, st.st_mtime_ns, st.st_ino)
    digest = _memo.get(version)
    if digest is not None:
        return digest
    with _lock:
        db = _db()
        if db is not None:
            try:
                row = db.execute("SELECT sha256 FROM fingerprint WHERE path=? AND size=? AND mtime_ns=? AND inode=?",
                                 version).fetchone()
            except sqlite3.Error:
                row = None
            if row:
                _memo[version] = row[0]
                return row[0]
        digest = _hash_file(path)
        after = os.stat(path)
        if (after.st_size, after.st_mtime_ns, after.st_ino) != version[1:]:
            return digest  # changed while being read: correct for now, but not a stable version to remember
        _memo[version] = digest
        if db is not None:
            try:
                db.execute("INSERT OR REPLACE INTO fingerprint VALUES (?, ?, ?, ?, ?)", (*version, digest))
            except sqlite3.Error:
                pass
    return digest


def file_digest(path: str | os.PathLike[str]) -> str:
    """`sha256:<hex>` of a file's content (directories: of their files), read once per file version."""
    real = os.path.realpath(os.fspath(path))
    try:
        st = os.stat(real)
    except OSError as exc:
        raise FileFingerprintError(f"cannot fingerprint {os.fspath(path)!r}: {exc.strerror}") from None
    if os.path.isdir(real):
        h = hashlib.sha256()
        for child in sorted(Path(real).rglob("*")):
            if child.is_file():
                h.update(f"{child.relative_to(real).as_posix()}\0{file_digest(child)}\n".encode())
        return "sha256-dir:" + h.hexdigest()
    return "sha256:" + _file_version_digest(real, st)


def clear_memo() -> None:
    """Forgets the per-process memo (the sidecar stays): for tests and benchmarks."""
    _memo.clear()
