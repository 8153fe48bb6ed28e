"""v8: property value indexes, and one event per (artifact, execution, type)."""

from __future__ import annotations

from sqlalchemy import delete, func, select

from mlmd_core.store.migrations.ops import Ops

VERSION = 8
DESCRIPTION = "property indexes, Event UNIQUE(artifact_id, execution_id, type)"
PROPERTIES = ("ArtifactProperty", "ExecutionProperty", "ContextProperty")


def upgrade(op: Ops) -> None:
    for table in PROPERTIES:
        op.alter_table(table)
    # Duplicate events keep their newest row (MLMD copies them newest first with INSERT OR IGNORE), and
    # paths of events that are gone go too. The derived table lets MySQL delete from the table it reads.
    event, path = op.old("Event"), op.old("EventPath")
    keep = select(func.max(event.c.id).label("id")).group_by(
        event.c.artifact_id, event.c.execution_id, event.c.type).subquery("keep")
    op.execute(delete(event).where(event.c.id.not_in(select(keep.c.id))))
    op.alter_table("Event")
    op.execute(delete(path).where(path.c.event_id.not_in(select(event.c.id))))


def downgrade(op: Ops) -> None:
    op.alter_table("Event")
    for table in PROPERTIES:
        op.alter_table(table)
