"""Plain-data views of MLMD protos (for `--json`) and the rich console the read commands print tables on.

The JSON views are flat dicts of plain values (ids as numbers, enums as names, properties as values), meant
for `jq` and scripts; `mlmd export` keeps the full protos instead.
"""

from __future__ import annotations

import datetime
import json
import sys
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from rich.console import Console

from mlmd_core.proto import metadata_store_pb2 as pb


@dataclass(frozen=True)
class Kind:
    """What differs between artifacts, executions and contexts, as data (one code path for the three)."""

    name: str  # "artifact"
    plural: str  # "artifacts"
    state_field: str  # "" for contexts
    state_enum: Any

    def call(self, store: Any, pattern: str, *args: Any, **kwargs: Any) -> Any:
        """`store.get_{kind}...` by pattern, e.g. call(store, "get_{plural}_by_id", ids)."""
        return getattr(store, pattern.format(name=self.name, plural=self.plural))(*args, **kwargs)


KINDS = {
    "artifact": Kind("artifact", "artifacts", "state", pb.Artifact.State),
    "execution": Kind("execution", "executions", "last_known_state", pb.Execution.State),
    "context": Kind("context", "contexts", "", None),
}


def console() -> Console:
    """Rich console on stdout; wide when piped, so columns are not cut at 80 characters."""
    tty = sys.stdout.isatty()
    return Console(file=sys.stdout, width=None if tty else 200, soft_wrap=not tty, highlight=False)


def value(v: pb.Value) -> Any:
    """A property value as plain JSON data."""
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "struct_value":
        return json_format.MessageToDict(v.struct_value)
    if which == "proto_value":
        return {"type_url": v.proto_value.type_url, "value": v.proto_value.value.hex()}
    return getattr(v, which)


def node_record(kind: Kind, node: Any) -> dict[str, Any]:
    """An artifact, execution or context as a flat dict."""
    record: dict[str, Any] = {"kind": kind.name, "id": node.id, "type": node.type, "type_id": node.type_id,
                              "name": node.name}
    if kind.name == "artifact":
        record["uri"] = node.uri
    if kind.state_field:
        has = node.HasField(kind.state_field)
        record["state"] = kind.state_enum.Name(getattr(node, kind.state_field)) if has else None
    record["external_id"] = node.external_id or None
    record["properties"] = {k: value(v) for k, v in sorted(node.properties.items())}
    record["custom_properties"] = {k: value(v) for k, v in sorted(node.custom_properties.items())}
    record["create_time_since_epoch"] = node.create_time_since_epoch
    record["last_update_time_since_epoch"] = node.last_update_time_since_epoch
    return record


def type_record(kind: str, t: Any) -> dict[str, Any]:
    """An artifact/execution/context type as a flat dict."""
    record: dict[str, Any] = {"kind": kind, "id": t.id, "name": t.name, "version": t.version or None,
                              "description": t.description or None, "external_id": t.external_id or None,
                              "properties": {k: pb.PropertyType.Name(v) for k, v in sorted(t.properties.items())}}
    if kind != "context":
        record["base_type"] = type(t).SystemDefinedBaseType.Name(t.base_type) if t.HasField("base_type") else None
    return record


def event_record(e: pb.Event) -> dict[str, Any]:
    path = [getattr(step, step.WhichOneof("value")) for step in e.path.steps if step.WhichOneof("value")]
    return {"artifact_id": e.artifact_id, "execution_id": e.execution_id, "type": pb.Event.Type.Name(e.type),
            "path": path, "milliseconds_since_epoch": e.milliseconds_since_epoch}


def when(ms: int) -> str:
    """Milliseconds since the epoch as local time, to the second (tables only; JSON keeps the number)."""
    if not ms:
        return ""
    return datetime.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def short(data: Any, width: int = 60) -> str:
    """A property value for a table cell."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


def print_json(data: Any) -> None:
    """One JSON document (indented) or, for a list view, use print_json_lines."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def print_json_lines(rows: list[dict[str, Any]]) -> None:
    """One compact JSON object per line: streams, greps and `jq -c`s well."""
    for row in rows:
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
