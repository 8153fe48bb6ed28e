"""v2: Type.is_artifact_type becomes type_kind, so that context types (type_kind 2) can exist."""

from __future__ import annotations

from sqlalchemy import delete

from mlmd_core.store.migrations.ops import Ops

VERSION = 2
DESCRIPTION = "Type.is_artifact_type -> type_kind"


def upgrade(op: Ops) -> None:
    op.alter_table("Type", renamed={"type_kind": "is_artifact_type"})


def downgrade(op: Ops) -> None:
    # A version-1 store has no context types: MLMD deletes them (their contexts go with version 3's tables).
    types = op.old("Type")
    op.execute(delete(types).where(types.c.type_kind == 2))
    op.alter_table("Type", renamed={"is_artifact_type": "type_kind"})
