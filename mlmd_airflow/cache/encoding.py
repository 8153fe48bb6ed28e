"""Canonical, type-tagged encoding of argument values: equal values give equal bytes, different types never
collide (`1`, `1.0`, `"1"` and `True` all differ), and a value we cannot encode faithfully is an error, never a
weaker key (Prefect #15861: a silently degraded key is a false hit).

No Airflow import at module level: pure and cheap to test.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import hashlib
import json
import math
import pathlib
import uuid
from collections.abc import Callable, Mapping, Sequence, Set
from typing import Any

#: A JSON-able tagged value, e.g. ["int", 3] or ["dict", [[k, v], ...]].
Encoded = Any

#: Longest display text kept in a manifest for explain ("lr 0.1→0.01"); longer values appear as their hash.
DISPLAY_LIMIT = 120


class UncacheableInputError(TypeError):
    """An argument of a cached step has a type whose value cannot be keyed faithfully.

    The message names the argument and the type, and says how to proceed: leave the argument out with
    `ignore=[...]`, pass it as an upstream XCom/Asset, or register an encoder with `register_encoder`.
    """


_encoders: dict[type, Callable[[Any], Any]] = {}


def register_encoder(kind: type, encoder: Callable[[Any], Any]) -> None:
    """Teach the cache how to key values of `kind` (and subclasses): `encoder(value)` returns an encodable value
    (e.g. a tuple of the fields that define it). The type's qualified name is part of the key."""
    _encoders[kind] = encoder


def _qualname(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def _float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if value == 0.0:
        return "0.0"  # -0.0 and 0.0 are the same argument for every sane step
    return repr(value)


def _is_lazy_sequence(value: Any) -> bool:
    # Airflow's LazyXComSequence (reduce over a mapped task) has an "<unevaluated length>" repr: materialize it.
    return type(value).__name__ in ("LazyXComSequence", "LazySelectSequence")


class _Secrets:
    """The set of values Airflow's secrets masker hides (connection passwords, sensitive Variables)."""

    @staticmethod
    def is_masked(text: str) -> bool:
        import sys

        if "airflow.sdk" not in sys.modules:  # Airflow not loaded: nothing can have been registered as secret
            return False
        try:
            from airflow.sdk.log import _secrets_masker
        except Exception:
            return False
        try:
            masker = _secrets_masker()
            if not masker.patterns:
                return False
            return masker.redact(text) != text  # holds a registered secret (also inside, e.g. a URL)
        except Exception:
            return False


def encode(value: Any, where: str = "argument") -> Encoded:
    """The canonical tagged form of `value`; raises UncacheableInputError naming `where` for unknown types."""
    return _encode(value, where, 0)


def _encode(value: Any, where: str, depth: int) -> Encoded:  # noqa: C901 - one dispatch table, read top-down
    if depth > 64:
        raise UncacheableInputError(f"{where}: nested more than 64 levels deep (a cycle?)")
    if value is None:
        return ["none"]
    if isinstance(value, bool):
        return ["bool", value]
    if isinstance(value, enum.Enum):
        return ["enum", _qualname(type(value)), _encode(value.value, where, depth + 1)]
    if isinstance(value, int):
        return ["int", str(value)]
    if isinstance(value, float):
        return ["float", _float(value)]
    if isinstance(value, str):
        if len(value) >= 5 and _Secrets.is_masked(value):
            return ["secret"]  # never the value, nor a hash of it (dictionary attacks on MLMD readers)
        return ["str", value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return ["bytes", hashlib.sha256(bytes(value)).hexdigest()]
    if isinstance(value, decimal.Decimal):
        return ["decimal", str(value.normalize()) if value.is_finite() else str(value)]
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc)
            return ["datetime", value.isoformat()]
        return ["naive_datetime", value.isoformat()]
    if isinstance(value, dt.date):
        return ["date", value.isoformat()]
    if isinstance(value, dt.time):
        return ["time", value.isoformat()]
    if isinstance(value, dt.timedelta):
        return ["timedelta", str(value.days), str(value.seconds), str(value.microseconds)]
    if isinstance(value, uuid.UUID):
        return ["uuid", str(value)]
    if isinstance(value, pathlib.PurePath):
        return ["path", value.as_posix()]
    for kind, encoder in _encoders.items():
        if isinstance(value, kind):
            return ["custom", _qualname(kind), _encode(encoder(value), where, depth + 1)]
    special = _airflow_value(value)
    if special is not None:
        return special
    if isinstance(value, Mapping):
        items = [[_encode(k, where, depth + 1), _encode(v, f"{where}[{k!r}]", depth + 1)] for k, v in value.items()]
        items.sort(key=lambda kv: _text(kv[0]))
        return ["dict", items]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return ["tuple", [_encode(v, where, depth + 1) for v in value]]
    if isinstance(value, tuple):  # namedtuple: its type is part of what it means
        return ["namedtuple", _qualname(type(value)), [_encode(v, where, depth + 1) for v in value]]
    if isinstance(value, list) or _is_lazy_sequence(value):
        return ["list", [_encode(v, where, depth + 1) for v in list(value)]]
    if isinstance(value, (set, frozenset)):
        return ["set", sorted((_encode(v, where, depth + 1) for v in value), key=_text)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return ["dataclass", _qualname(type(value)), _encode(fields, where, depth + 1)]
    if hasattr(value, "model_dump") and hasattr(type(value), "model_fields"):  # pydantic v2
        return ["pydantic", _qualname(type(value)), _encode(value.model_dump(mode="python"), where, depth + 1)]
    array = _numpy(value)
    if array is not None:
        return array
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return ["list", [_encode(v, where, depth + 1) for v in list(value)]]
    if isinstance(value, Set):
        return ["set", sorted((_encode(v, where, depth + 1) for v in value), key=_text)]
    raise UncacheableInputError(
        f"{where}: cannot key a value of type {_qualname(type(value))} (no canonical encoding). Leave it out with "
        f"ignore=[...], pass it as an upstream XCom or Asset, or teach the cache with "
        f"mlmd_airflow.cache.register_encoder({type(value).__name__}, fn)")


def _airflow_value(value: Any) -> Encoded | None:
    """Airflow objects keyed by identity, never by secret content: Connections by id, Assets by URI."""
    name = type(value).__name__
    module = type(value).__module__ or ""
    if not module.startswith("airflow"):
        return None
    if name == "Connection" and hasattr(value, "conn_id"):
        return ["connection", str(value.conn_id)]
    if name == "Asset" and hasattr(value, "uri"):
        return ["asset", str(value.uri)]
    return None


def _numpy(value: Any) -> Encoded | None:
    kind = type(value)
    if kind.__module__ != "numpy" or not hasattr(value, "dtype"):
        return None
    import numpy as np

    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            return ["ndarray", str(value.dtype), list(value.shape), [_encode(v, "array", 1) for v in value.ravel()]]
        raw = np.ascontiguousarray(value).tobytes()
        return ["ndarray", value.dtype.str, list(value.shape), hashlib.sha256(raw).hexdigest()]
    if isinstance(value, np.generic):
        return ["numpy", value.dtype.str, _encode(value.item(), "numpy scalar", 1)]
    return None


def _text(encoded: Encoded) -> str:
    return json.dumps(encoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(encoded: Encoded) -> str:
    """The canonical JSON text of an encoded value (or of any JSON-able manifest)."""
    return _text(encoded)


def digest(encoded: Encoded) -> str:
    """sha256 hex of the canonical text of an encoded value."""
    return hashlib.sha256(_text(encoded).encode("utf-8")).hexdigest()


def display(encoded: Encoded) -> str | None:
    """A short human form of an encoded scalar/small value for explain messages, or None when too long."""
    text = _display(encoded)
    return text if text is not None and len(text) <= DISPLAY_LIMIT else None


def _display(e: Encoded) -> str | None:
    tag = e[0]
    if tag == "none":
        return "None"
    if tag == "bool":
        return str(e[1])
    if tag in ("int", "float", "decimal"):
        return e[1]
    if tag == "str":
        return repr(e[1])
    if tag == "secret":
        return None
    if tag in ("datetime", "naive_datetime", "date", "time", "uuid", "path", "connection", "asset"):
        return f"{tag}:{e[1]}" if tag in ("connection", "asset") else e[1]
    if tag in ("list", "tuple", "set"):
        parts = [_display(x) for x in e[1]]
        if None in parts:
            return None
        inner = ", ".join(parts)  # type: ignore[arg-type]
        return {"list": f"[{inner}]", "tuple": f"({inner})", "set": f"{{{inner}}}"}[tag]
    if tag == "dict":
        parts = [(_display(k), _display(v)) for k, v in e[1]]
        if any(k is None or v is None for k, v in parts):
            return None
        return "{" + ", ".join(f"{k}: {v}" for k, v in parts) + "}"
    if tag == "enum":
        inner = _display(e[2])
        return None if inner is None else f"{e[1].rsplit('.', 1)[-1]}({inner})"
    return None
