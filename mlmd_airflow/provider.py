"""Provider metadata Airflow reads through the `apache_airflow_provider` entry point.

Kept import-light (no Airflow import): Airflow calls it during provider discovery in every component.
"""

from __future__ import annotations

from typing import Any

from mlmd_airflow import __version__
from mlmd_airflow.config import OPTIONS, SECTION

_TEXT = {"type": ["string", "null"]}
_SECRET = {"type": ["string", "null"], "format": "password"}
_BOOL = {"type": ["boolean", "null"]}
_NUMBER = {"type": ["number", "null"]}


def _field(label: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": schema}


# The connection form: extra fields (stored in Connection.extra under these names). See docs/airflow.md.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "backend": _field("Backend", "sqlite | mysql | postgresql | grpc (mlmd-server). Default: grpc when Host is set, "
                      "else sqlite.", {"type": ["string", "null"], "enum": ["sqlite", "mysql", "postgresql", "grpc",
                                                                                None]}),
    "path": _field("SQLite path", "sqlite: database file (relative to AIRFLOW_HOME); default mlmd.sqlite", _TEXT),
    "connection_mode": _field("SQLite mode", "sqlite: readonly | readwrite | readwrite_opencreate (default)", _TEXT),
    "tls": _field("TLS", "grpc: use TLS (implied by any tls_* field)", _BOOL),
    "tls_ca": _field("TLS CA certificate", "grpc: PEM text or path of the CA that signed the server", _TEXT),
    "tls_cert": _field("TLS client certificate", "grpc: PEM text or path (mutual TLS; with tls_key)", _TEXT),
    "tls_key": _field("TLS client key", "grpc: PEM text or path (mutual TLS; with tls_cert)", _SECRET),
    "client_timeout_sec": _field("Client timeout (s)", "grpc: deadline of each call", _NUMBER),
    "max_receive_message_length": _field("Max receive message length", "grpc: bytes", _NUMBER),
    "http2_max_ping_strikes": _field("HTTP/2 max ping strikes", "grpc channel argument", _NUMBER),
    "socket": _field("MySQL socket", "mysql: unix socket instead of host/port", _TEXT),
    "ssl_ca": _field("MySQL SSL CA", "mysql: CA file", _TEXT),
    "ssl_cert": _field("MySQL SSL cert", "mysql: client certificate file", _TEXT),
    "ssl_key": _field("MySQL SSL key", "mysql: client key file", _TEXT),
    "ssl_capath": _field("MySQL SSL CA dir", "mysql: directory of CA files", _TEXT),
    "ssl_cipher": _field("MySQL SSL cipher", "mysql: allowed ciphers", _TEXT),
    "ssl_verify_server_cert": _field("MySQL verify server cert", "mysql: check the server certificate", _BOOL),
    "sslmode": _field("PostgreSQL sslmode", "postgresql: disable | require | verify-ca | verify-full ...", _TEXT),
    "sslrootcert": _field("PostgreSQL sslrootcert", "postgresql: CA file", _TEXT),
    "sslcert": _field("PostgreSQL sslcert", "postgresql: client certificate file", _TEXT),
    "sslkey": _field("PostgreSQL sslkey", "postgresql: client key file", _TEXT),
    "sslpassword": _field("PostgreSQL sslpassword", "postgresql: password of sslkey", _SECRET),
    "hostaddr": _field("PostgreSQL hostaddr", "postgresql: numeric address (skips DNS)", _TEXT),
    "passfile": _field("PostgreSQL passfile", "postgresql: .pgpass file", _TEXT),
    "skip_db_creation": _field("Skip DB creation", "mysql/postgresql: do not CREATE DATABASE", _BOOL),
    "max_num_retries": _field("Max retries", "mysql/postgresql: retries of an aborted transaction", _NUMBER),
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["extra"],
    "relabeling": {"host": "Host (mlmd-server or database)", "schema": "Database (mysql/postgresql)"},
    "placeholders": {"host": "empty for the embedded SQLite store", "port": "8080 (grpc), 3306, 5432",
                     "schema": "mlmd"},
}


def get_provider_info() -> dict[str, Any]:
    """The provider description: connection type `mlmd` and its form, MlmdHook, the [mlmd] section, the plugin."""
    return {
        "package-name": "mlmd-airflow",
        "name": "ML Metadata (MLMD)",
        "description": "Records every Airflow task run in an ML Metadata store (executions, artifacts, DAG and "
                       "DAG-run contexts, lineage), with an MLMD-1.17-compatible store, server and UI view.",
        "versions": [__version__],
        "integrations": [{
            "integration-name": "ML Metadata",
            "external-doc-url": "https://github.com/google/ml-metadata",
            "tags": ["software"],
        }],
        "hooks": [{"integration-name": "ML Metadata", "python-modules": ["mlmd_airflow.hooks.mlmd"]}],
        "connection-types": [{
            "connection-type": "mlmd",
            "hook-class-name": "mlmd_airflow.hooks.mlmd.MlmdHook",
            "hook-name": "ML Metadata Store",
            "conn-fields": CONN_FIELDS,
            "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
        }],
        "plugins": [{"name": "mlmd", "plugin-class": "mlmd_airflow.plugin.MlmdPlugin"}],
        # @task.mlmd_cached: @task + @cached_step (docs/caching.md)
        "task-decorators": [{"name": "mlmd_cached", "class-name": "mlmd_airflow.cache.operators.mlmd_cached_task"}],
        "config": {
            SECTION: {
                "description": "Recording of task runs in ML Metadata (mlmd-airflow).",
                "options": {
                    name: {
                        "description": spec["description"],
                        "version_added": "0.1.0",
                        "type": spec["type"],
                        "example": spec["example"],
                        "default": spec["default"],
                    }
                    for name, spec in OPTIONS.items()
                },
            }
        },
    }
