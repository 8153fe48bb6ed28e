"""The lineage view on a 500-node DAG run (issue #7's target): graph API time and page load in headless Chromium.

A SQLite store gets one DAG run of 250 chained tasks, each with an XCom output the next one reads (500 nodes),
recorded through mlmd_airflow's recording API (`record_wide` of tests/airflow/lineage_fixture.py, the run the UI
tests use). `mlmd ui` serves it on a free loopback port; then

- the graph API (`/api/lineage/run`) is called `--api-calls` times after one warm-up: median and max;
- the page is opened `--loads` times, each in a new browser (cold caches), until the summary shows: the total,
  and from the view's performance marks the moment the data is in the page and ELK's layout time.

    .venv/bin/python benchmarks/ui_load.py [--quick] [--json out.json]

Chromium is Debian's (/usr/bin/chromium), driven by Playwright, as in the browser tests.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "airflow"))
from lineage_fixture import record_wide  # noqa: E402 - the 500-node run of the UI tests

from mlmd_core import MetadataStore  # noqa: E402
from mlmd_core.proto import metadata_store_pb2 as pb  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TASKS = 250  # 2 nodes each


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def measure(api_calls: int, loads: int) -> dict[str, Any]:
    """Builds the store, serves it with `mlmd ui`, measures; returns the figures (milliseconds)."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="mlmd-ui-load-") as tmp:
        path = Path(tmp) / "mlmd.sqlite"
        config = pb.ConnectionConfig()
        config.sqlite.filename_uri = str(path)
        store = MetadataStore(config)
        record_wide(store, "wide", "w1", TASKS)
        store.close()
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([str(Path(sys.executable).with_name("mlmd")), "ui", "--db", str(path), "--port",
                                   str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    _get(f"{base}/api/runs")
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("mlmd ui did not come up") from None
                    time.sleep(0.2)
            url = f"{base}/api/lineage/run?dag_id=wide&run_id=w1"
            nodes = len(json.loads(_get(url))["nodes"])
            api_ms = []
            for _ in range(api_calls):
                started = time.perf_counter()
                _get(url)
                api_ms.append((time.perf_counter() - started) * 1000)
            page_ms, data_ms, layout_ms = [], [], []
            with sync_playwright() as p:
                for _ in range(loads):
                    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                    try:
                        page = browser.new_page(viewport={"width": 1500, "height": 950})
                        started = time.perf_counter()
                        page.goto(f"{base}/?dag_id=wide&run_id=w1")
                        page.wait_for_function("document.querySelector('[data-testid=summary]') !== null",
                                               timeout=30_000)
                        page_ms.append((time.perf_counter() - started) * 1000)
                        marks = page.evaluate("() => Object.fromEntries(performance.getEntriesByType('mark')"
                                              ".map(m => [m.name, m.startTime]))")
                        data_ms.append(marks["mlmd:fetched"])
                        layout_ms.append(marks["mlmd:laid-out"] - marks["mlmd:fetched"])
                    finally:
                        browser.close()
        finally:
            server.terminate()
            server.wait(30)

    def summary(values: list[float]) -> dict[str, Any]:
        return {"median_ms": round(statistics.median(values), 1), "max_ms": round(max(values), 1),
                "runs_ms": [round(v, 1) for v in values]}

    return {"started_at": time.strftime("%Y-%m-%d %H:%M %Z"), "nodes": nodes, "api": summary(api_ms),
            "page": summary(page_ms), "data_in_page": summary(data_ms), "layout": summary(layout_ms),
            "targets_ms": {"api": 100, "page": 1000}}


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api-calls", type=int, default=20)
    parser.add_argument("--loads", type=int, default=5, help="page loads, each in a new browser")
    parser.add_argument("--quick", action="store_true", help="3 API calls, 1 page load")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing (apt-get install chromium)")
    report = measure(3 if args.quick else args.api_calls, 1 if args.quick else args.loads)
    print(f"{report['nodes']} nodes: graph API median {report['api']['median_ms']} ms (max {report['api']['max_ms']}); "
          f"page loaded and laid out median {report['page']['median_ms']} ms (max {report['page']['max_ms']}): "
          f"data in the page at {report['data_in_page']['median_ms']} ms, ELK {report['layout']['median_ms']} ms")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
