"""The vocabulary of the mapping: type names, external-id formats and the plain records passed from the Airflow
side (`snapshot.py`, which reads task instances) to the MLMD side (`writer.py`, which writes the store).

Nothing here imports Airflow or talks to a store, so the formats are defined once and can be tested and documented
on their own. docs/recording.md describes the same mapping for users.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union
from urllib.parse import quote

from mlmd_core.proto import metadata_store_pb2 as pb

# ------------------------------------------------------------------------------------------------ type names

DAG_CONTEXT_TYPE = "airflow.Dag"
DAG_RUN_CONTEXT_TYPE = "airflow.DagRun"
ASSET_TYPE = "airflow.Asset"
XCOM_TYPE = "airflow.XCom"
DATASET_TYPE = "airflow.Dataset"  # default type of artifacts an operator contributes by URI
OPENLINEAGE_DATASET_TYPE = "openlineage.Dataset"
#: @cached_step: a Context per cache key and per step, grouping the executions of each (how lookups find them)
CACHE_KEY_CONTEXT_TYPE = "mlmd_airflow.CacheKey"
CACHE_STEP_CONTEXT_TYPE = "mlmd_airflow.CacheStep"

STRING, INT, DOUBLE = pb.STRING, pb.INT, pb.DOUBLE

#: Properties of every ExecutionType the listener registers (one type per kind of step, same properties).
EXECUTION_PROPERTIES: dict[str, int] = {
    "dag_id": STRING, "run_id": STRING, "task_id": STRING, "map_index": INT, "try_number": INT,
    "operator": STRING, "airflow_state": STRING, "start_time": STRING, "end_time": STRING,
    "duration_seconds": DOUBLE, "hostname": STRING, "ti_id": STRING, "error": STRING, "asset_event_extra": STRING,
}
DAG_CONTEXT_PROPERTIES: dict[str, int] = {"dag_id": STRING}
DAG_RUN_CONTEXT_PROPERTIES: dict[str, int] = {
    "dag_id": STRING, "run_id": STRING, "run_type": STRING, "logical_date": STRING, "run_after": STRING,
    "conf": STRING,
}
ASSET_PROPERTIES: dict[str, int] = {"name": STRING, "group": STRING, "extra": STRING}
XCOM_PROPERTIES: dict[str, int] = {
    "dag_id": STRING, "run_id": STRING, "task_id": STRING, "map_index": INT, "key": STRING, "size": INT,
    "sha256": STRING, "value": STRING,
}
DATASET_PROPERTIES: dict[str, int] = {}
OPENLINEAGE_DATASET_PROPERTIES: dict[str, int] = {"namespace": STRING, "name": STRING}

#: Longest error summary / conf summary stored (characters); longer text is cut and ends with "...".
MAX_TEXT = 1000

# ------------------------------------------------------------------------------------------- external ids


def execution_external_id(dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> str:
    """`airflow:{dag_id}/{run_id}/{task_id}/{map_index}/{try_number}`: one Execution per task-instance try."""
    return f"airflow:{dag_id}/{run_id}/{task_id}/{map_index}/{try_number}"


def dag_external_id(dag_id: str) -> str:
    """`airflow:dag:{dag_id}`: the DAG's Context."""
    return f"airflow:dag:{dag_id}"


def dag_run_name(dag_id: str, run_id: str) -> str:
    """`{dag_id}/{run_id}`: the DAG run Context's name (unique per ContextType, as MLMD requires)."""
    return f"{dag_id}/{run_id}"


def dag_run_external_id(dag_id: str, run_id: str) -> str:
    """`airflow:dagrun:{dag_id}/{run_id}`: the DAG run's Context."""
    return f"airflow:dagrun:{dag_id}/{run_id}"


def asset_external_id(uri: str) -> str:
    """`asset:{uri}`: one Artifact per Airflow Asset, shared by every DAG that reads or writes it."""
    return f"asset:{uri}"


def xcom_external_id(dag_id: str, run_id: str, task_id: str, map_index: int, key: str) -> str:
    """`xcom:{dag_id}/{run_id}/{task_id}/{map_index}/{key}`: one Artifact per pushed XCom."""
    return f"xcom:{dag_id}/{run_id}/{task_id}/{map_index}/{key}"


def xcom_uri(dag_id: str, run_id: str, task_id: str, map_index: int, key: str) -> str:
    """`xcom://{dag_id}/{run_id}/{task_id}/{map_index}/{key}` (run_id percent-encoded): where the value lives."""
    return f"xcom://{dag_id}/{quote(run_id, safe='')}/{task_id}/{map_index}/{key}"


# ------------------------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class AssetRef:
    """An Airflow Asset as the store sees it."""

    uri: str
    name: str
    group: str = "asset"
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class XComRef:
    """One XCom (of one task instance's map index). `value` is set only for outputs whose value was captured."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    key: str
    value: Any = None
    has_value: bool = False

    @property
    def external_id(self) -> str:
        return xcom_external_id(self.dag_id, self.run_id, self.task_id, self.map_index, self.key)


@dataclass(frozen=True)
class XComQuery:
    """The XCom artifacts of `task_id` in this run with `key` (None: any key, i.e. a multiple_outputs task used
    whole) and `map_index` (None: every map index, i.e. a reduce over a mapped task)."""

    dag_id: str
    run_id: str
    task_id: str
    key: str | None = None
    map_index: int | None = None


@dataclass(frozen=True)
class ArtifactRef:
    """An artifact an operator contributes through `get_mlmd_artifacts()` (or OpenLineage datasets).

    `type_name` is the ArtifactType (registered on first use with `properties`' keys as STRING/INT/DOUBLE
    properties); `external_id` defaults to `{type_name}:{uri}`, so the same URI is one artifact everywhere.
    """

    uri: str
    type_name: str = DATASET_TYPE
    external_id: str | None = None
    properties: Mapping[str, str | int | float] = field(default_factory=dict)

    @property
    def resolved_external_id(self) -> str:
        return self.external_id or f"{self.type_name}:{self.uri}"


Ref = Union[AssetRef, XComRef, XComQuery, ArtifactRef]


@dataclass
class TaskRun:
    """Everything recorded about one task-instance try at one moment (running, success, failure, skip).

    Built in the task's own thread from the task instance (`snapshot.py`); written by `writer.py`, possibly in
    another thread, so it holds only plain values.
    """

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    execution_type: str
    operator: str
    state: int  # pb.Execution.State
    airflow_state: str
    type_description: str = ""
    start_time: str | None = None
    end_time: str | None = None
    duration_seconds: float | None = None
    hostname: str | None = None
    ti_id: str | None = None
    error: str | None = None
    run_type: str | None = None
    logical_date: str | None = None
    run_after: str | None = None
    conf: str | None = None
    inputs: list[Ref] = field(default_factory=list)
    outputs: list[Ref] = field(default_factory=list)
    asset_event_extra: dict[str, Any] = field(default_factory=dict)
    record_xcom: str = "reference"
    xcom_value_max_bytes: int = 4096
    #: @cached_step (mlmd_airflow.cache.registry): custom properties of the execution (cache_key, ...) and, on a
    #: cache hit, the (artifact id, path key) OUTPUT events that replace its XCom outputs (the reused artifacts)
    cache_properties: dict[str, Any] = field(default_factory=dict)
    cached_outputs: list[tuple[int, str]] = field(default_factory=list)

    @property
    def external_id(self) -> str:
        return execution_external_id(self.dag_id, self.run_id, self.task_id, self.map_index, self.try_number)


# ------------------------------------------------------------------------------------------ value helpers


def summarize(text: str, limit: int = MAX_TEXT) -> str:
    """`text` cut to `limit` characters (ending in "...") so one huge error or conf cannot bloat the store."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def canonical_json(value: Any) -> str:
    """Deterministic JSON of a JSON-able value (sorted keys, no spaces): equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr, ensure_ascii=False)


def xcom_fingerprint(value: Any) -> tuple[str, int, str]:
    """(canonical JSON, size in bytes, sha256) of an XCom value, serialized the way Airflow stores XComs.

    Airflow's serde turns the value into JSON-able data (so datetimes, tuples, dataclasses ... are stable); the
    result is dumped with sorted keys so the hash depends on the content, not on dict insertion order.
    """
    try:
        from airflow.sdk.serde import serialize

        data = serialize(value)
    except Exception:  # a value serde cannot handle was not pushed by Airflow either; hash its repr
        data = repr(value)
    text = canonical_json(data)
    raw = text.encode("utf-8")
    return text, len(raw), hashlib.sha256(raw).hexdigest()
