"""The Airflow listener that records task runs in MLMD (registered by `mlmd_airflow.plugin.MlmdPlugin`).

It runs in the task process (the Task SDK runner) and does three things per task-instance try:

- `on_task_instance_running`: a RUNNING Execution with its inputs (inlet Assets, consumed upstream XComs); it
  also chains a post-execute hook onto the running task that records the task's XCom outputs *before* Airflow
  marks the task successful, so a downstream task always finds the XCom artifacts it consumes;
- `on_task_instance_success`: COMPLETE, with outlet Assets and operator-contributed artifacts (and CANCELED
  executions for the tasks a branch skipped);
- `on_task_instance_failed` / `on_task_instance_skipped`: FAILED (with the error) / CANCELED.

It never harms the task: every store write runs in a daemon worker thread and is waited for at most
`[mlmd] timeout` seconds; errors and timeouts are logged as warnings and counted in `stats`. With
`[mlmd] strict = True` they fail the task instead, where that is still possible: a failed RUNNING record fails
the task before its code runs, a failed output record fails it before it is marked successful; once the task is
terminal (success/failure hooks) a failure is logged as an error and counted. Hooks fired outside a task
process (the scheduler or api-server report state changes with ORM task instances) are ignored, so nothing runs
in the scheduler.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow.listeners import hookimpl

from mlmd_airflow.config import Settings, load_settings

if TYPE_CHECKING:
    from mlmd_airflow.recording import model


def _preload() -> None:
    """Imports the recording code and the SQL store engine now, when the plugin loads, and (unless `[mlmd] enabled`
    is off) compiles the SQLite statements recording uses (recording.warm_up, into a throw-away in-memory store)
    and imports the driver of the configured store (hooks.mlmd.preload_store_modules).

    Airflow forks task processes from components that loaded the plugin (LocalExecutor workers are forked from
    the scheduler, task runners from those), so what is loaded here is inherited instead of being done again by
    every task process: the imports, about 100-200 ms per task instance otherwise (psycopg alone 50 ms), and the
    compiled statements (mlmd_core's everyday ones and recording's), about 50-60 ms. Nothing is written to a real
    store, nor connected to, outside task processes.
    """
    try:
        import mlmd_airflow.recording
        import mlmd_core.store.bootstrap  # noqa: F401
        from mlmd_airflow.hooks.mlmd import preload_store_modules

        settings = load_settings()
        if settings.enabled:  # disabled, the task processes record nothing
            mlmd_airflow.recording.warm_up()
            preload_store_modules(settings.conn_id)
    except Exception:  # recording then imports on first use, and reports its own error there
        log.debug("mlmd-airflow: preloading the recording modules failed", exc_info=True)


log = logging.getLogger(__name__)

_preload()

#: Per-process counters: `recorded` (records written), `failed` (errors), `timed_out` (writes abandoned after
#: `[mlmd] timeout`), `ignored` (hooks not for a task process / excluded tasks).
stats: Counter[str] = Counter()


class MlmdRecordingError(RuntimeError):
    """Raised into the task (strict mode only) when its run could not be recorded."""


# ------------------------------------------------------------------------------------------ worker thread


class _Job:
    __slots__ = ("fn", "done", "error", "result", "abandoned")

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.result: Any = None
        self.abandoned = False  # set by the waiting hook on timeout: not started yet -> never started


class _Worker:
    """A daemon thread per process that performs store writes in submission order.

    A daemon thread never delays interpreter exit. When a write hangs (an unreachable store), the waiting hook
    abandons it after its timeout; the next submission then starts a fresh thread so later writes (to a store
    that works again, e.g. after the connection changed) are not stuck behind it. Writes to one store stay
    serialised anyway by that store's Writer lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._busy_since: list[float | None] = [None]

    def submit(self, fn: Callable[[], Any], stuck_after: float) -> _Job:
        job = _Job(fn)
        with self._lock:
            busy = self._busy_since[0]
            stuck = busy is not None and time.monotonic() - busy > stuck_after
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid() or stuck:
                # (after a fork the parent's thread does not exist here; a stuck thread is left to finish alone)
                self._queue, self._busy_since = queue.SimpleQueue(), [None]
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, args=(self._queue, self._busy_since),
                                                name="mlmd-recorder", daemon=True)
                self._thread.start()
            self._queue.put(job)
        return job

    @staticmethod
    def _run(jobs: queue.SimpleQueue[_Job], busy_since: list[float | None]) -> None:
        while True:
            job = jobs.get()
            if job.abandoned:
                continue
            busy_since[0] = time.monotonic()
            try:
                job.result = job.fn()
            except BaseException as exc:  # reported to the waiting hook
                job.error = exc
            finally:
                busy_since[0] = None
                job.done.set()


_worker = _Worker()
_settings: Settings | None = None


def settings() -> Settings:
    """The `[mlmd]` settings, read once per process (`reset()` re-reads them)."""
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def reset() -> None:
    """Forgets the cached settings and zeroes `stats` (for tests and benchmarks that change `[mlmd]`)."""
    global _settings
    _settings = None
    stats.clear()


def _write(runs: list[model.TaskRun], conn_id: str) -> list[int]:
    from mlmd_airflow.hooks.mlmd import store_for
    from mlmd_airflow.recording import writer_for

    writer = writer_for(store_for(conn_id))
    return [writer.record(run) for run in runs]


def _record(what: str, ti: Any, build: Callable[[], list[model.TaskRun]], conf: Settings) -> bool:
    """Builds the records (task thread) and writes them (worker thread, bounded); True when written.

    Failures are logged and counted; in strict mode they raise MlmdRecordingError.
    """
    started = time.monotonic()
    try:
        runs = build()
        if not runs:
            return True
        job = _worker.submit(lambda: _write(runs, conf.conn_id), conf.timeout)
        if not job.done.wait(conf.timeout):
            job.abandoned = True
            stats["timed_out"] += 1
            raise TimeoutError(f"the store did not answer within {conf.timeout:g} s")
        if job.error is not None:
            raise job.error
    except Exception as exc:
        if not isinstance(exc, TimeoutError):
            stats["failed"] += 1
        message = (f"mlmd-airflow: could not record {what} of {ti.dag_id}.{ti.task_id} "
                   f"(run {ti.run_id}, map index {ti.map_index}, try {ti.try_number}): {type(exc).__name__}: {exc}")
        if conf.strict:
            raise MlmdRecordingError(message) from exc
        log.warning("%s; the task is not affected", message)
        return False
    stats["recorded"] += len(runs)
    log.debug("mlmd-airflow: recorded %s of %s.%s in %.1f ms", what, ti.dag_id, ti.task_id,
              (time.monotonic() - started) * 1000)
    return True


def _applies(ti: Any) -> Settings | None:
    """The settings when this hook call should record, else None (disabled, excluded, not a task process)."""
    try:
        conf = settings()
    except Exception as exc:  # a broken [mlmd] section must not break tasks
        stats["failed"] += 1
        log.warning("mlmd-airflow: not recording, [mlmd] settings unusable: %s", exc)
        return None
    if not conf.enabled:
        return None
    # Only the Task SDK's RuntimeTaskInstance (task process) is recorded; the scheduler/api-server report state
    # changes with ORM TaskInstances, sometimes without a task, and must not do store work.
    if type(ti).__name__ != "RuntimeTaskInstance" or getattr(ti, "task", None) is None:
        stats["ignored"] += 1
        return None
    if conf.is_excluded(ti.dag_id, ti.task_id):
        stats["ignored"] += 1
        return None
    return conf


def _install_execute_hooks(ti: Any, conf: Settings, running_ok: bool) -> None:
    """Chains our pre/post-execute hooks onto the task object about to run (a per-try copy Airflow made).

    post-execute: records the XCom outputs from the return value before Airflow reports success.
    pre-execute (strict mode, RUNNING record failed): fails the task before its code runs.
    """
    from mlmd_airflow.recording import snapshot

    task = ti.task
    if conf.strict and not running_ok:
        def refuse(*_: Any) -> None:
            raise MlmdRecordingError(
                f"mlmd-airflow: strict mode: the run of {ti.dag_id}.{ti.task_id} could not be recorded")
        task._pre_execute_hook = snapshot.chain_hook(getattr(task, "_pre_execute_hook", None), refuse, before=True)
    if conf.record_xcom == "none" or not hasattr(task, "_post_execute_hook"):
        return

    def record_outputs(context: Any, result: Any = None) -> None:
        # _record logs and counts failures; in strict mode it raises, which fails the task before success.
        _record("outputs", ti, lambda: [r for r in [snapshot.produced(ti, conf, result)] if r.outputs], conf)

    task._post_execute_hook = snapshot.chain_hook(task._post_execute_hook, record_outputs, before=False)


class MlmdListener:
    """Pluggy listener object: each hook builds the MLMD records of the task-instance try and writes them."""

    @hookimpl
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        """RUNNING execution + inputs; arms the output recording (see module docstring)."""
        conf = _applies(task_instance)
        if conf is None:
            return
        from mlmd_airflow.recording import snapshot

        try:
            ok = _record("start", task_instance, lambda: [snapshot.running(task_instance, conf)], conf)
        except MlmdRecordingError:
            ok = False  # strict: fail the task from its pre-execute hook (a listener exception is swallowed)
        try:
            _install_execute_hooks(task_instance, conf, ok)
        except Exception:
            stats["failed"] += 1
            log.warning("mlmd-airflow: could not arm output recording", exc_info=True)

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        """COMPLETE execution + outlet Assets and contributed artifacts; CANCELED for tasks a branch skipped."""
        conf = _applies(task_instance)
        if conf is None:
            return
        from mlmd_airflow.recording import snapshot

        def build() -> list[model.TaskRun]:
            runs = [snapshot.succeeded(task_instance, conf)]
            if not hasattr(task_instance.task, "_post_execute_hook") and conf.record_xcom != "none":
                value = task_instance.xcom_pull(task_ids=task_instance.task_id, map_indexes=task_instance.map_index)
                runs[0].outputs += snapshot.xcom_outputs(task_instance, task_instance.task, value)
            return runs + snapshot.skipped_downstream(task_instance, conf)

        self._terminal("success", task_instance, build, conf)

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any = None) -> None:
        """FAILED execution with the error summary (also for a try that will be retried)."""
        conf = _applies(task_instance)
        if conf is None:
            return
        state = str(getattr(task_instance.state, "value", task_instance.state) or "failed")
        state = state if state in ("failed", "up_for_retry") else "failed"
        from mlmd_airflow.recording import snapshot

        self._terminal("failure", task_instance, lambda: [snapshot.ended(task_instance, conf, state, error)], conf)

    @hookimpl
    def on_task_instance_skipped(self, previous_state: Any, task_instance: Any) -> None:
        """CANCELED execution (the task raised AirflowSkipException)."""
        conf = _applies(task_instance)
        if conf is None:
            return
        from mlmd_airflow.recording import snapshot

        self._terminal("skip", task_instance, lambda: [snapshot.ended(task_instance, conf, "skipped")], conf)

    @staticmethod
    def _terminal(what: str, ti: Any, build: Callable[[], list[model.TaskRun]], conf: Settings) -> None:
        try:
            _record(what, ti, build, conf)
        except MlmdRecordingError as exc:
            # The task already has its final state; strict mode can only make the failure loud.
            log.error("%s (strict mode; the task's state was already final)", exc)
        finally:
            # @cached_step: the terminal state is written (or failed to be): release its single-flight lease
            from mlmd_airflow.cache import registry

            registry.settle((ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number))


mlmd_listener = MlmdListener()
