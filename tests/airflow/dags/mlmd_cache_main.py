"""DAG `mlmd_cache_main`: every @cached_step behaviour that one DAG run can show, run twice by
tests/airflow/test_cache_dag.py (run 2 with conf {"order": [3, 1, 2], "mlmd_cache": {...}}).

    extract (uncached, reruns)  -> train(lr=0.1) -> report      run 2: hit although extract re-ran
                                -> train_b(lr=0.01)              same step, other argument: miss, explained
    features_a -> features_b (comment/docstring/format edit: hit) -> features_c (helper edited: miss)
    items -> square.expand(x=items) -> total                     run 2 reorders the list: squares hit
    write_gone / write_kept (file outputs, verify="exists")       run 2: the test deleted write_gone's file
    ttl_long (max_age 1 h) -> ttl_short (same step, max_age 2 s) run 2: long hits, short misses (read-time TTL)
    refreshed, disabled_step (dag_run.conf), never_cached (default_args)
    flaky_outer (retries=1) calls cached helper `expensive`, then dies on try 1 -> try 2 hits the helper
    bash_cached (cached_operator(BashOperator)), mlmd_decorated (@task.mlmd_cached), above_task (@cached_step
    above @task), store_down (its cache store is broken: runs uncached), unhashable (UncacheableInputError)
"""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import Asset, dag, get_current_context, task

from mlmd_airflow import cached_operator, cached_step

OUT = Path(os.environ.get("MLMD_CACHE_TEST_DIR", "/tmp/mlmd-cache-test"))


@cached_step(name="expensive")
def expensive(x: int) -> int:
    """A helper cached on its own (a call-level step)."""
    calls = OUT / "expensive.calls"
    calls.write_text(calls.read_text() + "x" if calls.exists() else "x")
    return x * 100


@dag(schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False,
     default_args={"mlmd_cache": {"disable": ["never_cached"]}})
def mlmd_cache_main():
    @task
    def extract() -> list[int]:
        return [1, 2, 3]

    @task
    @cached_step(name="train")
    def train(data: list[int], lr: float = 0.1) -> dict:
        return {"weights": [x * lr for x in data], "lr": lr}

    @task
    def report(model: dict) -> str:
        return f"model with lr {model['lr']}: {model['weights']}"

    def clean(x: int) -> int:
        return x + 1

    @task
    @cached_step(name="features", code_deps=[clean])
    def features_a(x: int) -> int:
        return clean(x) * 2

    @task
    @cached_step(name="features", code_deps=[clean])
    def features_b(x: int) -> int:
        """Same code as features_a, written differently."""
        # only comments, the docstring and the formatting differ
        return clean(
            x) * 2

    def make_c():
        def clean(x: int) -> int:  # the helper changed
            return x + 2

        @task
        @cached_step(name="features", code_deps=[clean])
        def features_c(x: int) -> int:
            return clean(x) * 2

        return features_c

    @task
    def items() -> list[int]:
        return list(get_current_context()["dag_run"].conf.get("order", [1, 2, 3]))

    @task
    @cached_step(name="square")
    def square(x: int) -> int:
        return x * x

    @task
    @cached_step(name="total")
    def total(values: list[int]) -> int:
        return sum(v * (i + 1) for i, v in enumerate(values))  # order matters

    def writer(name: str):
        @task(task_id=f"write_{name}", outlets=[Asset(f"file://{OUT}/{name}.txt")])
        @cached_step(name=f"write_{name}", verify="exists")
        def write(text: str) -> str:
            path = OUT / f"{name}.txt"
            path.write_text(text)
            return str(path)

        return write

    def ttl(task_id: str, max_age: timedelta):
        @task(task_id=task_id)
        @cached_step(name="ttl", max_age=max_age)
        def step(x: int) -> int:
            return x

        return step

    @task
    @cached_step(name="refreshed")
    def refreshed() -> str:
        return "fresh"

    @task
    @cached_step(name="disabled_step")
    def disabled_step() -> str:
        return "computed"

    @task
    @cached_step(name="never_cached")
    def never_cached() -> str:
        return "computed"

    @task(retries=1, retry_delay=timedelta(0))
    def flaky_outer() -> int:
        value = expensive(7)  # published as soon as it returns
        if get_current_context()["ti"].try_number == 1:
            raise RuntimeError("worker died after the helper's result was published")
        return value

    @cached_step(name="above_task")
    @task
    def above_task(x: int) -> int:
        return x + 1

    @task.mlmd_cached(name="decorated", multiple_outputs=True)
    def mlmd_decorated(x: int) -> dict:
        return {"double": x * 2, "triple": x * 3}

    @task
    def use_decorated(double: int, triple: int) -> int:
        return double + triple

    @task
    @cached_step(name="store_down", conn_id="mlmd_broken")
    def store_down() -> str:
        return "ran"

    @task
    @cached_step(name="unhashable")
    def unhashable(lock: object = threading.Lock()) -> str:  # noqa: B008 - on purpose: cannot be keyed
        return "never"

    data = extract()
    model = train(data)
    report(model)
    model >> train.override(task_id="train_b")(data, lr=0.01)
    features_a(1) >> features_b(1) >> make_c()(1)
    total(square.expand(x=items()))
    writer("gone")("a"), writer("kept")("b")
    ttl("ttl_long", timedelta(hours=1))(5) >> ttl("ttl_short", timedelta(seconds=2))(5)
    refreshed(), disabled_step(), never_cached(), flaky_outer(), above_task(1)
    decorated = mlmd_decorated(4)
    use_decorated(decorated["double"], decorated["triple"])
    cached_operator(BashOperator(task_id="bash_cached", bash_command=f"echo run >> {OUT}/bash.calls; echo hi"))
    store_down(), unhashable()


mlmd_cache_main_dag = mlmd_cache_main()
