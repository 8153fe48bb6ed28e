"""The Airflow plugin (entry point `airflow.plugins`): registers the MLMD listener in every Airflow process, and in
the api-server the lineage UI: the FastAPI app at /mlmd, the "Lineage" tabs (react_apps on the DAG-run and
task-instance pages), the "MLMD browser" page under Browse (recent runs, artifact search) and the global
"MLMD lineage" extra link.

With `[mlmd] enabled = False` no listener is registered, so recording costs nothing anywhere. The UI stays
available (it only reads the store).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk import BaseOperatorLink

from mlmd_airflow.config import MlmdConfigError, load_settings

log = logging.getLogger(__name__)


def _listeners() -> list[object]:
    """[mlmd_listener] when recording is enabled, else []. A broken [mlmd] section disables recording (logged)
    rather than breaking every Airflow component that loads plugins."""
    try:
        enabled = load_settings().enabled
    except MlmdConfigError as exc:
        log.error("mlmd-airflow: recording disabled: %s", exc)
        return []
    if not enabled:
        return []
    from mlmd_airflow.listener import mlmd_listener

    return [mlmd_listener]


URL_PREFIX = "/mlmd"
RUN_TAB = "mlmd_lineage"  # the DAG-run page tab: /dags/{dag_id}/runs/{run_id}/plugin/mlmd_lineage
TASK_TAB = "mlmd_lineage_task"  # the task-instance page tab, focused on that task
NAV_PAGE = "mlmd"  # Browse > MLMD browser: /plugin/mlmd, recent DAG runs and artifact search
# the view; it brings no React or Chakra of its own but renders with the UI's (globalThis.React, ChakraUI, ...),
# so it takes Airflow's theme and dark mode (docs/ui.md); mlmd-standalone.js hosts it outside Airflow's UI
BUNDLE_URL = f"{URL_PREFIX}/static/mlmd-lineage.js"


def task_lineage_path(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """The Airflow UI path of a task instance's lineage tab (mapped instances have their own page)."""
    path = f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}/tasks/{quote(task_id, safe='')}"
    if map_index is not None and map_index >= 0:
        path += f"/mapped/{map_index}"
    return f"{path}/plugin/{TASK_TAB}"


class MlmdLineageLink(BaseOperatorLink):
    """"MLMD lineage" on every task instance: evaluated in the api-server (global link), so no XCom is needed."""

    name = "MLMD lineage"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from airflow.configuration import conf

        base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
        return base + task_lineage_path(ti_key.dag_id, ti_key.run_id, ti_key.task_id, ti_key.map_index)


class MlmdPlugin(AirflowPlugin):
    """Ships the listener that records task runs in MLMD, and the lineage UI."""

    name = "mlmd"
    listeners = _listeners()
    react_apps = [
        {"name": "MLMD lineage", "bundle_url": BUNDLE_URL, "destination": "dag_run", "url_route": RUN_TAB},
        {"name": "MLMD task lineage", "bundle_url": BUNDLE_URL, "destination": "task_instance",
         "url_route": TASK_TAB},
        {"name": "MLMD browser", "bundle_url": BUNDLE_URL, "destination": "nav", "category": "browse",
         "url_route": NAV_PAGE},
    ]
    global_operator_extra_links = [MlmdLineageLink()]

    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """Built on first use: only the api-server asks, so workers never import FastAPI for it."""
        if not hasattr(type(self), "_apps"):
            from mlmd_airflow.api.app import airflow_app

            type(self)._apps = [{"app": airflow_app(), "url_prefix": URL_PREFIX, "name": "MLMD lineage"}]
        return type(self)._apps
