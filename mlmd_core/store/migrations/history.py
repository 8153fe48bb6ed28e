"""MLMD's schema at every version 0..10, as SQLAlchemy tables: the declarative half of the migrations.

A migration step moves a database from `schema_at(v - 1)` to `schema_at(v)` (or back); the ops
(`migrations.ops`) read both snapshots to know which columns, constraints and indexes to add or drop, so a
step only names the tables it touches and the data it moves. The snapshots follow what ml-metadata 1.17.1
creates on SQLite at each version (see docs/migrations.md for how that was established); `schema_at(10)`
must equal `store.schema`, which a test checks.
"""

from __future__ import annotations

import functools

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import mysql

from mlmd_core.store.schema import _Blob, _BoolFlag, _Flag, _Id, _LongText, _Time

# The newest version the history knows; a new step raises it (and store.schema.SCHEMA_VERSION with it).
LATEST = 10

NODE_TABLES = ("Artifact", "Execution", "Context")


@functools.cache
def schema_at(version: int) -> MetaData:
    """The tables of MLMD schema `version` (0: the v0.13.2 layout without MLMDEnv)."""
    if not 0 <= version <= LATEST:
        raise ValueError(f"no MLMD schema version {version}")
    v = version
    md = MetaData()
    # --- types
    type_columns = [Column("id", _Id, primary_key=True, autoincrement=True),
                    Column("name", String(255), nullable=False)]
    if v >= 6:
        type_columns.append(Column("version", String(255)))
    type_columns.append(Column("type_kind" if v >= 2 else "is_artifact_type", _Flag, nullable=False))
    if v >= 6:
        type_columns.append(Column("description", Text))
    type_columns += [Column("input_type", Text), Column("output_type", Text)]
    if v >= 9:
        type_columns.append(Column("external_id", String(255), unique=True))
    type_table = Table("Type", md, *type_columns, sqlite_autoincrement=True)
    if v >= 6:
        Index("idx_type_name", type_table.c.name)
    if v >= 9:
        Index("idx_type_external_id", type_table.c.external_id)
    Table("TypeProperty", md, Column("type_id", Integer, nullable=False), Column("name", String(255), nullable=False),
          Column("data_type", Integer), PrimaryKeyConstraint("type_id", "name"))
    if v >= 6:
        Table("ParentType", md, Column("type_id", Integer, nullable=False),
              Column("parent_type_id", Integer, nullable=False), PrimaryKeyConstraint("type_id", "parent_type_id"))
    # --- nodes and their properties
    _node(md, "Artifact", v, [Column("uri", Text)], [Column("state", Integer), Column("name", String(255))])
    _node(md, "Execution", v, [], [Column("last_known_state", Integer), Column("name", String(255))])
    if v >= 3:
        _node(md, "Context", v, [Column("name", String(255), nullable=False)], [])
    for node in NODE_TABLES:
        if node != "Context" or v >= 3:
            _properties(md, node, v)
    if v >= 6:
        parent_context = Table("ParentContext", md, Column("context_id", Integer, nullable=False),
                               Column("parent_context_id", Integer, nullable=False),
                               PrimaryKeyConstraint("context_id", "parent_context_id"))
        Index("idx_parentcontext_parent_context_id", parent_context.c.parent_context_id)
    # --- events
    event = Table("Event", md, Column("id", _Id, primary_key=True, autoincrement=True),
                  Column("artifact_id", Integer, nullable=False), Column("execution_id", Integer, nullable=False),
                  Column("type", Integer, nullable=False), Column("milliseconds_since_epoch", _Time),
                  *([UniqueConstraint("artifact_id", "execution_id", "type", name="UniqueEvent")] if v >= 8 else []),
                  sqlite_autoincrement=True)
    if 6 <= v <= 7:
        Index("idx_event_artifact_id", event.c.artifact_id)
    if v >= 6:
        Index("idx_event_execution_id", event.c.execution_id)
    event_path = Table("EventPath", md, Column("event_id", Integer, nullable=False),
                       Column("is_index_step", _BoolFlag, nullable=False), Column("step_index", Integer),
                       Column("step_key", Text))
    if v >= 7:
        Index("idx_eventpath_event_id", event_path.c.event_id)
    # --- contexts' links
    if v >= 4:
        for name, node in (("Association", "execution"), ("Attribution", "artifact")):
            Table(name, md, Column("id", _Id, primary_key=True, autoincrement=True),
                  Column("context_id", Integer, nullable=False), Column(f"{node}_id", Integer, nullable=False),
                  UniqueConstraint("context_id", f"{node}_id"), sqlite_autoincrement=True)
    if v >= 1:
        Table("MLMDEnv", md, Column("schema_version", Integer, primary_key=True, autoincrement=False))
    return md


def _node(md: MetaData, name: str, v: int, base: list[Column], v5: list[Column]) -> None:
    """A node table: the v0 columns, then (v5) state and name, (v9) external_id, (v5) times."""
    lower = name.lower()
    columns = [Column("id", _Id, primary_key=True, autoincrement=True), Column("type_id", Integer, nullable=False),
               *base]
    if v >= 5:
        columns += v5
    if v >= 9:
        columns.append(Column("external_id", String(255), unique=True))
    if v >= 5:
        columns += [Column("create_time_since_epoch", _Time, nullable=False, server_default=text("0")),
                    Column("last_update_time_since_epoch", _Time, nullable=False, server_default=text("0"))]
    extra = []
    if name == "Context" or v >= 5:
        # Named for Artifact and Execution only, as MLMD does (MySQL then calls Context's `type_id`).
        extra.append(UniqueConstraint("type_id", "name", name=None if name == "Context" else f"Unique{name}TypeName"))
    table = Table(name, md, *columns, *extra, sqlite_autoincrement=True)
    if v >= 6:
        if name == "Artifact":
            Index("idx_artifact_uri", table.c.uri, mysql_length=255)
        Index(f"idx_{lower}_create_time_since_epoch", table.c.create_time_since_epoch)
        Index(f"idx_{lower}_last_update_time_since_epoch", table.c.last_update_time_since_epoch)
    if v >= 9:
        Index(f"idx_{lower}_external_id", table.c.external_id)


def _properties(md: MetaData, node: str, v: int) -> None:
    """A property table: (v7) byte_value, (v8) value indexes, (v10) proto_value and bool_value."""
    fk = f"{node.lower()}_id"
    columns = [Column(fk, Integer, nullable=False), Column("name", String(255), nullable=False),
               Column("is_custom_property", _BoolFlag, nullable=False), Column("int_value", Integer),
               Column("double_value", Float(precision=53).with_variant(mysql.DOUBLE(), "mysql")),
               Column("string_value", _LongText)]
    if v >= 7:
        columns.append(Column("byte_value", _Blob))
    if v >= 10:
        columns += [Column("proto_value", _Blob), Column("bool_value", Boolean(create_constraint=False))]
    table = Table(f"{node}Property", md, *columns, PrimaryKeyConstraint(fk, "name", "is_custom_property"))
    if v >= 8:
        for kind in ("int", "double", "string"):
            value = table.c[f"{kind}_value"]
            Index(f"idx_{node.lower()}_property_{kind}", table.c.name, table.c.is_custom_property, value,
                  sqlite_where=value.isnot(None), mysql_length={"string_value": 255} if kind == "string" else None)
