"""Caching for classic operators and the `@task.mlmd_cached` TaskFlow decorator (registered by the provider).

`cached_operator(op, ...)` makes a classic operator's `execute` a cached step: the key covers the operator
class's code (plus its `python_callable`, if any), its *rendered* template fields and the extra attributes named
in `fields`; a hit returns the source's XCom value without calling execute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, TypeVar

from mlmd_airflow.cache.step import Step, _options, cached_step, inlet_inputs

Op = TypeVar("Op")

#: Keyword arguments of @task.mlmd_cached that configure the cache (the rest go to the task).
CACHE_OPTION_NAMES = ("name", "version", "code_deps", "file_deps", "ignore", "max_age", "verify", "concurrency",
                      "on_store_error", "conn_id")


def cached_operator(operator: Op, *, name: str | None = None, version: str | None = None,
                    code_deps: Iterable[Any] | None = None, file_deps: Iterable[str] | None = None,
                    fields: Iterable[str] = (), ignore: Iterable[str] | None = None,
                    max_age: timedelta | None = None, verify: str = "exists", concurrency: str = "none",
                    on_store_error: str = "run", conn_id: str | None = None) -> Op:
    """Returns `operator` with a cached `execute` (same options as @cached_step; `fields`: extra operator
    attributes that are inputs besides the template fields). Default step name: `<dag_id>.<task_id>`."""
    op: Any = operator
    deps = list(code_deps or ())
    if callable(getattr(op, "python_callable", None)):
        deps.append(op.python_callable)
    dag = getattr(op, "dag", None)
    default_name = f"{dag.dag_id}.{op.task_id}" if dag is not None else op.task_id
    options = _options(name or default_name, version, deps, file_deps, ignore, max_age, verify, concurrency,
                       on_store_error, conn_id, None)
    step = Step(type(op), options, kind="operator")
    extra_fields = tuple(fields)
    original = op.execute

    def execute(context: Any) -> Any:
        task = context.get("task") or op  # the rendered per-try copy
        names = [*getattr(task, "template_fields", ()), *extra_fields]
        arguments = {n: getattr(task, n) for n in names if n not in options.ignore and hasattr(task, n)}
        return step.run(lambda: original(context), arguments, context=context, task_level=True,
                        extra_inputs=inlet_inputs(task),
                        outputs={"kind": "xcom", "operator": f"{type(task).__module__}.{type(task).__qualname__}"},
                        do_xcom_push=bool(getattr(task, "do_xcom_push", True)))

    execute.__mlmd_cached_step__ = step  # type: ignore[attr-defined]
    op.execute = execute
    return operator


def mlmd_cached_task(python_callable: Callable[..., Any] | None = None, multiple_outputs: bool | None = None,
                     **kwargs: Any) -> Any:
    """`@task.mlmd_cached(...)`: `@task` + `@cached_step` in one; cache options (CACHE_OPTION_NAMES) are taken
    from the keyword arguments, the rest configure the task."""
    from airflow.providers.standard.decorators.python import _PythonDecoratedOperator
    from airflow.sdk.bases.decorator import task_decorator_factory

    cache_kwargs = {k: kwargs.pop(k) for k in CACHE_OPTION_NAMES if k in kwargs}

    def build(fn: Callable[..., Any]) -> Any:
        return task_decorator_factory(python_callable=cached_step(fn, **cache_kwargs),
                                      multiple_outputs=multiple_outputs,
                                      decorated_operator_class=_PythonDecoratedOperator, **kwargs)

    return build(python_callable) if python_callable is not None else build
