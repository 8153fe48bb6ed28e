"""v10: proto_value and bool_value on property tables (MLMD 1.11.0 to 1.17.x)."""

from __future__ import annotations

from mlmd_core.store.migrations.ops import Ops

VERSION = 10
DESCRIPTION = "proto_value, bool_value"
PROPERTIES = ("ArtifactProperty", "ExecutionProperty", "ContextProperty")


def upgrade(op: Ops) -> None:
    for table in PROPERTIES:
        op.alter_table(table)


def downgrade(op: Ops) -> None:
    # Proto and bool values are dropped with their columns; their rows stay, with no value (as in MLMD).
    for table in PROPERTIES:
        op.alter_table(table)
