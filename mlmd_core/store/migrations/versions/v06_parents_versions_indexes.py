"""v6: type versions and descriptions, parent types and parent contexts, the first secondary indexes."""

from __future__ import annotations

from mlmd_core.store.migrations.ops import Ops

VERSION = 6
DESCRIPTION = "ParentType, ParentContext, Type.version/description, secondary indexes"
ALTERED = ("Type", "Artifact", "Execution", "Context", "Event")


def upgrade(op: Ops) -> None:
    op.create_table("ParentType")
    op.create_table("ParentContext")
    for table in ALTERED:
        op.alter_table(table)


def downgrade(op: Ops) -> None:
    op.drop_table("ParentType")
    op.drop_table("ParentContext")
    for table in ALTERED:
        op.alter_table(table)
