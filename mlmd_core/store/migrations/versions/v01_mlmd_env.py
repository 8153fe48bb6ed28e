"""v1: the MLMDEnv table records the schema version (MLMD 0.13.2 databases are version 0)."""

from __future__ import annotations

from sqlalchemy import insert

from mlmd_core.store.migrations.ops import Ops

VERSION = 1
DESCRIPTION = "MLMDEnv table"


def upgrade(op: Ops) -> None:
    op.create_table("MLMDEnv")
    op.execute(insert(op.new("MLMDEnv")).values(schema_version=0))  # set to 1 by the runner, as MLMD does


def downgrade(op: Ops) -> None:
    op.drop_table("MLMDEnv")
