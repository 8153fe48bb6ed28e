"""The Airflow plugin (entry point `airflow.plugins`): registers the MLMD listener in every Airflow process.

With `[mlmd] enabled = False` no listener is registered, so recording costs nothing anywhere.
"""

from __future__ import annotations

import logging

from airflow.plugins_manager import AirflowPlugin

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


class MlmdPlugin(AirflowPlugin):
    """Ships the listener that records task runs in MLMD."""

    name = "mlmd"
    listeners = _listeners()
