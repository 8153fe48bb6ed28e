"""`mlmd ui [--db STORE]` (entry-point group `mlmd.cli`) or `python -m mlmd_airflow.api.serve --db STORE`: the
lineage page and API for any MLMD store, without Airflow. `--db` takes what every `mlmd` command takes
(mlmd_core.cli.target: a SQLite path, sqlite:///, mysql://, postgresql://, grpc://; default $MLMD_DB, then
$AIRFLOW_HOME/mlmd.sqlite); a SQLite file is opened read-only.

Binds 127.0.0.1 by default: there is no authentication, so whoever reaches the port reads the store.
"""

from __future__ import annotations

import click

from mlmd_core.cli.target import StoreConfig, db_option, describe, examples, open_store, parse_db


def serve(config: StoreConfig | str, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serves the standalone lineage UI of a store (a `--db` string or a parsed config) until interrupted.
    SQLite is opened read-only and must exist (mlmd_core.cli.target.open_store's rules)."""
    import uvicorn

    from mlmd_airflow.api.app import standalone_app

    if isinstance(config, str):
        config = parse_db(config)
    with open_store(config) as store:
        print(f"MLMD lineage UI for {describe(config)}: http://{host}:{port}/", flush=True)
        uvicorn.run(standalone_app(store), host=host, port=port, log_level="warning")


@click.command("ui", epilog=examples("mlmd ui --db ~/airflow/mlmd.sqlite --port 8765"))
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (no authentication!).")
@click.option("--port", default=8765, show_default=True, type=int, help="Port.")
def ui(db: StoreConfig, host: str, port: int) -> None:
    """Browse an MLMD store's lineage in the browser (no Airflow needed)."""
    serve(db, host, port)


if __name__ == "__main__":
    ui()
