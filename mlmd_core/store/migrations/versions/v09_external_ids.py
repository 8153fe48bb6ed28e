"""v9: external_id (unique, indexed) on types, artifacts, executions and contexts."""

from __future__ import annotations

from mlmd_core.store.migrations.ops import Ops

VERSION = 9
DESCRIPTION = "external_id columns and indexes"
TABLES = ("Type", "Artifact", "Execution", "Context")


def upgrade(op: Ops) -> None:
    for table in TABLES:
        op.alter_table(table)


def downgrade(op: Ops) -> None:
    # External ids are dropped with their columns.
    for table in TABLES:
        op.alter_table(table)
