"""The cache as MLMD sees it: executions carrying a `cache_key` custom property are entries.

An entry is usable when its execution is COMPLETE or CACHED, it is not invalidated, it is younger than the
reader's `max_age` (measured from when its outputs were originally computed), every output artifact is LIVE
and, with verify="exists", every output with a file/local URI still exists. Candidates are tried newest first;
the first usable one wins (TFX's fall-through, plus the existence check KFP/ZenML/Flyte lack).

Also here: nearest prior manifests (explain), listing and invalidation (the CLI), and the executions of
nested/standalone cached calls, which the cache records itself (no task instance to hang them on).
"""

from __future__ import annotations

import json
import os
import time
import uuid
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

from mlmd_airflow.cache.manifest import Manifest
from mlmd_core import ListOptions, MetadataStore, errors
from mlmd_core.metadata_store import OrderByField
from mlmd_core.proto import metadata_store_pb2 as pb

KEY, STEP, MANIFEST = "cache_key", "cache_step", "cache_manifest"
COMPUTED_AT, DURATION, CACHED_FROM, INVALIDATED = "cache_computed_at", "cache_duration_s", "cached_from", \
    "cache_invalidated"
OUTPUT_KEYS = "cache_output_keys"

#: Context types grouping the executions of one key / one step (recording/model.py writes them for tasks)
KEY_CONTEXT, STEP_CONTEXT = "mlmd_airflow.CacheKey", "mlmd_airflow.CacheStep"

#: ExecutionType / ArtifactType of cached calls that are not a task instance (nested or outside Airflow).
CALL_TYPE = "mlmd_airflow.CachedCall"
VALUE_TYPE = "mlmd_airflow.CachedValue"

CANDIDATES = 16  # newest entries of one key looked at; older ones are dominated anyway


def _str(node: Any, name: str) -> str | None:
    value = node.custom_properties.get(name)
    return value.string_value if value is not None and value.HasField("string_value") else None


def _int(node: Any, name: str) -> int | None:
    value = node.custom_properties.get(name)
    return value.int_value if value is not None and value.HasField("int_value") else None


def _float(node: Any, name: str) -> float | None:
    value = node.custom_properties.get(name)
    return value.double_value if value is not None and value.HasField("double_value") else None


def _literal(text: str) -> str:
    if "'" in text and '"' in text:
        raise ValueError(f"cannot quote {text!r} in a filter query")
    return f'"{text}"' if "'" in text else f"'{text}'"


def local_path(uri: str) -> str | None:
    """The local file a URI names (file://... or a plain absolute path), else None (s3://, xcom://, ...)."""
    if uri.startswith("file://"):
        parsed = urlparse(uri)
        return unquote(parsed.path) if parsed.netloc in ("", "localhost") else None
    if uri.startswith("/"):
        return uri
    return None


@dataclass
class Candidate:
    """A usable entry: the execution and its output artifacts with their event path keys."""

    execution: pb.Execution
    outputs: list[tuple[pb.Artifact, str]] = field(default_factory=list)

    @property
    def original_execution_id(self) -> int:
        return _int(self.execution, CACHED_FROM) or self.execution.id

    @property
    def computed_at_ms(self) -> int:
        return _int(self.execution, COMPUTED_AT) or self.execution.last_update_time_since_epoch

    @property
    def duration_s(self) -> float | None:
        return _float(self.execution, DURATION)

    @property
    def manifest(self) -> Manifest | None:
        text = _str(self.execution, MANIFEST)
        return Manifest.from_json(text) if text else None


@dataclass
class Rejection:
    """Why a stored entry of the key was passed over (logged with the miss)."""

    execution_id: int
    reason: str


def _in_context(type_name: str, name: str | None = None) -> str:
    """Filter of the executions associated with a cache context: an index lookup from the context side (a filter
    on the cache_key property would scan every execution)."""
    query = f"contexts_a.type = '{type_name}'"
    return query if name is None else f"{query} AND contexts_a.name = {_literal(name)}"


def entries(store: MetadataStore, key: str, limit: int = CANDIDATES) -> list[pb.Execution]:
    """COMPLETE or CACHED executions with this cache key, newest first."""
    query = f"{_in_context(KEY_CONTEXT, key)} AND last_known_state IN (COMPLETE, CACHED)"
    return store.get_executions(ListOptions(limit=limit, order_by=OrderByField.CREATE_TIME, is_asc=False,
                                            filter_query=query))


def candidates(store: MetadataStore, key: str, *, max_age_s: float | None, verify: str,
               now_ms: int | None = None, rejected: list[Rejection] | None = None) -> Iterator[Candidate]:
    """Usable entries of `key`, newest first (see module docstring). Reasons for skipped ones go to `rejected`."""
    executions = entries(store, key)
    if not executions:
        return
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    events = store.get_events_by_execution_ids([e.id for e in executions])
    outputs_of: dict[int, list[pb.Event]] = {}
    for event in events:
        if event.type == pb.Event.OUTPUT:
            outputs_of.setdefault(event.execution_id, []).append(event)
    artifact_ids = sorted({e.artifact_id for evs in outputs_of.values() for e in evs})
    artifacts = {a.id: a for a in store.get_artifacts_by_id(artifact_ids)} if artifact_ids else {}
    rejected = rejected if rejected is not None else []
    for execution in executions:
        candidate = Candidate(execution)
        reason = _INVALID
        if _str(execution, INVALIDATED):
            reason = f"invalidated ({_str(execution, INVALIDATED)})"
        elif max_age_s is not None and now_ms - candidate.computed_at_ms > max_age_s * 1000:
            reason = f"older than max_age ({(now_ms - candidate.computed_at_ms) / 1000:.0f} s > {max_age_s:g} s)"
        else:
            reason = None
            for event in outputs_of.get(execution.id, []):
                artifact = artifacts.get(event.artifact_id)
                path_key = event.path.steps[-1].key if event.path.steps else ""
                if artifact is None or artifact.state != pb.Artifact.LIVE:
                    reason = f"output {path_key or event.artifact_id} is not LIVE"
                    break
                path = local_path(artifact.uri)
                if verify == "exists" and path is not None and not os.path.exists(path):
                    reason = f"output {artifact.uri} no longer exists"
                    break
                candidate.outputs.append((artifact, path_key))
            expected = _str(execution, OUTPUT_KEYS)
            if reason is None and expected:
                have = {k for _, k in candidate.outputs}
                missing = [k for k in json.loads(expected) if k not in have]
                if missing:
                    reason = f"outputs {', '.join(missing)} were not recorded"
        if reason is None:
            yield candidate
        else:
            rejected.append(Rejection(execution.id, reason))


_INVALID = "invalid"


def prior_manifests(store: MetadataStore, step: str, exclude_key: str | None = None,
                    limit: int = 20) -> list[Manifest]:
    """Manifests of the newest executions of `step` (newest first, one per key), to explain a miss against."""
    query = _in_context(STEP_CONTEXT, step)
    out: list[Manifest] = []
    seen: set[str] = set()
    for execution in store.get_executions(ListOptions(limit=limit, order_by=OrderByField.CREATE_TIME,
                                                      is_asc=False, filter_query=query)):
        key, text = _str(execution, KEY), _str(execution, MANIFEST)
        if not text or key in seen or key == exclude_key:
            continue
        seen.add(key or "")
        out.append(Manifest.from_json(text))
    return out


# ----------------------------------------------------------------------------------------- list / invalidate


def list_entries(store: MetadataStore, *, step: str | None = None, key: str | None = None,
                 older_than_s: float | None = None, include_invalidated: bool = False,
                 now_ms: int | None = None) -> list[pb.Execution]:
    """Cache entries (COMPLETE/CACHED executions with a key), newest first, filtered."""
    conditions = ["last_known_state IN (COMPLETE, CACHED)", _in_context(KEY_CONTEXT, key)]
    if step:
        conditions.append(f"custom_properties.{STEP}.string_value = {_literal(step)}")
    found = store.get_executions(ListOptions(order_by=OrderByField.CREATE_TIME, is_asc=False,
                                             filter_query=" AND ".join(conditions)))
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    out = []
    for e in found:
        if not include_invalidated and _str(e, INVALIDATED):
            continue
        computed = _int(e, COMPUTED_AT) or e.last_update_time_since_epoch
        if older_than_s is not None and now_ms - computed <= older_than_s * 1000:
            continue
        out.append(e)
    return out


def invalidate(store: MetadataStore, executions: Iterable[pb.Execution], reason: str) -> list[int]:
    """Marks entries invalidated (a custom property; nothing is deleted, lineage stays intact)."""
    changed = []
    for e in executions:
        if _str(e, INVALIDATED):
            continue
        update = pb.Execution()
        update.CopyFrom(e)
        update.custom_properties[INVALIDATED].string_value = reason
        changed.append(update)
    if changed:
        store.put_executions(changed, field_mask_paths=[f"custom_properties.{INVALIDATED}"])
    return [e.id for e in changed]


def entries_derived_from(store: MetadataStore, artifact_id: int, max_hops: int = 100) -> list[pb.Execution]:
    """Every cache entry whose inputs descend from the artifact (its lineage downstream), and every other entry
    with the same keys (CACHED copies that reuse the same outputs)."""
    from mlmd_core import lineage

    graph = lineage.downstream(store, artifact_id, max_hops)
    ids = [n.id for n in graph.executions()]
    # the producer of the artifact is not derived from it, but its entry served the bad artifact: include it
    ids += [e.execution_id for e in store.get_events_by_artifact_ids([artifact_id]) if e.type == pb.Event.OUTPUT]
    if not ids:
        return []
    keys = {k for e in store.get_executions_by_id(sorted(set(ids))) if (k := _str(e, KEY))}
    out: dict[int, pb.Execution] = {}
    for key in sorted(keys):
        for e in list_entries(store, key=key):
            out[e.id] = e
    return sorted(out.values(), key=lambda e: e.id)


# ------------------------------------------------------------------------- standalone / nested cached calls


def _type_id(store: MetadataStore, kind: str, name: str) -> int:
    cache = _type_ids.setdefault(store, {})
    if (kind, name) not in cache:
        if kind == "execution":
            proto: Any = pb.ExecutionType(name=name)
            proto.properties["step"] = pb.STRING
            type_id = store.put_execution_type(proto, can_add_fields=True, can_omit_fields=True)
        else:
            proto = pb.ArtifactType(name=name)
            proto.properties["value"] = pb.STRING
            proto.properties["sha256"] = pb.STRING
            type_id = store.put_artifact_type(proto, can_add_fields=True, can_omit_fields=True)
        cache[(kind, name)] = type_id
    return cache[(kind, name)]


# Type ids per store object (weak: a store's ids must not outlive it, as an id() key would: it gets reused).
_type_ids: weakref.WeakKeyDictionary[MetadataStore, dict[tuple[str, str], int]] = weakref.WeakKeyDictionary()


def _cache_contexts(store: MetadataStore, key: str, step: str) -> list[pb.Context]:
    cache = _type_ids.setdefault(store, {})
    out = []
    for type_name, name in ((KEY_CONTEXT, key), (STEP_CONTEXT, step)):
        if ("context", type_name) not in cache:
            cache[("context", type_name)] = store.put_context_type(pb.ContextType(name=type_name),
                                                                   can_add_fields=True, can_omit_fields=True)
        out.append(pb.Context(type_id=cache[("context", type_name)], name=name))
    return out


def _call_execution(store: MetadataStore, step: str, state: int, props: dict[str, Any],
                    where: dict[str, Any]) -> pb.Execution:
    execution = pb.Execution(type_id=_type_id(store, "execution", CALL_TYPE), last_known_state=state,
                             external_id=f"cache-call:{uuid.uuid4().hex}")
    execution.properties["step"].string_value = step
    for name, value in {**props, **where}.items():
        if value is None:
            continue
        target = execution.custom_properties[name]
        if isinstance(value, bool):
            target.string_value = str(value)
        elif isinstance(value, int):
            target.int_value = value
        elif isinstance(value, float):
            target.double_value = value
        else:
            target.string_value = str(value)
    return execution


def publish_call(store: MetadataStore, step: str, props: dict[str, Any], value_json: str, value_sha256: str,
                 where: dict[str, Any]) -> int:
    """Records a computed nested/standalone call: a COMPLETE execution with one CachedValue output."""
    execution = _call_execution(store, step, pb.Execution.COMPLETE, props, where)
    key = props[KEY]
    artifact = pb.Artifact(type_id=_type_id(store, "artifact", VALUE_TYPE), state=pb.Artifact.LIVE,
                           uri=f"mlmd-cache://{key}/{execution.external_id.split(':', 1)[1]}")
    artifact.properties["value"].string_value = value_json
    artifact.properties["sha256"].string_value = value_sha256
    event = pb.Event(type=pb.Event.OUTPUT)
    event.path.steps.add().key = "return"
    execution_id, _, _ = store.put_execution(execution, [(artifact, event)], _cache_contexts(store, key, step),
                                             reuse_context_if_already_exist=True)
    return execution_id


def publish_call_hit(store: MetadataStore, step: str, props: dict[str, Any], candidate: Candidate,
                     where: dict[str, Any]) -> int:
    """Records a reused nested/standalone call: a CACHED execution whose OUTPUT is the source's artifact."""
    execution = _call_execution(store, step, pb.Execution.CACHED, props, where)
    pairs = []
    for artifact, path_key in candidate.outputs:
        event = pb.Event(type=pb.Event.OUTPUT)
        event.path.steps.add().key = path_key
        pairs.append((artifact, event))
    execution_id, _, _ = store.put_execution(execution, pairs, _cache_contexts(store, props[KEY], step),
                                             reuse_context_if_already_exist=True)
    return execution_id


def call_value(candidate: Candidate) -> str | None:
    """The JSON value of a nested/standalone entry, None when it is not one (or has no value)."""
    for artifact, path_key in candidate.outputs:
        if path_key == "return" and "value" in artifact.properties:
            return artifact.properties["value"].string_value
    return None


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, errors.NotFoundError)
