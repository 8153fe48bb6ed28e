"""Lineage graphs built from named nodes, for the lineage tests: artifacts ``a*``, executions ``e*``; an edge
``"a0>e0"`` is an input event of e0 (INPUT unless told otherwise), ``"e0>a1"`` an output event (OUTPUT unless
told). Results are compared as sorted names and sorted edge labels (`view`), so expectations are exact sets."""

from __future__ import annotations

from store_fixtures import pb  # mlmd_core, or ml-metadata with MLMD_TEST_ORACLE=1

INPUT_KINDS = (pb.Event.DECLARED_INPUT, pb.Event.INTERNAL_INPUT, pb.Event.INPUT)
OUTPUT_KINDS = (pb.Event.DECLARED_OUTPUT, pb.Event.INTERNAL_OUTPUT, pb.Event.PENDING_OUTPUT, pb.Event.OUTPUT)

View = tuple[list[str], list[str], list[str]]


class Net:
    """A store plus named nodes: artifacts 'a*', executions 'e*', contexts 'c*'."""

    def __init__(self, s):
        self.s = s
        self.data = s.put_artifact_type(pb.ArtifactType(name="Data"))
        self.model = s.put_artifact_type(pb.ArtifactType(name="Model"))
        self.unused_artifact_type = s.put_artifact_type(pb.ArtifactType(name="Unused"))
        self.step = s.put_execution_type(pb.ExecutionType(name="Step"))
        self.train = s.put_execution_type(pb.ExecutionType(name="Train"))
        self.unused_execution_type = s.put_execution_type(pb.ExecutionType(name="UnusedStep"))
        self.run = s.put_context_type(pb.ContextType(name="Run"))
        self.pipeline = s.put_context_type(pb.ContextType(name="Pipeline"))
        self.unused_context_type = s.put_context_type(pb.ContextType(name="UnusedCtx"))
        self.ids: dict[str, int] = {}
        self.artifact_names: dict[int, str] = {}
        self.execution_names: dict[int, str] = {}
        self.context_names: dict[int, str] = {}

    def node(self, name: str, type_id: int | None = None) -> int:
        if name in self.ids:
            return self.ids[name]
        if name.startswith("a"):
            [i] = self.s.put_artifacts([pb.Artifact(type_id=type_id or self.data, name=name, uri=f"/data/{name}")])
            self.artifact_names[i] = name
        elif name.startswith("e"):
            [i] = self.s.put_executions([pb.Execution(type_id=type_id or self.step, name=name)])
            self.execution_names[i] = name
        else:
            raise ValueError(name)
        self.ids[name] = i
        return i

    def edges(self, *specs: str, kind: int | None = None) -> None:
        """'a>e' is an input event (INPUT or `kind`), 'e>a' an output event (OUTPUT or `kind`)."""
        events = []
        for spec in specs:
            left, right = spec.split(">")
            if left.startswith("a"):
                events.append(pb.Event(artifact_id=self.node(left), execution_id=self.node(right),
                                       type=kind or pb.Event.INPUT))
            else:
                events.append(pb.Event(artifact_id=self.node(right), execution_id=self.node(left),
                                       type=kind or pb.Event.OUTPUT))
        self.s.put_events(events)

    def context(self, name: str, *members: str, type_id: int | None = None) -> int:
        [c] = self.s.put_contexts([pb.Context(type_id=type_id or self.run, name=name)])
        self.ids[name] = c
        self.context_names[c] = name
        self.s.put_attributions_and_associations(
            [pb.Attribution(artifact_id=self.ids[m], context_id=c) for m in members if m.startswith("a")],
            [pb.Association(execution_id=self.ids[m], context_id=c) for m in members if m.startswith("e")])
        return c

    def label(self, ev: pb.Event) -> str:
        a, e = self.artifact_names[ev.artifact_id], self.execution_names[ev.execution_id]
        return f"{a}>{e}" if ev.type in INPUT_KINDS else f"{e}>{a}"

    def view(self, g: pb.LineageGraph) -> tuple[list[str], list[str], list[str]]:
        """(artifact names, execution names, edge labels) of a hydrated graph, each sorted."""
        return (sorted(a.name for a in g.artifacts), sorted(e.name for e in g.executions),
                sorted(self.label(ev) for ev in g.events))


def L(artifacts: str, executions: str, edges: str) -> View:
    """Expected view from space-separated names and edge labels."""
    return sorted(artifacts.split()), sorted(executions.split()), sorted(edges.split())


def long_chain(net: Net, steps: int, width: int = 0) -> None:
    """a0 > e0 > a1 > ... > e{steps-1} > a{steps}; each e_i also writes `width` side artifacts a{i+1}_s{j}.
    Built in three batched calls (not node by node), the names registered as `node` would."""
    s = net.s
    names_a = [f"a{i}" for i in range(steps + 1)] + [f"a{i + 1}_s{j}" for i in range(steps) for j in range(width)]
    names_e = [f"e{i}" for i in range(steps)]
    arts = s.put_artifacts([pb.Artifact(type_id=net.data, name=n) for n in names_a])
    exes = s.put_executions([pb.Execution(type_id=net.step, name=n) for n in names_e])
    for name, i in zip(names_a, arts):
        net.ids[name], net.artifact_names[i] = i, name
    for name, i in zip(names_e, exes):
        net.ids[name], net.execution_names[i] = i, name
    events = []
    for i in range(steps):
        events.append(pb.Event(artifact_id=arts[i], execution_id=exes[i], type=pb.Event.INPUT))
        events.append(pb.Event(artifact_id=arts[i + 1], execution_id=exes[i], type=pb.Event.OUTPUT))
        events.extend(pb.Event(artifact_id=net.ids[f"a{i + 1}_s{j}"], execution_id=exes[i], type=pb.Event.OUTPUT)
                      for j in range(width))
    s.put_events(events)
