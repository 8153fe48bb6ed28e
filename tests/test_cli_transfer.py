"""`mlmd export` / `mlmd import` (round trip: every getter answers the same), `mlmd server`, and the installed
`mlmd` console script in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from test_cli_read import MODEL, RAW, RUN, TRAIN, _config, json_lines, make_store, ok, run

import mlmd_core as mlmd
from mlmd_core.proto import metadata_store_pb2 as pb

SCRIPT = Path(sys.executable).with_name("mlmd")
_VOLATILE = ("create_time_since_epoch", "last_update_time_since_epoch")


def _plain(message: Any, drop: tuple[str, ...] = _VOLATILE) -> Any:
    copy = type(message)()
    copy.CopyFrom(message)
    for name in drop:
        if name in copy.DESCRIPTOR.fields_by_name:
            copy.ClearField(name)
    return copy


def snapshot(path: Path) -> dict[str, Any]:
    """What the getters answer, minus the times the API sets on write (import cannot keep those)."""
    with mlmd.MetadataStore(_config(path)) as store:
        artifacts, executions, contexts = store.get_artifacts(), store.get_executions(), store.get_contexts()
        return {
            "artifact_types": sorted(map(_plain, store.get_artifact_types()), key=lambda t: t.name),
            "execution_types": sorted(map(_plain, store.get_execution_types()), key=lambda t: t.name),
            "context_types": sorted(map(_plain, store.get_context_types()), key=lambda t: t.name),
            "context_type_by_id": store.get_context_types_by_id([c.type_id for c in contexts]),
            "artifacts": [_plain(a) for a in artifacts],
            "executions": [_plain(e) for e in executions],
            "contexts": [_plain(c) for c in contexts],
            "events": store.get_events_by_execution_ids([e.id for e in executions]),
            "by_context": [(sorted(a.id for a in store.get_artifacts_by_context(c.id)),
                            sorted(e.id for e in store.get_executions_by_context(c.id)),
                            [p.id for p in store.get_parent_contexts_by_context(c.id)],
                            [k.id for k in store.get_children_contexts_by_context(c.id)]) for c in contexts],
            "by_artifact": [[c.id for c in store.get_contexts_by_artifact(a.id)] for a in artifacts],
            "by_type_and_name": _plain(store.get_artifact_by_type_and_name("Model", "model", "v1")),
            "by_external_id": [_plain(e) for e in store.get_executions_by_external_ids(["eval-1"])],
        }


def test_round_trip_into_empty_store_keeps_ids(tmp_path: Path) -> None:
    source = make_store(tmp_path / "source.sqlite")
    dump = tmp_path / "dump.jsonl"
    out = ok("export", str(dump), "--db", str(source))
    assert out.endswith(f"exported 2 artifact types, 1 execution type, 2 context types, 4 artifacts, 4 executions, "
                        f"2 contexts, 7 events, 4 attributions, 4 associations, 1 parent context to {dump}\n")
    lines = dump.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["format"] == "mlmd-export" and header["counts"]["event"] == 7 and len(lines) == 1 + 31
    assert [json.loads(line)["kind"] for line in lines[1:4]] == ["artifact_type", "artifact_type", "execution_type"]
    target = tmp_path / "sub" / "restored.sqlite"
    out = ok("import", str(dump), "--db", str(target))
    assert out.endswith(f"into {target} (node ids kept)\n")
    assert snapshot(target) == snapshot(source)
    # and the export of the copy is the export of the original, up to the write times
    again = tmp_path / "again.jsonl"
    ok("export", str(again), "--db", str(target))
    assert _records(again) == _records(dump)


def test_proto_value_of_an_unknown_message_type(tmp_path: Path) -> None:
    """A proto_value property of a type the exporter cannot resolve still round-trips (as binary)."""
    source = make_store(tmp_path / "source.sqlite")
    with mlmd.MetadataStore(_config(source)) as store:
        model = store.get_artifacts_by_id([MODEL])[0]
        model.custom_properties["card"].proto_value.type_url = "type.googleapis.com/my.company.ModelCard"
        model.custom_properties["card"].proto_value.value = b"\x0a\x03abc"
        store.put_artifacts([model])
    dump = tmp_path / "dump.jsonl"
    ok("export", str(dump), "--db", str(source))
    assert sum('"binary"' in line for line in dump.read_text().splitlines()) == 1
    ok("import", str(dump), "--db", str(tmp_path / "copy.sqlite"))
    assert snapshot(tmp_path / "copy.sqlite") == snapshot(source)
    shown = json.loads(ok("show", "artifact", str(MODEL), "--db", str(tmp_path / "copy.sqlite"), "--json"))
    assert shown["artifact"]["custom_properties"]["card"] == {
        "type_url": "type.googleapis.com/my.company.ModelCard", "value": "0a03616263"}


def test_import_into_non_empty_store_remaps_ids(tmp_path: Path) -> None:
    source = make_store(tmp_path / "source.sqlite")
    dump = tmp_path / "dump.jsonl"
    ok("export", str(dump), "--db", str(source))
    target = tmp_path / "busy.sqlite"
    with mlmd.MetadataStore(_config(target)) as store:
        other = store.put_artifact_type(pb.ArtifactType(name="Other"))
        store.put_artifacts([pb.Artifact(type_id=other, name=f"o{i}") for i in range(3)])
        store.put_contexts([pb.Context(type_id=store.put_context_type(pb.ContextType(name="Team")), name="t")])
    assert ok("import", str(dump), "--db", str(target)).endswith("(node ids remapped)\n")
    model = json_lines(ok("artifacts", "--db", str(target), "--filter", "name = 'model'", "--json"))[0]
    assert model["id"] == MODEL + 3 and model["properties"] == {"accuracy": 0.93}
    graph = json.loads(ok("lineage", str(model["id"]), "--db", str(target), "--json"))
    assert sorted(n["name"] for n in graph["nodes"]) == ["clean", "ingest", "model", "preprocess", "raw", "train"]
    run_doc = json.loads(ok("show", "context", str(RUN + 1), "--db", str(target), "--json"))
    assert run_doc["context"]["name"] == "run-1" and [p["name"] for p in run_doc["parents"]] == ["demo"]
    assert len(run_doc["executions"]) == 4 and len(run_doc["artifacts"]) == 4
    assert [r["name"] for r in json_lines(ok("artifacts", "--db", str(target), "--type", "Other", "--json"))] == [
        "o0", "o1", "o2"]
    # the same names again: the store refuses, one line
    code, out = run("import", str(dump), "--db", str(target))
    assert code == 1 and out.splitlines()[-1].startswith("Error: AlreadyExistsError: ")


def test_import_errors_change_nothing(tmp_path: Path) -> None:
    source = make_store(tmp_path / "source.sqlite")
    dump = tmp_path / "dump.jsonl"
    ok("export", str(dump), "--db", str(source))
    target = tmp_path / "t.sqlite"
    lines = dump.read_text().splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([*lines[:10], '{"kind": "artifact", "data": {"no_such_field": 1}}', *lines[10:]]))
    code, out = run("import", str(broken), "--db", str(target))
    assert code == 1 and out.startswith(f"Error: {broken}:11: bad record: ParseError") and not target.exists()
    (tmp_path / "x.jsonl").write_text('{"hello": 1}\n')
    assert run("import", str(tmp_path / "x.jsonl"), "--db", str(target)) == (
        1, f"Error: {tmp_path / 'x.jsonl'}: not an mlmd export (line 1 is not an 'mlmd-export' header)\n")
    assert run("import", str(tmp_path / "none.jsonl"), "--db", str(target)) == (
        1, f"Error: {tmp_path / 'none.jsonl'}: no such file\n")
    dangling = tmp_path / "dangling.jsonl"
    dangling.write_text(lines[0] + "\n" + '{"kind": "parent_context", "data": {"child_id": 5, "parent_id": 6}}\n')
    assert run("import", str(dangling), "--db", str(target)) == (
        1, "Error: the file refers to context 5, which it does not contain\n")
    code, out = run("export", str(tmp_path / "out.jsonl"), "--db", str(tmp_path / "missing.sqlite"))
    assert code == 1 and "no MLMD store at" in out and not (tmp_path / "out.jsonl").exists()


def test_export_to_stdout_and_import_from_stdin(tmp_path: Path) -> None:
    source = make_store(tmp_path / "source.sqlite")
    text = ok("export", "-", "--db", str(source))
    assert json.loads(text.splitlines()[0])["format"] == "mlmd-export"
    from click.testing import CliRunner

    from mlmd_core.cli import cli

    result = CliRunner().invoke(cli, ["import", "-", "--db", f"sqlite:///{tmp_path}/copy.sqlite"], input=text)
    assert result.exit_code == 0, result.output
    assert snapshot(tmp_path / "copy.sqlite") == snapshot(source)


# ------------------------------------------------------------------------------ installed console script


def _script() -> Path:
    if not SCRIPT.exists():
        pytest.skip(f"the mlmd console script is not installed next to {sys.executable} (pip install -e .)")
    return SCRIPT


def test_console_script_reads_and_exports(tmp_path: Path) -> None:
    source = make_store(tmp_path / "source.sqlite")
    env = {**os.environ, "MLMD_DB": str(source)}
    proc = subprocess.run([str(_script()), "executions", "--json", "--type", "Step", "--limit", "3"],
                          capture_output=True, text=True, timeout=120, env=env, check=False)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert [json.loads(line)["name"] for line in proc.stdout.splitlines()] == ["ingest", "preprocess", "train"]
    proc = subprocess.run([str(_script()), "show", "execution", "77"], capture_output=True, text=True, timeout=120,
                          env=env, check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", "Error: NotFoundError: no execution with id 77\n")
    dump = tmp_path / "dump.jsonl"
    proc = subprocess.run([str(_script()), "export", str(dump)], capture_output=True, text=True, timeout=120,
                          env=env, check=False)
    assert proc.returncode == 0 and "exporting" in proc.stderr and dump.exists()


def test_mlmd_server_serves_until_sigterm(tmp_path: Path) -> None:
    """`mlmd server` is mlmd-server: same flags, same startup line; a client reads the store over grpc://."""
    source = make_store(tmp_path / "source.sqlite")
    config = tmp_path / "server.pbtxt"
    config.write_text(f'connection_config {{ sqlite {{ filename_uri: "{source}" }} }}\n')
    argv = [str(_script()), "server", "--grpc_port=0", f"--metadata_store_server_config_file={config}"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stderr is not None
        deadline, port = time.monotonic() + 60, 0
        while not port and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            if '"event": "listening"' in line:
                port = json.loads(line[line.index("{"):])["port"]
        assert port, "mlmd server did not start"
        out = ok("show", "artifact", str(RAW), "--db", f"grpc://127.0.0.1:{port}", "--json")
        assert [e["execution_id"] for e in json.loads(out)["events"]] == [1, 2]
        assert json_lines(ok("executions", "--db", f"grpc://127.0.0.1:{port}", "--json"))[TRAIN - 1]["name"] == "train"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_mlmd_server_flags_and_help() -> None:
    code, out = run("server", "--help")
    assert code == 0 and "mlmd server --grpc_port=8080" in out and "--metadata_store_server_config_file" in out
    code, out = run("server", "--grpc_port=-1")
    assert code == 2


def test_export_import_over_grpc(tmp_path: Path) -> None:
    """Into and out of an mlmd-server (its in-memory store): the file is backend-neutral."""
    from mlmd_core.grpc.testing import ServerProcess

    source = make_store(tmp_path / "source.sqlite")
    dump, back = tmp_path / "dump.jsonl", tmp_path / "back.jsonl"
    ok("export", str(dump), "--db", str(source))
    with ServerProcess() as server:
        url = f"grpc://127.0.0.1:{server.port}"
        assert ok("import", str(dump), "--db", url).endswith(f"into {url} (node ids kept)\n")
        ok("export", str(back), "--db", url)
    assert _records(back) == _records(dump)


def _records(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    for row in rows:
        for key in _VOLATILE:
            row["data"].pop(key, None)
    return rows
