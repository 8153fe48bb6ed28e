"""The filter grammar's LALR tables are cached per user between processes, and a bad cache file is rebuilt."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PARSE = """
from mlmd_core.filter import ast
print(ast.parse("properties.day.int_value > 79 AND NOT (uri LIKE '%x%' OR id IN (1, 2))"))
"""


def _parse_in_new_process(cache_home: Path) -> str:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    done = subprocess.run([sys.executable, "-c", PARSE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_tables_are_cached_and_a_broken_cache_is_rebuilt(tmp_path: Path) -> None:
    fresh = _parse_in_new_process(tmp_path)
    [cache_file] = (tmp_path / "mlmd_core").iterdir()
    assert cache_file.stat().st_size > 1000
    assert _parse_in_new_process(tmp_path) == fresh  # loaded from the cache: the same tree

    cache_file.write_bytes(b"not a lark cache\n")
    assert _parse_in_new_process(tmp_path) == fresh
    assert cache_file.read_bytes() != b"not a lark cache\n"  # written anew


def test_an_unwritable_cache_home_only_costs_time(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would go")
    assert "Compare" in _parse_in_new_process(blocked)
