"""Single-flight leases stored in MLMD itself, so they work on every backend (SQLite, MySQL, PostgreSQL and
mlmd-server) without another service.

A lease is an Artifact of type `mlmd_airflow.CacheLease` with external_id `lease:<cache key>`:

- acquire: creating it is atomic (external ids are unique: AlreadyExists when someone holds or held it); a
  stored lease that is released (state ABANDONED) or expired (its last update older than `ttl`) is taken over
  with a compare-and-set write (`abort_if_latest_updated_time_changed`), then read back to confirm ownership;
- heartbeat: a daemon thread re-writes it (compare-and-set) every ttl/3, so a killed worker's lease lapses
  after at most `ttl`;
- release: state ABANDONED (MLMD has no delete), again compare-and-set.
Leases are re-entrant per thread and key: a cached step that (indirectly) calls a step with the same key does
not wait for itself (Prefect #18600's deadlock), while other threads of the process wait like other workers.

Expiry compares the store's update time with this machine's clock; keep clocks within a fraction of `ttl`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
import weakref
from dataclasses import dataclass

from mlmd_core import MetadataStore, errors
from mlmd_core.proto import metadata_store_pb2 as pb

log = logging.getLogger(__name__)

LEASE_TYPE = "mlmd_airflow.CacheLease"
DEFAULT_TTL = 30.0

_held: dict[tuple[str, int], Lease] = {}  # (key, thread id) -> lease held by this thread
_held_lock = threading.Lock()


def _type_id(store: MetadataStore) -> int:
    cache = _type_ids.get(store)
    if cache is None:
        proto = pb.ArtifactType(name=LEASE_TYPE)
        for name in ("owner", "key"):
            proto.properties[name] = pb.STRING
        proto.properties["beats"] = pb.INT
        cache = _type_ids[store] = store.put_artifact_type(proto, can_add_fields=True, can_omit_fields=True)
    return cache


# Per store object (weak: an id() key is reused once the store is gone, and would hand out a stale type id).
_type_ids: weakref.WeakKeyDictionary[MetadataStore, int] = weakref.WeakKeyDictionary()


def _cas_put(store: MetadataStore, artifact: pb.Artifact) -> bool:
    """Writes the artifact only if nobody updated it since it was read; False when someone did."""
    try:
        store.put_artifacts([artifact], abort_if_latest_updated_time_changed=True)
    except errors.FailedPreconditionError:
        return False
    return True


def owner_id(label: str = "") -> str:
    """A unique owner id: host, pid, a random part, and a label (the task-instance try)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}" + (f":{label}" if label else "")


@dataclass
class LeaseState:
    """What a reader sees of a lease."""

    owner: str
    held: bool
    age_s: float


class Lease:
    """One held lease; `release()` it (or let the heartbeat stop and the TTL lapse)."""

    def __init__(self, store: MetadataStore, key: str, owner: str, artifact: pb.Artifact, ttl: float) -> None:
        self.store, self.key, self.owner, self.ttl = store, key, owner, ttl
        self._artifact = artifact
        self._depth = 1
        self._slot = (key, threading.get_ident())
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.lost = False
        self._thread = threading.Thread(target=self._beat, name=f"mlmd-lease-{key[-8:]}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(max(self.ttl / 3, 0.05)):
            with self._lock:
                if self._stop.is_set():
                    return
                try:
                    self._write(pb.Artifact.LIVE)
                except Exception:  # store hiccup: try again next beat; the lease may lapse meanwhile
                    log.debug("lease heartbeat failed for %s", self.key, exc_info=True)

    def _write(self, state: int) -> None:
        update = pb.Artifact()
        update.CopyFrom(self._artifact)
        update.state = state
        update.properties["beats"].int_value = update.properties["beats"].int_value + 1  # a real change: new time
        if not _cas_put(self.store, update):
            self.lost = True
            self._stop.set()
            log.warning("mlmd cache: lease on %s was taken over by another worker", self.key)
            return
        [self._artifact] = self.store.get_artifacts_by_id([update.id])

    def release(self) -> None:
        """Gives the lease up (re-entrant holders release once per acquire)."""
        with _held_lock:
            self._depth -= 1
            if self._depth > 0:
                return
            if _held.get(self._slot) is self:
                del _held[self._slot]
        self._stop.set()
        with self._lock:
            if not self.lost:
                try:
                    self._write(pb.Artifact.ABANDONED)
                except Exception:
                    log.warning("mlmd cache: could not release the lease on %s; it lapses after %g s", self.key,
                                self.ttl, exc_info=True)


def read(store: MetadataStore, key: str) -> tuple[pb.Artifact | None, LeaseState | None]:
    """The stored lease of `key` and its state, (None, None) when there never was one."""
    try:
        found = store.get_artifacts_by_external_ids([f"lease:{key}"])
    except errors.NotFoundError:
        found = []
    if not found:
        return None, None
    artifact = found[0]
    age = time.time() - artifact.last_update_time_since_epoch / 1000
    owner = artifact.properties["owner"].string_value if "owner" in artifact.properties else ""
    return artifact, LeaseState(owner=owner, held=artifact.state == pb.Artifact.LIVE, age_s=age)


def try_acquire(store: MetadataStore, key: str, owner: str, ttl: float = DEFAULT_TTL) -> Lease | None:
    """The lease when this caller now holds it (re-entrant within the process), None when someone else does."""
    with _held_lock:
        mine = _held.get((key, threading.get_ident()))
        if mine is not None and not mine.lost:
            mine._depth += 1
            return mine
    artifact = pb.Artifact(type_id=_type_id(store), external_id=f"lease:{key}", uri=f"mlmd-lease://{key}",
                           state=pb.Artifact.LIVE)
    artifact.properties["owner"].string_value = owner
    artifact.properties["key"].string_value = key
    try:
        [artifact_id] = store.put_artifacts([artifact])
    except errors.AlreadyExistsError:
        stored, state = read(store, key)
        if stored is None or state is None:
            return None
        if state.held and state.age_s <= ttl:
            return None
        take = pb.Artifact()
        take.CopyFrom(stored)
        take.state = pb.Artifact.LIVE
        take.properties["owner"].string_value = owner
        take.properties["beats"].int_value = take.properties["beats"].int_value + 1
        if not _cas_put(store, take):
            return None
        artifact_id = stored.id
    [stored] = store.get_artifacts_by_id([artifact_id])
    if stored.properties["owner"].string_value != owner or stored.state != pb.Artifact.LIVE:
        return None  # lost a same-millisecond take-over race
    lease = Lease(store, key, owner, stored, ttl)
    with _held_lock:
        _held[lease._slot] = lease
    return lease


def holds(key: str) -> bool:
    """True when this thread holds the lease of `key` (a nested call of the same key)."""
    with _held_lock:
        return (key, threading.get_ident()) in _held
