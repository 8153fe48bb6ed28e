"""mlmd_core.store.sql without a server: how statements are bound for MySQL (integer lists in the text) and how
packed MySQL results are read back or refused (then the caller reads the rows plainly). The same code runs
against MariaDB in tests/test_server_backends.py; these cases are the ones a live server hardly produces."""

from __future__ import annotations

from typing import Any

import pymysql
import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.dialects import mysql, postgresql, sqlite

from mlmd_core.store import schema
from mlmd_core.store.sql import Statement, packed_rows

A = schema.artifact
MYSQL = mysql.pymysql.dialect(paramstyle="format")


def _by_ids() -> Any:
    return select(A.c.id).where(A.c.id.in_(bindparam("ids", expanding=True)), A.c.type_id == bindparam("type_id"))


def _by_ids_and_uris() -> Any:
    return _by_ids().where(A.c.uri.in_(bindparam("uris", expanding=True)))


def _as_pymysql_sends(sql: str, values: list) -> str:
    """The query text pymysql sends for a statement and its parameters (it interpolates them itself)."""
    return sql % tuple(pymysql.converters.escape_item(v, "utf8") for v in values)


def test_mysql_integer_lists_go_into_the_text_as_pymysql_would_write_them() -> None:
    stmt = Statement(_by_ids(), MYSQL)
    ids = [3, -7, 2**40, True, False]
    sql, values = stmt.bind({"ids": ids, "type_id": 5})
    assert "IN (3, -7, 1099511627776, 1, 0)" in sql and values == [5]
    plain = Statement(_by_ids(), MYSQL)
    plain._inline_parts = None  # the placeholders pymysql fills in itself
    assert _as_pymysql_sends(sql, values) == _as_pymysql_sends(*plain.bind({"ids": ids, "type_id": 5}))
    assert stmt.bind({"ids": [], "type_id": 5})[0].count("IN (NULL)") == 1


def test_mysql_lists_of_anything_but_integers_stay_parameters() -> None:
    stmt = Statement(_by_ids_and_uris(), MYSQL)
    sql, values = stmt.bind({"ids": [1, 2], "type_id": 5, "uris": ["/a", "it's"]})
    assert sql.count("%s") == 5 and values == [1, 2, 5, "/a", "it's"]
    assert "1, 2" not in sql


def test_sqlite_lists_stay_parameters() -> None:
    stmt = Statement(_by_ids_and_uris(), sqlite.dialect(paramstyle="qmark"))
    sql, values = stmt.bind({"ids": [1, 2], "type_id": 5, "uris": ["/a"]})
    assert sql.count("?") == 4 and values == [1, 2, 5, "/a"]


def _pack(**options: object) -> packed_rows:
    return packed_rows(select(A.c.id, A.c.name, A.c.uri), **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(("result", "why"), [
    ((3, None), "over max_allowed_packet: MySQL sends NULL with a row count"),
    ((2, b'[[1,"a",null],[2,"b"'), "cut at group_concat_max_len"),
    ((2, b'[[1,"a",null]]'), "fewer rows than counted"),
    ((1, b'[[1,"\xe2\x98"]]'), "cut inside a character"),
])
def test_packed_result_that_did_not_fit_is_refused(result: tuple, why: str) -> None:
    assert _pack().rows(result) is None, why


def test_packed_rows_come_back_as_tuples_in_the_selects_order() -> None:
    pack = _pack(order=lambda row: row[0], descending=True, binary=[2])
    assert pack.rows((0, None)) == []
    assert pack.rows((2, b'[[1,"\xc3\xa9",null],[2,"b","00ff"]]')) == [(2, "b", b"\x00\xff"), (1, "\u00e9", None)]


def test_packing_is_worth_it_from_the_expected_number_of_values() -> None:
    pack = _pack()  # three columns: packed from 134 rows (PACK_FROM_VALUES = 400)
    assert not pack.worth_it({"ids": [1] * 133}, ["ids"], None)
    assert pack.worth_it({"ids": [1] * 134}, ["ids"], None)
    assert not pack.worth_it({}, [], None)  # nothing tells the size: plain the first time
    assert pack.worth_it({}, [], 200) and not pack.worth_it({}, [], 100)  # then by the size it had last time
    assert _pack(expected_rows=lambda params: params["limit"]).worth_it({"limit": 134}, [], 1)


@pytest.mark.parametrize("dialect", [sqlite.dialect(), MYSQL, postgresql.psycopg.dialect(paramstyle="format")],
                         ids=["sqlite", "mysql", "postgresql"])
def test_text_statements_compile_as_sqlalchemy_compiles_them(dialect: Any) -> None:
    """insert_values and update_by_id write their placeholders themselves: the same SQL and parameter order as
    SQLAlchemy's compiler gives for their text (which they skip, ≈ 0.2 ms a statement)."""
    from sqlalchemy import text

    from mlmd_core.store.nodes import PROPERTY_ROW
    from mlmd_core.store.sql import insert_values, update_by_id

    elements = [
        insert_values(schema.artifact_property, "artifact_id", *PROPERTY_ROW),
        insert_values(schema.attribution, "context_id", "artifact_id", skip_duplicates=True),
        insert_values(schema.event_path, "event_id", "is_index_step", "step_index", "step_key",
                      expressions={"event_id": "LAST_INSERT_ID() + :event_id"}),
        update_by_id(schema.artifact, "name", "external_id", "uri", "state"),
    ]
    for element in elements:
        stmt = Statement(element, dialect)
        compiled = text(element.text(dialect.identifier_preparer)).compile(dialect=dialect)
        assert (stmt.sql, stmt.names) == (compiled.string, tuple(compiled.positiontup))
        assert stmt.names[-1] == ("row_id" if isinstance(element, update_by_id) else element.names[-1])


def test_sqlite_stores_of_a_process_share_compiled_statements(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A statement one SQLite store compiled is not compiled again by another, in memory or on a file (what lets
    Airflow's task processes inherit the listener's, tests/airflow/test_listener_warm_up.py); a statement's
    parameters stay each call's own."""
    from mlmd_core import MetadataStore
    from mlmd_core.proto import metadata_store_pb2 as pb
    from mlmd_core.store import sql

    def store(path: str | None) -> MetadataStore:
        config = pb.ConnectionConfig()
        if path is None:
            config.fake_database.SetInParent()
        else:
            config.sqlite.filename_uri = path
        return MetadataStore(config)

    def read_back(s: MetadataStore, uri: str) -> list[str]:
        type_id = s.put_artifact_type(pb.ArtifactType(name="Shared", properties={"n": pb.INT}))
        artifact = pb.Artifact(type_id=type_id, uri=uri)
        artifact.properties["n"].int_value = len(uri)
        [artifact_id] = s.put_artifacts([artifact])
        return [(a.uri, a.properties["n"].int_value) for a in s.get_artifacts_by_id([artifact_id])]

    first = store(None)
    assert read_back(first, "/first") == [("/first", 6)]
    compiled: list[Any] = []
    original = sql.Statement.__init__
    monkeypatch.setattr(sql.Statement, "__init__", lambda self, *a: (compiled.append(a[0]), original(self, *a)))
    second = store(str(tmp_path / "second.sqlite"))
    assert read_back(second, "/second/one") == [("/second/one", 11)]
    assert compiled == [], [str(c) for c in compiled]
    first.close()
    second.close()


def test_statement_caches_start_afresh_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every new filter-query shape compiles statements of its own: past STATEMENTS_KEPT the shared cache and the
    store's start afresh (a long-lived gRPC server meets ever new shapes), and the statements compiled again
    give the same answers."""
    from mlmd_core import ListOptions, MetadataStore
    from mlmd_core.proto import metadata_store_pb2 as pb
    from mlmd_core.store import sql

    config = pb.ConnectionConfig()
    config.fake_database.SetInParent()
    store = MetadataStore(config)
    type_id = store.put_artifact_type(pb.ArtifactType(name="Bounded"))
    ids = store.put_artifacts([pb.Artifact(type_id=type_id, uri=f"/u{i}") for i in range(3)])
    monkeypatch.setattr(sql, "STATEMENTS_KEPT", 12)
    monkeypatch.setattr(sql, "_SQLITE_STATEMENTS", {})
    statements = store._backend.statements  # type: ignore[attr-defined]
    monkeypatch.setattr(statements, "_shared", sql._SQLITE_STATEMENTS)
    largest = 0
    for round_ in range(2):
        for i in range(10):  # ten shapes (literals are parameters: a shape is the query without them)
            query = " OR ".join([f'uri = "/u{i % 3}"'] * (i + 1))
            found = store.get_artifacts(list_options=ListOptions(filter_query=query))
            assert [a.id for a in found] == [ids[i % 3]], (round_, query)
            largest = max(largest, len(sql._SQLITE_STATEMENTS), len(statements._cache))
    assert largest == sql.STATEMENTS_KEPT  # filled up, never past it
    store.close()
