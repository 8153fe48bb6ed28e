"""`@cached_step`: reuse the outputs of a prior execution with the same inputs and code (docs/caching.md).

Two ways a cached step runs:

- **task level**: the decorated function is the task's own callable (`@task` + `@cached_step` in either order,
  `@task.mlmd_cached`) or a classic operator's execute (`cached_operator`). The MLMD listener records the task
  instance; the cache hands it its decision through `registry` (key, manifest, and on a hit: state CACHED with
  OUTPUT events to the source's XCom artifacts). A hit returns the source's XCom values, so downstream XComs
  work and the task ends SUCCESS.
- **call level**: anywhere else (a cached helper called inside a task, or plain Python outside Airflow). The
  cache records the call itself: an `mlmd_airflow.CachedCall` execution with its JSON value in a
  `mlmd_airflow.CachedValue` artifact (hits: a CACHED execution linked to the same artifact).

Airflow is imported lazily, only when a call happens inside a task.
"""

from __future__ import annotations

import contextvars
import fnmatch
import functools
import inspect
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mlmd_airflow.cache import index, lease, registry
from mlmd_airflow.cache.code import code_fingerprint
from mlmd_airflow.cache.encoding import canonical, digest, encode
from mlmd_airflow.cache.files import FileFingerprintError, file_digest
from mlmd_airflow.cache.manifest import Manifest, build, explain

log = logging.getLogger("mlmd_airflow.cache")

VERIFY_CHOICES = ("none", "exists")
CONCURRENCY_CHOICES = ("none", "single_flight")
ON_STORE_ERROR_CHOICES = ("run", "fail")
CONF_KEY = "mlmd_cache"  # dag_run.conf / params entry
ENV_VAR = "MLMD_CACHE"  # off | refresh
XCOM_MARKER = "mlmd_cache"
MAX_VALUE_BYTES = 1 << 20  # largest call-level value stored in MLMD

_MISSING = object()
_in_task_step: contextvars.ContextVar[bool] = contextvars.ContextVar("mlmd_in_task_step", default=False)


class CacheStoreError(RuntimeError):
    """The metadata store failed and the step has on_store_error="fail"."""


class CacheOptionError(ValueError):
    """A @cached_step option has an unusable value; the message names it."""


@dataclass(frozen=True)
class CacheOptions:
    """The options of one cached step (see docs/caching.md#options)."""

    name: str | None = None
    version: str | None = None
    code_deps: tuple[Any, ...] = ()
    file_deps: tuple[str, ...] = ()
    ignore: frozenset[str] = frozenset()
    max_age: timedelta | None = None
    verify: str = "exists"
    concurrency: str = "none"
    on_store_error: str = "run"
    conn_id: str | None = None
    store: Any = None  # a MetadataStore, or a zero-argument callable returning one (outside Airflow)

    def __post_init__(self) -> None:
        for option, value, choices in (("verify", self.verify, VERIFY_CHOICES),
                                       ("concurrency", self.concurrency, CONCURRENCY_CHOICES),
                                       ("on_store_error", self.on_store_error, ON_STORE_ERROR_CHOICES)):
            if value not in choices:
                raise CacheOptionError(f"cached_step: {option} must be one of {', '.join(choices)}, got {value!r}")
        if self.max_age is not None and not isinstance(self.max_age, timedelta):
            raise CacheOptionError(f"cached_step: max_age must be a datetime.timedelta, got {self.max_age!r}")
        if isinstance(self.file_deps, str) or isinstance(self.code_deps, str):
            raise CacheOptionError("cached_step: code_deps and file_deps take a list")

    @property
    def max_age_s(self) -> float | None:
        return None if self.max_age is None else self.max_age.total_seconds()


def default_step_name(fn: Callable[..., Any]) -> str:
    """`dagfn.extract` for a function `extract` defined in `def dagfn()`: the qualified name without `<locals>`
    and without the module, which differs between dag.test() and workers (pitfall 6)."""
    fn = inspect.unwrap(fn)
    return getattr(fn, "__qualname__", getattr(fn, "__name__", "step")).replace("<locals>.", "")


# ------------------------------------------------------------------------------------------------ controls


@dataclass
class Controls:
    """Whether this call may reuse (refresh: no) and may use the cache at all (disabled: no), and why."""

    disabled: bool = False
    refresh: bool = False
    why: str = ""


def _matches(spec: Any, names: Sequence[str]) -> bool:
    if spec is True or spec in ("*", "all", "true", "True"):
        return True
    if spec in (None, False, "", "false", "False"):
        return False
    patterns = [spec] if isinstance(spec, str) else list(spec) if isinstance(spec, (list, tuple)) else []
    return any(fnmatch.fnmatchcase(n, str(p)) for p in patterns for n in names)


def resolve_controls(names: Sequence[str], context: Mapping[str, Any] | None, settings: Any) -> Controls:
    """Merges the control levels: [mlmd] cache_enabled/cache_refresh, the MLMD_CACHE env var, the DAG's
    default_args / params `mlmd_cache`, and dag_run.conf `mlmd_cache`: disabled or refresh at any level applies.
    (Airflow lets a run's conf replace a param of the same name, so params are a per-DAG *default*.)"""
    c = Controls()
    if settings is not None and not settings.cache_enabled:
        c.disabled, c.why = True, "[mlmd] cache_enabled = False"
    if settings is not None and settings.cache_refresh:
        c.refresh, c.why = True, "[mlmd] cache_refresh = True"
    env = os.environ.get(ENV_VAR, "").strip().lower()
    if env in ("off", "disable", "disabled", "0", "false", "no"):
        c.disabled, c.why = True, f"{ENV_VAR}={env}"
    elif env == "refresh":
        c.refresh, c.why = True, f"{ENV_VAR}=refresh"
    if context:
        # per DAG: default_args["mlmd_cache"] (always applies; operators ignore unknown default_args keys) ...
        dag = getattr(context.get("task"), "dag", None) or context.get("dag")
        default_args = getattr(dag, "default_args", None) or {}
        # ... params["mlmd_cache"] (the DAG's default, which the trigger form and a run's conf may replace) ...
        params = context.get("params") or {}
        # ... and the run's conf
        conf = getattr(context.get("dag_run"), "conf", None) or {}
        for where, spec in (("default_args", _get(default_args, CONF_KEY)), ("params", _get(params, CONF_KEY)),
                            ("dag_run.conf", _get(conf, CONF_KEY))):
            if isinstance(spec, str):
                spec = {"disable": True} if spec in ("off", "disable") else {"refresh": True} \
                    if spec == "refresh" else {}
            if not isinstance(spec, Mapping):
                continue
            if _matches(spec.get("disable"), names):
                c.disabled, c.why = True, f"{where} {CONF_KEY}.disable"
            if _matches(spec.get("refresh"), names):
                c.refresh, c.why = True, f"{where} {CONF_KEY}.refresh"
    return c


def _get(mapping: Any, key: str) -> Any:
    try:
        return mapping.get(key)
    except Exception:
        return None


# ------------------------------------------------------------------------------------------- airflow bits


def _current_context() -> Mapping[str, Any] | None:
    """The running task's context, or None outside a task (no Airflow import unless Airflow is loaded)."""
    import sys

    if "airflow.sdk" not in sys.modules and "airflow" not in sys.modules:
        return None
    try:
        from airflow.sdk import get_current_context

        return get_current_context()
    except Exception:
        return None


def _identity(ti: Any) -> registry.Identity:
    return (ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number)


def _settings() -> Any:
    try:
        from mlmd_airflow.config import load_settings

        return load_settings()
    except Exception:
        return None


def _recording_active(ti: Any, settings: Any) -> str | None:
    """None when the listener will record this task instance, else why not."""
    if settings is None:
        return "the [mlmd] settings are unusable"
    if not settings.enabled:
        return "[mlmd] enabled = False (nothing is recorded, so nothing can be reused)"
    if settings.is_excluded(ti.dag_id, ti.task_id):
        return "the task matches [mlmd] exclusions"
    if settings.record_xcom == "none":
        return "[mlmd] record_xcom = none (outputs are not recorded)"
    return None


def xcom_sources(ti: Any, signature: inspect.Signature) -> dict[str, str]:
    """{parameter: "upstream_task.key"} for the arguments that came from upstream XComs (best effort)."""
    try:
        from airflow.sdk.definitions.mappedoperator import MappedOperator
        from airflow.sdk.definitions.xcom_arg import XComArg

        definition = ti.task.dag.task_dict.get(ti.task_id)
        if definition is None:
            return {}
        if isinstance(definition, MappedOperator):
            kwargs = dict(definition.partial_kwargs.get("op_kwargs") or {})
            value = getattr(definition._get_specified_expand_input(), "value", None)
            if isinstance(value, Mapping):
                kwargs.update(value)
            args: Sequence[Any] = definition.partial_kwargs.get("op_args") or ()
        else:
            kwargs = dict(getattr(definition, "op_kwargs", None) or {})
            args = getattr(definition, "op_args", None) or ()
        names = list(signature.parameters)
        bound = {names[i]: a for i, a in enumerate(args) if i < len(names)}
        bound.update(kwargs)
        out = {}
        for name, value in bound.items():
            refs = [f"{op.task_id}.{key}" for op, key in XComArg.iter_xcom_references(value)] \
                if isinstance(value, XComArg) else []
            if refs:
                out[name] = "+".join(refs)
        return out
    except Exception:
        log.debug("could not resolve XCom sources", exc_info=True)
        return {}


def inlet_inputs(task: Any) -> dict[str, dict[str, Any]]:
    """Inlet Assets as manifest inputs: by content for local files (`file://`), else by URI (identity)."""
    out: dict[str, dict[str, Any]] = {}
    for item in getattr(task, "inlets", None) or ():
        uri = getattr(item, "uri", None)
        if not uri:
            continue
        path = index.local_path(uri)
        if path is not None and os.path.exists(path):
            out[f"asset {getattr(item, 'name', uri) or uri}"] = {"sha256": file_digest(path)}
        else:
            out[f"asset {getattr(item, 'name', uri) or uri}"] = {"identity": uri}
    return out


# -------------------------------------------------------------------------------------------- the engine


@dataclass
class Outcome:
    """What happened in one call (also pushed as the `mlmd_cache` XCom of task-level steps)."""

    status: str  # hit | miss | refresh | disabled | uncached
    step: str
    key: str | None = None
    reason: str = ""
    source_execution: int | None = None
    source_run: str | None = None
    age_s: float | None = None
    saved_s: float | None = None
    task: tuple[str, str, str, int, int] | None = None  # (dag_id, run_id, task_id, map_index, try) in a task

    def marker(self) -> dict[str, Any]:
        data = {"status": self.status, "step": self.step, "key": self.key, "reason": self.reason,
                "source_execution": self.source_execution, "source_run": self.source_run}
        return {k: v for k, v in data.items() if v not in (None, "")}


#: Per-process record of outcomes, newest last (tests and debugging; bounded).
outcomes: list[Outcome] = []


def _note(outcome: Outcome, ti: Any = None) -> None:
    if ti is not None:
        outcome.task = _identity(ti)
    outcomes.append(outcome)
    del outcomes[:-256]


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"


def _banner(o: Outcome) -> None:
    if o.status == "hit":
        saved = f", saved ~{o.saved_s:.1f} s" if o.saved_s is not None else ""
        log.info("mlmd cache HIT  step=%s key=%s: reusing execution %s (DAG run %s, computed %s ago)%s",
                 o.step, o.key, o.source_execution, o.source_run or "-", _age(o.age_s or 0.0), saved)
    elif o.status in ("miss", "refresh"):
        log.info("mlmd cache %s step=%s key=%s: %s", "MISS " if o.status == "miss" else "REFRESH", o.step, o.key,
                 o.reason)
    else:
        log.warning("mlmd cache %s step=%s: %s", o.status.upper(), o.step, o.reason)


class Step:
    """One cached step: its options and per-process memo of its code fingerprint."""

    def __init__(self, fn: Callable[..., Any], options: CacheOptions, *, kind: str = "function") -> None:
        self.fn = fn
        self.options = options
        self.kind = kind
        self.name = options.name or default_step_name(fn)
        self.signature = inspect.signature(fn)
        self._code: dict[str, Any] | None = None
        self._lock = threading.Lock()

    # ---------------------------------------------------------------------------------------- key parts

    def code(self) -> dict[str, Any]:
        """The code part of the manifest (the function's digest is computed once per process; files per call)."""
        o = self.options
        with self._lock:
            if self._code is None:
                self._code = code_fingerprint(self.fn, version=o.version, code_deps=o.code_deps)
        code = dict(self._code)
        if o.file_deps:
            try:
                code["files"] = {str(p): file_digest(p) for p in o.file_deps}
            except FileFingerprintError as exc:
                raise CacheOptionError(f"cached_step {self.name}: file_deps: {exc}") from None
        return code

    def arguments(self, args: Sequence[Any], kwargs: Mapping[str, Any],
                  injected: Iterable[str] = ()) -> dict[str, Any]:
        """Bound arguments with defaults applied, minus `ignore` and the `injected` Airflow context values."""
        skip = set(injected)
        kwargs = {k: v for k, v in kwargs.items() if k not in skip}
        bound = self.signature.bind_partial(*args, **kwargs)
        bound.apply_defaults()
        out = {}
        for name, value in bound.arguments.items():
            if name in self.options.ignore or name in skip:
                continue
            kind = self.signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                out.update({f"**{k}": v for k, v in value.items() if k not in self.options.ignore})
            else:
                out[name] = value
        return out

    # ----------------------------------------------------------------------------------------- store

    def store(self) -> Any:
        s = self.options.store
        if s is not None:
            return s() if callable(s) and not hasattr(s, "get_executions") else s
        from mlmd_airflow.hooks.mlmd import store_for

        return store_for(self.options.conn_id)

    # -------------------------------------------------------------------------------------------- call

    def run(self, call: Callable[[], Any], arguments: Mapping[str, Any], *, context: Mapping[str, Any] | None,
            task_level: bool, sources: Mapping[str, str] = {}, extra_inputs: Mapping[str, Any] = {},
            outputs: Mapping[str, Any] = {}, multiple_outputs: bool = False, do_xcom_push: bool = True) -> Any:
        """Reuse or compute: the heart of the cache (module docstring)."""
        ti = context.get("ti") if context else None
        settings = _settings() if context is not None or self.options.store is None else None
        names = [self.name] + ([ti.task_id] if ti is not None else [])
        controls = resolve_controls(names, context, settings)
        if controls.disabled:
            return self._finish(Outcome("disabled", self.name, reason=f"cache disabled by {controls.why}"),
                                ti, task_level, call)
        if task_level and ti is not None:
            why_not = _recording_active(ti, settings)
            if why_not is not None:
                return self._finish(Outcome("uncached", self.name, reason=f"runs uncached: {why_not}"), ti,
                                    task_level, call)
        manifest = build(self.name, self.code(), arguments, sources=sources, extra_inputs=extra_inputs,
                         outputs=outputs)  # UncacheableInputError propagates: a clear error, never a weak key
        key = manifest.key
        rejected: list[index.Rejection] = []
        try:
            store = self.store()
            if not controls.refresh:
                found = self._reuse(store, key, manifest, ti, task_level, multiple_outputs, rejected)
                if found is not _MISSING:
                    return found
        except Exception as exc:
            return self._store_down(exc, ti, task_level, call)

        held: lease.Lease | None = None
        if self.options.concurrency == "single_flight" and not lease.holds(key):
            try:
                held, found = self._single_flight(store, key, manifest, ti, task_level, multiple_outputs,
                                                  controls.refresh, settings)
            except Exception as exc:
                return self._store_down(exc, ti, task_level, call)
            if found is not _MISSING:
                return found
        if controls.refresh:
            reason = f"refresh requested by {controls.why}"
        else:
            try:
                reason = explain(index.prior_manifests(store, self.name), manifest)
            except Exception:
                reason = "no usable entry"
            if rejected:  # the key exists: say why its entries were passed over
                reason = "entries of this key not usable: " + "; ".join(
                    f"execution {r.execution_id}: {r.reason}" for r in rejected)
        return self._compute(store, key, manifest, reason, call, ti, task_level, held, controls.refresh,
                             multiple_outputs, do_xcom_push)

    # ------------------------------------------------------------------------------------------ reuse

    def _reuse(self, store: Any, key: str, manifest: Manifest, ti: Any, task_level: bool,
               multiple_outputs: bool, rejected: list[index.Rejection] | None = None) -> Any:
        rejected = [] if rejected is None else rejected
        for candidate in index.candidates(store, key, max_age_s=self.options.max_age_s,
                                          verify=self.options.verify, rejected=rejected):
            if task_level:
                value = _xcom_value(ti, candidate, multiple_outputs)
            else:
                value = _call_value(candidate)
            if value is _MISSING:
                rejected.append(index.Rejection(candidate.execution.id, "its output values are gone"))
                continue
            self._publish_hit(store, key, manifest, candidate, ti, task_level)
            now = time.time()
            source = candidate.execution
            if candidate.original_execution_id != source.id:  # report the run that really computed it
                source = (store.get_executions_by_id([candidate.original_execution_id]) or [source])[0]
            run_id = _text_property(source, "run_id")
            outcome = Outcome("hit", self.name, key, source_execution=candidate.original_execution_id,
                              source_run=run_id, age_s=now - candidate.computed_at_ms / 1000,
                              saved_s=candidate.duration_s)
            if rejected:
                outcome.reason = "skipped newer entries: " + "; ".join(
                    f"execution {r.execution_id}: {r.reason}" for r in rejected)
            return self._finish(outcome, ti, task_level, None, value=value)
        return _MISSING

    def _publish_hit(self, store: Any, key: str, manifest: Manifest, c: index.Candidate, ti: Any,
                     task_level: bool) -> None:
        expected = c.execution.custom_properties.get(index.OUTPUT_KEYS)
        decision = registry.Decision(
            key=key, step=self.name, manifest_json=manifest.to_json(), hit=True,
            source_execution_id=c.execution.id, original_execution_id=c.original_execution_id,
            outputs=[(a.id, k) for a, k in c.outputs if a.uri.startswith("xcom://") or not task_level],
            computed_at_ms=c.computed_at_ms, duration_s=c.duration_s,
            output_keys=json.loads(expected.string_value) if expected is not None else None)
        if task_level:
            registry.put(_identity(ti), decision)
        else:
            index.publish_call_hit(store, self.name, decision.custom_properties(), c, _where(ti))

    # ---------------------------------------------------------------------------------------- compute

    def _single_flight(self, store: Any, key: str, manifest: Manifest, ti: Any, task_level: bool,
                       multiple_outputs: bool, refresh: bool, settings: Any) -> tuple[lease.Lease | None, Any]:
        ttl = getattr(settings, "cache_lease_ttl", lease.DEFAULT_TTL)
        wait_limit = getattr(settings, "cache_wait_timeout", 3600.0)
        owner = lease.owner_id("/".join(map(str, _identity(ti))) if ti is not None else self.name)
        deadline = time.monotonic() + wait_limit
        waited = False
        delay = 0.2
        while True:
            held = lease.try_acquire(store, key, owner, ttl)
            if held is not None:
                if waited and not refresh:  # the holder may have published while we were waiting: look again
                    found = self._reuse(store, key, manifest, ti, task_level, multiple_outputs)
                    if found is not _MISSING:
                        held.release()
                        return None, found
                return held, _MISSING
            if not waited:
                log.info("mlmd cache: another worker is computing %s (key %s); waiting", self.name, key)
            waited = True
            if not refresh:
                found = self._reuse(store, key, manifest, ti, task_level, multiple_outputs)
                if found is not _MISSING:
                    return None, found
            if time.monotonic() > deadline:
                log.warning("mlmd cache: waited %g s for %s; running without the lease", wait_limit, key)
                return None, _MISSING
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def _compute(self, store: Any, key: str, manifest: Manifest, reason: str, call: Callable[[], Any], ti: Any,
                 task_level: bool, held: lease.Lease | None, refresh: bool, multiple_outputs: bool,
                 do_xcom_push: bool) -> Any:
        decision = registry.Decision(key=key, step=self.name, manifest_json=manifest.to_json(), hit=False)
        if task_level:
            if held is not None:
                decision.on_settled.append(held.release)
            registry.put(_identity(ti), decision)
        outcome = Outcome("refresh" if refresh else "miss", self.name, key, reason=reason)
        _banner(outcome)
        started = time.monotonic()
        try:
            result = call()
        except BaseException:
            decision.on_settled.clear()
            if held is not None:
                held.release()
            raise
        decision.duration_s = time.monotonic() - started
        decision.computed_at_ms = int(time.time() * 1000)
        if task_level:
            decision.output_keys = _xcom_keys(result, multiple_outputs, do_xcom_push)
        else:
            try:
                self._publish_call(store, decision, result, ti)
            except Exception as exc:
                log.warning("mlmd cache: could not record %s (%s: %s); it will be recomputed next time",
                            self.name, type(exc).__name__, exc)
            finally:
                if held is not None:
                    held.release()
        _note(outcome, ti)
        if task_level and ti is not None:
            _push_marker(ti, outcome)
        return result

    def _publish_call(self, store: Any, decision: registry.Decision, result: Any, ti: Any) -> None:
        text = _serialize(result)
        if len(text.encode("utf-8")) > MAX_VALUE_BYTES:
            raise ValueError(f"the value is larger than {MAX_VALUE_BYTES} bytes; return it from a task instead")
        index.publish_call(store, self.name, {**decision.custom_properties(), index.OUTPUT_KEYS: '["return"]'},
                           text, digest(encode(result, "return value")) if _encodable(result) else "", _where(ti))

    # ----------------------------------------------------------------------------------------- endings

    def _store_down(self, exc: Exception, ti: Any, task_level: bool, call: Callable[[], Any]) -> Any:
        message = f"metadata store unavailable ({type(exc).__name__}: {exc})"
        if self.options.on_store_error == "fail":
            raise CacheStoreError(f"cached_step {self.name}: {message}") from exc
        return self._finish(Outcome("uncached", self.name, reason=f"{message}; running uncached"), ti, task_level,
                            call)

    def _finish(self, outcome: Outcome, ti: Any, task_level: bool, call: Callable[[], Any] | None,
                value: Any = None) -> Any:
        _banner(outcome)
        _note(outcome, ti)
        if task_level and ti is not None:
            _push_marker(ti, outcome)
        return call() if call is not None else value


def _text_property(node: Any, name: str) -> str | None:
    for props in (node.properties, node.custom_properties):
        if name in props and props[name].HasField("string_value"):
            return props[name].string_value
    return None


def _where(ti: Any) -> dict[str, Any]:
    if ti is None:
        return {}
    return {"dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id, "map_index": ti.map_index,
            "try_number": ti.try_number}


def _push_marker(ti: Any, outcome: Outcome) -> None:
    try:
        ti.xcom_push(XCOM_MARKER, outcome.marker())
    except Exception:
        log.debug("could not push the %s XCom", XCOM_MARKER, exc_info=True)


def _xcom_keys(result: Any, multiple_outputs: bool, do_xcom_push: bool) -> list[str]:
    if result is None or not do_xcom_push:
        return []
    if multiple_outputs and isinstance(result, Mapping):
        return [str(k) for k in result]
    return ["return_value"]


def _xcom_value(ti: Any, candidate: index.Candidate, multiple_outputs: bool) -> Any:
    """The task's return value rebuilt from the source's XCom artifacts (pulled from the source run)."""
    expected = candidate.execution.custom_properties.get(index.OUTPUT_KEYS)
    keys = json.loads(expected.string_value) if expected is not None else None
    values: dict[str, Any] = {}
    for artifact, _ in candidate.outputs:
        if not artifact.uri.startswith("xcom://"):
            continue
        p = artifact.properties
        value = ti.xcom_pull(task_ids=p["task_id"].string_value, dag_id=p["dag_id"].string_value,
                             run_id=p["run_id"].string_value, key=p["key"].string_value,
                             map_indexes=p["map_index"].int_value, default=_MISSING)
        if value is _MISSING and "value" in p:
            value = _deserialize(p["value"].string_value)
        if value is _MISSING:
            return _MISSING
        values[p["key"].string_value] = value
    if keys is None:
        keys = list(values)
    if any(k not in values for k in keys):
        return _MISSING
    if not keys:
        return None
    if multiple_outputs and keys != ["return_value"]:
        return {k: values[k] for k in keys}
    return values.get("return_value", _MISSING)


def _call_value(candidate: index.Candidate) -> Any:
    text = index.call_value(candidate)
    return _MISSING if text is None else _deserialize(text)


def _encodable(value: Any) -> bool:
    try:
        encode(value)
    except Exception:
        return False
    return True


def _serialize(value: Any) -> str:
    """JSON text of a call-level value (Airflow's serde when available, so dataclasses/datetimes survive)."""
    try:
        from airflow.sdk.serde import serialize

        return canonical(serialize(value))
    except ImportError:
        return canonical(value)


def _deserialize(text: str) -> Any:
    data = json.loads(text)
    try:
        from airflow.sdk.serde import deserialize

        return deserialize(data)
    except ImportError:
        return data


# -------------------------------------------------------------------------------------------- decorator


def _options(name: str | None, version: str | None, code_deps: Iterable[Any] | None,
             file_deps: Iterable[str] | None, ignore: Iterable[str] | None, max_age: timedelta | None,
             verify: str, concurrency: str, on_store_error: str, conn_id: str | None, store: Any) -> CacheOptions:
    return CacheOptions(name=name, version=None if version is None else str(version),
                        code_deps=tuple(code_deps or ()), file_deps=tuple(str(f) for f in file_deps or ()),
                        ignore=frozenset(ignore or ()), max_age=max_age, verify=verify, concurrency=concurrency,
                        on_store_error=on_store_error, conn_id=conn_id, store=store)


def wrap_function(fn: Callable[..., Any], options: CacheOptions) -> Callable[..., Any]:
    """The cached version of a plain function (what `@cached_step` puts under or over `@task`)."""
    step = Step(fn, options)

    @functools.wraps(fn)
    def cached(*args: Any, **kwargs: Any) -> Any:
        context = _current_context()
        ti = context.get("ti") if context else None
        task = getattr(ti, "task", None)
        task_level = (ti is not None and not _in_task_step.get()
                      and getattr(getattr(task, "python_callable", None), "__mlmd_cached_step__", None) is step)
        if not task_level:
            arguments = step.arguments(args, kwargs)
            return step.run(lambda: fn(*args, **kwargs), arguments, context=context, task_level=False,
                            outputs={"kind": "value"})
        # Airflow passes context values (ti, params, ...) named in the signature as keyword arguments; they are
        # not inputs. (Not "anything that is in the context": PythonOperator merges op_kwargs into it.)
        given = set(getattr(task, "op_kwargs", None) or {})
        injected = {k for k in kwargs if k in context and k not in given}  # type: ignore[operator]
        arguments = step.arguments(args, kwargs, injected)
        token = _in_task_step.set(True)
        try:
            multiple = bool(getattr(task, "multiple_outputs", False))
            return step.run(lambda: fn(*args, **kwargs), arguments, context=context, task_level=True,
                            sources=xcom_sources(ti, step.signature), extra_inputs=inlet_inputs(task),
                            outputs={"kind": "xcom", "multiple_outputs": multiple},
                            multiple_outputs=multiple, do_xcom_push=bool(getattr(task, "do_xcom_push", True)))
        finally:
            _in_task_step.reset(token)

    cached.__mlmd_cached_step__ = step  # type: ignore[attr-defined]
    return cached


def cached_step(func: Callable[..., Any] | None = None, *, name: str | None = None, version: str | None = None,
                code_deps: Iterable[Any] | None = None, file_deps: Iterable[str] | None = None,
                ignore: Iterable[str] | None = None, max_age: timedelta | None = None, verify: str = "exists",
                concurrency: str = "none", on_store_error: str = "run", conn_id: str | None = None,
                store: Any = None) -> Any:
    """Cache a step's outputs in MLMD, keyed by its code and inputs (docs/caching.md).

    Use as `@cached_step` or `@cached_step(...)`, above or below `@task`; on a plain function it caches calls.
    """
    options = _options(name, version, code_deps, file_deps, ignore, max_age, verify, concurrency,
                       on_store_error, conn_id, store)

    def apply(obj: Any) -> Any:
        if _is_decorated_task(obj):  # @cached_step above @task: rebuild the task decorator around our wrapper
            import attr

            return attr.evolve(obj, function=wrap_function(obj.function, options))
        if not callable(obj):
            raise TypeError(f"cached_step decorates a function or a @task, got {type(obj).__name__}")
        return wrap_function(obj, options)

    return apply(func) if func is not None else apply


def _is_decorated_task(obj: Any) -> bool:
    if not hasattr(obj, "function") or not hasattr(obj, "expand"):
        return False
    try:
        from airflow.sdk.bases.decorator import is_decorated_task
    except ImportError:
        return False
    return bool(is_decorated_task(obj))
