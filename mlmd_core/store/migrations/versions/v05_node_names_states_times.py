"""v5: artifacts and executions get state, name (unique per type) and timestamps; contexts timestamps."""

from __future__ import annotations

from mlmd_core.store.migrations.ops import Ops

VERSION = 5
DESCRIPTION = "state, name and create/update times on nodes"
TABLES = ("Artifact", "Execution", "Context")


def upgrade(op: Ops) -> None:
    for table in TABLES:
        op.alter_table(table)


def downgrade(op: Ops) -> None:
    for table in TABLES:
        op.alter_table(table)
