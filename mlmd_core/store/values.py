"""Property values <-> property-table columns, with MLMD's encodings (struct and Any as base64)."""

from __future__ import annotations

import base64
from typing import Any

from google.protobuf import any_pb2, struct_pb2

from mlmd_core import errors
from mlmd_core.proto import metadata_store_pb2 as pb

STRUCT_PREFIX = "mlmd-struct::"

# Which Value field a declared PropertyType requires.
FIELD_OF_PROPERTY_TYPE = {
    pb.INT: "int_value",
    pb.DOUBLE: "double_value",
    pb.STRING: "string_value",
    pb.STRUCT: "struct_value",
    pb.PROTO: "proto_value",
    pb.BOOLEAN: "bool_value",
}

# (int_value, double_value, string_value, proto_value, bool_value)
Columns = tuple[Any, Any, Any, Any, Any]


def encode(value: pb.Value, which: str | None = None, raw_proto: bool = False) -> Columns:
    """The property-row columns of a set Value (`which`: its oneof field, if already known). ml-metadata
    stores an Any as base64 text, except on PostgreSQL, where its BYTEA holds the serialized bytes (raw_proto)."""
    which = which or value.WhichOneof("value")
    if which == "int_value":
        return value.int_value, None, None, None, None
    if which == "string_value":
        return None, None, value.string_value, None, None
    if which == "double_value":
        return None, value.double_value, None, None, None
    if which == "bool_value":
        return None, None, None, None, value.bool_value
    if which == "struct_value":
        encoded = base64.b64encode(value.struct_value.SerializeToString()).decode("ascii")
        return None, None, STRUCT_PREFIX + encoded, None, None
    if which == "proto_value":
        serialized = value.proto_value.SerializeToString()
        return None, None, None, serialized if raw_proto else base64.b64encode(serialized), None
    raise errors.InvalidArgumentError("value is not set")


def decode(into: pb.Value, int_value: Any, double_value: Any, string_value: Any, proto_value: Any,
           bool_value: Any, raw_proto: bool = False) -> None:
    """Fills a Value from the columns of one property row."""
    if int_value is not None:
        into.int_value = int_value
    elif double_value is not None:
        into.double_value = double_value
    elif string_value is not None:
        if string_value.startswith(STRUCT_PREFIX):
            struct = struct_pb2.Struct()
            struct.ParseFromString(base64.b64decode(string_value[len(STRUCT_PREFIX):]))
            into.struct_value.CopyFrom(struct)
        else:
            into.string_value = string_value
    elif proto_value is not None:
        raw = proto_value.encode("ascii") if isinstance(proto_value, str) else bytes(proto_value)
        message = any_pb2.Any()
        message.ParseFromString(raw if raw_proto else base64.b64decode(raw))
        into.proto_value.CopyFrom(message)
    elif bool_value is not None:
        into.bool_value = bool(bool_value)
