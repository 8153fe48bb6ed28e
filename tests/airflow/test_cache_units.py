"""Unit tests of the cache that need no running Airflow: encoding, code and file fingerprints, manifests and
explain, and the engine itself on a real SQLite store (cached calls outside a task), leases, the CLI."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import os
import threading
import time
import uuid
from collections import namedtuple
from pathlib import Path

import pytest

from mlmd_airflow.cache import (
    CacheOptionError,
    CacheStoreError,
    UncacheableInputError,
    cached_step,
    index,
    lease,
    register_encoder,
)
from mlmd_airflow.cache import files as fp
from mlmd_airflow.cache.code import CodeFingerprintError, code_fingerprint, object_digest, source_digest
from mlmd_airflow.cache.encoding import digest, display, encode
from mlmd_airflow.cache.manifest import Manifest, build, diff, explain
from mlmd_airflow.cache.step import outcomes
from mlmd_core import MetadataStore
from mlmd_core.proto import metadata_store_pb2 as pb


def d(value):
    return digest(encode(value))


# ------------------------------------------------------------------------------------------------ encoding


def test_types_never_collide() -> None:
    values = [1, 1.0, "1", True, None, [1], (1,), {1}, {"1": 1}, b"1", decimal.Decimal("1"), 0, False, ""]
    assert len({d(v) for v in values}) == len(values)


def test_canonical_forms() -> None:
    assert d({"a": 1, "b": 2}) == d({"b": 2, "a": 1})
    assert d([1, 2]) != d([2, 1])
    assert d({3, 1, 2}) == d({1, 2, 3})
    assert d(-0.0) == d(0.0)
    assert d(float("nan")) == d(float("nan"))
    assert d(float("inf")) != d(float("-inf"))
    assert d(0.1 + 0.2) != d(0.3)  # exact floats: no rounding into false hits
    utc = dt.datetime(2025, 1, 1, 12, tzinfo=dt.timezone.utc)
    paris = utc.astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert d(utc) == d(paris)  # the same instant
    assert d(utc) != d(utc.replace(tzinfo=None))  # naive is a different thing
    assert d(decimal.Decimal("1.10")) == d(decimal.Decimal("1.1"))


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Cfg:
    lr: float
    layers: list


Point = namedtuple("Point", "x y")


def test_structured_types() -> None:
    assert d(Cfg(0.1, [1, 2])) == d(Cfg(0.1, [1, 2]))
    assert d(Cfg(0.1, [1, 2])) != d(Cfg(0.2, [1, 2]))
    assert d(Cfg(0.1, [1])) != d({"lr": 0.1, "layers": [1]})
    assert d(Point(1, 2)) != d((1, 2))
    assert d(Color.RED) != d("red")
    assert d(Path("/a/b")) != d("/a/b")
    assert d(uuid.UUID(int=1)) == d(uuid.UUID(int=1))
    assert d(dt.timedelta(days=1)) == d(dt.timedelta(hours=24))
    assert d(b"x" * 10) != d(b"x" * 11)


def test_pydantic_models_by_fields() -> None:
    import pydantic

    class M(pydantic.BaseModel):
        a: int

    assert d(M(a=1)) == d(M(a=1)) != d(M(a=2))


class LazyXComSequence:  # stands in for Airflow's: a Sequence whose repr says nothing about the content
    def __init__(self, items: list) -> None:
        self.items = items

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]

    def __repr__(self) -> str:
        return "LazyXComSequence(<unevaluated length>)"


def test_lazy_sequences_are_materialized() -> None:
    assert d(LazyXComSequence([1, 2])) == d([1, 2])
    assert d(LazyXComSequence([1, 2])) != d(LazyXComSequence([1, 3]))


def test_unknown_type_is_a_clear_error() -> None:
    class Session:
        pass

    with pytest.raises(UncacheableInputError) as err:
        encode({"conn": Session()}, "argument 'cfg'")
    text = str(err.value)
    assert "argument 'cfg'['conn']" in text and "Session" in text and "ignore=" in text
    assert "register_encoder" in text
    with pytest.raises(UncacheableInputError):
        encode(lambda: 1)
    with pytest.raises(UncacheableInputError):
        encode(object())


def test_register_encoder() -> None:
    class Handle:
        def __init__(self, name: str) -> None:
            self.name = name

    register_encoder(Handle, lambda h: h.name)
    assert d(Handle("a")) == d(Handle("a")) != d(Handle("b"))
    assert d(Handle("a")) != d("a")


def test_display_values() -> None:
    assert display(encode(0.01)) == "0.01"
    assert display(encode("x")) == "'x'"
    assert display(encode([1, "a"])) == "[1, 'a']"
    assert display(encode("x" * 500)) is None
    assert display(encode(b"secret")) is None


def test_masked_secrets_and_connections_never_enter_the_manifest() -> None:
    from airflow.sdk import Connection
    from airflow.sdk.log import mask_secret

    mask_secret("hunter2-very-secret")
    manifest = build("s", {"fn": "x"}, {"token": "hunter2-very-secret",
                                         "conn": Connection(conn_id="db", conn_type="http", password="pw-123456")})
    text = manifest.to_json()
    assert "hunter2" not in text and "pw-123456" not in text
    assert encode("hunter2-very-secret") == ["secret"]
    assert encode(Connection(conn_id="db", conn_type="http", password="x")) == ["connection", "db"]
    # rotating the secret keeps the key (the step's outputs do not depend on the token's value)
    mask_secret("rotated-secret-456")
    assert build("s", {"fn": "x"}, {"token": "rotated-secret-456"}).key == \
        build("s", {"fn": "x"}, {"token": "hunter2-very-secret"}).key


# ---------------------------------------------------------------------------------------------------- code

SRC = '''
@task(retries=1)
def clean(rows, n=1):
    """Drop bad rows."""
    # keep the good ones
    return [r for r in rows if r][:n]
'''


def test_cosmetic_edits_keep_the_code_digest() -> None:
    cosmetic = '''
@task(retries=3)   # decorator arguments are not the step's code
def clean(rows,
          n=1):
    """Drop bad rows -- reworded docstring."""
    return [r for r in rows
            if r][:n]   # a comment
'''
    assert source_digest(SRC) == source_digest(cosmetic)
    assert source_digest(SRC) != source_digest(SRC.replace("[:n]", "[:n + 1]"))
    assert source_digest(SRC) != source_digest(SRC.replace("n=1", "n=2"))


def test_nested_docstrings_stripped_but_strings_kept() -> None:
    a = "def f():\n    def g():\n        'doc'\n        return 'x'\n    return g\n"
    b = "def f():\n    def g():\n        'other doc'\n        return 'x'\n    return g\n"
    c = "def f():\n    def g():\n        'doc'\n        return 'y'\n    return g\n"
    assert source_digest(a) == source_digest(b) != source_digest(c)


def helper(x):
    return x + 1


def test_code_fingerprint_parts(tmp_path: Path) -> None:
    def step(x):
        return helper(x)

    plain = code_fingerprint(step, version=None)
    assert set(plain) == {"fn"}
    with_deps = code_fingerprint(step, version=None, code_deps=[helper, "json", "os.path:join"])
    assert set(with_deps["deps"]) == {"helper()", "json", "os.path:join"}
    assert with_deps["deps"]["helper()"] == object_digest(helper)
    sql = tmp_path / "q.sql"
    sql.write_text("select 1")
    versioned = code_fingerprint(step, version="7", file_deps=[str(sql)])
    assert versioned == {"version": "7", "files": {str(sql): fp.file_digest(sql)}}
    with pytest.raises(CodeFingerprintError):
        code_fingerprint(step, version=None, code_deps=["no_such_module_xyz"])
    with pytest.raises(CodeFingerprintError):
        code_fingerprint(step, version=None, code_deps=["json:nope"])


def test_lambdas_use_bytecode() -> None:
    f, g, h = (lambda x: x + 1), (lambda x: x + 1), (lambda x: x + 2)
    assert object_digest(f) == object_digest(g) != object_digest(h)


# --------------------------------------------------------------------------------------------------- files


def test_file_fingerprint_once_per_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLMD_FINGERPRINT_CACHE", str(tmp_path / "fp.sqlite"))
    fp._sidecar.clear()
    fp.clear_memo()
    data = tmp_path / "big.bin"
    data.write_bytes(os.urandom(3 << 20))
    before = fp.reads["files"]
    first = fp.file_digest(data)
    for _ in range(5):
        assert fp.file_digest(data) == first
    assert fp.reads["files"] - before == 1
    fp.clear_memo()  # a new process: the sidecar answers, no re-read
    assert fp.file_digest(data) == first
    assert fp.reads["files"] - before == 1
    data.write_bytes(data.read_bytes()[:-1] + b"\0")  # a new version
    assert fp.file_digest(data) != first
    assert fp.reads["files"] - before == 2
    st = data.stat()
    os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: re-read, same content hash
    again = fp.file_digest(data)
    assert fp.reads["files"] - before == 3 and again == fp.file_digest(data)
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "a").write_text("1")
    one = fp.file_digest(folder)
    (folder / "b").write_text("2")
    assert fp.file_digest(folder) != one and one.startswith("sha256-dir:")
    with pytest.raises(fp.FileFingerprintError):
        fp.file_digest(tmp_path / "missing")
    fp._sidecar.clear()


# ------------------------------------------------------------------------------------------------ manifest


def test_manifest_roundtrip_and_key() -> None:
    m = build("train", {"fn": "abc"}, {"lr": 0.1, "data": [1, 2]}, sources={"data": "extract.return_value"},
              outputs={"kind": "xcom"})
    again = Manifest.from_json(m.to_json())
    assert again.key == m.key and m.key.startswith("mlmdc1:")
    assert m.params["lr"] == {"sha256": d(0.1), "show": "0.1"}
    assert m.inputs["data"] == {"from": "extract.return_value", "sha256": d([1, 2])}
    shown = Manifest.from_json(m.to_json())
    shown.params["lr"]["show"] = "different display"
    assert shown.key == m.key  # display never changes keys


def test_explain_names_what_changed() -> None:
    base = build("train", {"fn": "a", "deps": {"clean()": "1"}, "files": {"q.sql": "x"}},
                 {"lr": 0.1, "raw": [1], "blob": "x" * 300}, sources={"raw": "extract.return_value"})
    lr = build("train", base.code, {"lr": 0.01, "raw": [1], "blob": "x" * 300},
               sources={"raw": "extract.return_value"})
    assert diff(base, lr) == ["argument lr 0.1→0.01"]
    helper_changed = build("train", {"fn": "a", "deps": {"clean()": "2"}, "files": {"q.sql": "x"}},
                           {"lr": 0.1, "raw": [1], "blob": "x" * 300}, sources={"raw": "extract.return_value"})
    assert diff(base, helper_changed) == ["code of helper clean() changed"]
    raw = build("train", base.code, {"lr": 0.1, "raw": [2], "blob": "x" * 300},
                sources={"raw": "extract.return_value"})
    assert diff(base, raw) == ["input raw: content changed"]
    blob = build("train", base.code, {"lr": 0.1, "raw": [1], "blob": "y" * 300},
                 sources={"raw": "extract.return_value"})
    assert diff(base, blob) == ["argument blob changed"]
    code = build("train", {"fn": "b", "deps": {"clean()": "1"}, "files": {"q.sql": "z"}}, {"lr": 0.1, "raw": [1],
                 "blob": "x" * 300}, sources={"raw": "extract.return_value"})
    assert diff(base, code) == ["code of train changed", "file q.sql changed"]
    versioned = build("train", {"version": "2"}, {"lr": 0.1})
    assert diff(build("train", {"version": "1"}, {"lr": 0.1}), versioned) == ["code version 1 → 2"]
    assert diff(base, build("train", base.code, {"lr": 0.1, "raw": [1], "blob": "x" * 300, "k": 3},
                            sources={"raw": "extract.return_value"})) == ["argument k added (3)"]
    # the nearest prior manifest is the one with the fewest differences
    assert explain([code, base, raw], lr) == "argument lr 0.1→0.01"
    assert explain([code, raw], lr) == "argument lr 0.1→0.01; input raw: content changed"
    assert explain([], lr) == "no prior execution of step train is cached"


# ------------------------------------------------------------------------------------- the engine (no task)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MLMD_FINGERPRINT_CACHE", "off")
    monkeypatch.delenv("MLMD_CACHE", raising=False)
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(tmp_path / "mlmd.sqlite")
    s = MetadataStore(config)
    yield s
    s.close()


def test_calls_hit_miss_and_defaults(store: MetadataStore) -> None:
    calls = []

    @cached_step(store=store, ignore=["verbose"])
    def add(a, b=2, verbose=False):
        calls.append((a, b))
        return {"sum": a + b, "when": dt.date(2025, 1, 1)}

    assert add(1) == {"sum": 3, "when": dt.date(2025, 1, 1)}
    assert add(1, 2) == add(a=1, b=2, verbose=True) == {"sum": 3, "when": dt.date(2025, 1, 1)}
    assert add(1, b=3)["sum"] == 4
    assert calls == [(1, 2), (1, 3)]
    assert [o.status for o in outcomes[-4:]] == ["miss", "hit", "hit", "miss"]
    assert outcomes[-1].reason == "argument b 2→3"
    entries = index.list_entries(store, step="test_calls_hit_miss_and_defaults.add")
    states = sorted(pb.Execution.State.Name(e.last_known_state) for e in entries)
    assert states == ["CACHED", "CACHED", "COMPLETE", "COMPLETE"]
    # a CACHED execution links the same output artifact (nothing copied) and names its original
    cached = [e for e in entries if e.last_known_state == pb.Execution.CACHED]
    original = [e for e in entries if e.last_known_state == pb.Execution.COMPLETE
                and e.custom_properties["cache_key"].string_value == cached[0].custom_properties[
                    "cache_key"].string_value][0]
    outs = {e.execution_id: e.artifact_id for e in store.get_events_by_execution_ids([cached[0].id, original.id])}
    assert outs[cached[0].id] == outs[original.id]
    assert cached[0].custom_properties["cached_from"].int_value == original.id


def test_max_age_applies_to_old_entries(store: MetadataStore) -> None:
    calls = []

    def f(x):
        calls.append(x)
        return x

    cached_step(f, store=store, name="ttl")(1)
    time.sleep(0.3)
    cached_step(f, store=store, name="ttl", max_age=dt.timedelta(hours=1))(1)
    assert calls == [1]
    cached_step(f, store=store, name="ttl", max_age=dt.timedelta(seconds=0.2))(1)  # tightened later: applies
    assert calls == [1, 1]
    assert "older than max_age" in outcomes[-1].reason


def test_invalidate_refresh_disable(store: MetadataStore, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    @cached_step(store=store, name="ctl")
    def f(x):
        calls.append(x)
        return x * 2

    f(1)
    index.invalidate(store, index.list_entries(store, step="ctl"), "bad data")
    f(1)
    assert calls == [1, 1]
    assert outcomes[-1].reason.startswith("entries of this key not usable: execution ")
    assert outcomes[-1].reason.endswith("invalidated (bad data)")
    monkeypatch.setenv("MLMD_CACHE", "refresh")
    f(1)
    assert calls == [1, 1, 1] and outcomes[-1].status == "refresh"
    monkeypatch.setenv("MLMD_CACHE", "off")
    n = len(store.get_executions())
    f(1)
    assert calls == [1, 1, 1, 1] and outcomes[-1].status == "disabled" and len(store.get_executions()) == n
    monkeypatch.delenv("MLMD_CACHE")
    f(1)
    assert calls == [1, 1, 1, 1] and outcomes[-1].status == "hit"


def test_unhashable_argument_raises(store: MetadataStore) -> None:
    @cached_step(store=store)
    def f(x):
        return 1

    with pytest.raises(UncacheableInputError, match="argument 'x'"):
        f(threading.Lock())


def test_store_errors(store: MetadataStore) -> None:
    def broken():
        raise ConnectionError("store is down")

    calls = []

    def f(x):
        calls.append(x)
        return x

    assert cached_step(f, store=broken)(1) == 1
    assert outcomes[-1].status == "uncached" and "store is down" in outcomes[-1].reason
    with pytest.raises(CacheStoreError, match="store is down"):
        cached_step(f, store=broken, on_store_error="fail")(1)
    assert calls == [1]


def test_option_validation() -> None:
    with pytest.raises(CacheOptionError, match="verify"):
        cached_step(verify="checksum")
    with pytest.raises(CacheOptionError, match="concurrency"):
        cached_step(concurrency="lock")
    with pytest.raises(CacheOptionError, match="max_age"):
        cached_step(max_age=3600)


def test_code_deps_and_file_deps_bust(store: MetadataStore, tmp_path: Path) -> None:
    sql = tmp_path / "q.sql"
    sql.write_text("select 1")
    calls = []

    def f(x):
        calls.append(x)
        return x

    cached_step(f, store=store, name="deps", file_deps=[str(sql)])(1)
    cached_step(f, store=store, name="deps", file_deps=[str(sql)])(1)
    sql.write_text("select 2")
    cached_step(f, store=store, name="deps", file_deps=[str(sql)])(1)
    assert calls == [1, 1] and outcomes[-1].reason == f"file {sql} changed"
    cached_step(f, store=store, name="deps", file_deps=[str(sql)], code_deps=[helper])(1)
    assert outcomes[-1].reason == "code of helper helper() added"


def test_nested_cached_calls_do_not_deadlock(store: MetadataStore) -> None:
    @cached_step(store=store, concurrency="single_flight")
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    assert fib(12) == 144
    assert fib(12) == 144 and outcomes[-1].status == "hit"


def test_single_flight_threads(store: MetadataStore, tmp_path: Path) -> None:
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(tmp_path / "mlmd.sqlite")
    calls = []
    gate = threading.Event()

    def slow(x):
        calls.append(x)
        gate.wait(5)
        time.sleep(0.3)
        return x

    results = []

    def worker():
        own = MetadataStore(config)  # each "worker" has its own connection
        results.append(cached_step(slow, store=own, name="sf", concurrency="single_flight")(7))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    gate.set()
    for t in threads:
        t.join(20)
    assert results == [7, 7, 7] and calls == [7]


def test_lease_lifecycle(store: MetadataStore) -> None:
    a = lease.try_acquire(store, "k1", "A", ttl=0.5)
    assert a is not None
    other = threading.Thread(target=lambda: results.append(lease.try_acquire(store, "k1", "B", ttl=0.5)))
    results: list = []
    other.start()
    other.join()
    assert results == [None]  # held and heartbeating
    again = lease.try_acquire(store, "k1", "A2", ttl=0.5)
    assert again is a  # re-entrant in the same thread
    again.release()
    time.sleep(0.6)
    results.clear()
    other = threading.Thread(target=lambda: results.append(lease.try_acquire(store, "k1", "B", ttl=0.5)))
    other.start()
    other.join()
    assert results == [None]  # the heartbeat keeps it alive beyond the ttl
    a._stop.set()  # the worker is "killed": no more heartbeats
    time.sleep(0.7)
    results.clear()
    other = threading.Thread(target=lambda: results.append(lease.try_acquire(store, "k1", "B", ttl=0.5)))
    other.start()
    other.join()
    [b] = results
    assert b is not None and b.owner == "B"  # the lapsed lease was taken over
    b.release()
    a.release()  # the "killed" holder's late release does not disturb anyone: its compare-and-set fails
    _, state = lease.read(store, "k1")
    assert state is not None and not state.held
    c = lease.try_acquire(store, "k1", "C", ttl=0.5)
    assert c is not None
    c.release()


def test_provider_registers_the_task_decorator() -> None:
    from mlmd_airflow.provider import get_provider_info

    assert {"name": "mlmd_cached", "class-name": "mlmd_airflow.cache.operators.mlmd_cached_task"} in \
        get_provider_info()["task-decorators"]


def test_import_stays_cheap() -> None:
    import subprocess
    import sys

    code = ("import sys, mlmd_airflow; from mlmd_airflow import cached_step; "
            "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_type_ids_do_not_outlive_their_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stores opened one after another (a new one often lands at the address of the last, which is gone):
    each records and hits with its own type ids."""
    import gc

    from mlmd_airflow.cache import index, lease

    monkeypatch.setenv("MLMD_FINGERPRINT_CACHE", "off")
    monkeypatch.delenv("MLMD_CACHE", raising=False)
    calls: list[int] = []
    for i in range(12):
        calls.clear()
        config = pb.ConnectionConfig()
        config.sqlite.filename_uri = str(tmp_path / f"store{i}.sqlite")
        s = MetadataStore(config)
        if i % 2:  # other types first, so this store's ids differ from the previous store's
            s.put_execution_type(pb.ExecutionType(name=f"Other{i}"))

        @cached_step(store=s, name="again")
        def f(x):
            calls.append(x)
            return x

        f(1)
        f(1)
        assert calls == [1] and outcomes[-1].status == "hit", (i, outcomes[-1])
        s.close()
        del s, f
        gc.collect()
        # nothing is kept for a store that is gone (an id() key would be, and be reused by a later store)
        assert len(index._type_ids) <= 1 and len(lease._type_ids) <= 1, (len(index._type_ids), len(lease._type_ids))
