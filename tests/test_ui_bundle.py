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
    view = (UI / "dist" / "mlmd-lineage.js").read_text()
    assert "AirflowPlugin" in view and "LineageView" in view
    assert 1_000_000 < len(view) < 2_500_000  # React Flow and ELK (most of it), minified
    standalone = (UI / "dist" / "mlmd-standalone.js").read_text()
    assert "mount" in standalone and "mlmd-lineage.js" in standalone
    assert 200_000 < len(standalone) < 1_000_000  # React, ReactDOM, the Chakra components the view uses


def test_view_uses_the_hosts_react_and_chakra() -> None:
    """Inside Airflow the view renders with the host's React and Chakra (its theme, its dark mode): the view bundle
    holds neither, it reads them from the globals Airflow's UI exposes to plugins; the standalone loader has them."""
    view = (UI / "dist" / "mlmd-lineage.js").read_text()
    standalone = (UI / "dist" / "mlmd-standalone.js").read_text()
    react_impl = ["react.dev/errors/", "__CLIENT_INTERNALS_DO_NOT_USE_OR_WARN_USERS_THEY_CANNOT_UPGRADE"]
    chakra_impl = ["[chakra-ui", "@emotion/react"]
    for marker in react_impl + chakra_impl:
        assert marker not in view, marker
    assert all(marker in standalone for marker in react_impl) and "[chakra-ui" in standalone
    for name in ("React", "ReactDOM", "ReactJSXRuntime", "ChakraUI"):
        assert f'("{name}")' in view, name  # src/host/*.cjs
    # the view's Chakra imports are one list (src/ui.js), which the standalone build exposes as globalThis.ChakraUI
    importers = sorted(p.name for p in (UI / "src").rglob("*") if p.is_file() and '"@chakra-ui/react"' in p.read_text())
    assert importers == ["standalone.jsx", "ui.js"]


def test_sources_render_text_only() -> None:
    for path in (p for p in (UI / "src").rglob("*") if p.is_file()):
        text = path.read_text()
        assert not re.search(r"dangerouslySetInnerHTML|innerHTML|outerHTML|insertAdjacentHTML|document\.write",
                             text), path
