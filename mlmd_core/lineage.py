"""Lineage questions in a few words: what went into a model, what a bad dataset touched, what a run did.

Each function returns a plain graph of artifacts and executions (edges follow the data: artifact ->
execution for inputs, execution -> artifact for outputs) that prints as DOT, Mermaid or JSON.

    from mlmd_core import lineage
    graph = lineage.upstream(store, model_id)
    print(graph.to_mermaid())
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mlmd_core.metadata_store import MetadataStore
from mlmd_core.proto import metadata_store_pb2 as pb

_INPUT_EVENTS = {pb.Event.INPUT, pb.Event.DECLARED_INPUT, pb.Event.INTERNAL_INPUT}
_Direction = pb.LineageSubgraphQueryOptions.Direction


@dataclass
class Node:
    """An artifact or an execution of a lineage graph."""

    key: str  # "artifact:12" / "execution:3": unique across both kinds
    kind: str  # "artifact" or "execution"
    id: int
    type: str
    name: str
    state: str  # artifact state or execution last_known_state ("" when unset)
    uri: str = ""
    properties: dict[str, Any] = field(default_factory=dict)
    external: bool = False  # outside the context of run_graph()

    @property
    def label(self) -> str:
        return self.name or (self.uri.rsplit("/", 1)[-1] if self.uri else "") or f"{self.type} #{self.id}"


@dataclass
class Edge:
    source: str
    target: str
    event: str  # the event type, e.g. "INPUT"


@dataclass
class Graph:
    """Nodes (by key) and edges of a lineage graph."""

    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def artifacts(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == "artifact"]

    def executions(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == "execution"]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: {"nodes": [...], "edges": [...]} (the shape the lineage UI renders)."""
        return {
            "nodes": [{"key": n.key, "kind": n.kind, "id": n.id, "type": n.type, "name": n.name, "label": n.label,
                       "state": n.state, "uri": n.uri, "properties": n.properties, "external": n.external}
                      for n in self.nodes.values()],
            "edges": [{"source": e.source, "target": e.target, "event": e.event} for e in self.edges],
        }

    def to_dot(self) -> str:
        """Graphviz DOT, left to right; artifacts as ellipses, executions as boxes."""
        lines = ["digraph lineage {", "  rankdir=LR;"]
        for n in self.nodes.values():
            shape = "ellipse" if n.kind == "artifact" else "box"
            style = ", style=dashed" if n.external else ""
            label = json.dumps(n.type + ": " + n.label, ensure_ascii=False)
            lines.append(f"  {_dot_id(n.key)} [label={label}, shape={shape}{style}];")
        for e in self.edges:
            lines.append(f"  {_dot_id(e.source)} -> {_dot_id(e.target)} [label={json.dumps(e.event)}];")
        lines.append("}")
        return "\n".join(lines)

    def to_mermaid(self) -> str:
        """A Mermaid flowchart, left to right; artifacts rounded, executions square."""
        lines = ["flowchart LR"]
        for n in self.nodes.values():
            text = (n.type + ": " + n.label).replace('"', "#quot;").replace("\r", "").replace("\n", "<br>")
            lines.append(f'  {_dot_id(n.key)}(["{text}"])' if n.kind == "artifact" else f'  {_dot_id(n.key)}["{text}"]')
        for e in self.edges:
            lines.append(f"  {_dot_id(e.source)} -->|{e.event}| {_dot_id(e.target)}")
        return "\n".join(lines)


def _dot_id(key: str) -> str:
    return key.replace(":", "_")


def _value(v: pb.Value) -> Any:
    which = v.WhichOneof("value")
    if which in ("struct_value", "proto_value"):
        return str(getattr(v, which))
    return getattr(v, which) if which else None


def _artifact_node(a: pb.Artifact, external: bool = False) -> Node:
    props = {k: _value(v) for k, v in a.properties.items()} | {k: _value(v) for k, v in a.custom_properties.items()}
    state = pb.Artifact.State.Name(a.state) if a.HasField("state") else ""
    return Node(f"artifact:{a.id}", "artifact", a.id, a.type, a.name, state, a.uri, props, external)


def _execution_node(e: pb.Execution, external: bool = False) -> Node:
    props = {k: _value(v) for k, v in e.properties.items()} | {k: _value(v) for k, v in e.custom_properties.items()}
    state = pb.Execution.State.Name(e.last_known_state) if e.HasField("last_known_state") else ""
    return Node(f"execution:{e.id}", "execution", e.id, e.type, e.name, state, "", props, external)


def _edge(event: pb.Event) -> Edge:
    artifact, execution = f"artifact:{event.artifact_id}", f"execution:{event.execution_id}"
    kind = pb.Event.Type.Name(event.type)
    return Edge(artifact, execution, kind) if event.type in _INPUT_EVENTS else Edge(execution, artifact, kind)


def from_lineage_graph(lineage_graph: pb.LineageGraph) -> Graph:
    """A Graph of the artifacts, executions and events of a LineageGraph proto."""
    graph = Graph()
    for a in lineage_graph.artifacts:
        graph.nodes[f"artifact:{a.id}"] = _artifact_node(a)
    for e in lineage_graph.executions:
        graph.nodes[f"execution:{e.id}"] = _execution_node(e)
    graph.edges = [_edge(ev) for ev in lineage_graph.events
                   if f"artifact:{ev.artifact_id}" in graph.nodes and f"execution:{ev.execution_id}" in graph.nodes]
    return graph


def _walk(store: MetadataStore, artifact_id: int, direction: int, max_hops: int) -> Graph:
    options = pb.LineageSubgraphQueryOptions(
        starting_artifacts=pb.LineageSubgraphQueryOptions.StartingNodes(filter_query=f"id = {int(artifact_id)}"),
        max_num_hops=max_hops, direction=direction)
    return from_lineage_graph(store.get_lineage_subgraph(options, ["artifacts", "executions", "events"]))


def upstream(store: MetadataStore, artifact_id: int, max_hops: int = 100) -> Graph:
    """Everything an artifact was made from: its producer, that one's inputs, and so on."""
    return _walk(store, artifact_id, _Direction.UPSTREAM, max_hops)


def downstream(store: MetadataStore, artifact_id: int, max_hops: int = 100) -> Graph:
    """Everything made from an artifact: the executions that read it, their outputs, and so on."""
    return _walk(store, artifact_id, _Direction.DOWNSTREAM, max_hops)


def provenance(store: MetadataStore, artifact_id: int, max_hops: int = 100) -> list[Node]:
    """The artifacts at the roots of an artifact's lineage: those made from no other artifact (no
    producer, or a producer that read nothing, like an ingest step). The source data of a model, say."""
    # Two hops more than asked, so an artifact at the horizon is judged by its producer's inputs.
    graph = upstream(store, artifact_id, max_hops + 2)
    readers = {e.target for e in graph.edges if e.source.startswith("artifact:")}  # executions with inputs
    derived = {e.target for e in graph.edges if e.source in readers}
    within = _hops_upstream(graph, f"artifact:{artifact_id}", max_hops)
    return sorted((n for n in graph.artifacts() if n.key in within and n.key not in derived and n.id != artifact_id),
                  key=lambda n: n.id)


def _hops_upstream(graph: Graph, start: str, max_hops: int) -> set[str]:
    """The keys of the nodes at most max_hops edges upstream of `start`."""
    sources: dict[str, list[str]] = {}
    for e in graph.edges:
        sources.setdefault(e.target, []).append(e.source)
    reached, frontier = {start}, [start]
    for _ in range(max_hops):
        frontier = [s for key in frontier for s in sources.get(key, ()) if s not in reached]
        reached.update(frontier)
    return reached


def impact(store: MetadataStore, artifact_id: int, max_hops: int = 100) -> list[Node]:
    """Every artifact derived from this one, directly or not (what a bad dataset touched)."""
    graph = downstream(store, artifact_id, max_hops)
    return sorted((n for n in graph.artifacts() if n.id != artifact_id), key=lambda n: n.id)


def run_graph(store: MetadataStore, context_id: int) -> Graph:
    """The executions of a context (a pipeline run, a DAG run) with the artifacts they read and wrote;
    artifacts not attributed to the context are marked external (e.g. inputs from other runs)."""
    executions = store.get_executions_by_context(context_id)
    members = {a.id for a in store.get_artifacts_by_context(context_id)}
    events = store.get_events_by_execution_ids([e.id for e in executions]) if executions else []
    artifact_ids = members | {ev.artifact_id for ev in events}
    graph = Graph()
    for e in sorted(executions, key=lambda e: e.id):
        graph.nodes[f"execution:{e.id}"] = _execution_node(e)
    for a in store.get_artifacts_by_id(artifact_ids):
        graph.nodes[f"artifact:{a.id}"] = _artifact_node(a, external=a.id not in members)
    graph.edges = [_edge(ev) for ev in events]
    return graph
