"""`mlmd ui --db FILE`: the same API and page without Airflow, on a store written through the recording API
(tests/airflow/lineage_fixture.py), opened in a real headless Chromium. Also the 500-node speed figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from lineage_fixture import XSS_NAME, XSS_VALUE, record_demo, record_wide
from ports import free_port
from ui_browser import chromium_page, click_node, luminance, stop

from mlmd_core import MetadataStore
from mlmd_core.grpc.testing import ServerProcess, write_server_config
from mlmd_core.proto import metadata_store_pb2 as pb

MLMD = str(Path(sys.executable).with_name("mlmd"))


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            body = response.read()
            kind = response.headers.get("content-type", "")
            return response.status, json.loads(body) if "json" in kind else body.decode()
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except OSError:
        return 0, None


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("standalone") / "mlmd.sqlite"
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    store = MetadataStore(config)
    record_demo(store)
    record_wide(store, "wide", "w1", 250)  # 500 nodes
    store.close()
    port = free_port()
    log = path.with_suffix(".log")
    with open(log, "w") as out:
        proc = subprocess.Popen([MLMD, "ui", "--db", str(path), "--port", str(port)], stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while _get(f"{base}/api/runs")[0] != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlmd ui did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield {"base": base}
    finally:
        stop(proc)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run([MLMD, "ui", "--db", str(tmp_path / "nope.sqlite")], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0 and "no MLMD store at" in proc.stderr
    proc = subprocess.run([MLMD, "ui", "--db", "ftp://nowhere"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown scheme" in proc.stderr


def _serve(args: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """`mlmd ui ARGS` on a free port, once /api/runs answers: (process, base URL)."""
    port = free_port()
    with open(log, "w") as out:
        proc = subprocess.Popen([MLMD, "ui", *args, "--port", str(port)], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while _get(f"{base}/api/runs")[0] != 200:
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            pytest.fail(f"mlmd ui did not come up:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)
    return proc, base


def test_db_targets(tmp_path: Path) -> None:
    """--db takes what every mlmd command takes: here $MLMD_DB=sqlite:////abs/path, and grpc://host:port."""
    path = tmp_path / "served.sqlite"
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    store = MetadataStore(config)
    record_demo(store)
    store.close()
    env = dict(os.environ, MLMD_DB=f"sqlite:///{path}")
    proc, base = _serve([], tmp_path / "sqlite.log", env)
    try:
        assert "ui_demo/run2" in {r["name"] for r in _get(f"{base}/api/runs")[1]}
        status, graph = _get(f"{base}/api/lineage/run?dag_id=ui_demo&run_id=run2")
        assert status == 200 and graph["counts"]["cached"] == 1
        before = path.stat().st_mtime_ns
    finally:
        stop(proc)
    assert path.stat().st_mtime_ns == before  # opened read-only
    server_config = pb.MetadataStoreServerConfig()
    server_config.connection_config.sqlite.filename_uri = str(path)
    config_file = write_server_config(tmp_path / "server.pbtxt", server_config)
    with ServerProcess([f"--metadata_store_server_config_file={config_file}"]) as server:
        proc, base = _serve(["--db", f"grpc://127.0.0.1:{server.port}"], tmp_path / "grpc.log")
        try:
            status, graph = _get(f"{base}/api/lineage/run?dag_id=ui_demo&run_id=run2")
            assert status == 200 and {n["label"] for n in graph["nodes"] if n["kind"] == "execution"} == {
                "extract", "train", "evaluate", "report"}
            status, found = _get(f"{base}/api/search/artifacts?q=features")
            assert status == 200 and [a["uri"] for a in found] == ["s3://lake/features"]
            status, runs = _get(f"{base}/api/dag_runs")
            assert [(r["dag_id"], r["run_id"]) for r in runs][:2] == [("ui_demo", "run2"), ("ui_demo", "run1")]
        finally:
            stop(proc)


def test_api_without_airflow(ui: dict) -> None:
    status, runs = _get(f"{ui['base']}/api/runs")
    assert status == 200
    assert {"ui_demo/run1", "ui_demo/run2", "ui_upstream/up1", "wide/w1"} <= {r["name"] for r in runs}
    status, graph = _get(f"{ui['base']}/api/lineage/run?dag_id=ui_demo&run_id=run2")
    assert status == 200
    states = {n["label"]: n["state"] for n in graph["nodes"] if n["kind"] == "execution"}
    assert states == {"extract": "COMPLETE", "train": "CACHED", "evaluate": "FAILED", "report": "RUNNING"}
    [context] = [r for r in runs if r["name"] == "ui_demo/run2"]
    status, by_context = _get(f"{ui['base']}/api/lineage/context/{context['id']}")
    assert status == 200 and by_context["nodes"] == graph["nodes"]
    assert _get(f"{ui['base']}/api/lineage/context/999999")[0] == 404


def test_page_in_chromium(ui: dict, tmp_path: Path) -> None:
    with chromium_page(ui["base"]) as (page, dialogs):
        page.goto(f"{ui['base']}/?dag_id=ui_demo&run_id=run2")
        page.wait_for_function("document.querySelectorAll('.react-flow__edge').length === 6", timeout=30_000)
        nodes = page.locator("[data-testid=mlmd-node]")
        assert nodes.count() == 8
        assert {s: page.locator(f"[data-testid=mlmd-node][data-state={s}]").count()
                for s in ("COMPLETE", "CACHED", "FAILED", "RUNNING")} == {
            "COMPLETE": 1, "CACHED": 1, "FAILED": 1, "RUNNING": 1}
        assert page.locator("[data-testid=mlmd-node][data-external=true]").count() == 3
        colours = {page.locator(f"[data-testid=mlmd-node][data-state={s}]").evaluate(
            "e => getComputedStyle(e).borderColor") for s in ("COMPLETE", "CACHED", "FAILED", "RUNNING")}
        assert len(colours) == 4
        # XSS: the dataset's name and property value are shown as text
        node = page.locator("[data-testid=mlmd-node]", has_text=XSS_NAME)
        assert node.count() == 1 and node.get_attribute("data-external") == "true"
        viewport = "document.querySelector('.react-flow__viewport').style.transform"
        page.locator("[data-testid=graph][data-settled=true]").wait_for()
        before = page.evaluate(viewport)
        click_node(page, node)
        panel = page.locator("[data-testid=side-panel]")
        # the graph is re-fitted to the narrower pane once the side panel is open
        page.wait_for_function(f"{viewport} !== {json.dumps(before)}", timeout=5_000)
        assert panel.locator("[data-testid=side-title]").inner_text() == XSS_NAME
        assert XSS_VALUE in panel.locator("[data-testid=properties]").inner_text()
        assert "ui_upstream / up1 / publish" in panel.locator("[data-testid=origin]").inner_text()
        panel.locator("[data-testid=consumers] li").first.wait_for()
        assert page.evaluate("window.__xss") is None and dialogs == []
        assert page.locator("script:has-text('__xss'), img[src=x]").count() == 0
        with page.expect_download() as download:
            page.locator("[data-testid=export-svg]").click()
        svg = Path(download.value.path()).read_text()
        assert svg.startswith("<svg") and svg.count("<rect") == 8 and svg.count("<path") >= 6
        assert "&lt;img src=x" in svg and "<img" not in svg
        page.screenshot(path=str(tmp_path / "standalone.png"))


def test_empty_and_list_states(ui: dict) -> None:
    with chromium_page(ui["base"]) as (page, _):
        page.goto(f"{ui['base']}/?dag_id=ui_demo&run_id=never")
        assert "is the listener enabled?" in page.locator("[data-testid=empty]").inner_text()
        page.goto(f"{ui['base']}/")
        page.locator("[data-testid=runs] a", has_text="ui_demo/run2").click()
        page.wait_for_function("document.querySelectorAll('[data-testid=mlmd-node]').length === 8")


def test_search_in_chromium(ui: dict, tmp_path: Path) -> None:
    with chromium_page(ui["base"]) as (page, dialogs):
        page.goto(f"{ui['base']}/")
        page.locator("[data-testid=search-text]").fill("<img")
        page.locator("[data-testid=search-submit]").click()
        result = page.locator("[data-testid=search-result]")
        result.first.wait_for()
        assert result.count() == 1 and XSS_NAME in result.inner_text()
        assert "ui_upstream / up1 / publish" in result.inner_text()
        assert page.evaluate("window.__xss") is None and dialogs == []
        page.locator("[data-testid=search-text]").fill("")
        page.locator("[data-testid=search-filter]").fill("bad ((")
        page.locator("[data-testid=search-submit]").click()
        assert "bad filter_query" in page.locator("[data-testid=search-error]").inner_text()
        page.screenshot(path=str(tmp_path / "standalone-search.png"))


def test_follows_the_browsers_colour_scheme(ui: dict) -> None:
    """No Airflow theme here: Chakra's default system, light or dark as the browser prefers."""
    for scheme in ("light", "dark"):
        with chromium_page(ui["base"], color_scheme=scheme) as (page, _):
            page.goto(f"{ui['base']}/?dag_id=ui_demo&run_id=run2")
            node = page.locator("[data-testid=mlmd-node][data-state=FAILED]")
            click_node(page, node)
            panel = page.locator("[data-testid=side-panel]")
            panel.locator("[data-testid=outputs]").wait_for()
            assert page.locator("html").get_attribute("class") == scheme
            assert page.locator(f".react-flow.{scheme}").count() == 1
            dark = scheme == "dark"
            for element in (panel, node, page.locator("html")):
                assert (luminance(element) < 0.3) if dark else (luminance(element) > 0.7), (scheme, element)
            assert (luminance(panel, "color") > 0.7) if dark else (luminance(panel, "color") < 0.3)


def test_500_nodes_speed(ui: dict) -> None:
    """Benchmark figures (printed; asserted only loosely, the machine is shared): API time and page load+layout."""
    url = f"{ui['base']}/api/lineage/run?dag_id=wide&run_id=w1"
    _get(url)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        status, graph = _get(url)
        times.append(time.perf_counter() - started)
    assert status == 200 and len(graph["nodes"]) == 500
    with chromium_page(ui["base"]) as (page, _):
        started = time.perf_counter()
        page.goto(f"{ui['base']}/?dag_id=wide&run_id=w1")
        page.wait_for_function("document.querySelector('[data-testid=summary]') !== null", timeout=30_000)
        shown = time.perf_counter() - started
        assert "250 executions · 250 artifacts" in page.locator("[data-testid=summary]").inner_text()
        marks = page.evaluate("() => Object.fromEntries(performance.getEntriesByType('mark')"
                              ".map(m => [m.name, Math.round(m.startTime)]))")
    layout_ms = marks["mlmd:laid-out"] - marks["mlmd:fetched"]
    print(f"500 nodes: graph API median {sorted(times)[2] * 1000:.0f} ms; page loaded and laid out in {shown:.2f} s "
          f"(data in the page at {marks['mlmd:fetched']} ms, ELK layout {layout_ms} ms)")
    assert sorted(times)[2] < 2.0 and shown < 20
