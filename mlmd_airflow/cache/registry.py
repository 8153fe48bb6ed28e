"""The in-process hand-over between a cached task and the MLMD listener of the same task process.

The cache decides (inside the task's execute) whether the task instance is a hit or a miss and with which key;
the listener writes the task instance's Execution (before and after execute). Both run in the task process (and
under dag.test() in the one test process), so the cache leaves its decision here, keyed by the task-instance
try, and the recording reads it when writing the Execution: state CACHED with OUTPUT events to the source's
artifacts on a hit, and the key + manifest as custom properties either way. No Airflow import here.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

#: (dag_id, run_id, task_id, map_index, try_number) of a task-instance try.
Identity = tuple[str, str, str, int, int]

_MAX_ENTRIES = 1024


@dataclass
class Decision:
    """What the cache decided for one task-instance try (read by recording/writer.py)."""

    key: str
    step: str
    manifest_json: str
    hit: bool
    #: hit: the execution whose outputs are reused, and the execution that originally computed them
    source_execution_id: int | None = None
    original_execution_id: int | None = None
    #: hit: (artifact id, event path key) of the source's OUTPUT events -> this execution's OUTPUT events
    outputs: list[tuple[int, str]] = field(default_factory=list)
    #: ms since epoch when the outputs were computed (the original's), and how long that took
    computed_at_ms: int | None = None
    duration_s: float | None = None
    #: the XCom keys the outputs consist of ([] for a step that returned None); a candidate must have them all
    output_keys: list[str] | None = None
    #: callbacks run once the listener has written the terminal state (e.g. releasing a single-flight lease)
    on_settled: list[Callable[[], None]] = field(default_factory=list)

    def custom_properties(self) -> dict[str, str | int | float]:
        """The execution's cache custom properties (names documented in docs/caching.md)."""
        props: dict[str, str | int | float] = {"cache_key": self.key, "cache_step": self.step,
                                               "cache_manifest": self.manifest_json}
        if self.computed_at_ms is not None:
            props["cache_computed_at"] = int(self.computed_at_ms)
        if self.duration_s is not None:
            props["cache_duration_s"] = float(self.duration_s)
        if self.output_keys is not None:
            props["cache_output_keys"] = json.dumps(list(self.output_keys))
        if self.hit and self.original_execution_id is not None:
            props["cached_from"] = int(self.original_execution_id)
        return props


_entries: OrderedDict[Identity, Decision] = OrderedDict()
_lock = threading.Lock()


def put(identity: Identity, decision: Decision) -> None:
    """Leaves the decision for the recording of this task-instance try."""
    with _lock:
        _entries[identity] = decision
        _entries.move_to_end(identity)
        while len(_entries) > _MAX_ENTRIES:
            _entries.popitem(last=False)


def get(identity: Identity) -> Decision | None:
    """The decision for this task-instance try, if the task was a cached step."""
    with _lock:
        return _entries.get(identity)


def settle(identity: Identity) -> None:
    """Called by the recording once the try's terminal state is written: runs and drops the callbacks."""
    with _lock:
        decision = _entries.get(identity)
        callbacks = list(decision.on_settled) if decision else []
        if decision:
            decision.on_settled.clear()
    for callback in callbacks:
        try:
            callback()
        except Exception:  # a lease that cannot be released lapses by itself
            log.warning("mlmd cache: settling %s failed", identity, exc_info=True)


def clear() -> None:
    """Forgets every decision (tests)."""
    with _lock:
        _entries.clear()
