"""v4: links of contexts to executions (Association) and artifacts (Attribution)."""

from __future__ import annotations

from mlmd_core.store.migrations.ops import Ops

VERSION = 4
DESCRIPTION = "Association and Attribution tables"


def upgrade(op: Ops) -> None:
    op.create_table("Association")
    op.create_table("Attribution")


def downgrade(op: Ops) -> None:
    op.drop_table("Association")
    op.drop_table("Attribution")
