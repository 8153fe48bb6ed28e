"""v3: contexts (Context, ContextProperty)."""

from __future__ import annotations

from mlmd_core.store.migrations.ops import Ops

VERSION = 3
DESCRIPTION = "Context and ContextProperty tables"


def upgrade(op: Ops) -> None:
    op.create_table("Context")
    op.create_table("ContextProperty")


def downgrade(op: Ops) -> None:
    op.drop_table("Context")
    op.drop_table("ContextProperty")
