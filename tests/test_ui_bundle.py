"""The committed lineage UI bundle (mlmd_airflow/ui/dist/) is built from the committed sources, and the sources
never render store text as HTML. No Node.js needed: dist/SOURCES.sha256 is the build's hash of its inputs
(mlmd_airflow/ui/hash-sources.mjs), recomputed here with the same rule."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

UI = Path(__file__).resolve().parent.parent / "mlmd_airflow" / "ui"
ROOTS = ["package.json", "package-lock.json", "vite.config.js", "hash-sources.mjs", "src"]


def sources_hash() -> str:
    """sha256 over `path\\0content\\0` of every input file, sorted by posix path (as hash-sources.mjs does)."""
    files: list[Path] = []
    for root in ROOTS:
        path = UI / root
        files.extend(sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])
    digest = hashlib.sha256()
    for rel in sorted(p.relative_to(UI).as_posix() for p in files):
        digest.update(rel.encode() + b"\0")
        digest.update((UI / rel).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def test_bundle_is_built_from_the_committed_sources() -> None:
    recorded = (UI / "dist" / "SOURCES.sha256").read_text().strip()
    assert recorded == sources_hash(), "mlmd_airflow/ui/dist is stale: run `make ui` and commit dist/"


def test_bundle_exports_what_the_plugin_and_page_use() -> None:
    bundle = (UI / "dist" / "mlmd-lineage.js").read_text()
    assert "AirflowPlugin" in bundle and "mount" in bundle
    assert 1_000_000 < len(bundle) < 4_000_000  # React, React Flow and ELK, minified


def test_sources_render_text_only() -> None:
    for path in (UI / "src").rglob("*"):
        text = path.read_text()
        assert not re.search(r"dangerouslySetInnerHTML|innerHTML|outerHTML|insertAdjacentHTML|document\.write",
                             text), path
