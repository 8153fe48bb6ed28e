"""The `[mlmd]` configuration section, read once into a frozen Settings object.

Every option has its default here (the same table feeds `get_provider_info()["config"]`), so reading works
whether or not Airflow has merged provider defaults into its config yet. Values come from airflow.cfg or
`AIRFLOW__MLMD__<OPTION>` environment variables, as for any Airflow option.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

SECTION = "mlmd"

#: record_xcom values: what a task's XCom return value becomes in MLMD.
RECORD_XCOM_NONE = "none"
RECORD_XCOM_REFERENCE = "reference"
RECORD_XCOM_VALUE = "value"
RECORD_XCOM_CHOICES = (RECORD_XCOM_NONE, RECORD_XCOM_REFERENCE, RECORD_XCOM_VALUE)

#: option -> (default as Airflow stores it, type, description, example). Source of the provider-info table and docs.
OPTIONS: dict[str, dict[str, Any]] = {
    "enabled": {
        "type": "boolean", "default": "True", "example": "False",
        "description": "Record task runs in MLMD. False registers no listener at all (nothing runs in any process).",
    },
    "conn_id": {
        "type": "string", "default": "mlmd_default", "example": "mlmd_prod",
        "description": "Airflow connection (type `mlmd`) of the metadata store. When no connection with this id "
                       "exists, the store is the embedded SQLite file `$AIRFLOW_HOME/mlmd.sqlite`.",
    },
    "strict": {
        "type": "boolean", "default": "False", "example": "True",
        "description": "If True, a failure or timeout while recording fails the task. If False (default), it is "
                       "logged as a warning, counted, and the task carries on.",
    },
    "record_xcom": {
        "type": "string", "default": RECORD_XCOM_REFERENCE, "example": RECORD_XCOM_VALUE,
        "description": "What a task's XCom return value becomes: `reference` (default) an output Artifact with the "
                       "XCom reference, size and content hash but never the value; `value` the same plus the "
                       "JSON value itself when it is at most `xcom_value_max_bytes`; `none` no XCom artifacts "
                       "(and no XCom-based lineage between tasks).",
    },
    "xcom_value_max_bytes": {
        "type": "integer", "default": "4096", "example": "65536",
        "description": "With record_xcom = value: the largest JSON-encoded value stored; larger values are "
                       "recorded as a reference only.",
    },
    "exclusions": {
        "type": "string", "default": "", "example": "tmp_*.*, etl.cleanup_*",
        "description": "Comma-separated glob patterns over `dag_id.task_id`; matching task runs are not recorded "
                       "(`my_dag.*` excludes a whole DAG). Case-sensitive.",
    },
    "timeout": {
        "type": "float", "default": "5.0", "example": "2",
        "description": "Upper bound in seconds of one listener call's work against the store; when exceeded the "
                       "call is abandoned (and, with strict = True, the task fails).",
    },
    "cache_enabled": {
        "type": "boolean", "default": "True", "example": "False",
        "description": "@cached_step looks up and reuses prior results. False: every cached step runs as if "
                       "uncached (the global kill switch; also `MLMD_CACHE=off`). See docs/caching.md.",
    },
    "cache_refresh": {
        "type": "boolean", "default": "False", "example": "True",
        "description": "@cached_step never reuses but still records its results, so later runs hit the fresh "
                       "ones (also `MLMD_CACHE=refresh`).",
    },
    "cache_lease_ttl": {
        "type": "float", "default": "30.0", "example": "60",
        "description": "concurrency=\"single_flight\": seconds without heartbeat after which a worker's lease on "
                       "a cache key lapses (a killed worker blocks others at most this long).",
    },
    "cache_wait_timeout": {
        "type": "float", "default": "3600.0", "example": "600",
        "description": "concurrency=\"single_flight\": longest wait in seconds for another worker computing the "
                       "same key; then the step runs anyway.",
    },
}


class MlmdConfigError(ValueError):
    """An `[mlmd]` option has a value that cannot be used; the message names the option."""


@dataclass(frozen=True)
class Settings:
    """The `[mlmd]` section as typed values. Build it with `load_settings()`."""

    conn_id: str = "mlmd_default"
    enabled: bool = True
    strict: bool = False
    record_xcom: str = RECORD_XCOM_REFERENCE
    xcom_value_max_bytes: int = 4096
    exclusions: tuple[str, ...] = ()
    timeout: float = 5.0
    cache_enabled: bool = True
    cache_refresh: bool = False
    cache_lease_ttl: float = 30.0
    cache_wait_timeout: float = 3600.0

    def is_excluded(self, dag_id: str, task_id: str) -> bool:
        """True when `dag_id.task_id` matches one of the exclusion patterns (so the task run is not recorded)."""
        if not self.exclusions:
            return False
        name = f"{dag_id}.{task_id}"
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.exclusions)


_TRUE = {"true", "t", "1", "yes", "y", "on"}
_FALSE = {"false", "f", "0", "no", "n", "off", ""}


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise MlmdConfigError(f"[{SECTION}] {name} must be True or False, got {raw!r}")


def _number(name: str, raw: str, kind: type) -> Any:
    try:
        value = kind(raw.strip())
    except ValueError:
        raise MlmdConfigError(f"[{SECTION}] {name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise MlmdConfigError(f"[{SECTION}] {name} must be greater than 0, got {raw!r}")
    return value


def parse_exclusions(raw: str) -> tuple[str, ...]:
    """`"a.*, b.c"` -> `("a.*", "b.c")`: comma-separated, blanks dropped."""
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def load_settings(conf: Any = None) -> Settings:
    """Reads `[mlmd]` from Airflow's config (airflow.cfg + AIRFLOW__MLMD__* env vars) with the provider defaults.

    `conf` defaults to `airflow.configuration.conf`; any object with `get(section, key, fallback=...)` works.
    Raises MlmdConfigError naming the option when a value is unusable.
    """
    if conf is None:
        from airflow.configuration import conf

    def raw(name: str) -> str:
        value = conf.get(SECTION, name, fallback=OPTIONS[name]["default"])
        return "" if value is None else str(value)

    conn_id = raw("conn_id").strip()
    if not conn_id:
        raise MlmdConfigError(f"[{SECTION}] conn_id must not be empty")
    record_xcom = raw("record_xcom").strip().lower()
    if record_xcom not in RECORD_XCOM_CHOICES:
        raise MlmdConfigError(
            f"[{SECTION}] record_xcom must be one of {', '.join(RECORD_XCOM_CHOICES)}, got {raw('record_xcom')!r}")
    return Settings(
        conn_id=conn_id,
        enabled=_bool("enabled", raw("enabled")),
        strict=_bool("strict", raw("strict")),
        record_xcom=record_xcom,
        xcom_value_max_bytes=_number("xcom_value_max_bytes", raw("xcom_value_max_bytes"), int),
        exclusions=parse_exclusions(raw("exclusions")),
        timeout=_number("timeout", raw("timeout"), float),
        cache_enabled=_bool("cache_enabled", raw("cache_enabled")),
        cache_refresh=_bool("cache_refresh", raw("cache_refresh")),
        cache_lease_ttl=_number("cache_lease_ttl", raw("cache_lease_ttl"), float),
        cache_wait_timeout=_number("cache_wait_timeout", raw("cache_wait_timeout"), float),
    )
