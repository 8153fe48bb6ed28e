"""The read commands of `mlmd` (types, artifacts|executions|contexts, show, lineage) and `--db`: CliRunner
against a real SQLite file, `--json` parsed and checked, the errors, and grpc:// through a real mlmd-server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from google.protobuf import struct_pb2
from store_fixtures import set_value

import mlmd_core as mlmd
from mlmd_core.cli import cli
from mlmd_core.cli.target import default_db, parse_db
from mlmd_core.grpc.testing import ServerProcess, write_server_config
from mlmd_core.proto import metadata_store_pb2 as pb

# The store every test reads: ingest -> raw -> clean -> clean data -> train -> model -> evaluate -> metrics,
# in context "run-1" (a child of "demo"). Ids are those of a fresh store (1.. in creation order).
RAW, CLEAN, MODEL, METRICS = 1, 2, 3, 4
INGEST, PREPROCESS, TRAIN, EVALUATE = 1, 2, 3, 4
PIPELINE, RUN = 1, 2


def _config(path: Path) -> pb.ConnectionConfig:
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    return config


def populate(store: mlmd.MetadataStore) -> None:
    """A small pipeline run with every kind of record the CLI shows, exports and imports."""
    dataset = pb.ArtifactType(name="Dataset", base_type=pb.ArtifactType.DATASET, description="tabular data",
                              properties={"split": pb.STRING, "rows": pb.INT})
    model = pb.ArtifactType(name="Model", version="v1", properties={"accuracy": pb.DOUBLE})
    dataset_id, model_id = store.put_artifact_type(dataset), store.put_artifact_type(model)
    step = store.put_execution_type(pb.ExecutionType(name="Step", properties={"lr": pb.DOUBLE}))
    pipeline = store.put_context_type(pb.ContextType(name="Pipeline"))
    run = store.put_context_type(pb.ContextType(name="PipelineRun", external_id="run-type"))

    def artifact(type_id: int, name: str, **props: Any) -> pb.Artifact:
        a = pb.Artifact(type_id=type_id, name=name, uri=f"/data/{name}", state=pb.Artifact.LIVE)
        for key, value in props.items():
            target = a.properties[key] if key in ("split", "rows", "accuracy") else a.custom_properties[key]
            if isinstance(value, dict):
                target.struct_value.CopyFrom(struct_pb2.Struct())
                target.struct_value.update(value)
            else:
                set_value(target, value)
        return a

    ids = store.put_artifacts([
        artifact(dataset_id, "raw", rows=100, source={"kind": "generated", "seed": 7}),
        artifact(dataset_id, "clean", split="train", rows=90),
        artifact(model_id, "model", accuracy=0.93, blessed=True),
        artifact(model_id, "metrics", note="it's fine"),
    ])
    assert ids == [RAW, CLEAN, MODEL, METRICS]
    execs = [pb.Execution(type_id=step, name=n, last_known_state=pb.Execution.COMPLETE)
             for n in ("ingest", "preprocess", "train", "evaluate")]
    execs[2].properties["lr"].double_value = 0.1
    execs[3].external_id = "eval-1"
    assert store.put_executions(execs) == [INGEST, PREPROCESS, TRAIN, EVALUATE]
    assert store.put_contexts([pb.Context(type_id=pipeline, name="demo"),
                               pb.Context(type_id=run, name="run-1")]) == [PIPELINE, RUN]

    def event(kind: int, artifact_id: int, execution_id: int, key: str) -> pb.Event:
        e = pb.Event(type=kind, artifact_id=artifact_id, execution_id=execution_id, milliseconds_since_epoch=1_700_000)
        e.path.steps.add().key = key
        e.path.steps.add().index = 0
        return e

    store.put_events([
        event(pb.Event.OUTPUT, RAW, INGEST, "raw"),
        event(pb.Event.INPUT, RAW, PREPROCESS, "examples"), event(pb.Event.OUTPUT, CLEAN, PREPROCESS, "clean"),
        event(pb.Event.INPUT, CLEAN, TRAIN, "examples"), event(pb.Event.OUTPUT, MODEL, TRAIN, "model"),
        event(pb.Event.INPUT, MODEL, EVALUATE, "model"), event(pb.Event.OUTPUT, METRICS, EVALUATE, "metrics"),
    ])
    store.put_attributions_and_associations(
        [pb.Attribution(artifact_id=a, context_id=RUN) for a in (RAW, CLEAN, MODEL, METRICS)],
        [pb.Association(execution_id=e, context_id=RUN) for e in (INGEST, PREPROCESS, TRAIN, EVALUATE)])
    store.put_parent_contexts([pb.ParentContext(child_id=RUN, parent_id=PIPELINE)])


def make_store(path: Path) -> Path:
    with mlmd.MetadataStore(_config(path)) as store:
        populate(store)
    return path


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    return make_store(tmp_path / "mlmd.sqlite")


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


def ok(*args: str, env: dict[str, str] | None = None) -> str:
    code, out = run(*args, env=env)
    assert code == 0, out
    return out


def json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


# ------------------------------------------------------------------------------------------------ --db


def test_db_spellings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_db("a/b.sqlite").sqlite.filename_uri == "a/b.sqlite"
    assert parse_db("sqlite:///rel/x.db").sqlite.filename_uri == "rel/x.db"
    assert parse_db("sqlite:////abs/x.db").sqlite.filename_uri == "/abs/x.db"
    assert parse_db("grpc://localhost:9090") == pb.MetadataStoreClientConfig(host="localhost", port=9090)
    mysql = parse_db("mysql+pymysql://me:p%40ss@db.example:3307/meta").mysql
    assert (mysql.host, mysql.port, mysql.user, mysql.password, mysql.database) == (
        "db.example", 3307, "me", "p@ss", "meta")
    pg = parse_db("postgresql://me@pg:5433/meta?sslmode=require").postgresql
    assert (pg.host, pg.port, pg.user, pg.dbname, pg.ssloption.sslmode, pg.password) == (
        "pg", "5433", "me", "meta", "require", "")
    for bad in ("grpc://host", "mysql://host", "http://x/y", "sqlite://", "grpc://h:notaport"):
        with pytest.raises(ValueError):
            parse_db(bad)
    monkeypatch.delenv("MLMD_DB", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    assert default_db() == str(tmp_path / "home" / "mlmd.sqlite")
    monkeypatch.delenv("AIRFLOW_HOME")
    assert default_db() == str(Path("~/airflow/mlmd.sqlite").expanduser())
    monkeypatch.setenv("MLMD_DB", "grpc://h:1")
    assert default_db() == "grpc://h:1"


def test_db_default_env_and_url(db: Path, tmp_path: Path) -> None:
    names = ["raw", "clean", "model", "metrics"]
    assert [r["name"] for r in json_lines(ok("artifacts", "--json", "--db", f"sqlite:///{db}"))] == names
    assert [r["name"] for r in json_lines(ok("artifacts", "--json", env={"MLMD_DB": str(db)}))] == names
    home = tmp_path / "airflow-home"
    home.mkdir()
    make_store(home / "mlmd.sqlite")
    out = ok("artifacts", "--json", env={"MLMD_DB": "", "AIRFLOW_HOME": str(home)})
    assert [r["name"] for r in json_lines(out)] == names


def test_bad_db_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sqlite"
    code, out = run("artifacts", "--db", str(missing))
    assert (code, out) == (1, f"Error: no MLMD store at {missing} (give --db or set $MLMD_DB)\n")
    assert not missing.exists()  # a reader never creates a store
    code, out = run("types", "--db", "ftp://x/y")
    assert code == 2 and "unknown scheme 'ftp'" in out
    code, out = run("types", "--db", "grpc://127.0.0.1:1")
    assert code == 1 and out.startswith("Error: UnavailableError: ") and len(out.splitlines()) == 1


# --------------------------------------------------------------------------------------------- listing


def test_types(db: Path) -> None:
    rows = json_lines(ok("types", "--db", str(db), "--json"))
    assert [(r["kind"], r["name"]) for r in rows] == [
        ("artifact", "Dataset"), ("artifact", "Model"), ("execution", "Step"), ("context", "Pipeline"),
        ("context", "PipelineRun")]
    assert rows[0]["properties"] == {"rows": "INT", "split": "STRING"} and rows[0]["base_type"] == "DATASET"
    assert rows[1]["version"] == "v1" and rows[4]["external_id"] == "run-type"
    assert [r["name"] for r in json_lines(ok("types", "--db", str(db), "--kind", "context", "--json"))] == [
        "Pipeline", "PipelineRun"]
    table = ok("types", "--db", str(db))
    assert "Dataset" in table and "rows: INT, split: STRING" in table and "DATASET" in table


def test_artifacts_type_filter_limit(db: Path) -> None:
    rows = json_lines(ok("artifacts", "--db", str(db), "--json"))
    assert rows[2] == {
        "kind": "artifact", "id": MODEL, "type": "Model", "type_id": rows[2]["type_id"], "name": "model",
        "uri": "/data/model", "state": "LIVE", "external_id": None, "properties": {"accuracy": 0.93},
        "custom_properties": {"blessed": True}, "create_time_since_epoch": rows[2]["create_time_since_epoch"],
        "last_update_time_since_epoch": rows[2]["last_update_time_since_epoch"]}
    assert rows[0]["custom_properties"] == {"source": {"kind": "generated", "seed": 7}}
    assert [r["name"] for r in json_lines(ok("artifacts", "--db", str(db), "--type", "Model", "--json"))] == [
        "model", "metrics"]
    out = ok("artifacts", "--db", str(db), "--type", "Dataset", "--filter", "properties.rows.int_value < 95", "--json")
    assert [r["name"] for r in json_lines(out)] == ["clean"]
    assert [r["id"] for r in json_lines(ok("artifacts", "--db", str(db), "--limit", "2", "--json"))] == [RAW, CLEAN]
    table = ok("artifacts", "--db", str(db), "--limit", "2")
    assert "/data/raw" in table and "metrics" not in table and "(the first 2; --limit 0 lists all)" in table
    assert ok("artifacts", "--db", str(db), "--type", "NoSuchType", "--json") == ""


def test_executions_and_contexts(db: Path) -> None:
    rows = json_lines(ok("executions", "--db", str(db), "--json"))
    assert [(r["name"], r["state"]) for r in rows] == [
        ("ingest", "COMPLETE"), ("preprocess", "COMPLETE"), ("train", "COMPLETE"), ("evaluate", "COMPLETE")]
    assert rows[2]["properties"] == {"lr": 0.1} and rows[3]["external_id"] == "eval-1"
    out = ok("executions", "--db", str(db), "--filter", "name = 'train'", "--json")
    assert [r["id"] for r in json_lines(out)] == [TRAIN]
    rows = json_lines(ok("contexts", "--db", str(db), "--type", "PipelineRun", "--json"))
    assert [(r["id"], r["name"], "state" in r) for r in rows] == [(RUN, "run-1", False)]
    assert "run-1" in ok("contexts", "--db", str(db)) and "preprocess" in ok("executions", "--db", str(db))


def test_bad_filter_is_one_line(db: Path) -> None:
    code, out = run("artifacts", "--db", str(db), "--filter", "name = = 'x'")
    assert code == 1 and out.startswith("Error: InvalidArgumentError: ") and len(out.splitlines()) == 1
    code, out = run("artifacts", "--db", str(db), "--limit", "-1")
    assert code == 2 and "--limit" in out


# ------------------------------------------------------------------------------------------------ show


def test_show_artifact(db: Path) -> None:
    doc = json.loads(ok("show", "artifact", str(MODEL), "--db", str(db), "--json"))
    assert doc["artifact"]["name"] == "model"
    assert [(e["type"], e["execution_id"], e["path"]) for e in doc["events"]] == [
        ("OUTPUT", TRAIN, ["model", 0]), ("INPUT", EVALUATE, ["model", 0])]
    assert [e["name"] for e in doc["executions"]] == ["train", "evaluate"]
    assert [c["name"] for c in doc["contexts"]] == ["run-1"]
    table = ok("show", "artifact", str(MODEL), "--db", str(db))
    for text in ("property accuracy", "0.93", "custom blessed", "OUTPUT", "train", "run-1", "model.0"):
        assert text in table


def test_show_execution_and_context(db: Path) -> None:
    doc = json.loads(ok("show", "execution", str(TRAIN), "--db", str(db), "--json"))
    assert doc["execution"]["properties"] == {"lr": 0.1}
    assert [(e["type"], e["artifact_id"]) for e in doc["events"]] == [("INPUT", CLEAN), ("OUTPUT", MODEL)]
    assert [a["name"] for a in doc["artifacts"]] == ["clean", "model"]
    doc = json.loads(ok("show", "context", str(RUN), "--db", str(db), "--json"))
    assert doc["context"]["name"] == "run-1" and [p["name"] for p in doc["parents"]] == ["demo"]
    assert sorted(a["id"] for a in doc["artifacts"]) == [RAW, CLEAN, MODEL, METRICS]
    assert sorted(e["id"] for e in doc["executions"]) == [INGEST, PREPROCESS, TRAIN, EVALUATE]
    doc = json.loads(ok("show", "context", str(PIPELINE), "--db", str(db), "--json"))
    assert [c["name"] for c in doc["children"]] == ["run-1"] and doc["artifacts"] == []
    table = ok("show", "context", str(RUN), "--db", str(db))
    assert "parents" in table and "demo" in table and "evaluate" in table


def test_show_unknown_id(db: Path) -> None:
    for kind in ("artifact", "execution", "context"):
        assert run("show", kind, "99", "--db", str(db)) == (1, f"Error: NotFoundError: no {kind} with id 99\n")
    code, out = run("show", "artifact", "x", "--db", str(db))
    assert code == 2 and "'x' is not a valid integer" in out


# --------------------------------------------------------------------------------------------- lineage


def test_lineage_formats(db: Path) -> None:
    graph = json.loads(ok("lineage", str(MODEL), "--db", str(db), "--json"))
    assert sorted(n["key"] for n in graph["nodes"]) == [
        "artifact:1", "artifact:2", "artifact:3", "execution:1", "execution:2", "execution:3"]
    assert {"source": "artifact:2", "target": "execution:3", "event": "INPUT"} in graph["edges"]
    assert json.loads(ok("lineage", str(MODEL), "--db", str(db), "--format", "json")) == graph
    down = json.loads(ok("lineage", str(RAW), "--down", "--hops", "2", "--db", str(db), "--json"))
    assert sorted(n["key"] for n in down["nodes"]) == ["artifact:1", "artifact:2", "execution:2"]
    dot = ok("lineage", str(MODEL), "--db", str(db), "--format", "dot")
    assert dot.startswith("digraph lineage {") and "artifact_2 -> execution_3" in dot
    mermaid = ok("lineage", str(MODEL), "--db", str(db), "--format", "mermaid")
    assert mermaid.startswith("flowchart LR") and "artifact_2 -->|INPUT| execution_3" in mermaid


def test_lineage_tree(db: Path) -> None:
    lines = ok("lineage", str(MODEL), "--db", str(db)).splitlines()
    assert lines[0] == "artifact 3 Model 'model' [LIVE] /data/model"
    assert "OUTPUT: execution 3 Step 'train' [COMPLETE]" in lines[1]
    assert "INPUT: artifact 2 Dataset 'clean' [LIVE] /data/clean" in lines[2]
    assert "OUTPUT: execution 1 Step 'ingest' [COMPLETE]" in lines[-1]
    down = ok("lineage", str(RAW), "--down", "--db", str(db))
    assert down.index("preprocess") < down.index("train") < down.index("evaluate") < down.index("metrics")


def test_lineage_unknown_artifact(db: Path) -> None:
    assert run("lineage", "42", "--db", str(db)) == (1, "Error: NotFoundError: no artifact with id 42\n")
    code, out = run("lineage", "1", "--hops", "0", "--db", str(db))
    assert code == 2 and "--hops" in out


# ---------------------------------------------------------------------------------------------- grpc://


def test_read_commands_over_grpc(db: Path, tmp_path: Path) -> None:
    server_config = pb.MetadataStoreServerConfig(connection_config=_config(db))
    config_file = write_server_config(tmp_path / "server.pbtxt", server_config)
    with ServerProcess([f"--metadata_store_server_config_file={config_file}"]) as server:
        url = f"grpc://127.0.0.1:{server.port}"
        assert [r["name"] for r in json_lines(ok("artifacts", "--db", url, "--type", "Model", "--json"))] == [
            "model", "metrics"]
        assert json.loads(ok("show", "execution", str(TRAIN), "--db", url, "--json"))["execution"]["name"] == "train"
        assert len(json.loads(ok("lineage", str(MODEL), "--db", url, "--json"))["nodes"]) == 6
        assert ok("types", "--db", url, "--json", env={"MLMD_DB": "ignored"}).count("\n") == 5
        assert run("show", "artifact", "99", "--db", url) == (1, "Error: NotFoundError: no artifact with id 99\n")


def test_every_command_has_an_example() -> None:
    """`--help` of every command shows an example line: mlmd_core's and the plug-ins of mlmd_airflow
    (`mlmd cache ...`, `mlmd ui`), which the `mlmd.cli` entry point adds when the package is installed."""
    import click

    def walk(command: click.Command, path: list[str]) -> list[list[str]]:
        found = [path]
        if isinstance(command, click.Group):
            context = click.Context(command)
            for name in command.list_commands(context):  # a group's plug-ins join on first use (not .commands)
                found += walk(command.get_command(context, name), [*path, name])
        return found

    paths = walk(cli, [])
    assert len(paths) >= 15
    plugins = {" ".join(p) for p in paths if p[:1] in (["cache"], ["ui"])}
    assert plugins == {"cache", "cache list", "cache explain", "cache invalidate", "ui"}
    for path in paths:
        out = ok(*path, "--help")
        assert "Example" in out and "  mlmd " in out, path
        assert f"  mlmd {' '.join(path)}".rstrip() in out, path  # the example runs this very command


def test_a_plugin_that_imports_the_cli_first_still_joins_it() -> None:
    """mlmd_airflow.cache.cli imports mlmd_core.cli (for its examples); imported first, it must still become
    `mlmd cache`, with no warning: the group adds the plug-ins on first use, not while its module is imported."""
    code = ("import click, mlmd_airflow.cache.cli\n"
            "from mlmd_core.cli import cli\n"
            "print(sorted(cli.list_commands(click.Context(cli))))\n")
    done = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "'cache'" in done.stdout and "'ui'" in done.stdout and "'artifacts'" in done.stdout, done.stdout
