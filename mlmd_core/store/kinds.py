"""The three node kinds and their types, described as data so that one code path serves them all."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import Column, Table

from mlmd_core.proto import metadata_store_pb2 as pb
from mlmd_core.store import schema

# Type.type_kind values.
EXECUTION_TYPE, ARTIFACT_TYPE, CONTEXT_TYPE = 0, 1, 2


@dataclass(frozen=True, eq=False)
class NodeKind:
    """What distinguishes artifacts, executions and contexts in storage and on the wire."""

    name: str  # "artifact"
    label: str  # "Artifact", as in messages and table names
    table: Table
    props: Table
    fk: Column  # the property table's node id column
    type_kind: int
    proto: Any  # pb.Artifact
    type_proto: Any  # pb.ArtifactType
    state_field: str | None  # "state", "last_known_state" or None
    has_uri: bool
    name_mutable: bool  # context names may change on update; artifact/execution names may not
    name_required: bool

    @cached_property
    def columns(self) -> tuple[Column, ...]:
        """Node-row columns in the order nodes._protos reads them (built once: reads count them per call)."""
        t = self.table
        cols = [t.c.id, t.c.type_id, t.c.name, t.c.external_id, t.c.create_time_since_epoch,
                t.c.last_update_time_since_epoch]
        if self.has_uri:
            cols.append(t.c.uri)
        if self.state_field:
            cols.append(t.c[self.state_field])
        return tuple(cols)


ARTIFACT = NodeKind(
    "artifact", "Artifact", schema.artifact, schema.artifact_property,
    schema.artifact_property.c.artifact_id, ARTIFACT_TYPE, pb.Artifact, pb.ArtifactType,
    "state", True, False, False,
)
EXECUTION = NodeKind(
    "execution", "Execution", schema.execution, schema.execution_property,
    schema.execution_property.c.execution_id, EXECUTION_TYPE, pb.Execution, pb.ExecutionType,
    "last_known_state", False, False, False,
)
CONTEXT = NodeKind(
    "context", "Context", schema.context, schema.context_property,
    schema.context_property.c.context_id, CONTEXT_TYPE, pb.Context, pb.ContextType,
    None, False, True, True,
)

KIND_BY_TYPE_KIND = {k.type_kind: k for k in (ARTIFACT, EXECUTION, CONTEXT)}

# The simple (system) types every store holds, with ids 1-9 in a new database.
SYSTEM_TYPES: tuple[tuple[str, int], ...] = (
    ("mlmd.Dataset", ARTIFACT_TYPE),
    ("mlmd.Model", ARTIFACT_TYPE),
    ("mlmd.Metrics", ARTIFACT_TYPE),
    ("mlmd.Statistics", ARTIFACT_TYPE),
    ("mlmd.Train", EXECUTION_TYPE),
    ("mlmd.Transform", EXECUTION_TYPE),
    ("mlmd.Process", EXECUTION_TYPE),
    ("mlmd.Evaluate", EXECUTION_TYPE),
    ("mlmd.Deploy", EXECUTION_TYPE),
)
SYSTEM_TYPE_NAMES = frozenset(name for name, _ in SYSTEM_TYPES)
