"""v9: external_id (unique, indexed) on types, artifacts, executions and contexts."""

from __future__ import annotations

from mlmd_core.store.migrations.ops import Ops

VERSION = 9
DESCRIPTION = "external_id columns and indexes"
TABLES = ("Type", "Artifact", "Execution", "Context")


def upgrade(op: Ops) -> None:
    for table in TABLES:
        if op.dialect.name == "postgresql" and _pg_has_external_id(op, table):
            # ml-metadata's own PostgreSQL downgrade to 8 (or below) drops nothing: the column, its UNIQUE
            # constraint and its index are still there, as v9 has them (ml-metadata's upgrade rebuilds the table).
            op.execute(f"CREATE INDEX IF NOT EXISTS idx_{table.lower()}_external_id ON {op.preparer.quote(table)} "
                       "(external_id)")
            continue
        op.alter_table(table)


def _pg_has_external_id(op: Ops, table: str) -> bool:
    cursor = op.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
                        f"AND table_name = '{table.lower()}' AND column_name = 'external_id'")
    return cursor.fetchone() is not None


def downgrade(op: Ops) -> None:
    # External ids are dropped with their columns.
    for table in TABLES:
        op.alter_table(table)
