"""The first SQLite store a process opens compiles the statements of the everyday calls (mlmd_core.warm_up), so a
program's first calls compile nothing. Each case runs in a new interpreter, whose statement cache nothing else
has filled."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Opens a store on a SQLite file (or serves one over gRPC with SERVED) and records a small pipeline run through
# the everyday calls (in another order, with other values than the warm-up's), then reads it back; prints how
# many statements were compiled while opening and while calling. DISABLE turns the warm-up off.
SCRIPT = textwrap.dedent("""
    import sys
    from mlmd_core import MetadataStore
    from mlmd_core.proto import metadata_store_pb2 as pb
    from mlmd_core.store import sql
    import mlmd_core.warm_up

    if "DISABLE" in sys.argv:
        mlmd_core.warm_up._done = True
    compiled = []
    original = sql.Statement.__init__
    def counting(self, element, dialect):
        compiled.append(element)
        original(self, element, dialect)
    sql.Statement.__init__ = counting
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = sys.argv[1]
    if "SERVED" in sys.argv:
        from mlmd_core.grpc.server import serve
        server = serve(pb.MetadataStoreServerConfig(connection_config=config), host="127.0.0.1")
        print("SERVING", len(compiled))
    store = MetadataStore(config)
    opening = len(compiled)

    trainer = pb.ExecutionType(name="Trainer", properties={"epochs": pb.INT})
    model = pb.ArtifactType(name="Model", properties={"accuracy": pb.DOUBLE, "framework": pb.STRING})
    run = pb.ContextType(name="Run", properties={"owner": pb.STRING})
    trainer.id = store.put_execution_type(trainer)
    model.id = store.put_artifact_type(model)
    run.id = store.put_context_type(run)
    data = pb.Artifact(type_id=model.id, uri="/models/data", name="data")
    data.properties["framework"].string_value = "none"
    [data.id] = store.put_artifacts([data])
    context = pb.Context(type_id=run.id, name="run-1")
    context.properties["owner"].string_value = "team"
    [context.id] = store.put_contexts([context])
    execution = pb.Execution(type_id=trainer.id, last_known_state=pb.Execution.RUNNING)
    execution.properties["epochs"].int_value = 3
    trained = pb.Artifact(type_id=model.id, uri="/models/1")
    trained.properties["accuracy"].double_value = 0.9
    trained.custom_properties["note"].string_value = "first"
    read, written = pb.Event(type=pb.Event.INPUT), pb.Event(type=pb.Event.OUTPUT)
    read.path.steps.add().key = "data"
    written.path.steps.add().key = "model"
    written.path.steps.add().index = 0
    execution.id, [_, trained.id], _ = store.put_execution(execution, [(data, read), (trained, written)], [context])
    execution.last_known_state = pb.Execution.COMPLETE
    store.put_executions([execution])
    assert store.get_artifacts_by_id([trained.id])[0].uri == "/models/1"
    assert [a.id for a in store.get_artifacts_by_uri("/models/1")] == [trained.id]
    assert len(store.get_artifacts_by_context(context.id)) == 2
    assert [e.id for e in store.get_executions_by_context(context.id)] == [execution.id]
    assert len(store.get_events_by_execution_ids([execution.id])) == 2
    assert [c.name for c in store.get_contexts_by_execution(execution.id)] == ["run-1"]
    assert store.get_context_by_type_and_name("Run", "run-1").id == context.id
    assert store.get_artifact_type("Model").id == model.id
    assert len(store.get_artifacts_by_type("Model")) == 2
    print("COMPILED", opening, len(compiled) - opening)
""")


def _run(tmp_path: Path, *flags: str) -> str:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "mlmd.sqlite"), *flags],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _counted(output: str, label: str) -> list[int]:
    [line] = [line for line in output.splitlines() if line.startswith(f"{label} ")]
    return [int(n) for n in line.split()[1:]]


def _compiled(tmp_path: Path, *flags: str) -> tuple[int, int]:
    """(statements compiled opening the store, while making the calls) in a new interpreter."""
    opening, calling = _counted(_run(tmp_path, *flags), "COMPILED")
    return opening, calling


def test_a_programs_first_calls_compile_nothing(tmp_path: Path) -> None:
    opening, calling = _compiled(tmp_path)
    assert calling == 0
    assert opening >= 40  # the warm-up's, in memory, shared with the file store


def test_without_the_warm_up_the_first_calls_compile_their_statements(tmp_path: Path) -> None:
    """The control: the same calls compile their statements when nothing compiled them before."""
    opening, calling = _compiled(tmp_path, "DISABLE")
    assert calling >= 15
    assert opening < 10


def test_a_grpc_server_on_sqlite_warms_up_its_process(tmp_path: Path) -> None:
    """The server's store shares the process's statements: serving warms them up as opening a store does (the
    in-process store opened afterwards then finds them compiled)."""
    output = _run(tmp_path, "SERVED")
    [serving] = _counted(output, "SERVING")
    opening, calling = _counted(output, "COMPILED")
    assert serving >= 40  # compiled by serve() itself, before any in-process store opened
    assert opening - serving <= 2  # the in-process store's own opening reads (its schema version)
    assert calling == 0


def test_a_failing_warm_up_is_logged_and_the_store_opens(monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """The warm-up only saves compiling later: if it fails, opening the store still succeeds, and it says why."""
    from mlmd_core import MetadataStore
    from mlmd_core import warm_up as warm_up_module
    from mlmd_core.proto import metadata_store_pb2 as pb

    def broken(store: MetadataStore) -> None:
        raise RuntimeError("made to fail")

    monkeypatch.setattr(warm_up_module, "_done", False)
    monkeypatch.setattr(warm_up_module, "_make_everyday_calls", broken)
    config = pb.ConnectionConfig()
    config.fake_database.SetInParent()
    with caplog.at_level("WARNING", logger="mlmd_core.warm_up"):
        store = MetadataStore(config)
    assert store.put_artifact_type(pb.ArtifactType(name="Opened")) > 0
    [record] = [r for r in caplog.records if r.name == "mlmd_core.warm_up"]
    assert "ahead of use failed" in record.getMessage() and "made to fail" in record.exc_text
    assert warm_up_module._done  # tried once per process, not again at every open


# Opens a store of the config given in text format (argv[2]; a MetadataStoreClientConfig when argv[1] is "grpc")
# and reads from it, after import_backend(config) when PRELOAD is given; prints the modules that opening and
# reading imported.
OPEN_SCRIPT = textwrap.dedent("""
    import json, sys
    from google.protobuf import text_format
    import mlmd_core.warm_up
    from mlmd_core import MetadataStore
    from mlmd_core.proto import metadata_store_pb2 as pb

    config = (pb.MetadataStoreClientConfig if sys.argv[1] == "grpc" else pb.ConnectionConfig)()
    text_format.Parse(sys.argv[2], config)
    if "PRELOAD" in sys.argv:
        mlmd_core.warm_up.import_backend(config)
    before = set(sys.modules)
    store = MetadataStore(config)
    store.get_artifact_types()
    print("IMPORTED", json.dumps(sorted(set(sys.modules) - before)))
""")
# The modules of each backend's driver (or client) that a store must not import once import_backend has run.
_DRIVER_PACKAGES = ("MySQLdb", "pymysql", "psycopg", "grpc", "mlmd_core.grpc")


def _imported_while_opening(kind: str, config: object, *flags: str) -> list[str]:
    from google.protobuf import text_format

    done = subprocess.run([sys.executable, "-c", OPEN_SCRIPT, kind, text_format.MessageToString(config), *flags],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("IMPORTED ")]
    return [name for name in json.loads(line.split(" ", 1)[1])
            if name.split(".")[0] in _DRIVER_PACKAGES or name.startswith("mlmd_core.grpc")]


@pytest.mark.parametrize("kind", ["mysql", "postgresql", "grpc"])
def test_import_backend_leaves_nothing_of_the_driver_to_import(kind: str, tmp_path: Path) -> None:
    """What an Airflow component preloads for the task processes it forks (listener._preload): after
    import_backend, opening a store of that kind and reading from it imports nothing of its driver or of the gRPC
    client; without it, they are imported then (psycopg alone took 50 ms of each task process)."""
    from server_backends import fresh_config

    from mlmd_core.grpc.testing import ServerProcess, write_server_config
    from mlmd_core.proto import metadata_store_pb2 as pb

    if kind == "grpc":
        served = pb.MetadataStoreServerConfig()
        served.connection_config.sqlite.filename_uri = str(tmp_path / "served.sqlite")
        with ServerProcess([f"--metadata_store_server_config_file={write_server_config(tmp_path / 'c', served)}",
                            "--log_level=ERROR"]) as server:
            config = server.client_config()
            assert _imported_while_opening(kind, config, "PRELOAD") == []
            assert _imported_while_opening(kind, config)  # the control: the client is imported when opening
        return
    config = fresh_config(kind)
    assert _imported_while_opening(kind, config, "PRELOAD") == []
    assert _imported_while_opening(kind, config)
