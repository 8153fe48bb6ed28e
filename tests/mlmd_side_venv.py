"""The side virtualenv holding the real ml-metadata, for comparison tests.

ml-metadata 1.17.1 pins protobuf<5, so it cannot share the main environment
(protobuf 6/7). Tests that compare against it run a subprocess with
``side_python()``: ``<repo>/.venv-mlmd/bin/python`` by default, or the venv
named by the ``MLMD_SIDE_VENV`` environment variable. A missing venv is created
with ``python3.11 -m venv`` and ``pip install ml-metadata==1.17.1``; if that
fails, the calling test is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
MLMD_VERSION = "1.17.1"
ENV_VAR = "MLMD_SIDE_VENV"
# ml-metadata 1.17.1 ships wheels for CPython 3.9-3.11 only.
BASE_PYTHONS = ("python3.11", "python3.10", "python3.9")
INSTALL_TIMEOUT_S = 1800


def side_venv_dir() -> Path:
    override = os.environ.get(ENV_VAR)
    return Path(override).expanduser().resolve() if override else REPO_ROOT / ".venv-mlmd"


def _venv_python(venv: Path) -> Path:
    if sys.platform == "win32":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def _has_mlmd(python: Path) -> bool:
    if not python.exists():
        return False
    probe = f"import ml_metadata, sys; sys.exit(ml_metadata.__version__ != {MLMD_VERSION!r})"
    try:
        proc = subprocess.run([str(python), "-c", probe], capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


@contextlib.contextmanager
def _install_lock(venv: Path):
    """Serializes concurrent installs (e.g. pytest-xdist workers)."""
    digest = hashlib.sha256(str(venv).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"mlmd-side-venv-{digest}.lock"
    with open(lock_path, "w") as lock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            yield
            return
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run(cmd: list[str]) -> tuple[bool, str]:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{' '.join(cmd)}: {exc}"
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
    return proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}"


def _create(venv: Path) -> str | None:
    """Creates the venv and installs ml-metadata; returns an error or None."""
    base = next((p for p in map(shutil.which, BASE_PYTHONS) if p), None)
    if base is None:
        return f"none of {', '.join(BASE_PYTHONS)} is on PATH (ml-metadata {MLMD_VERSION} needs CPython <= 3.11)"
    python = _venv_python(venv)
    if not python.exists():
        ok, out = _run([base, "-m", "venv", str(venv)])
        if not ok:
            return out
    ok, out = _run([str(python), "-m", "pip", "install", "--disable-pip-version-check", f"ml-metadata=={MLMD_VERSION}"])
    if not ok:
        return out
    if not _has_mlmd(python):
        return f"ml-metadata {MLMD_VERSION} installed into {venv} but `import ml_metadata` fails"
    return None


@functools.cache
def _locate() -> tuple[str | None, str | None]:
    venv = side_venv_dir()
    python = _venv_python(venv)
    if _has_mlmd(python):
        return str(python), None
    try:
        with _install_lock(venv):
            if _has_mlmd(python):  # another process finished the install meanwhile
                return str(python), None
            error = _create(venv)
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc}"
    if error:
        return None, error
    return str(python), None


def side_python() -> str:
    """Path of the python of the side venv with ml-metadata 1.17.1.

    Creates the venv when missing; skips the calling test if that fails.
    """
    python, error = _locate()
    if python is None:
        pytest.skip(f"cannot set up the ml-metadata {MLMD_VERSION} side venv at {side_venv_dir()}: {error}")
    return python
