"""Per-task overhead of the MLMD listener on the embedded SQLite store (target: < 20 ms per task).

Runs the same generated DAG (a chain of TaskFlow tasks, each consuming its upstream's XCom and returning a value,
plus a mapped task) with dag.test() in one fresh Airflow home, alternating `[mlmd] enabled = True` (recording
into the embedded store $AIRFLOW_HOME/mlmd.sqlite) and `enabled = False` (set through AIRFLOW__MLMD__ENABLED; the
listener then returns at its first line, about a microsecond per hook, i.e. the same as no listener). Runs are
paired and alternated so that machine noise hits both sides alike. Reported per task instance:

- wall: median over pairs of (dag.test() enabled - disabled) / task instances -- what a DAG author sees;
- cpu: the same with the process's CPU time (dag.test() runs every task in this process), which a busy shared
  machine disturbs much less than wall time;
- self: time spent inside the listener's record calls (start, outputs, end) per task instance, in the enabled
  runs -- the listener's own cost, free of dag.test() noise.

    .venv/bin/python benchmarks/listener_overhead.py [--tasks 40] [--repeat 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

DAG_FILE = textwrap.dedent('''
    import pendulum
    from airflow.sdk import dag, task

    N = {tasks}

    @dag(schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False)
    def overhead():
        @task
        def step(value: int) -> int:
            return value + 1

        @task
        def fan(x: int) -> int:
            return x * 2

        value = step.override(task_id="step_0")(0)
        for i in range(1, N - 4):
            value = step.override(task_id=f"step_{{i}}")(value)
        fan.expand(x=[1, 2, 3, 4])

    overhead_dag = overhead()
''')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", help="also write the medians (ms per task instance) here")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="mlmd-bench-"))
    dags = home / "dags"
    dags.mkdir()
    (dags / "overhead.py").write_text(DAG_FILE.format(tasks=args.tasks))
    for name in [n for n in os.environ if n.startswith(("AIRFLOW__MLMD__", "AIRFLOW_CONN_"))]:
        del os.environ[name]
    os.environ.update({
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    })
    from airflow.utils import db

    db.resetdb()
    sys.path.insert(0, str(dags))
    import overhead  # noqa: E402  (needs the environment above)

    from mlmd_airflow import listener

    spent = [0.0]
    record = listener._record

    def timed(*a, **kw):
        started = time.perf_counter()
        try:
            return record(*a, **kw)
        finally:
            spent[0] += time.perf_counter() - started

    listener._record = timed

    def run(enabled: bool) -> tuple[float, float, int, float]:
        os.environ["AIRFLOW__MLMD__ENABLED"] = str(enabled)
        listener._settings = None  # re-read [mlmd] (keeps the counters)
        spent[0] = 0.0
        started, cpu_started = time.perf_counter(), time.process_time()
        dag_run = overhead.overhead_dag.test()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        assert dag_run.state == "success", dag_run.state
        return wall, spent[0], len(dag_run.get_task_instances()), cpu

    run(True), run(False)  # warm-up: imports, execution-API app, first store open
    diffs, cpu_diffs, selfs, walls_on, walls_off = [], [], [], [], []
    for i in range(args.repeat):
        order = (True, False) if i % 2 == 0 else (False, True)
        result = {enabled: run(enabled) for enabled in order}
        (on, self_time, n, cpu_on), (off, _, _, cpu_off) = result[True], result[False]
        diffs.append((on - off) / n * 1000)
        cpu_diffs.append((cpu_on - cpu_off) / n * 1000)
        selfs.append(self_time / n * 1000)
        walls_on.append(on)
        walls_off.append(off)

    from mlmd_airflow.hooks.mlmd import store_for

    executions = len(store_for().get_executions())
    print(f"task instances per run: {n}; {args.repeat} alternating pairs after a warm-up pair")
    print(f"dag.test() median: enabled {statistics.median(walls_on):.2f} s, "
          f"disabled {statistics.median(walls_off):.2f} s")
    print(f"per-task overhead (wall, median of pairs): {statistics.median(diffs):.1f} ms "
          f"(pairs: {', '.join(f'{d:.1f}' for d in diffs)})")
    print(f"per-task overhead (CPU time of the process, median of pairs): {statistics.median(cpu_diffs):.1f} ms")
    print(f"per-task listener self time (start + outputs + end records): {statistics.median(selfs):.1f} ms")
    print(f"executions in the embedded store: {executions} (= {n} x {args.repeat + 1} enabled runs); "
          f"listener stats: {dict(listener.stats)}")
    worst = max(statistics.median(diffs), statistics.median(selfs))
    print("target < 20 ms per task:", "met" if worst < 20 else "NOT met")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "task_instances": n, "pairs": args.repeat, "wall_ms_per_task": round(statistics.median(diffs), 2),
            "cpu_ms_per_task": round(statistics.median(cpu_diffs), 2),
            "self_ms_per_task": round(statistics.median(selfs), 2), "wall_ms_pairs": [round(d, 2) for d in diffs],
            "dag_test_s_enabled": round(statistics.median(walls_on), 3),
            "dag_test_s_disabled": round(statistics.median(walls_off), 3)}, indent=1))


if __name__ == "__main__":
    main()
