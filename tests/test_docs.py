"""Every Python code block in README.md and docs/*.md runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def _blocks() -> list[tuple[str, str]]:
    out = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for i, code in enumerate(BLOCK.findall(doc.read_text())):
            out.append((f"{doc.relative_to(ROOT)}#{i + 1}", code))
    return out


@pytest.mark.parametrize("name,code", _blocks(), ids=[n for n, _ in _blocks()])
def test_code_block_runs(name: str, code: str, tmp_path: Path) -> None:
    _skip_without_server(code)
    code = code.replace("/tmp/", f"{tmp_path}/")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{name} failed:\n{result.stderr}"


def test_quickstart_example_runs(tmp_path: Path) -> None:
    store_file = tmp_path / "quickstart.sqlite"
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py"), str(store_file)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "which read artifacts: ['path/to/data']" in result.stdout
    assert "model produced by execution: [1]" in result.stdout
    assert store_file.exists()


def test_lineage_example_runs() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "lineage.py")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "provenance of the model: ['config', 'raw']" in result.stdout
    assert "impact of the raw data: ['clean', 'model', 'metrics']" in result.stdout
    assert "run-1: 4 executions, 5 artifacts, 9 edges; external: []" in result.stdout
    assert "get_lineage_graph, 2 hops from the metrics: ['clean', 'metrics', 'model'] ['evaluate']" in result.stdout


# docs/backends.md's examples connect to the local MariaDB / PostgreSQL (as the server test suites do).
DOCS_DATABASE = "mlmd_docs_example"


def _skip_without_server(code: str) -> None:
    import server_backends

    for backend, marker in (("mysql", "config.mysql."), ("postgresql", "config.postgresql.")):
        if marker in code:
            server_backends.require(backend)


def teardown_module() -> None:
    """Drops the database the docs' server examples create."""
    import server_backends

    for backend in server_backends.SERVERS:
        if server_backends.unreachable(backend):
            continue
        conn = server_backends.admin_connection(backend)
        try:
            quoted = f"`{DOCS_DATABASE}`" if backend == "mysql" else f'"{DOCS_DATABASE}" WITH (FORCE)'
            conn.cursor().execute(f"DROP DATABASE IF EXISTS {quoted}")
        finally:
            conn.close()
