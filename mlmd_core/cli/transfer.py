"""`mlmd export FILE` / `mlmd import FILE`: a whole store to and from a portable JSON-lines file.

The file is backend-neutral (SQLite, MySQL, PostgreSQL or an mlmd-server on either side), written and read
through the MetadataStore API only. Line 1 is a header, every other line one record:

    {"format": "mlmd-export", "version": 1, "counts": {"artifact_type": 2, ...}}
    {"kind": "artifact_type", "data": {...}}     data: the proto in protobuf's JSON mapping

A record whose proto holds an Any of a type unknown to the exporting process (a `proto_value` property)
is written as {"kind": ..., "binary": base64 of the serialized proto} instead.

Kinds, in file order: artifact_type, execution_type, context_type, artifact, execution, context, event,
attribution, association, parent_context. Import writes them in that order and remaps every id (types,
nodes, and the ids inside events and links): the store hands out new ids. Into an empty store, nodes are
written in id order, so ids without gaps (MLMD never deletes) come out identical; creation and update times
are those of the import (the API sets them), event times are kept.
"""

from __future__ import annotations

import base64
import binascii
import importlib.metadata
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

import click
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from mlmd_core.cli.target import StoreConfig, db_option, describe, examples, open_store
from mlmd_core.proto import metadata_store_pb2 as pb

FORMAT, VERSION = "mlmd-export", 1
TYPE_KINDS = ("artifact", "execution", "context")
KIND_ORDER = ("artifact_type", "execution_type", "context_type", "artifact", "execution", "context", "event",
              "attribution", "association", "parent_context")
PROTO = {"artifact_type": pb.ArtifactType, "execution_type": pb.ExecutionType, "context_type": pb.ContextType,
         "artifact": pb.Artifact, "execution": pb.Execution, "context": pb.Context, "event": pb.Event,
         "attribution": pb.Attribution, "association": pb.Association, "parent_context": pb.ParentContext}
BATCH = 500


# ------------------------------------------------------------------------------------------- export


def read_store(store: Any) -> dict[str, list[Any]]:
    """Every record of a store, by kind, in id order. Links are read per context (the API has no
    'all attributions' call); events in one call for all executions."""
    out: dict[str, list[Any]] = {}
    for kind in TYPE_KINDS:
        listed = getattr(store, f"get_{kind}_types")()
        # by id: listing all types leaves external_id out (as ml-metadata); by id fills every field
        full = getattr(store, f"get_{kind}_types_by_id")([t.id for t in listed]) if listed else []
        out[f"{kind}_type"] = sorted(full, key=lambda t: t.id)
        out[kind] = sorted(getattr(store, f"get_{kind}s")(), key=lambda n: n.id)
    execution_ids = [e.id for e in out["execution"]]
    events = store.get_events_by_execution_ids(execution_ids) if execution_ids else []
    out["event"] = sorted(events, key=lambda e: (e.execution_id, e.artifact_id, e.type, e.milliseconds_since_epoch))
    out["attribution"], out["association"], out["parent_context"] = [], [], []
    for context in out["context"]:
        out["attribution"] += [pb.Attribution(artifact_id=a.id, context_id=context.id)
                               for a in sorted(store.get_artifacts_by_context(context.id), key=lambda a: a.id)]
        out["association"] += [pb.Association(execution_id=e.id, context_id=context.id)
                               for e in sorted(store.get_executions_by_context(context.id), key=lambda e: e.id)]
        out["parent_context"] += [pb.ParentContext(child_id=context.id, parent_id=p.id)
                                  for p in sorted(store.get_parent_contexts_by_context(context.id), key=lambda p: p.id)]
    return out


def _version() -> str:
    try:
        return importlib.metadata.version("mlmd-airflow")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _encode(kind: str, message: Any) -> dict[str, Any]:
    """Protobuf's JSON mapping; a message holding an Any of a type this process does not know (a proto_value
    property of a user's message) cannot be mapped, so it goes as base64 of its binary form instead."""
    try:
        return {"kind": kind, "data": json_format.MessageToDict(message, preserving_proto_field_name=True)}
    except (TypeError, KeyError, json_format.Error):
        return {"kind": kind, "binary": base64.b64encode(message.SerializeToString()).decode("ascii")}


def _decode(row: dict[str, Any]) -> Any:
    message = PROTO[row["kind"]]()
    if "binary" in row:
        message.ParseFromString(base64.b64decode(row["binary"], validate=True))
        return message
    return json_format.ParseDict(row["data"], message)


def write_records(records: dict[str, list[Any]], stream: TextIO, progress: Iterable[Any] | None = None) -> None:
    header = {"format": FORMAT, "version": VERSION, "writer": f"mlmd-airflow {_version()}",
              "counts": {kind: len(records[kind]) for kind in KIND_ORDER}}
    stream.write(json.dumps(header) + "\n")
    for kind in KIND_ORDER:
        for message in records[kind]:
            stream.write(json.dumps(_encode(kind, message), ensure_ascii=False, sort_keys=True) + "\n")
            if progress is not None:
                progress.update(1)  # type: ignore[attr-defined]


@click.command("export", epilog=examples("mlmd export backup.jsonl --db mlmd.sqlite",
                                         "mlmd export - --db grpc://127.0.0.1:8080 | gzip > backup.jsonl.gz"))
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=str))
@db_option
def export_cmd(file: str, db: StoreConfig) -> None:
    """Write the whole store to FILE (JSON lines; `-` for stdout): types, artifacts, executions, contexts,
    events, attributions, associations and parent contexts."""
    with open_store(db) as store:
        records = read_store(store)
    total = sum(len(v) for v in records.values())
    if file == "-":
        write_records(records, sys.stdout)
        return
    target = Path(file)
    partial = target.with_name(target.name + ".partial")  # a failed export never leaves a half file as FILE
    with partial.open("w", encoding="utf-8") as stream, \
            click.progressbar(length=total, label=f"exporting {describe(db)}", file=sys.stderr) as bar:
        write_records(records, stream, bar)
    os.replace(partial, target)
    click.echo(f"exported {_summary(records)} to {target}")


def _summary(records: dict[str, list[Any]]) -> str:
    """The counts in words, e.g. '2 artifact types, 1 execution type, ...'."""
    return ", ".join(f"{len(records[k])} {k.replace('_', ' ')}{'' if len(records[k]) == 1 else 's'}"
                     for k in KIND_ORDER)


# ------------------------------------------------------------------------------------------- import


def read_records(lines: Iterator[str], source: str) -> dict[str, list[Any]]:
    """Parse and check the whole file before anything is written: a bad line changes nothing."""
    first = next(lines, "")
    try:
        header = json.loads(first)
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise click.ClickException(f"{source}: not an mlmd export (line 1 is not an {FORMAT!r} header)")
    if header.get("version") != VERSION:
        raise click.ClickException(f"{source}: export format version {header.get('version')} (this mlmd reads "
                                   f"version {VERSION})")
    records: dict[str, list[Any]] = {kind: [] for kind in KIND_ORDER}
    for number, line in enumerate(lines, start=2):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            message = _decode(row)
        except (json.JSONDecodeError, json_format.ParseError, DecodeError, binascii.Error, KeyError,
                TypeError) as exc:
            raise click.ClickException(f"{source}:{number}: bad record: {type(exc).__name__}: {exc}") from exc
        records[row["kind"]].append(message)
    check_references(records)
    return records


def check_references(records: dict[str, list[Any]]) -> None:
    """Every id a record refers to is defined in the file (so a truncated file fails before any write)."""
    defined = {kind: {m.id for m in records[kind]} for kind in KIND_ORDER[:6]}
    refs: list[tuple[str, int]] = []
    for kind in TYPE_KINDS:
        refs += [(f"{kind}_type", n.type_id) for n in records[kind]]
    refs += [(k, getattr(e, f"{k}_id")) for e in records["event"] for k in ("artifact", "execution")]
    refs += [(k, getattr(a, f"{k}_id")) for a in records["attribution"] for k in ("artifact", "context")]
    refs += [(k, getattr(a, f"{k}_id")) for a in records["association"] for k in ("execution", "context")]
    refs += [("context", getattr(p, f)) for p in records["parent_context"] for f in ("child_id", "parent_id")]
    for kind, ref in refs:
        if ref not in defined[kind]:
            raise click.ClickException(f"the file refers to {kind.replace('_', ' ')} {ref}, which it does not contain")


class _Ids(dict):
    """old id -> new id of one kind; a reference to an id the file does not define is an error."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def __missing__(self, old: int) -> int:
        raise click.ClickException(f"the file refers to {self.kind} {old}, which it does not contain")


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), BATCH):
        yield items[start:start + BATCH]


def write_store(store: Any, records: dict[str, list[Any]], progress: Any) -> dict[str, _Ids]:
    """Put every record, remapping ids; returns the maps (old id -> new id) by kind."""
    ids = {kind: _Ids(kind) for kind in KIND_ORDER[:6]}
    for kind in TYPE_KINDS:
        for t in records[f"{kind}_type"]:
            new = type(t)()
            new.CopyFrom(t)
            new.ClearField("id")
            ids[f"{kind}_type"][t.id] = getattr(store, f"put_{kind}_type")(new, can_add_fields=True,
                                                                         can_omit_fields=True)
            progress.update(1)
    for kind in TYPE_KINDS:
        nodes = sorted(records[kind], key=lambda n: n.id)
        for chunk in _chunks(nodes):
            fresh = []
            for node in chunk:
                new = type(node)()
                new.CopyFrom(node)
                for name in ("id", "type", "create_time_since_epoch", "last_update_time_since_epoch"):
                    new.ClearField(name)
                new.type_id = ids[f"{kind}_type"][node.type_id]
                fresh.append(new)
            for node, new_id in zip(chunk, getattr(store, f"put_{kind}s")(fresh)):
                ids[kind][node.id] = new_id
            progress.update(len(chunk))
    for chunk in _chunks(records["event"]):
        events = []
        for event in chunk:
            new = pb.Event()
            new.CopyFrom(event)
            new.artifact_id, new.execution_id = ids["artifact"][event.artifact_id], ids["execution"][event.execution_id]
            events.append(new)
        store.put_events(events)
        progress.update(len(chunk))
    attributions = [pb.Attribution(artifact_id=ids["artifact"][a.artifact_id], context_id=ids["context"][a.context_id])
                    for a in records["attribution"]]
    associations = [pb.Association(execution_id=ids["execution"][a.execution_id],
                                   context_id=ids["context"][a.context_id]) for a in records["association"]]
    for start in range(0, max(len(attributions), len(associations)), BATCH):
        part_a, part_b = attributions[start:start + BATCH], associations[start:start + BATCH]
        store.put_attributions_and_associations(part_a, part_b)
        progress.update(len(part_a) + len(part_b))
    parents = [pb.ParentContext(child_id=ids["context"][p.child_id], parent_id=ids["context"][p.parent_id])
               for p in records["parent_context"]]
    for chunk in _chunks(parents):
        store.put_parent_contexts(chunk)
        progress.update(len(chunk))
    return ids


@click.command("import", epilog=examples("mlmd import backup.jsonl --db restored.sqlite",
                                         "gunzip -c backup.jsonl.gz | mlmd import - --db mysql://mlmd:pw@db:3306/mlmd"))
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=str))
@db_option
def import_cmd(file: str, db: StoreConfig) -> None:
    """Add the contents of an `mlmd export` FILE (`-` for stdin) to a store, creating it if missing.
    Ids are remapped; names must not clash with what the store holds."""
    if file == "-":
        records = read_records(iter(sys.stdin), "<stdin>")
    else:
        if not Path(file).is_file():
            raise click.ClickException(f"{file}: no such file")
        with open(file, encoding="utf-8") as stream:
            records = read_records(iter(stream), file)
    total = sum(len(v) for v in records.values())
    with open_store(db, write=True) as store, \
            click.progressbar(length=total, label=f"importing into {describe(db)}", file=sys.stderr) as bar:
        ids = write_store(store, records, bar)
    kept = all(old == new for kind in TYPE_KINDS for old, new in ids[kind].items())
    click.echo(f"imported {_summary(records)} into {describe(db)} "
               f"({'node ids kept' if kept else 'node ids remapped'})")


COMMANDS: list[click.Command] = [export_cmd, import_cmd]
