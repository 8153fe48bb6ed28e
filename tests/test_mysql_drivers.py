"""The two MySQL drivers (mlmd_core.store.engine.mysql_driver): mysqlclient when it is installed, pymysql
otherwise or when MLMD_MYSQL_DRIVER says so. Both must write the same bytes (ml-metadata's latin1 session
carrying UTF-8) and read each other's rows exactly. `make test` runs the whole suite on the default driver and
its MariaDB tests once more on pymysql; it builds mysqlclient, whose headers .ci/run installs."""

from __future__ import annotations

import importlib.util
import math

import pytest
from server_backends import SERVER_BACKENDS, admin_connection, fresh_config
from store_fixtures import ORACLE, close_store, errors, make_types, open_store, pb

from mlmd_core.store.engine import MYSQL_DRIVERS, mysql_driver

MYSQLCLIENT_INSTALLED = importlib.util.find_spec("MySQLdb") is not None
# Text of every kind: non-ASCII (2-, 3- and 4-byte UTF-8), the bytes MariaDB's latin1 leaves undefined in cp1252
# once UTF-8 encoded (U+0081, U+008D...), control characters, quotes and backslashes the drivers escape.
TEXTS = ["plain", "héllo wörld", "✓ 数据 🚀", "\u0081\u008d\u008f\u0090\u009d", "tab\tnew\nline\r\x00nul",
         "quote ' \" back \\ slash %s %%"]


def test_driver_is_chosen_by_the_environment_else_by_what_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLMD_MYSQL_DRIVER", raising=False)
    assert mysql_driver() == ("mysqlclient" if MYSQLCLIENT_INSTALLED else "pymysql")
    for name in MYSQL_DRIVERS:
        monkeypatch.setenv("MLMD_MYSQL_DRIVER", f" {name.upper()} ")
        assert mysql_driver() == name
    monkeypatch.setenv("MLMD_MYSQL_DRIVER", "odbc")
    with pytest.raises(errors.InvalidArgumentError, match="MLMD_MYSQL_DRIVER='odbc': expected one of mysqlclient"):
        mysql_driver()


def _artifact(type_id: int, text: str, n: int, writer: str) -> pb.Artifact:
    artifact = pb.Artifact(type_id=type_id, uri=f"/{writer}/{text}", name=f"{writer} {text}",
                           external_id=f"{writer}#{text}")
    artifact.properties["day"].int_value = 2**31 - 1 - n
    artifact.custom_properties["text"].string_value = text
    artifact.custom_properties["ratio"].double_value = [0.1, 1e308, 5e-324, math.pi, 1 / 3, -2.5][n]
    artifact.custom_properties["flag"].bool_value = n % 2 == 0
    artifact.custom_properties["blob"].proto_value.Pack(pb.Value(string_value=text))
    artifact.custom_properties["struct"].struct_value.update({"text": text, "n": n})
    return artifact


def _content(artifact: pb.Artifact) -> tuple:
    return artifact.uri, artifact.name, artifact.external_id, dict(artifact.properties), dict(
        artifact.custom_properties)


@pytest.mark.skipif(ORACLE or "mysql" not in SERVER_BACKENDS, reason="needs the MariaDB server (MLMD_TEST_BACKENDS)")
@pytest.mark.skipif(not MYSQLCLIENT_INSTALLED,
                    reason="needs mysqlclient (pip install mysqlclient; it builds against libmariadb-dev, "
                           "which .ci/run installs)")
def test_each_driver_reads_what_the_other_wrote(monkeypatch: pytest.MonkeyPatch) -> None:
    config = fresh_config("mysql")
    stores = {}
    try:
        for name, dialect_driver in (("mysqlclient", "mysqldb"), ("pymysql", "pymysql")):
            monkeypatch.setenv("MLMD_MYSQL_DRIVER", name)
            stores[name] = open_store(config)
            assert stores[name]._backend.database.dialect.driver == dialect_driver
        types = make_types(stores["pymysql"])
        path = pb.Event.Path(steps=[pb.Event.Path.Step(key=text) for text in TEXTS])
        written = {}
        for writer, store in stores.items():
            artifacts = [_artifact(types.artifact, text, n, writer) for n, text in enumerate(TEXTS)]
            ids = store.put_artifacts(artifacts)
            first = pb.Artifact()
            first.CopyFrom(artifacts[0])
            first.id = ids[0]  # put_execution stores its artifacts as given
            execution_id, _, _ = store.put_execution(pb.Execution(type_id=types.execution, name=f"run ✓ {writer}"),
                                                     [(first, pb.Event(type=pb.Event.INPUT, path=path))], [])
            written[writer] = (artifacts, ids, execution_id)
        for artifacts, ids, execution_id in written.values():
            reads = [(s.get_artifacts_by_id(ids), s.get_events_by_execution_ids([execution_id]),
                      s.get_executions_by_id([execution_id])) for s in stores.values()]
            assert reads[0] == reads[1]  # each driver reads both drivers' rows the same
            got, events, executions = reads[0]
            assert [_content(a) for a in got] == [_content(a) for a in artifacts]
            assert events[0].path == path and executions[0].name.startswith("run ✓ ")
        # only pymysql's reads of many rows come as JSON (sql.packed_rows): mysqlclient parses rows in C
        packed = {name: [stmt.pack is not None for stmt in store._backend.statements._cache.values()]
                  for name, store in stores.items()}
        assert not any(packed["mysqlclient"]) and any(packed["pymysql"])
        # and finds them by their text (sent as a parameter the driver escapes)
        for store in stores.values():
            for artifacts, ids, _ in written.values():
                for artifact, artifact_id in zip(artifacts, ids):
                    [found] = store.get_artifacts_by_external_ids([artifact.external_id])
                    assert found.id == artifact_id
        # the same bytes in the database whichever driver wrote them (pymysql's are ml-metadata's: test_interop)
        conn = admin_connection("mysql", config.mysql.database)
        try:
            cursor = conn.cursor()
            cursor.execute("SELECT artifact_id, HEX(string_value) FROM ArtifactProperty WHERE name = 'text'")
            stored = dict(cursor.fetchall())
        finally:
            conn.close()
        assert [stored[i] for i in written["mysqlclient"][1]] == [stored[i] for i in written["pymysql"][1]]
        assert len(set(stored.values())) == len(TEXTS)
    finally:
        for store in stores.values():
            close_store(store)
