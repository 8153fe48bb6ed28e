"""The cache key and the manifest it is computed from, and the explanation of a miss.

The manifest is stored (as JSON) on every execution of a cached step, so a key can always be re-derived and a
miss can be explained against the nearest prior manifest of the same step. It holds digests and short display
values only, never data and never secrets:

    {"schema": "mlmdc1", "step": "features.build",
     "code": {"fn": sha, "deps": {"clean()": sha}, "files": {"sql/f.sql": "sha256:..."}}   # or {"version": "3"}
     "params": {"lr": {"sha256": sha, "show": "0.1"}},
     "inputs": {"raw": {"from": "extract.return_value", "sha256": sha}, "asset:file:///d/x": {"sha256": ...}},
     "outputs": {"kind": "xcom", "multiple_outputs": false}}

key = "mlmdc1:" + sha256(canonical JSON of the manifest without the display values).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlmd_airflow.cache.encoding import canonical, digest, display, encode

SCHEMA = "mlmdc1"


@dataclass
class Manifest:
    """What a cache key is made of. Build with `build()`; `key` and `to_json()` are what gets stored."""

    step: str
    code: dict[str, Any]
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    schema: str = SCHEMA

    def as_dict(self) -> dict[str, Any]:
        return {"schema": self.schema, "step": self.step, "code": self.code, "params": self.params,
                "inputs": self.inputs, "outputs": self.outputs}

    def keyed(self) -> dict[str, Any]:
        """The manifest as hashed: display values dropped (changing how values are shown never changes keys)."""
        data = self.as_dict()
        data["params"] = {k: {"sha256": v["sha256"]} for k, v in self.params.items()}
        return data

    @property
    def key(self) -> str:
        return f"{self.schema}:" + hashlib.sha256(canonical(self.keyed()).encode("utf-8")).hexdigest()

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        return cls(step=data.get("step", ""), code=data.get("code", {}), params=data.get("params", {}),
                   inputs=data.get("inputs", {}), outputs=data.get("outputs", {}),
                   schema=data.get("schema", "?"))


def param_entry(name: str, value: Any) -> dict[str, Any]:
    """{"sha256", "show"} of one bound argument (UncacheableInputError for values that cannot be keyed)."""
    encoded = encode(value, f"argument {name!r}")
    entry: dict[str, Any] = {"sha256": digest(encoded)}
    shown = display(encoded)
    if shown is not None:
        entry["show"] = shown
    return entry


def input_entry(name: str, value: Any, source: str) -> dict[str, Any]:
    """An argument that came from an upstream XCom: keyed by the content of the value, named by its source."""
    return {"from": source, "sha256": digest(encode(value, f"input {name!r} (from {source})"))}


def build(step: str, code: Mapping[str, Any], arguments: Mapping[str, Any], *, sources: Mapping[str, str] = {},
          extra_inputs: Mapping[str, dict[str, Any]] = {}, outputs: Mapping[str, Any] = {}) -> Manifest:
    """The manifest of one call: `arguments` are the bound arguments (defaults applied, ignored ones removed);
    `sources` names the arguments that came from upstream XComs ({arg: "task_id.key"})."""
    params: dict[str, dict[str, Any]] = {}
    inputs: dict[str, dict[str, Any]] = {}
    for name, value in arguments.items():
        if name in sources:
            inputs[name] = input_entry(name, value, sources[name])
        else:
            params[name] = param_entry(name, value)
    inputs.update(extra_inputs)
    return Manifest(step=step, code=dict(code), params=params, inputs=inputs, outputs=dict(outputs))


# --------------------------------------------------------------------------------------------- explain


def _dict_changes(label: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    out = []
    for name in sorted(set(old) | set(new)):
        if name not in old:
            out.append(f"{label} {name} added")
        elif name not in new:
            out.append(f"{label} {name} removed")
        elif old[name] != new[name]:
            out.append(f"{label} {name} changed")
    return out


def diff(old: Manifest, new: Manifest) -> list[str]:
    """What changed from `old` to `new`, one human line per difference (empty: same key)."""
    out: list[str] = []
    if old.schema != new.schema:
        return [f"cache key format changed ({old.schema} → {new.schema})"]
    if old.step != new.step:
        out.append(f"step name {old.step} → {new.step}")
    oc, nc = old.code, new.code
    if oc.get("version") != nc.get("version"):
        if "version" in oc and "version" in nc:
            out.append(f"code version {oc['version']} → {nc['version']}")
        elif "version" in nc:
            out.append(f"code version {nc['version']} set (source no longer hashed)")
        else:
            out.append(f"code version {oc['version']} removed (source now hashed)")
    elif oc.get("fn") != nc.get("fn"):
        out.append(f"code of {new.step} changed")
    for name in sorted(set(oc.get("deps", {})) | set(nc.get("deps", {}))):
        a, b = oc.get("deps", {}).get(name), nc.get("deps", {}).get(name)
        if a != b:
            out.append(f"code of helper {name} " + ("added" if a is None else "removed" if b is None else "changed"))
    for name in sorted(set(oc.get("files", {})) | set(nc.get("files", {}))):
        a, b = oc.get("files", {}).get(name), nc.get("files", {}).get(name)
        if a != b:
            out.append(f"file {name} " + ("added" if a is None else "removed" if b is None else "changed"))
    for name in sorted(set(old.params) | set(new.params)):
        a, b = old.params.get(name), new.params.get(name)
        if a is None:
            out.append(f"argument {name} added" + (f" ({b['show']})" if "show" in b else ""))
        elif b is None:
            out.append(f"argument {name} removed")
        elif a["sha256"] != b["sha256"]:
            if "show" in a and "show" in b:
                out.append(f"argument {name} {a['show']}→{b['show']}")
            else:
                out.append(f"argument {name} changed")
    for name in sorted(set(old.inputs) | set(new.inputs)):
        a, b = old.inputs.get(name), new.inputs.get(name)
        if a is None:
            out.append(f"input {name} added")
        elif b is None:
            out.append(f"input {name} removed")
        elif a != b:
            if a.get("from") != b.get("from"):
                out.append(f"input {name}: now from {b.get('from')} (was {a.get('from')})")
            else:
                out.append(f"input {name}: content changed")
    out.extend(_dict_changes("output option", old.outputs, new.outputs))
    return out


def nearest(candidates: list[Manifest], new: Manifest) -> tuple[Manifest | None, list[str]]:
    """The candidate with the fewest differences from `new` (first wins ties; pass newest first) and those."""
    best: tuple[Manifest | None, list[str]] = (None, [])
    for candidate in candidates:
        changes = diff(candidate, new)
        if best[0] is None or len(changes) < len(best[1]):
            best = (candidate, changes)
    return best


def explain(candidates: list[Manifest], new: Manifest) -> str:
    """One line: why `new` missed, against the nearest prior manifest of the same step."""
    prior, changes = nearest(candidates, new)
    if prior is None:
        return f"no prior execution of step {new.step} is cached"
    if not changes:
        return "an entry with this key exists but is not usable (invalidated, expired, outputs gone or not LIVE)"
    return "; ".join(changes)
