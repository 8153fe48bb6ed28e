"""The FastAPI app behind the lineage UI: JSON routes over `graph.py`, the built bundle, and a standalone page.

Two builds of the same routes:

- `airflow_app()`: mounted by the plugin at /mlmd in the api-server. Every data route requires an Airflow user
  with read access to the DAG named by the `dag_id` query parameter (plugin routes are public otherwise), and
  executions of DAGs the user cannot read are redacted.
- `/api/dag_runs` and `/api/search/artifacts` (the nav page) span DAGs: they need a signed-in user and answer
  only for the DAGs the auth manager says that user may read (`get_authorized_dag_ids`).
- `standalone_app(store)`: `mlmd ui`, no Airflow: anyone who can reach the (loopback) port reads the store.

Store calls are blocking, so the routes are plain `def` (FastAPI runs them in its thread pool).
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from mlmd_airflow.api import graph
from mlmd_core import MetadataStore, errors

DIST = Path(__file__).resolve().parent.parent / "ui" / "dist"
BUNDLE = "mlmd-lineage.js"  # the view: Airflow's UI loads it as the plugin's react_apps bundle
STANDALONE = "mlmd-standalone.js"  # pages without Airflow's UI: React + Chakra, then it imports BUNDLE
#: readable(user-independent) factory: called per request with whatever the auth dependency returned
ReadableFactory = Callable[[Any], graph.Readable]


def _not_found(exc: graph.LineageNotFound) -> HTTPException:
    return HTTPException(status_code=404, detail=str(exc))


def _page(base: str, props: dict[str, Any]) -> str:
    """A minimal HTML page that mounts the view on its own (standalone UI, or outside the Airflow shell): the
    standalone loader provides React and Chakra (as Airflow's UI does for plugins), then loads the view.
    Props travel as JSON in a data attribute (escaped), never as markup."""
    data = html.escape(json.dumps(props), quote=True)
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>MLMD lineage</title>'
            f'<link rel="modulepreload" href="{base}/static/{BUNDLE}">'
            f'<style>html,body,#root{{margin:0;height:100%}}</style></head>'
            f'<body><div id="root" data-props="{data}"></div>'
            f'<script type="module">import {{ mount }} from "{base}/static/{STANDALONE}";'
            f'const el = document.getElementById("root"); mount(el, JSON.parse(el.dataset.props));</script>'
            f'</body></html>')


def _router(get_store: Callable[[], MetadataStore], dependencies: Sequence[Any], user_dep: Any,
            readable_for: ReadableFactory, require_dag: bool) -> APIRouter:
    """The JSON routes. With `require_dag`, every route needs `dag_id` (the DAG whose access is checked) and
    only answers about things of that DAG."""
    router = APIRouter(dependencies=list(dependencies))
    dag_query = Query(..., description="the DAG being viewed (access is checked on it)") if require_dag else \
        Query(None, description="the DAG being viewed")

    @router.get("/api/lineage/run", summary="Lineage graph of a DAG run")
    def run_lineage(run_id: str, dag_id: str = Query(...), user: Any = Depends(user_dep)) -> dict[str, Any]:
        return graph.run_graph(get_store(), dag_id, run_id, readable_for(user))

    @router.get("/api/lineage/context/{context_id}", summary="Lineage graph of any context (standalone only)",
                include_in_schema=not require_dag)
    def context_lineage(context_id: int, user: Any = Depends(user_dep)) -> dict[str, Any]:
        if require_dag:  # contexts are not DAG-scoped: not offered behind Airflow's access control
            raise HTTPException(status_code=404, detail="not available in Airflow; use /api/lineage/run")
        try:
            return graph.context_graph(get_store(), context_id, readable_for(user))
        except graph.LineageNotFound as exc:
            raise _not_found(exc) from None

    @router.get("/api/artifacts/{artifact_id}", summary="Artifact: properties, producers, consumers")
    def artifact(artifact_id: int, dag_id: str | None = dag_query, user: Any = Depends(user_dep)) -> dict[str, Any]:
        try:
            detail = graph.artifact_detail(get_store(), artifact_id, readable_for(user))
        except graph.LineageNotFound as exc:
            raise _not_found(exc) from None
        if require_dag and not any(r.get("dag_id") == dag_id for r in detail["producers"] + detail["consumers"]):
            # only artifacts that the checked DAG touched: an id alone must not open another DAG's data
            raise HTTPException(status_code=404, detail=f"artifact {artifact_id} is not used by DAG {dag_id!r}")
        return detail

    @router.get("/api/executions/{execution_id}", summary="Execution: properties, inputs, outputs, cache source")
    def execution(execution_id: int, dag_id: str | None = dag_query, user: Any = Depends(user_dep)
                  ) -> dict[str, Any]:
        store = get_store()
        if require_dag and graph.execution_dag_id(store, execution_id) != dag_id:
            raise HTTPException(status_code=404, detail=f"execution {execution_id} is not in DAG {dag_id!r}")
        try:
            return graph.execution_detail(store, execution_id, readable_for(user))
        except graph.LineageNotFound as exc:
            raise _not_found(exc) from None

    @router.get("/api/cache/entries", summary="@cached_step entries of a step, newest first")
    def cache_entries(step: str, dag_id: str | None = dag_query, limit: int = Query(100, ge=1, le=1000),
                      user: Any = Depends(user_dep)) -> list[dict[str, Any]]:
        return graph.cache_entries(get_store(), step, readable_for(user), limit)

    return router


def _browse_router(get_store: Callable[[], MetadataStore], user_dep: Any,
                   dag_ids_for: Callable[[Any], set[str] | None], readable_for: ReadableFactory) -> APIRouter:
    """The nav page's routes: recent DAG runs and artifact search, across DAGs, answered only for the DAGs
    `dag_ids_for(user)` names (None = all)."""
    router = APIRouter()

    @router.get("/api/dag_runs", summary="Recent DAG runs recorded in MLMD (of DAGs the user may read)")
    def dag_runs(limit: int = Query(50, ge=1, le=500), user: Any = Depends(user_dep)) -> list[dict[str, Any]]:
        return graph.recent_dag_runs(get_store(), dag_ids_for(user), limit)

    @router.get("/api/search/artifacts", summary="Artifacts by name/URI substring and/or filter_query")
    def search(q: str = Query("", description="substring of the name or URI (case-insensitive)"),
               filter_query: str = Query("", description="ml-metadata filter_query, e.g. type = 'Model'"),
               limit: int = Query(50, ge=1, le=500), user: Any = Depends(user_dep)) -> list[dict[str, Any]]:
        try:
            return graph.search_artifacts(get_store(), q, filter_query, readable_for(user), limit)
        except errors.InvalidArgumentError as exc:
            raise HTTPException(status_code=400, detail=f"bad filter_query: {exc.message}") from None

    return router


def _base_app(title: str) -> FastAPI:
    app = FastAPI(title=title, docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=DIST, check_dir=False), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    return app


def airflow_app() -> FastAPI:
    """The app the plugin mounts at /mlmd in the Airflow api-server (imports Airflow's security lazily)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import get_user, requires_access_dag

    from mlmd_airflow.config import load_settings
    from mlmd_airflow.hooks.mlmd import store_for

    def get_store() -> MetadataStore:
        return store_for(load_settings().conn_id)

    def readable_for(user: Any) -> graph.Readable:
        cache: dict[str, bool] = {}

        def readable(dag_id: str) -> bool:
            if dag_id not in cache:
                cache[dag_id] = bool(get_auth_manager().is_authorized_dag(
                    method="GET", access_entity=DagAccessEntity.RUN, details=_dag_details(dag_id), user=user))
            return cache[dag_id]

        return readable

    def dag_ids_for(user: Any) -> set[str]:
        return set(get_auth_manager().get_authorized_dag_ids(user=user, method="GET"))

    def readable_dags_for(user: Any) -> graph.Readable:
        allowed = dag_ids_for(user)
        return allowed.__contains__

    app = _base_app("MLMD lineage (Airflow)")
    app.include_router(_router(get_store, [Depends(requires_access_dag("GET", DagAccessEntity.RUN))], get_user,
                               readable_for, require_dag=True))
    # cross-DAG routes: any signed-in user (401 otherwise), answers limited to the DAGs they may read
    app.include_router(_browse_router(get_store, get_user, dag_ids_for, readable_dags_for))

    @app.get("/view", response_class=HTMLResponse, include_in_schema=False)
    def view(dag_id: str = "", run_id: str = "", task_id: str = "") -> str:
        """The lineage page outside the Airflow shell (data still needs the Airflow session cookie)."""
        return _page("/mlmd", {"dagId": dag_id, "runId": run_id, "taskId": task_id or None, "apiBase": "/mlmd"})

    return app


def _dag_details(dag_id: str) -> Any:
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    return DagDetails(id=dag_id)


def standalone_app(store: MetadataStore) -> FastAPI:
    """`mlmd ui`: the same routes and page for any MLMD store, without Airflow or authentication."""
    app = _base_app("MLMD lineage")

    def no_user() -> None:
        return None

    app.include_router(_router(lambda: store, [], no_user, lambda _user: None, require_dag=False))
    app.include_router(_browse_router(lambda: store, no_user, lambda _user: None, lambda _user: None))

    @app.get("/api/runs", summary="Recent contexts (runs) to pick from")
    def runs(limit: int = Query(50, ge=1, le=500)) -> list[dict[str, Any]]:
        return graph.recent_contexts(store, limit)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(context_id: int | None = None, dag_id: str = "", run_id: str = "") -> str:
        return _page("", {"contextId": context_id, "dagId": dag_id or None, "runId": run_id or None,
                          "apiBase": "", "standalone": True})

    return app
