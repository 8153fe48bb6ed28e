"""`mlmd ui --db FILE` (entry-point group `mlmd.cli`) or `python -m mlmd_airflow.api.serve --db FILE`: the
lineage page and API for any MLMD store, without Airflow.

Binds 127.0.0.1 by default: there is no authentication, so whoever reaches the port reads the store.
"""

from __future__ import annotations

import os

import click

from mlmd_core import MetadataStore
from mlmd_core.proto import metadata_store_pb2 as pb


def store_config(db: str) -> pb.ConnectionConfig:
    """A SQLite MLMD file (a path, `sqlite:///path` or `file:` URI), opened read-only: browsing never writes."""
    path = db[len("sqlite:///"):] if db.startswith("sqlite:///") else db
    if not path.startswith("file:") and not os.path.isfile(path):
        raise click.BadParameter(f"no such MLMD SQLite file: {path}", param_hint="--db")
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READONLY
    return config


def serve(db: str, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serves the standalone lineage UI until interrupted."""
    import uvicorn

    from mlmd_airflow.api.app import standalone_app

    store = MetadataStore(store_config(db))
    print(f"MLMD lineage UI for {db}: http://{host}:{port}/", flush=True)
    try:
        uvicorn.run(standalone_app(store), host=host, port=port, log_level="warning")
    finally:
        store.close()


@click.command("ui")
@click.option("--db", required=True, help="MLMD SQLite file (path or sqlite:///path); opened read-only.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (no authentication!).")
@click.option("--port", default=8765, show_default=True, type=int, help="Port.")
def ui(db: str, host: str, port: int) -> None:
    """Browse an MLMD store's lineage in the browser (no Airflow needed)."""
    serve(db, host, port)


if __name__ == "__main__":
    ui()
