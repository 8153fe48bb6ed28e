"""The read commands: `mlmd types`, `mlmd artifacts|executions|contexts`, `mlmd show ...`, `mlmd lineage`.

Each prints a rich table, or with `--json` data for scripts: list commands one JSON object per line,
`show` and `lineage` one JSON document. None of them writes to the store (SQLite is opened read-only).
"""

from __future__ import annotations

from typing import Any, Optional

import click
from rich.table import Table
from rich.tree import Tree

from mlmd_core import errors
from mlmd_core.cli.render import (
    KINDS,
    Kind,
    console,
    event_record,
    node_record,
    print_json,
    print_json_lines,
    short,
    type_record,
    when,
)
from mlmd_core.cli.target import StoreConfig, db_option, examples, open_store

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (see `mlmd --help`) instead of a table.")


# -------------------------------------------------------------------------------------------- types


@click.command(epilog=examples("mlmd types --db mlmd.sqlite --kind artifact"))
@db_option
@click.option("--kind", type=click.Choice(sorted(KINDS)), default=None, help="Only the types of this kind.")
@json_option
def types(db: StoreConfig, kind: Optional[str], as_json: bool) -> None:
    """List the artifact, execution and context types (JSON: one object per line)."""
    rows: list[dict[str, Any]] = []
    with open_store(db) as store:
        for name in ([kind] if kind else ["artifact", "execution", "context"]):
            listed = getattr(store, f"get_{name}_types")()
            # by id: MLMD's list-all leaves external_id out
            full = getattr(store, f"get_{name}_types_by_id")([t.id for t in listed]) if listed else []
            rows += [type_record(name, t) for t in sorted(full, key=lambda t: t.id)]
    if as_json:
        print_json_lines(rows)
        return
    table = Table("kind", "id", "name", "version", "base type", "properties")
    for r in rows:
        props = ", ".join(f"{k}: {v}" for k, v in r["properties"].items())
        table.add_row(r["kind"], str(r["id"]), r["name"], r["version"] or "", r.get("base_type") or "", props)
    console().print(table)


# ----------------------------------------------------------------------------------- node listings


def _quote(text: str) -> str:
    """A filter-query string literal."""
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    raise click.BadParameter("a type name with both ' and \" cannot be filtered on", param_hint="--type")


def _list_command(kind: Kind) -> click.Command:
    """`mlmd artifacts|executions|contexts`: one command per kind, built from the same code."""
    columns = {"artifact": ("id", "type", "name", "uri", "state", "created"),
               "execution": ("id", "type", "name", "state", "created"),
               "context": ("id", "type", "name", "created")}[kind.name]

    @click.command(kind.plural, epilog=examples(f"mlmd {kind.plural} --db mlmd.sqlite --limit 10",
                                                f"mlmd {kind.plural} --type Model --filter \"name LIKE 'm%'\" --json"))
    @db_option
    @click.option("--type", "type_name", default=None, help="Only nodes of this type.")
    @click.option("--filter", "filter_query", default=None, help="An MLMD filter query (docs/filter_query.md).")
    @click.option("--limit", type=click.IntRange(min=0), default=100, show_default=True,
                  help="At most this many, oldest id first; 0 for all.")
    @json_option
    def command(db: StoreConfig, type_name: Optional[str], filter_query: Optional[str], limit: int,
                as_json: bool) -> None:
        from mlmd_core.metadata_store import ListOptions, OrderByField

        clauses = [f"({filter_query})"] if filter_query else []
        if type_name:
            clauses.append(f"type = {_quote(type_name)}")
        options = ListOptions(limit=limit or None, order_by=OrderByField.ID, is_asc=True,
                              filter_query=" AND ".join(clauses) or None)
        with open_store(db) as store:
            rows = [node_record(kind, n) for n in kind.call(store, "get_{plural}", list_options=options)]
        if as_json:
            print_json_lines(rows)
            return
        table = Table(*columns)
        for r in rows:
            cells = {**r, "created": when(r["create_time_since_epoch"])}
            table.add_row(*(str(cells[c]) if cells[c] is not None else "" for c in columns))
        out = console()
        out.print(table)
        if limit and len(rows) == limit:
            out.print(f"(the first {limit}; --limit 0 lists all)", style="dim")

    command.help = f"List {kind.plural} (JSON: one object per line)."
    return command


artifacts, executions, contexts = (_list_command(KINDS[k]) for k in ("artifact", "execution", "context"))


# --------------------------------------------------------------------------------------------- show


@click.group(epilog=examples("mlmd show artifact 3 --db mlmd.sqlite", "mlmd show context 1 --json"))
def show() -> None:
    """One artifact, execution or context with its properties and links (JSON: one document)."""


def _get(store: Any, kind: Kind, node_id: int) -> Any:
    found = kind.call(store, "get_{plural}_by_id", [node_id])
    if not found:
        raise errors.NotFoundError(f"no {kind.name} with id {node_id}")
    return found[0]


def _node_table(record: dict[str, Any]) -> Table:
    table = Table(show_header=False, box=None)
    for key in ("kind", "id", "type", "name", "uri", "state", "external_id"):
        if key in record and record[key] not in (None, ""):
            table.add_row(key, str(record[key]))
    table.add_row("created", when(record["create_time_since_epoch"]))
    table.add_row("updated", when(record["last_update_time_since_epoch"]))
    for group in ("properties", "custom_properties"):
        for k, v in record[group].items():
            table.add_row(f"{'property' if group == 'properties' else 'custom'} {k}", short(v, 100))
    return table


def _nodes_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table("id", "type", "name", title=title, title_justify="left")
    for r in rows:
        table.add_row(str(r["id"]), r["type"], r["name"])
    return table


def _events_table(events: list[dict[str, Any]], other: str, names: dict[int, dict[str, Any]]) -> Table:
    table = Table("event", other, "type", "name", "path", "time", title="events", title_justify="left")
    for e in events:
        peer = names.get(e[f"{other}_id"], {})
        table.add_row(e["type"], str(e[f"{other}_id"]), peer.get("type", ""), peer.get("name", ""),
                      ".".join(map(str, e["path"])), when(e["milliseconds_since_epoch"]))
    return table


def _show_node(db: StoreConfig, kind_name: str, node_id: int, as_json: bool) -> None:
    """artifact/execution: the node, its events (with the node on their other end) and its contexts."""
    kind = KINDS[kind_name]
    other = KINDS["execution" if kind_name == "artifact" else "artifact"]
    with open_store(db) as store:
        record = node_record(kind, _get(store, kind, node_id))
        events = [event_record(e) for e in kind.call(store, "get_events_by_{name}_ids", [node_id])]
        peers = {n.id: node_record(other, n) for n in
                 other.call(store, "get_{plural}_by_id", sorted({e[f"{other.name}_id"] for e in events}))}
        linked = [node_record(KINDS["context"], c) for c in kind.call(store, "get_contexts_by_{name}", node_id)]
    if as_json:
        print_json({kind.name: record, "events": events, other.plural: list(peers.values()), "contexts": linked})
        return
    out = console()
    out.print(_node_table(record))
    out.print(_events_table(events, other.name, peers))
    out.print(_nodes_table("contexts", linked))


@show.command("artifact", epilog=examples("mlmd show artifact 3 --db mlmd.sqlite --json"))
@click.argument("node_id", metavar="ID", type=int)
@db_option
@json_option
def show_artifact(node_id: int, db: StoreConfig, as_json: bool) -> None:
    """An artifact: properties, the events that made and read it, its contexts (attributions)."""
    _show_node(db, "artifact", node_id, as_json)


@show.command("execution", epilog=examples("mlmd show execution 2 --db mlmd.sqlite"))
@click.argument("node_id", metavar="ID", type=int)
@db_option
@json_option
def show_execution(node_id: int, db: StoreConfig, as_json: bool) -> None:
    """An execution: properties, its input and output events, its contexts (associations)."""
    _show_node(db, "execution", node_id, as_json)


@show.command("context", epilog=examples("mlmd show context 1 --db mlmd.sqlite"))
@click.argument("node_id", metavar="ID", type=int)
@db_option
@json_option
def show_context(node_id: int, db: StoreConfig, as_json: bool) -> None:
    """A context: properties, parent and child contexts, its artifacts and executions."""
    ctx_kind = KINDS["context"]
    with open_store(db) as store:
        record = node_record(ctx_kind, _get(store, ctx_kind, node_id))
        doc = {
            "context": record,
            "parents": [node_record(ctx_kind, c) for c in store.get_parent_contexts_by_context(node_id)],
            "children": [node_record(ctx_kind, c) for c in store.get_children_contexts_by_context(node_id)],
            "artifacts": [node_record(KINDS["artifact"], a) for a in store.get_artifacts_by_context(node_id)],
            "executions": [node_record(KINDS["execution"], e) for e in store.get_executions_by_context(node_id)],
        }
    if as_json:
        print_json(doc)
        return
    out = console()
    out.print(_node_table(record))
    for title in ("parents", "children", "artifacts", "executions"):
        out.print(_nodes_table(title, sorted(doc[title], key=lambda r: r["id"])))


# ------------------------------------------------------------------------------------------ lineage


def _label(node: Any) -> str:
    state = f" [{node.state}]" if node.state else ""
    uri = f" {node.uri}" if node.uri else ""
    return f"{node.kind} {node.id} {node.type} {node.name!r}{state}{uri}"


def lineage_tree(graph: Any, start: str, up: bool) -> Tree:
    """The graph as a tree from `start`: upstream each node's children are what it came from, downstream
    what came from it. A node reached twice is expanded once (then marked "see above")."""
    links: dict[str, list[tuple[str, str]]] = {}
    for e in graph.edges:
        head, tail = (e.target, e.source) if up else (e.source, e.target)
        links.setdefault(head, []).append((tail, e.event))
    root = Tree(_label(graph.nodes[start]))
    seen = {start}
    stack = [(start, root)]
    while stack:
        key, branch = stack.pop(0)
        for peer, event in sorted(links.get(key, []), key=lambda p: p[0]):
            if peer not in graph.nodes:
                continue
            if peer in seen:
                branch.add(f"{event}: {_label(graph.nodes[peer])} (see above)")
                continue
            seen.add(peer)
            stack.append((peer, branch.add(f"{event}: {_label(graph.nodes[peer])}")))
    return root


@click.command(epilog=examples("mlmd lineage 7 --db mlmd.sqlite", "mlmd lineage 1 --down --hops 2 --format mermaid"))
@click.argument("artifact_id", metavar="ID", type=int)
@db_option
@click.option("--up/--down", "up", default=True, help="What the artifact came from (default) or what came from it.")
@click.option("--hops", type=click.IntRange(min=1), default=20, show_default=True,
              help="How far to walk (an artifact -> execution step is one hop).")
@click.option("--format", "fmt", type=click.Choice(["tree", "dot", "mermaid", "json"]), default="tree",
              show_default=True, help="tree (rich), Graphviz DOT, a Mermaid flowchart, or JSON.")
@json_option
def lineage(artifact_id: int, db: StoreConfig, up: bool, hops: int, fmt: str, as_json: bool) -> None:
    """The lineage of an artifact, upstream or downstream (JSON: one document {"nodes", "edges"})."""
    from mlmd_core import lineage as lineage_module

    with open_store(db) as store:
        _get(store, KINDS["artifact"], artifact_id)
        walk = lineage_module.upstream if up else lineage_module.downstream
        graph = walk(store, artifact_id, hops)
    if as_json or fmt == "json":
        print_json(graph.to_json())
    elif fmt == "dot":
        click.echo(graph.to_dot())
    elif fmt == "mermaid":
        click.echo(graph.to_mermaid())
    else:
        console().print(lineage_tree(graph, f"artifact:{artifact_id}", up))


COMMANDS: list[click.Command] = [types, artifacts, executions, contexts, show, lineage]
