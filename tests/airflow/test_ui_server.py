"""SLOW (about a minute): the lineage UI in a real Airflow api-server, opened in a real headless Chromium.

Two dag.test() runs of tests/airflow/dags/mlmd_ui_demo.py record into a fresh store (run 2's `train` is CACHED
from run 1, `flaky` FAILED, `publish` writes an Asset whose name is HTML); then `airflow api-server` serves the
plugin on a loopback port with SimpleAuthManager users `admin` (ADMIN) and `nobody` (no role).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from ports import free_port
from recording_helpers import load_dag, store_env
from ui_browser import chromium_page, click_node, luminance, stop

DAG_ID = "mlmd_ui_demo"
AIRFLOW = str(Path(os.sys.executable).with_name("airflow"))


def _http(method: str, url: str, body: dict | None = None, token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
    except OSError:
        return 0, None


@pytest.fixture(scope="module")
def server(airflow_db: Path, airflow_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Two recorded runs, and an api-server with the plugin; yields base URL, run ids and tokens."""
    path = tmp_path_factory.mktemp("ui_store") / "mlmd.sqlite"
    with store_env(path):
        dag = load_dag(DAG_ID)
        first = dag.test()
        second = dag.test()
    logs = tmp_path_factory.mktemp("ui_logs")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__MLMD__", "PYTEST_"))}
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    env.update({
        "AIRFLOW_CONN_MLMD_DEFAULT": json.dumps(
            {"conn_type": "mlmd", "extra": {"backend": "sqlite", "path": str(path)}}),
        "AIRFLOW__API__BASE_URL": base, "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,nobody:",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
    })
    log = logs / "api-server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([AIRFLOW, "api-server", "-H", "127.0.0.1", "-p", str(port)], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while _http("GET", f"{base}/api/v2/monitor/health")[0] != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"api-server did not come up:\n{log.read_text()[-4000:]}")
            time.sleep(0.5)
        passwords = json.loads((airflow_home / "simple_auth_manager_passwords.json.generated").read_text())
        tokens = {}
        for user in ("admin", "nobody"):
            status, body = _http("POST", f"{base}/auth/token", {"username": user, "password": passwords[user]})
            assert status == 201, (status, body)
            tokens[user] = body["access_token"]
        yield {"base": base, "run1": first.run_id, "run2": second.run_id, "tokens": tokens, "log": log,
               "first_state": str(first.state), "second_state": str(second.state)}
    finally:
        stop(proc)


def _lineage_url(server: dict, run: str, dag_id: str = DAG_ID) -> str:
    return f"{server['base']}/mlmd/api/lineage/run?" + urlencode({"dag_id": dag_id, "run_id": server[run]})


def _nodes(graph: dict) -> dict[str, dict]:
    return {n["label"]: n for n in graph["nodes"]}


def test_every_route_needs_a_token(server: dict) -> None:
    base = server["base"]
    for url in (_lineage_url(server, "run2"), f"{base}/mlmd/api/artifacts/1?dag_id={DAG_ID}",
                f"{base}/mlmd/api/executions/1?dag_id={DAG_ID}",
                f"{base}/mlmd/api/cache/entries?dag_id={DAG_ID}&step=ui_demo_train"):
        status, body = _http("GET", url)
        assert status == 401, (url, status, body)
        status, _ = _http("GET", url, token=server["tokens"]["nobody"])
        assert status == 403, (url, status)


def test_run_graph(server: dict) -> None:
    status, graph = _http("GET", _lineage_url(server, "run2"), token=server["tokens"]["admin"])
    assert status == 200, graph
    assert graph["recorded"] is True
    nodes = _nodes(graph)
    states = {label: n["state"] for label, n in nodes.items() if n["kind"] == "execution"}
    assert states == {"extract": "COMPLETE", "train": "CACHED", "evaluate": "COMPLETE", "publish": "COMPLETE",
                      "flaky": "FAILED"}
    train = nodes["train"]
    assert train["cached"] is True
    assert train["cached_from"]["run_id"] == server["run1"] and train["cached_from"]["task_id"] == "train"
    # the reused output was produced in run 1: an external node with its origin
    [reused] = [graph["nodes"][i] for i, n in enumerate(graph["nodes"])
                if {"source": train["key"], "target": n["key"], "event": "OUTPUT"} in graph["edges"]]
    assert reused["external"] is True and reused["origin"]["run_id"] == server["run1"]
    assert graph["counts"] == {"executions": 5, "artifacts": 5, "external": 1, "cached": 1}
    keys = {n["key"] for n in graph["nodes"]}
    assert all(e["source"] in keys and e["target"] in keys for e in graph["edges"])
    assert len(graph["edges"]) == 8


def test_unrecorded_run_is_an_empty_graph(server: dict) -> None:
    url = f"{server['base']}/mlmd/api/lineage/run?dag_id={DAG_ID}&run_id=never"
    status, graph = _http("GET", url, token=server["tokens"]["admin"])
    assert status == 200 and graph["recorded"] is False and graph["nodes"] == []


def test_artifact_and_execution_detail(server: dict) -> None:
    token = server["tokens"]["admin"]
    _, graph = _http("GET", _lineage_url(server, "run2"), token=token)
    train = _nodes(graph)["train"]
    status, detail = _http("GET", f"{server['base']}/mlmd/api/executions/{train['id']}?dag_id={DAG_ID}", token=token)
    assert status == 200, detail
    assert detail["state"] == "CACHED" and detail["cached_from"]["run_id"] == server["run1"]
    assert [i["artifact_id"] for i in detail["inputs"]] and [o["artifact_id"] for o in detail["outputs"]]
    reused = detail["outputs"][0]["artifact_id"]
    status, artifact = _http("GET", f"{server['base']}/mlmd/api/artifacts/{reused}?dag_id={DAG_ID}", token=token)
    assert status == 200, artifact
    # consumers across runs: run 1's and run 2's evaluate both read it
    assert {(c["run_id"], c["task_id"]) for c in artifact["consumers"]} == {
        (server["run1"], "evaluate"), (server["run2"], "evaluate")}
    assert {(p["run_id"], p["state"]) for p in artifact["producers"]} == {
        (server["run1"], "COMPLETE"), (server["run2"], "CACHED")}
    # an id alone does not open another DAG's records
    status, _ = _http("GET", f"{server['base']}/mlmd/api/artifacts/{reused}?dag_id=other_dag", token=token)
    assert status == 404
    status, _ = _http("GET", f"{server['base']}/mlmd/api/executions/999999?dag_id={DAG_ID}", token=token)
    assert status == 404


def test_cache_entries_of_a_step(server: dict) -> None:
    url = f"{server['base']}/mlmd/api/cache/entries?dag_id={DAG_ID}&step=ui_demo_train"
    assert _http("GET", url)[0] == 401
    status, entries = _http("GET", url, token=server["tokens"]["admin"])
    assert status == 200, entries
    assert [(e["run_id"], e["state"]) for e in entries] == [(server["run2"], "CACHED"), (server["run1"], "COMPLETE")]
    assert entries[0]["cached_from"]["execution_id"] == entries[1]["execution_id"]
    assert entries[0]["cache_key"] == entries[1]["cache_key"]


def test_extra_link_and_plugin_registration(server: dict) -> None:
    token = server["tokens"]["admin"]
    run = quote(server["run2"], safe="")
    status, links = _http("GET", f"{server['base']}/api/v2/dags/{DAG_ID}/dagRuns/{run}/taskInstances/train/links",
                          token=token)
    assert status == 200, links
    assert links["extra_links"]["MLMD lineage"] == (
        f"{server['base']}/dags/{DAG_ID}/runs/{run}/tasks/train/plugin/mlmd_lineage_task")
    status, plugins = _http("GET", f"{server['base']}/api/v2/plugins", token=token)
    [mlmd] = [p for p in plugins["plugins"] if p["name"] == "mlmd"]
    assert {(a["destination"], a["url_route"]) for a in mlmd["react_apps"]} == {
        ("dag_run", "mlmd_lineage"), ("task_instance", "mlmd_lineage_task"), ("nav", "mlmd")}
    [nav] = [a for a in mlmd["react_apps"] if a["destination"] == "nav"]
    assert nav["category"] == "browse"
    with urllib.request.urlopen(f"{server['base']}/mlmd/static/mlmd-lineage.js", timeout=30) as response:
        assert response.status == 200 and b"AirflowPlugin" in response.read()
    # the page outside the shell: props travel escaped in an attribute, never as markup
    with urllib.request.urlopen(f"{server['base']}/mlmd/view?dag_id=%3Cscript%3Ex&run_id=r", timeout=30) as response:
        page = response.read().decode()
    assert "/mlmd/static/mlmd-standalone.js" in page and "&lt;script&gt;x" in page and "<script>x" not in page
    with urllib.request.urlopen(f"{server['base']}/mlmd/static/mlmd-standalone.js", timeout=30) as response:
        assert response.status == 200 and b"mlmd-lineage.js" in response.read()


def test_nav_routes_answer_only_readable_dags(server: dict) -> None:
    """The nav page's cross-DAG routes: 401 without a token; `nobody` (no role, reads no DAG) gets nothing."""
    runs_url = f"{server['base']}/mlmd/api/dag_runs"
    search_url = f"{server['base']}/mlmd/api/search/artifacts?" + urlencode({"q": "ui-demo/report"})
    for url in (runs_url, search_url):
        assert _http("GET", url)[0] == 401
        status, body = _http("GET", url, token=server["tokens"]["nobody"])
        assert (status, body) == (200, []), url
    status, runs = _http("GET", runs_url, token=server["tokens"]["admin"])
    assert status == 200, runs
    assert [(r["dag_id"], r["run_id"]) for r in runs[:2]] == [(DAG_ID, server["run2"]), (DAG_ID, server["run1"])]
    status, found = _http("GET", search_url, token=server["tokens"]["admin"])
    assert status == 200, found
    [asset] = found
    assert asset["uri"] == "s3://lake/ui-demo/report"
    assert {(p["run_id"], p["task_id"]) for p in asset["producers"]} == {
        (server["run1"], "publish"), (server["run2"], "publish")}
    status, body = _http("GET", f"{server['base']}/mlmd/api/search/artifacts?filter_query=%28%28",
                         token=server["tokens"]["admin"])
    assert status == 400 and "filter_query" in body["detail"]


def test_nav_page_in_chromium(server: dict, tmp_path: Path) -> None:
    """Browse > MLMD browser: lists the recorded runs (links to their lineage tab) and finds an artifact."""
    with chromium_page(server["base"], server["tokens"]["admin"]) as (page, dialogs):
        page.goto(f"{server['base']}/plugin/mlmd")
        run = page.locator("[data-testid=dag-run]", has_text=server["run2"])
        run.wait_for(timeout=60_000)
        href = run.locator("a").get_attribute("href")
        assert href == f"{server['base']}/dags/{DAG_ID}/runs/{quote(server['run2'], safe='')}/plugin/mlmd_lineage"
        page.locator("[data-testid=search-text]").fill("ui-demo/report")
        page.locator("[data-testid=search-submit]").click()
        result = page.locator("[data-testid=search-result]")
        result.first.wait_for()
        assert result.count() == 1
        label = result.locator("[data-testid=search-result-label]").inner_text()
        assert label == '<img src=x onerror="window.__xss=1">'
        assert result.locator("[data-testid=run-link]").count() >= 2
        assert page.evaluate("window.__xss") is None and page.locator("img[src=x]").count() == 0 and dialogs == []
        page.screenshot(path=str(tmp_path / "nav-page.png"), full_page=True)
        run.locator("a").click()
        page.wait_for_selector("[data-testid=mlmd-node]", timeout=60_000)


# The React DOM instance behind an element is the random suffix of its `__reactFiber$...` property: the plugin's
# root and an element of Airflow's own UI must share it, and no React root may be mounted inside the plugin.
HOST_REACT = """() => {
  const key = (e) => (e && Object.keys(e).find((k) => k.startsWith("__reactFiber$"))) || "";
  const root = document.querySelector("[data-testid=mlmd-lineage-root]");
  const host = [...document.querySelectorAll("a, button")].find((e) => !root.contains(e));
  const nestedRoot = [...root.querySelectorAll("*")].some(
    (e) => Object.keys(e).some((k) => k.startsWith("__reactContainer$")));
  return { ours: key(root), host: key(host), nestedRoot };
}"""


def test_lineage_tab_in_chromium(server: dict, tmp_path: Path) -> None:
    run = quote(server["run2"], safe="")
    url = f"{server['base']}/dags/{DAG_ID}/runs/{run}/plugin/mlmd_lineage"
    with chromium_page(server["base"], server["tokens"]["admin"]) as (page, dialogs):
        started = time.monotonic()
        page.goto(url)
        page.wait_for_selector("[data-testid=mlmd-node]", timeout=60_000)
        page.wait_for_function("document.querySelectorAll('.react-flow__edge').length === 8", timeout=30_000)
        load_s = time.monotonic() - started
        nodes = page.locator("[data-testid=mlmd-node]")
        assert nodes.count() == 10
        labels = nodes.locator("[data-testid=mlmd-node-label]").all_inner_texts()
        assert {"extract", "train", "evaluate", "publish", "flaky"} <= set(labels)
        assert page.locator("[data-testid=mlmd-node][data-state=CACHED]").count() == 1
        assert page.locator("[data-testid=mlmd-node][data-state=FAILED]").count() == 1
        assert page.locator("[data-testid=mlmd-node][data-external=true]").count() == 1
        # the four execution states are drawn with four different border colours
        colours = {s: page.locator(f"[data-testid=mlmd-node][data-state={s}]").first.evaluate(
            "e => getComputedStyle(e).borderColor") for s in ("COMPLETE", "FAILED", "CACHED")}
        assert len(set(colours.values())) == 3, colours
        click_node(page, page.locator("[data-testid=mlmd-node][data-state=CACHED]"))
        panel = page.locator("[data-testid=side-panel]")
        panel.locator("[data-testid=cached-from]").wait_for()
        assert server["run1"] in panel.locator("[data-testid=cached-from]").inner_text()
        assert "cache_key" in panel.locator("[data-testid=properties]").inner_text()
        panel.locator("[data-testid=outputs] li").first.wait_for()
        # XSS: the asset's HTML name is text on the node and in the panel, and nothing ran
        xss = '<img src=x onerror="window.__xss=1">'
        node = page.locator("[data-testid=mlmd-node]", has_text=xss)
        assert node.count() == 1
        click_node(page, node)
        assert panel.locator("[data-testid=side-title]").inner_text() == xss
        panel.locator("[data-testid=consumers]").wait_for()
        assert page.evaluate("window.__xss") is None
        assert page.locator("img[src=x]").count() == 0
        assert dialogs == []
        page.screenshot(path=str(tmp_path / "lineage-run.png"), full_page=True)
        # native: the view is rendered by Airflow's own React (one React DOM, no root of its own) and Chakra
        react = page.evaluate(HOST_REACT)
        assert react["ours"] and react["ours"] == react["host"] and not react["nestedRoot"], react
        assert page.locator("[data-testid=mlmd-lineage-root] .chakra-badge").count() >= 4  # legend, panel
        # the same view outside the Airflow shell (/mlmd/view): mlmd-standalone.js brings React and Chakra
        page.goto(f"{server['base']}/mlmd/view?" + urlencode({"dag_id": DAG_ID, "run_id": server["run2"]}))
        page.wait_for_function("document.querySelectorAll('[data-testid=mlmd-node]').length === 10")
        assert page.evaluate("window.__xss") is None and dialogs == []
    print(f"lineage tab: nodes and edges drawn {load_s:.2f} s after navigation; screenshot in {tmp_path}")


def test_task_tab_focuses_the_task(server: dict, tmp_path: Path) -> None:
    run = quote(server["run2"], safe="")
    url = f"{server['base']}/dags/{DAG_ID}/runs/{run}/tasks/train/plugin/mlmd_lineage_task"
    with chromium_page(server["base"], server["tokens"]["admin"]) as (page, dialogs):
        page.goto(url)
        page.wait_for_selector("[data-testid=mlmd-node][data-focused=true]", timeout=60_000)
        focused = page.locator("[data-testid=mlmd-node][data-focused=true]")
        assert focused.count() == 1 and focused.get_attribute("data-state") == "CACHED"
        page.locator("[data-testid=side-panel] [data-testid=cached-from]").wait_for()
        page.screenshot(path=str(tmp_path / "lineage-task.png"))
        assert dialogs == []


def test_lineage_tab_follows_dark_mode(server: dict, tmp_path: Path) -> None:
    """Airflow's theme in dark mode (the browser prefers dark): the view's tokens switch with it."""
    run = quote(server["run2"], safe="")
    url = f"{server['base']}/dags/{DAG_ID}/runs/{run}/tasks/train/plugin/mlmd_lineage_task"
    with chromium_page(server["base"], server["tokens"]["admin"], color_scheme="dark") as (page, dialogs):
        page.goto(url)
        panel = page.locator("[data-testid=side-panel]")
        panel.locator("[data-testid=cached-from]").wait_for(timeout=60_000)
        assert "dark" in page.locator("html").get_attribute("class")
        assert page.locator(".react-flow.dark").count() == 1
        assert luminance(panel) < 0.3 and luminance(panel, "color") > 0.7
        cached = page.locator("[data-testid=mlmd-node][data-state=CACHED]")
        assert luminance(cached) < 0.3 and luminance(cached, "color") > 0.7
        page.screenshot(path=str(tmp_path / "lineage-task-dark.png"))
        assert dialogs == []
