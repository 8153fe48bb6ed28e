"""v7: byte_value on property tables, an index on EventPath.event_id."""

from __future__ import annotations

from mlmd_core.store.migrations.ops import Ops

VERSION = 7
DESCRIPTION = "byte_value, idx_eventpath_event_id"
ALTERED = ("ArtifactProperty", "ExecutionProperty", "ContextProperty", "EventPath")


def upgrade(op: Ops) -> None:
    for table in ALTERED:
        op.alter_table(table)


def downgrade(op: Ops) -> None:
    # Byte values are dropped with their column (MLMD never wrote them).
    for table in ALTERED:
        op.alter_table(table)
