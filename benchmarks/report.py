"""Regenerates the generated sections of docs/performance.md from the results files.

- the figures section (between the ``bench:figures`` markers) from a harness run's JSON (benchmarks/run_all.py);
- the ratio section (between the ``bench:ratios`` markers) from every benchmarks/results/compare-*.json
  (benchmarks/compare.py --json).

    .venv/bin/python benchmarks/report.py [--figures benchmarks/results/bench.json]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
RESULTS = ROOT / "benchmarks" / "results"
BACKENDS = ("sqlite-memory", "sqlite-file", "mysql", "postgresql")
BACKEND_TITLES = {"sqlite-memory": "SQLite memory", "sqlite-file": "SQLite file", "mysql": "MariaDB",
                  "postgresql": "PostgreSQL"}


def _num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def render_figures(bench: dict[str, Any]) -> str:
    """Markdown for one harness run: store ops/s per backend, then the Airflow/cache/gRPC figures."""
    meta = bench["meta"]
    lines = [f"Run {meta['started_at']}: `{meta['command']}` ({'quick mode, ' if meta['quick'] else ''}"
             f"store scale N={meta['scale']}; Python {meta['python']}, SQLite {meta['sqlite_version']}, "
             f"MariaDB {meta.get('mariadb_version') or '–'}, PostgreSQL {meta.get('postgresql_version') or '–'}, "
             f"{meta['cpus']} CPUs shared).", ""]
    store = bench.get("store", {})
    backends = [b for b in BACKENDS if b in store]
    if backends:
        lines += ["Store workloads of mlmd_bench.py, mlmd_core, ops/s (one run per backend; higher is better):", "",
                  "| workload | " + " | ".join(BACKEND_TITLES[b] for b in backends) + " |",
                  "|---|" + "---:|" * len(backends)]
        names: list[str] = []
        for b in backends:
            names += [n for n in store[b].get("workloads", {}) if n not in names]
        for name in names:
            cells = [store[b].get("workloads", {}).get(name) for b in backends]
            lines.append(f"| {name} | " + " | ".join(_num(c) for c in cells) + " |")
        lines.append("| *peak RSS, MiB* | " + " | ".join(_num(store[b].get("peak_rss_mib")) for b in backends) + " |")
        for b in backends:
            if store[b].get("error"):
                lines.append(f"\n{BACKEND_TITLES[b]}: {store[b]['error']}")
        lines.append("")
    if raw := bench.get("raw_insert"):
        lines += render_raw_insert(raw)
    if listener := bench.get("listener"):
        lines.append(f"- **Listener overhead** ({listener.get('task_instances')} task instances, "
                     f"{listener.get('pairs')} alternating pairs): {_num(listener.get('wall_ms_per_task'))} ms/task "
                     f"wall, {_num(listener.get('cpu_ms_per_task'))} ms/task CPU, "
                     f"{_num(listener.get('self_ms_per_task'))} ms/task inside the listener (target < 20 ms).")
    if task := bench.get("task_process"):
        lines.append(render_task_process(task))
    if cache := bench.get("cache_lookup"):
        lines.append(f"- **Cache lookup** at {cache.get('executions'):,} executions ({cache.get('lookups')} lookups "
                     f"each): hit p50 {_num(cache['lookup_hit']['p50_ms'], 3)} ms / p99 "
                     f"{_num(cache['lookup_hit']['p99_ms'], 3)} ms; miss p50 {_num(cache['lookup_miss']['p50_ms'], 3)}"
                     f" ms / p99 {_num(cache['lookup_miss']['p99_ms'], 3)} ms (target p50 < 1 ms); key "
                     f"p50 {_num(cache['key']['p50_ms'], 3)} ms; {cache.get('file_mb')} MB file fingerprint "
                     f"{_num(cache['fingerprint_ms']['first'])} ms first, "
                     f"{_num(cache['fingerprint_ms']['memo_p50'], 3)} ms memoised.")
    if ui := bench.get("ui_load"):
        lines.append(render_ui_load(ui))
    if grpc := bench.get("grpc_load"):
        lines.append(f"- **gRPC load** ({grpc['clients']} clients × {grpc['calls_per_client']} calls, SQLite file, "
                     f"{grpc['server_threads']} server threads): {_num(grpc['calls_per_second'])} calls/s, p50 "
                     f"{_num(grpc['latency_ms']['p50'], 2)} ms, p99 {_num(grpc['latency_ms']['p99'], 2)} ms; "
                     f"{grpc['failures']} failed calls, {grpc['missing']} lost writes.")
    return "\n".join(lines).rstrip() + "\n"


TASK_PROCESS_TITLES = {"sqlite": "SQLite file", "mysql": "MariaDB", "postgresql": "PostgreSQL",
                       "grpc": "mlmd-server over MariaDB (gRPC)"}


def render_task_process(task: dict[str, Any]) -> str:
    """The line for benchmarks/task_process.py's report: the listener's cost in a fresh task process."""
    parts = []
    for backend, result in task.get("backends", {}).items():
        title = TASK_PROCESS_TITLES.get(backend, backend)
        if "error" in result:
            parts.append(f"{title}: error ({result['error'][:200]})")
        else:
            parts.append(f"{title} {_num(result['total_ms'])} ms (open {_num(result['open_ms'])}, record "
                         f"{_num(result['record_ms'])}; p90 {_num(result['total_p90_ms'])})")
    return (f"- **A fresh task process** (benchmarks/task_process.py: {task.get('tasks')} processes forked from one "
            "that loaded the plugin, each opening the store and recording one task; medians): " + "; ".join(parts)
            + ". The target of < 20 ms per task is the listener overhead's above; a new process adds opening the "
            "store and, on a server, compiling the statements it uses.")


def render_ui_load(ui: dict[str, Any]) -> str:
    """The line for benchmarks/ui_load.py's report: the lineage view of a 500-node DAG run."""
    if ui.get("error") or "api" not in ui:
        return f"- **Lineage view** (benchmarks/ui_load.py): {ui.get('error', 'no result')}"
    return (f"- **Lineage view** of a {ui['nodes']}-node DAG run (`mlmd ui`, headless Chromium, "
            f"{len(ui['page']['runs_ms'])} cold page loads): graph API median {_num(ui['api']['median_ms'])} ms "
            f"(target < 100 ms); page loaded and laid out median {_num(ui['page']['median_ms'])} ms, max "
            f"{_num(ui['page']['max_ms'])} ms (target < 1 s): the data is in the page at "
            f"{_num(ui['data_in_page']['median_ms'])} ms, ELK's layout takes {_num(ui['layout']['median_ms'])} ms.")


def render_raw_insert(raw: dict[str, Any]) -> list[str]:
    """Lines for benchmarks/raw_insert.py's report: mlmd_core put_artifacts against plain sqlite3 executemany."""
    if not raw.get("results"):
        return [f"Inserts vs raw sqlite3: no figures ({raw.get('error', 'no results')}).", ""]
    same = raw.get("same_rows", {})
    lines = [f"Inserts, mlmd_core `put_artifacts` against the same rows written with plain sqlite3 `executemany` "
             f"(benchmarks/raw_insert.py, {raw.get('started_at', '–')}: N={raw['n']:,} artifacts of 1 + "
             f"{raw['properties_per_artifact']} rows, "
             f"{raw['rounds']} interleaved rounds, medians; batch = {raw['batch']} artifacts per call / "
             f"transaction, single = 1; same rows written: {'yes' if same and all(same.values()) else 'NO'}). "
             "Time ratio = mlmd_core time / raw time (lower is better; 1 = as fast as raw), target ≤ 2×; the CPU "
             "ratio is the same with process CPU time (less disturbed by other work on the machine, blind to disk "
             "waits):", "",
             "| SQLite | mode | mlmd_core artifacts/s | raw sqlite3 artifacts/s | time ratio | CPU ratio |",
             "|---|---|---:|---:|---:|---:|"]
    for backend, modes in raw["results"].items():
        for mode, r in modes.items():
            ratio = r["ratio"]
            ratio_text = f"**{ratio:.2f}×**" if ratio <= 2 else f"{ratio:.2f}×"
            where = BACKEND_TITLES.get(backend, backend).removeprefix("SQLite ")
            lines.append(f"| {where} | {mode} | {_num(r['mlmd_core_artifacts_per_s'], 0)} | "
                         f"{_num(r['raw_artifacts_per_s'], 0)} | {ratio_text} | "
                         f"{_num(r.get('cpu_ratio'), 2)}× |")
    if raw.get("error"):
        lines.append(f"\nraw_insert.py: {raw['error']}")
    lines += ["", "Time ratios within the 2× target are in bold.", ""]
    return lines


def render_ratios(paths: list[Path]) -> str:
    """Markdown: one table per compare-*.json (median ops/s of ml-metadata 1.17.1 and mlmd_core, ratio)."""
    if not paths:
        return "No comparison run recorded yet: `make bench-compare`.\n"
    order = {b: i for i, b in enumerate(BACKENDS)}
    reports = sorted((json.loads(p.read_text()) for p in paths),
                     key=lambda r: (order.get(r["backend"], 99), r["scale"]))
    lines: list[str] = []
    for r in reports:
        driver = f" (mlmd_core on {r['mysql_driver']})" if r.get("mysql_driver") else ""
        lines += [f"**{BACKEND_TITLES.get(r['backend'], r['backend'])}**{driver}, N={r['scale']}, {r['rounds']} "
                  f"interleaved round(s), {r['started_at']}: `{r['command']}`", "",
                  "| workload | ml-metadata 1.17.1 ops/s | mlmd_core ops/s | ratio |", "|---|---:|---:|---:|"]
        for name, row in r["median"].items():
            ratio = row.get("ratio")
            ratio_text = "–" if ratio is None else (f"**{ratio:.2f}×**" if ratio < 2 else f"{ratio:.2f}×")
            lines.append(f"| {name} | {_num(row.get('ml_metadata'))} | {_num(row.get('mlmd_core'))} | {ratio_text} |")
        if rss := r.get("peak_rss_mib"):
            lines.append(f"| *peak RSS, MiB (lower is better)* | {_num(rss['ml_metadata'])} | {_num(rss['mlmd_core'])} "
                         "| |")
        lines.append("")
    lines.append("Ratios below the 2× target are in bold.")
    return "\n".join(lines).rstrip() + "\n"


def _replace(text: str, section: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- BEGIN {section} [^\n]*-->\n).*?(<!-- END {section} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"{DOC}: the {section} markers are missing")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def update_doc(figures: Path | None = None, doc: Path = DOC) -> None:
    """Rewrites the figures section (when `figures` is given) and the ratio section of `doc`."""
    text = doc.read_text()
    if figures is not None:
        text = _replace(text, "bench:figures", render_figures(json.loads(figures.read_text())))
    text = _replace(text, "bench:ratios", render_ratios(sorted(RESULTS.glob("compare-*.json"))))
    doc.write_text(text)
    print(f"updated {doc.relative_to(ROOT) if doc.is_relative_to(ROOT) else doc}")


def main(argv: list[str] | None = None) -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--figures", type=Path, help="a run_all.py results file (default: leave figures alone)")
    args = parser.parse_args(argv)
    update_doc(args.figures)


if __name__ == "__main__":
    main()
