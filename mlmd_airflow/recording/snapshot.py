"""Reads what MLMD needs from a running Airflow task instance into plain `TaskRun` records.

This is the only module that knows Airflow's task-side objects (RuntimeTaskInstance, operators, XComArgs,
Assets, outlet events). It runs in the task's own thread, inside the listener hooks.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import os
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from mlmd_airflow.recording import model as m
from mlmd_core.proto import metadata_store_pb2 as pb

#: Operators name their own ExecutionType with this attribute (a string, or a method returning one).
EXECUTION_TYPE_ATTRIBUTE = "mlmd_execution_type"
#: Operators contribute input/output artifacts with this method: `get_mlmd_artifacts(context) -> (inputs, outputs)`.
ARTIFACTS_METHOD = "get_mlmd_artifacts"

_STATE = {"running": pb.Execution.RUNNING, "success": pb.Execution.COMPLETE, "failed": pb.Execution.FAILED,
          "up_for_retry": pb.Execution.FAILED, "skipped": pb.Execution.CANCELED}


# ------------------------------------------------------------------------------------------- type naming


@functools.lru_cache(maxsize=1)
def _dags_folder() -> str:
    try:
        from airflow.configuration import conf

        return os.path.realpath(os.path.expanduser(conf.get("core", "dags_folder")))
    except Exception:  # no Airflow config: no DAG-file normalisation
        return ""


def _module_name(obj: Any) -> str:
    """The module part of `obj`'s dotted path, the same under dag.test(), `python dag.py` and a worker.

    Airflow imports DAG files as `unusual_prefix_<sha1>_<file>` in the dag-processor and workers while dag.test()
    run as a script sees `__main__` (pitfall 6), so code from a DAG file is named after the file's path inside
    the DAGs folder (`etl` for dags/etl.py, `team.etl` for dags/team/etl.py); library code keeps `__module__`.
    """
    module = getattr(obj, "__module__", None) or ""
    try:
        source = inspect.getsourcefile(obj) or inspect.getfile(obj)
    except (TypeError, OSError):
        source = None
    if source:
        real = os.path.realpath(source)
        folder = _dags_folder()
        if folder and real.startswith(folder + os.sep):
            return os.path.splitext(os.path.relpath(real, folder))[0].replace(os.sep, ".")
        if module == "__main__" or module.startswith("unusual_prefix_"):
            return os.path.splitext(os.path.basename(real))[0]
    return module


def code_path(obj: Any) -> str:
    """`module.Qual.name` of a class or function, without `<locals>` (see `_module_name` for the module)."""
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", type(obj).__name__)
    qualname = qualname.replace(".<locals>", "")
    module = _module_name(obj)
    return f"{module}.{qualname}" if module else qualname


def is_taskflow(task: Any) -> bool:
    """True for @task-decorated tasks (all are DecoratedOperator subclasses, e.g. _PythonDecoratedOperator)."""
    try:
        from airflow.sdk.bases.decorator import DecoratedOperator
    except ImportError:  # pragma: no cover - very old SDK
        return False
    return isinstance(task, DecoratedOperator)


def execution_type(task: Any) -> tuple[str, str]:
    """(ExecutionType name, description) of a task: the kind of step it is, independent of DAG and run.

    1. the operator's own `mlmd_execution_type` (attribute or method), if it has one;
    2. TaskFlow tasks: the dotted path of the decorated function (`etl.my_dag.train`);
    3. classic operators: the dotted path of the operator class
       (`airflow.providers.standard.operators.bash.BashOperator`).
    The description is the first line of the function's or class's docstring.
    """
    own = getattr(task, EXECUTION_TYPE_ATTRIBUTE, None)
    if callable(own):
        own = own()
    target = task.python_callable if is_taskflow(task) else type(task)
    doc = (inspect.getdoc(target) or "").strip().splitlines()
    description = doc[0] if doc else ""
    if isinstance(own, str) and own:
        return own, description
    return code_path(target), description


def operator_name(task: Any) -> str:
    """Dotted path of the operator class (the `operator` property of every execution)."""
    return code_path(type(task))


# ----------------------------------------------------------------------------------------- inputs/outputs


def _asset_ref(obj: Any) -> m.AssetRef | None:
    from airflow.sdk import Asset

    if isinstance(obj, Asset):
        return m.AssetRef(uri=obj.uri, name=obj.name, group=obj.group, extra=dict(obj.extra or {}))
    return None


def asset_refs(items: Iterable[Any]) -> list[m.AssetRef]:
    """The Assets among inlets/outlets (aliases and name/URI references are resolved by Airflow elsewhere)."""
    return [ref for ref in (_asset_ref(item) for item in items or ()) if ref is not None]


def outlet_event_outputs(context: Any) -> tuple[dict[str, Any], list[m.AssetRef]]:
    """({uri: extra} of the task's outlet events, Assets written through an AssetAlias) from the context."""
    extras: dict[str, Any] = {}
    via_alias: list[m.AssetRef] = []
    accessors = getattr(context.get("outlet_events"), "_dict", None) or {}
    for key, accessor in accessors.items():
        uri = getattr(key, "uri", None)
        if uri and getattr(accessor, "extra", None):
            extras[uri] = dict(accessor.extra)
        for event in getattr(accessor, "asset_alias_events", None) or ():
            dest = event.dest_asset_key
            via_alias.append(m.AssetRef(uri=dest.uri, name=dest.name, extra=dict(event.dest_asset_extra or {})))
            if event.extra:
                extras[dest.uri] = dict(event.extra)
    return extras, via_alias


def _mapped_operator_class() -> type | None:
    try:
        from airflow.sdk.definitions.mappedoperator import MappedOperator
    except ImportError:  # pragma: no cover
        return None
    return MappedOperator


def xcom_inputs(ti: Any, task: Any) -> list[m.Ref]:
    """The upstream XComs this task instance consumed, from the XComArgs in its definition (op_args/op_kwargs,
    expand() arguments, templated fields) before Airflow resolved them to values.

    - unmapped upstream: its XCom (map index -1);
    - mapped upstream feeding this mapped task one element each (`t.expand(x=mapped.output)`): the XCom of the
      same map index;
    - any other use of a mapped upstream (a reduce): every map index;
    - `multiple_outputs` upstream used whole: every key it pushed.
    Jinja `{{ ti.xcom_pull(...) }}` strings are not references and are not seen.
    """
    from airflow.sdk.definitions.xcom_arg import XComArg

    dag = getattr(task, "dag", None)
    definition = dag.task_dict.get(ti.task_id) if dag is not None else None
    if definition is None:
        return []
    mapped_cls = _mapped_operator_class()
    per_element: list[tuple[Any, str]] = []
    whole: list[tuple[Any, str]] = []
    if mapped_cls is not None and isinstance(definition, mapped_cls):
        expand_input = definition._get_specified_expand_input()
        expand_refs = list(expand_input.iter_references())
        value = getattr(expand_input, "value", None)
        single = isinstance(value, dict) and len(value) == 1
        (per_element if single else whole).extend(expand_refs)
        whole.extend(XComArg.iter_xcom_references(definition.partial_kwargs))
    else:
        whole.extend(XComArg.iter_xcom_references(definition))

    refs: list[m.Ref] = []
    seen: set[tuple[str, str, int | None]] = set()

    def add(upstream: Any, key: str, element: bool) -> None:
        upstream_mapped = mapped_cls is not None and isinstance(upstream, mapped_cls)
        map_index: int | None = -1
        if upstream_mapped:
            map_index = ti.map_index if element and ti.map_index >= 0 else None
        whole_dict = key == "return_value" and bool(getattr(upstream, "multiple_outputs", False))
        marker = (upstream.task_id, "*" if whole_dict else key, map_index)
        if marker in seen:
            return
        seen.add(marker)
        if whole_dict or map_index is None:
            refs.append(m.XComQuery(ti.dag_id, ti.run_id, upstream.task_id, None if whole_dict else key,
                                    map_index))
        else:
            refs.append(m.XComRef(ti.dag_id, ti.run_id, upstream.task_id, map_index, key))

    for upstream, key in per_element:
        add(upstream, key, True)
    for upstream, key in whole:
        add(upstream, key, False)
    return refs


def xcom_outputs(ti: Any, task: Any, result: Any) -> list[m.XComRef]:
    """The XComs a task's return value becomes (as `_push_xcom_if_needed` pushes them): none for None or with
    do_xcom_push=False, one per key with multiple_outputs, else one `return_value`."""
    if result is None or not getattr(task, "do_xcom_push", True):
        return []
    if getattr(task, "multiple_outputs", False) and isinstance(result, dict):
        return [m.XComRef(ti.dag_id, ti.run_id, ti.task_id, ti.map_index, str(k), v, True)
                for k, v in result.items()]
    return [m.XComRef(ti.dag_id, ti.run_id, ti.task_id, ti.map_index, "return_value", result, True)]


def _contributed(items: Iterable[Any]) -> list[m.Ref]:
    out: list[m.Ref] = []
    for item in items or ():
        if isinstance(item, (m.ArtifactRef, m.AssetRef)):
            out.append(item)
        elif isinstance(item, str):
            out.append(m.ArtifactRef(uri=item))
        else:
            asset = _asset_ref(item)
            if asset is None:
                raise TypeError(f"{ARTIFACTS_METHOD}() returned {type(item).__name__}; expected an Asset, a URI "
                                "string or mlmd_airflow.recording.ArtifactRef")
            out.append(asset)
    return out


def operator_artifacts(task: Any, context: Any) -> tuple[list[m.Ref], list[m.Ref]]:
    """(inputs, outputs) the operator reports itself through `get_mlmd_artifacts(context)`."""
    method = getattr(task, ARTIFACTS_METHOD, None)
    if not callable(method):
        return [], []
    result = method(context)
    if not result:
        return [], []
    inputs, outputs = result
    return _contributed(inputs), _contributed(outputs)


def openlineage_available() -> bool:
    """True when the OpenLineage provider is installed (then operators' OpenLineage datasets are recorded)."""
    return importlib.util.find_spec("airflow.providers.openlineage") is not None


def _openlineage_ref(dataset: Any) -> m.ArtifactRef | None:
    namespace, name = getattr(dataset, "namespace", None), getattr(dataset, "name", None)
    if not namespace or not name:
        return None
    uri = f"{namespace.rstrip('/')}/{name.lstrip('/')}"
    return m.ArtifactRef(uri=uri, type_name=m.OPENLINEAGE_DATASET_TYPE,
                         external_id=f"openlineage:{namespace}/{name}",
                         properties={"namespace": namespace, "name": name})


def openlineage_artifacts(task: Any, ti: Any) -> tuple[list[m.Ref], list[m.Ref]]:
    """(inputs, outputs) from the operator's `get_openlineage_facets_on_complete(ti)` datasets."""
    method = getattr(task, "get_openlineage_facets_on_complete", None)
    if not callable(method) or not openlineage_available():
        return [], []
    lineage = method(ti)
    if lineage is None:
        return [], []
    inputs = [r for r in map(_openlineage_ref, getattr(lineage, "inputs", None) or ()) if r is not None]
    outputs = [r for r in map(_openlineage_ref, getattr(lineage, "outputs", None) or ()) if r is not None]
    return list(inputs), list(outputs)


# ----------------------------------------------------------------------------------------------- TaskRun


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _enum_text(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _task_run(ti: Any, airflow_state: str, settings: Any, *, error: Any = None) -> m.TaskRun:
    task = ti.task
    type_name, description = execution_type(task)
    context = ti.get_template_context()
    dag_run = context.get("dag_run")
    start = getattr(ti, "start_date", None)
    end = getattr(ti, "end_date", None) if airflow_state != "running" else None
    if airflow_state != "running" and end is None:
        end = datetime.now(timezone.utc)
    conf = getattr(dag_run, "conf", None)
    error_text = None
    if error is not None:
        error_text = m.summarize(f"{type(error).__name__}: {error}" if isinstance(error, BaseException)
                                 else str(error))
    return m.TaskRun(
        dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, map_index=ti.map_index,
        try_number=ti.try_number, execution_type=type_name, type_description=description,
        operator=operator_name(task), state=_STATE[airflow_state], airflow_state=airflow_state,
        start_time=_iso(start), end_time=_iso(end),
        duration_seconds=(end - start).total_seconds() if start is not None and end is not None else None,
        hostname=getattr(ti, "hostname", None), ti_id=str(ti.id) if getattr(ti, "id", None) else None,
        error=error_text, run_type=_enum_text(getattr(dag_run, "run_type", None)),
        logical_date=_iso(getattr(dag_run, "logical_date", None)),
        run_after=_iso(getattr(dag_run, "run_after", None)),
        conf=m.summarize(m.canonical_json(conf)) if conf else None,
        record_xcom=settings.record_xcom, xcom_value_max_bytes=settings.xcom_value_max_bytes)


def task_run(ti: Any, airflow_state: str, settings: Any, *, error: Any = None) -> m.TaskRun:
    """The TaskRun of `ti` in `airflow_state` (running/success/failed/up_for_retry/skipped), without artifacts,
    with what @cached_step decided for this try: the cache key and manifest, and on a hit state CACHED with the
    reused outputs (mlmd_airflow.cache.registry; nothing when the task is not a cached step)."""
    run = _task_run(ti, airflow_state, settings, error=error)
    from mlmd_airflow.cache import registry

    decision = registry.get((ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number))
    if decision is not None:
        run.cache_properties = decision.custom_properties()
        if decision.hit:
            run.cached_outputs = list(decision.outputs)
            if run.state == pb.Execution.COMPLETE:
                run.state = pb.Execution.CACHED
    return run


def running(ti: Any, settings: Any) -> m.TaskRun:
    """RUNNING execution with its inputs: inlet Assets and the upstream XComs it consumed."""
    run = task_run(ti, "running", settings)
    run.inputs = [*asset_refs(ti.task.inlets)]
    if settings.record_xcom != "none":
        run.inputs += xcom_inputs(ti, ti.task)
    return run


def produced(ti: Any, settings: Any, result: Any) -> m.TaskRun:
    """RUNNING execution with the XCom outputs of `result` (written before Airflow marks the task successful)."""
    run = task_run(ti, "running", settings)
    run.outputs = list(xcom_outputs(ti, ti.task, result))
    return run


def succeeded(ti: Any, settings: Any) -> m.TaskRun:
    """COMPLETE execution with outlet Assets (+ outlet-event extra), alias-resolved Assets, and what the operator
    reports through get_mlmd_artifacts() / OpenLineage."""
    run = task_run(ti, "success", settings)
    context = ti.get_template_context()
    extras, via_alias = outlet_event_outputs(context)
    run.asset_event_extra = extras
    own_inputs, own_outputs = operator_artifacts(ti.task, context)
    ol_inputs, ol_outputs = openlineage_artifacts(ti.task, ti)
    run.inputs = [*own_inputs, *ol_inputs]
    run.outputs = [*asset_refs(ti.task.outlets), *via_alias, *own_outputs, *ol_outputs]
    return run


def ended(ti: Any, settings: Any, airflow_state: str, error: Any = None) -> m.TaskRun:
    """FAILED (failed, up_for_retry) or CANCELED (skipped) execution."""
    return task_run(ti, airflow_state, settings, error=error)


def skipped_downstream(ti: Any, settings: Any) -> list[m.TaskRun]:
    """CANCELED executions (try 0) for the direct downstream tasks a branching/short-circuit operator skipped.

    Airflow never starts those task instances, so no hook fires for them; the skipping task is the one place
    that knows. Tasks skipped later by the scheduler (further downstream) are not seen.
    """
    task = ti.task
    # Branch operators (airflow.sdk.bases.branch) and ShortCircuitOperator share a SkipMixin; its module moved
    # between the standard provider and the Task SDK, so match the class name along the MRO.
    if not any(cls.__name__ == "SkipMixin" for cls in type(task).__mro__) or not task.downstream_task_ids:
        return []
    downstream = sorted(task.downstream_task_ids)
    states = ti.get_task_states(dag_id=ti.dag_id, task_ids=downstream, run_ids=[ti.run_id]).get(ti.run_id, {})
    base = task_run(ti, "skipped", settings)
    runs = []
    for task_id in downstream:
        if str(states.get(task_id)) not in ("skipped", "TaskInstanceState.SKIPPED"):
            continue
        other = task.dag.task_dict[task_id]
        type_name, description = execution_type(other)
        runs.append(m.TaskRun(
            dag_id=ti.dag_id, run_id=ti.run_id, task_id=task_id, map_index=-1, try_number=0,
            execution_type=type_name, type_description=description, operator=operator_name(other),
            state=pb.Execution.CANCELED, airflow_state="skipped", end_time=base.end_time,
            error=f"skipped by {ti.task_id}", run_type=base.run_type, logical_date=base.logical_date,
            run_after=base.run_after, conf=base.conf, record_xcom=base.record_xcom,
            xcom_value_max_bytes=base.xcom_value_max_bytes))
    return runs


# ----------------------------------------------------------------------------------- execute-time hooks


def chain_hook(previous: Callable[..., Any] | None, ours: Callable[..., None], *, before: bool) -> Callable[..., Any]:
    """A task pre/post-execute hook that calls `ours` before or after the operator's own `previous` hook.

    Airflow runs generator hooks (which may yield asset Metadata) differently from plain ones, so the chained
    hook is a generator exactly when `previous` is one.
    """
    if previous is None:
        def only(*args: Any) -> None:
            ours(*args)
        return only
    if inspect.isgeneratorfunction(previous):
        def chained_gen(*args: Any) -> Any:
            if before:
                ours(*args)
            result = yield from previous(*args)
            if not before:
                ours(*args)
            return result
        return chained_gen

    def chained(*args: Any) -> Any:
        if before:
            ours(*args)
        result = previous(*args)
        if not before:
            ours(*args)
        return result
    return chained
