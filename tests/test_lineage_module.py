"""mlmd_core.lineage: upstream, downstream, provenance, impact, run_graph and the Graph renderings.

The pipeline under test (run "run-1", every node in that context except `config`)::

    ingest -> raw
    clean(raw) -> clean
    train(clean, config) -> model
    evaluate(model, clean) -> metrics

Node keys are written "a:<name>" for artifacts and "e:<name>" for executions (the execution `clean` and
the artifact `clean` are different nodes).
"""

# Fixtures are imported from store_fixtures and used as test arguments (pytest's way), which reads as F811.
# ruff: noqa: F811

from __future__ import annotations

import json
import re

import pytest
from store_fixtures import ORACLE, pb, store  # noqa: F401

pytestmark = pytest.mark.skipif(ORACLE, reason="mlmd_core.lineage is mlmd_core's own module")

if not ORACLE:
    from mlmd_core import lineage


class Pipeline:
    def __init__(self, s):
        self.s = s
        self.dataset = s.put_artifact_type(pb.ArtifactType(name="Dataset"))
        self.model_type = s.put_artifact_type(pb.ArtifactType(name="Model"))
        self.metrics_type = s.put_artifact_type(pb.ArtifactType(name="Metrics"))
        self.step = s.put_execution_type(pb.ExecutionType(name="Step"))
        self.run_type = s.put_context_type(pb.ContextType(name="PipelineRun"))
        self.a: dict[str, int] = {}
        self.e: dict[str, int] = {}
        self.key_names: dict[str, str] = {}
        [self.run] = s.put_contexts([pb.Context(type_id=self.run_type, name="run-1")])
        [self.a["config"]] = s.put_artifacts([pb.Artifact(type_id=self.dataset, name="config",
                                                          uri="/cfg/train.yaml")])
        self.key_names[f"artifact:{self.a['config']}"] = "a:config"
        self.execute("ingest", [], [("raw", self.dataset)])
        self.execute("clean", ["raw"], [("clean", self.dataset)])
        self.execute("train", ["clean", "config"], [("model", self.model_type)])
        self.execute("evaluate", ["model", "clean"], [("metrics", self.metrics_type)])

    def execute(self, name, inputs, outputs, context=None):
        """One step: its inputs are read as stored (an id-only Artifact would be a full-replace update),
        and only the execution and its outputs join the context (put_execution would link the inputs too)."""
        context = self.run if context is None else context
        stored = {a.id: a for a in self.s.get_artifacts_by_id([self.a[i] for i in inputs])}
        pairs = [(stored[self.a[i]], pb.Event(type=pb.Event.INPUT)) for i in inputs]
        pairs += [(pb.Artifact(type_id=t, name=o, uri=f"/data/{o}"), pb.Event(type=pb.Event.OUTPUT))
                  for o, t in outputs]
        execution = pb.Execution(type_id=self.step, name=name, last_known_state=pb.Execution.COMPLETE)
        e, artifact_ids, _ = self.s.put_execution(execution, pairs, [])
        outputs_ids = artifact_ids[len(inputs):]
        self.s.put_attributions_and_associations(
            [pb.Attribution(artifact_id=a, context_id=context) for a in outputs_ids],
            [pb.Association(execution_id=e, context_id=context)])
        self.e[name] = e
        self.key_names[f"execution:{e}"] = f"e:{name}"
        for (o, _), artifact_id in zip(outputs, outputs_ids):
            self.a[o] = artifact_id
            self.key_names[f"artifact:{artifact_id}"] = f"a:{o}"

    def nodes(self, graph) -> set[str]:
        return {self.key_names[k] for k in graph.nodes}

    def edges(self, graph) -> list[tuple[str, str, str]]:
        return sorted((self.key_names[e.source], self.key_names[e.target], e.event) for e in graph.edges)


def E(*specs: str) -> list[tuple[str, str, str]]:
    """'a:raw>e:clean' is an INPUT edge, 'e:clean>a:clean' an OUTPUT edge."""
    out = []
    for spec in specs:
        src, dst = spec.split(">")
        out.append((src, dst, "INPUT" if src.startswith("a:") else "OUTPUT"))
    return sorted(out)


def N(spec: str) -> set[str]:
    return set(spec.split())


@pytest.fixture
def p(store):
    return Pipeline(store)


UPSTREAM_OF_MODEL_NODES = N("a:model e:train a:clean a:config e:clean a:raw e:ingest")
UPSTREAM_OF_MODEL_EDGES = E("e:train>a:model", "a:clean>e:train", "a:config>e:train", "e:clean>a:clean",
                            "a:raw>e:clean", "e:ingest>a:raw")


# --------------------------------------------------------------------------------- upstream/downstream


def test_upstream_of_the_model(p):
    g = lineage.upstream(p.s, p.a["model"])
    assert p.nodes(g) == UPSTREAM_OF_MODEL_NODES
    assert p.edges(g) == UPSTREAM_OF_MODEL_EDGES


def test_upstream_of_the_metrics(p):
    g = lineage.upstream(p.s, p.a["metrics"])
    assert p.nodes(g) == N("a:metrics e:evaluate a:model a:clean e:train a:config e:clean a:raw e:ingest")
    # clean is reached from evaluate (hop 2) and again from train (hop 4): both edges are there.
    assert p.edges(g) == E("e:evaluate>a:metrics", "a:model>e:evaluate", "a:clean>e:evaluate", "e:train>a:model",
                           "a:clean>e:train", "a:config>e:train", "e:clean>a:clean", "a:raw>e:clean",
                           "e:ingest>a:raw")


def test_upstream_of_a_root(p):
    g = lineage.upstream(p.s, p.a["config"])
    assert p.nodes(g) == {"a:config"} and g.edges == []
    g = lineage.upstream(p.s, p.a["raw"])
    assert p.nodes(g) == N("a:raw e:ingest") and p.edges(g) == E("e:ingest>a:raw")


def test_downstream_of_the_raw_data(p):
    g = lineage.downstream(p.s, p.a["raw"])
    assert p.nodes(g) == N("a:raw e:clean a:clean e:train e:evaluate a:model a:metrics")
    # model -> evaluate leads to evaluate, already reached from clean: the edge is kept.
    assert p.edges(g) == E("a:raw>e:clean", "e:clean>a:clean", "a:clean>e:train", "a:clean>e:evaluate",
                           "e:train>a:model", "a:model>e:evaluate", "e:evaluate>a:metrics")


def test_downstream_of_the_config(p):
    g = lineage.downstream(p.s, p.a["config"])
    assert p.nodes(g) == N("a:config e:train a:model e:evaluate a:metrics")
    assert p.edges(g) == E("a:config>e:train", "e:train>a:model", "a:model>e:evaluate", "e:evaluate>a:metrics")


def test_downstream_of_a_leaf(p):
    g = lineage.downstream(p.s, p.a["metrics"])
    assert p.nodes(g) == {"a:metrics"} and g.edges == []


@pytest.mark.parametrize("hops,nodes,edges", [
    (0, "a:model", []),
    (1, "a:model e:train", ["e:train>a:model"]),
    (2, "a:model e:train a:clean a:config", ["e:train>a:model", "a:clean>e:train", "a:config>e:train"]),
    (3, "a:model e:train a:clean a:config e:clean",
     ["e:train>a:model", "a:clean>e:train", "a:config>e:train", "e:clean>a:clean"]),
])
def test_upstream_max_hops(p, hops, nodes, edges):
    g = lineage.upstream(p.s, p.a["model"], max_hops=hops)
    assert p.nodes(g) == N(nodes)
    assert p.edges(g) == E(*edges)


def test_downstream_max_hops(p):
    g = lineage.downstream(p.s, p.a["raw"], max_hops=2)
    assert p.nodes(g) == N("a:raw e:clean a:clean")


def test_graph_nodes_are_hydrated(p):
    g = lineage.upstream(p.s, p.a["model"])
    model = g.nodes[f"artifact:{p.a['model']}"]
    assert (model.kind, model.id, model.type, model.name, model.uri) == (
        "artifact", p.a["model"], "Model", "model", "/data/model")
    train = g.nodes[f"execution:{p.e['train']}"]
    assert (train.kind, train.id, train.type, train.name, train.state) == (
        "execution", p.e["train"], "Step", "train", "COMPLETE")
    assert sorted(n.key for n in g.artifacts()) == sorted(k for k in g.nodes if k.startswith("artifact:"))
    assert sorted(n.key for n in g.executions()) == sorted(k for k in g.nodes if k.startswith("execution:"))
    assert len(g.artifacts()) == 4 and len(g.executions()) == 3


def test_edges_follow_the_data(p):
    g = lineage.downstream(p.s, p.a["raw"])
    for e in g.edges:
        src, dst = g.nodes[e.source], g.nodes[e.target]
        if e.event == "INPUT":
            assert (src.kind, dst.kind) == ("artifact", "execution")
        else:
            assert (src.kind, dst.kind) == ("execution", "artifact")


def test_other_event_kinds_are_edges_too(store):
    t = store.put_artifact_type(pb.ArtifactType(name="D"))
    et = store.put_execution_type(pb.ExecutionType(name="S"))
    a_in, a_decl, a_out, a_pend = store.put_artifacts([pb.Artifact(type_id=t, name=n)
                                                       for n in ("in", "decl", "out", "pend")])
    [e] = store.put_executions([pb.Execution(type_id=et, name="e")])
    store.put_events([pb.Event(artifact_id=a_in, execution_id=e, type=pb.Event.INPUT),
                      pb.Event(artifact_id=a_decl, execution_id=e, type=pb.Event.DECLARED_INPUT),
                      pb.Event(artifact_id=a_out, execution_id=e, type=pb.Event.OUTPUT),
                      pb.Event(artifact_id=a_pend, execution_id=e, type=pb.Event.PENDING_OUTPUT)])
    g = lineage.upstream(store, a_pend)
    assert sorted((x.source, x.target, x.event) for x in g.edges) == sorted([
        (f"execution:{e}", f"artifact:{a_pend}", "PENDING_OUTPUT"),
        (f"artifact:{a_in}", f"execution:{e}", "INPUT"),
        (f"artifact:{a_decl}", f"execution:{e}", "DECLARED_INPUT")])
    assert [n.name for n in lineage.provenance(store, a_pend)] == ["in", "decl"]
    assert [n.name for n in lineage.impact(store, a_decl)] == ["out", "pend"]


def test_contexts_do_not_link_lineages(p):
    # "unrelated" is in run-1 too but shares no event with the pipeline: no lineage path to it.
    p.execute("unrelated", [], [("other", p.dataset)])
    assert "e:unrelated" not in p.nodes(lineage.downstream(p.s, p.a["raw"]))
    assert "a:other" not in p.nodes(lineage.upstream(p.s, p.a["metrics"]))


# ------------------------------------------------------------------------------------ provenance/impact


def test_provenance_of_the_model(p):
    roots = lineage.provenance(p.s, p.a["model"])
    assert [n.name for n in roots] == ["config", "raw"]  # config: no producer; raw: ingest read nothing
    assert [n.id for n in roots] == sorted([p.a["config"], p.a["raw"]])
    assert all(n.kind == "artifact" for n in roots)


def test_provenance_of_the_metrics_and_of_clean(p):
    assert [n.name for n in lineage.provenance(p.s, p.a["metrics"])] == ["config", "raw"]
    assert [n.name for n in lineage.provenance(p.s, p.a["clean"])] == ["raw"]


def test_provenance_with_a_producer_that_has_inputs_beyond_the_horizon(p):
    """With max_hops=3 the walk reaches clean's producer but not that producer's input (raw): clean
    still has a producer with inputs, so it is no root. Only config is."""
    assert [n.name for n in lineage.provenance(p.s, p.a["model"], max_hops=3)] == ["config"]


def test_provenance_of_a_deep_chain(store):
    t = store.put_artifact_type(pb.ArtifactType(name="D"))
    et = store.put_execution_type(pb.ExecutionType(name="S"))
    arts = store.put_artifacts([pb.Artifact(type_id=t, name=f"a{i}") for i in range(31)])
    exes = store.put_executions([pb.Execution(type_id=et, name=f"e{i}") for i in range(30)])
    store.put_events([pb.Event(artifact_id=arts[i], execution_id=exes[i], type=pb.Event.INPUT) for i in range(30)]
                     + [pb.Event(artifact_id=arts[i + 1], execution_id=exes[i], type=pb.Event.OUTPUT)
                        for i in range(30)])
    assert [n.name for n in lineage.provenance(store, arts[30])] == ["a0"]
    assert [n.name for n in lineage.impact(store, arts[0])] == [f"a{i}" for i in range(1, 31)]


def test_impact(p):
    assert [n.name for n in lineage.impact(p.s, p.a["raw"])] == ["clean", "model", "metrics"]
    assert [n.name for n in lineage.impact(p.s, p.a["config"])] == ["model", "metrics"]
    assert [n.name for n in lineage.impact(p.s, p.a["clean"])] == ["model", "metrics"]
    assert lineage.impact(p.s, p.a["metrics"]) == []


def test_impact_with_max_hops(p):
    assert [n.name for n in lineage.impact(p.s, p.a["raw"], max_hops=2)] == ["clean"]
    assert [n.name for n in lineage.impact(p.s, p.a["raw"], max_hops=4)] == ["clean", "model", "metrics"]


# -------------------------------------------------------------------------------------------- run_graph


def test_run_graph(p):
    g = lineage.run_graph(p.s, p.run)
    assert p.nodes(g) == N("e:ingest e:clean e:train e:evaluate a:raw a:clean a:model a:metrics a:config")
    assert p.edges(g) == E("e:ingest>a:raw", "a:raw>e:clean", "e:clean>a:clean", "a:clean>e:train",
                           "a:config>e:train", "e:train>a:model", "a:model>e:evaluate", "a:clean>e:evaluate",
                           "e:evaluate>a:metrics")
    external = {p.key_names[n.key] for n in g.nodes.values() if n.external}
    assert external == {"a:config"}  # read by train, not attributed to run-1
    assert all(not n.external for n in g.executions())


def test_run_graph_of_a_second_run(p):
    [run2] = p.s.put_contexts([pb.Context(type_id=p.run_type, name="run-2")])
    p.execute("serve", ["model"], [("endpoint", p.dataset)], context=run2)
    g = lineage.run_graph(p.s, run2)
    assert p.nodes(g) == N("e:serve a:model a:endpoint")
    assert p.edges(g) == E("a:model>e:serve", "e:serve>a:endpoint")
    assert {p.key_names[n.key] for n in g.nodes.values() if n.external} == {"a:model"}
    # run-1 is unchanged by run-2.
    assert "e:serve" not in p.nodes(lineage.run_graph(p.s, p.run))


def test_run_graph_includes_attributed_artifacts_no_execution_touched(p):
    [extra] = p.s.put_artifacts([pb.Artifact(type_id=p.dataset, name="notes")])
    p.key_names[f"artifact:{extra}"] = "a:notes"
    p.s.put_attributions_and_associations([pb.Attribution(artifact_id=extra, context_id=p.run)], [])
    g = lineage.run_graph(p.s, p.run)
    assert "a:notes" in p.nodes(g)
    assert g.nodes[f"artifact:{extra}"].external is False
    assert not any(f"artifact:{extra}" in (e.source, e.target) for e in g.edges)


def test_run_graph_of_an_empty_context(p):
    [empty] = p.s.put_contexts([pb.Context(type_id=p.run_type, name="empty")])
    g = lineage.run_graph(p.s, empty)
    assert g.nodes == {} and g.edges == []


# ------------------------------------------------------------------------------------------------- JSON


NODE_KEYS = {"key", "kind", "id", "type", "name", "label", "state", "uri", "properties", "external"}


def test_to_json_shape(p):
    g = lineage.run_graph(p.s, p.run)
    data = g.to_json()
    assert set(data) == {"nodes", "edges"}
    assert len(data["nodes"]) == 9 and len(data["edges"]) == 9
    for n in data["nodes"]:
        assert set(n) == NODE_KEYS
        assert n["kind"] in ("artifact", "execution")
        assert n["key"] == f"{n['kind']}:{n['id']}"
        assert isinstance(n["properties"], dict) and isinstance(n["external"], bool)
    keys = {n["key"] for n in data["nodes"]}
    for e in data["edges"]:
        assert set(e) == {"source", "target", "event"}
        assert e["source"] in keys and e["target"] in keys
    assert json.loads(json.dumps(data)) == data
    by_name = {n["name"]: n for n in data["nodes"] if n["kind"] == "artifact"}
    assert by_name["config"]["external"] is True and by_name["model"]["external"] is False
    assert by_name["model"]["type"] == "Model" and by_name["model"]["uri"] == "/data/model"
    assert {n["state"] for n in data["nodes"] if n["kind"] == "execution"} == {"COMPLETE"}


def test_to_json_serializes_every_property_kind(store):
    t = store.put_artifact_type(pb.ArtifactType(name="D", properties={"day": pb.INT, "split": pb.STRING}))
    a = pb.Artifact(type_id=t, name="a", uri="/x/a", state=pb.Artifact.LIVE)
    a.properties["day"].int_value = 3
    a.properties["split"].string_value = "train"
    a.custom_properties["score"].double_value = 0.5
    a.custom_properties["ok"].bool_value = True
    a.custom_properties["meta"].struct_value.update({"k": [1, "v"]})
    a.custom_properties["blob"].proto_value.Pack(pb.Artifact(name="packed"))
    [aid] = store.put_artifacts([a])
    g = lineage.upstream(store, aid)
    data = g.to_json()
    [node] = data["nodes"]
    text = json.dumps(data)  # must not raise
    assert json.loads(text) == data
    props = node["properties"]
    assert props["day"] == 3 and props["split"] == "train" and props["score"] == 0.5 and props["ok"] is True
    assert isinstance(props["meta"], str) and "k" in props["meta"]
    assert isinstance(props["blob"], str)
    assert node["state"] == "LIVE" and node["label"] == "a"


def test_labels(store):
    t = store.put_artifact_type(pb.ArtifactType(name="D"))
    named, by_uri, bare = store.put_artifacts([pb.Artifact(type_id=t, name="n", uri="/p/q/file.csv"),
                                               pb.Artifact(type_id=t, uri="/p/q/file.csv"),
                                               pb.Artifact(type_id=t)])
    labels = {}
    for a in (named, by_uri, bare):
        [node] = lineage.upstream(store, a).nodes.values()
        labels[a] = node.label
    assert labels == {named: "n", by_uri: "file.csv", bare: f"D #{bare}"}


# ----------------------------------------------------------------------------------------- DOT, Mermaid


_DOT_STRING = r'"(?:[^"\\]|\\.)*"'
_DOT_NODE = re.compile(rf'^  (\w+) \[label=({_DOT_STRING}), shape=(ellipse|box)(, style=dashed)?\];$')
_DOT_EDGE = re.compile(rf'^  (\w+) -> (\w+) \[label=({_DOT_STRING})\];$')


def _dot_text(quoted: str) -> str:
    """The text of a DOT quoted string as a label: \\" is a quote, \\\\ a backslash, \\n a line break."""
    body = quoted[1:-1]
    out, i = [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append({'"': '"', "\\": "\\", "n": "\n", "l": "\n", "r": "\n"}.get(nxt, "\\" + nxt))
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def parse_dot(text: str):
    lines = text.split("\n")
    assert lines[0] == "digraph lineage {" and lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[1:-1]:
        if line == "  rankdir=LR;":
            continue
        if m := _DOT_NODE.match(line):
            nodes[m.group(1)] = (_dot_text(m.group(2)), m.group(3), bool(m.group(4)))
        elif m := _DOT_EDGE.match(line):
            edges.append((m.group(1), m.group(2), _dot_text(m.group(3))))
        else:
            raise AssertionError(f"not a DOT statement: {line!r}")
    return nodes, edges


_MM_ARTIFACT = re.compile(r'^  (\w+)\(\["([^"\n]*)"\]\)$')
_MM_EXECUTION = re.compile(r'^  (\w+)\["([^"\n]*)"\]$')
_MM_EDGE = re.compile(r'^  (\w+) -->\|(\w+)\| (\w+)$')


def parse_mermaid(text: str):
    lines = text.split("\n")
    assert lines[0] == "flowchart LR"
    nodes, edges = {}, []
    for line in lines[1:]:
        if m := _MM_ARTIFACT.match(line):
            nodes[m.group(1)] = (m.group(2).replace("#quot;", '"'), "artifact")
        elif m := _MM_EXECUTION.match(line):
            nodes[m.group(1)] = (m.group(2).replace("#quot;", '"'), "execution")
        elif m := _MM_EDGE.match(line):
            edges.append((m.group(1), m.group(3), m.group(2)))
        else:
            raise AssertionError(f"not a Mermaid statement: {line!r}")
    return nodes, edges


def _ident(key: str) -> str:
    return key.replace(":", "_")


def _check_dot(g) -> None:
    nodes, edges = parse_dot(g.to_dot())
    assert set(nodes) == {_ident(k) for k in g.nodes}
    for n in g.nodes.values():
        label, shape, dashed = nodes[_ident(n.key)]
        assert label == f"{n.type}: {n.label}"
        assert shape == ("ellipse" if n.kind == "artifact" else "box")
        assert dashed == n.external
    assert sorted(edges) == sorted((_ident(e.source), _ident(e.target), e.event) for e in g.edges)


def _check_mermaid(g) -> None:
    nodes, edges = parse_mermaid(g.to_mermaid())
    assert set(nodes) == {_ident(k) for k in g.nodes}
    for n in g.nodes.values():
        assert nodes[_ident(n.key)] == (f"{n.type}: {n.label}", n.kind)
    assert sorted(edges) == sorted((_ident(e.source), _ident(e.target), e.event) for e in g.edges)


def test_to_dot_has_every_node_and_edge(p):
    g = lineage.run_graph(p.s, p.run)
    _check_dot(g)
    nodes, edges = parse_dot(g.to_dot())
    assert len(nodes) == 9 and len(edges) == 9
    assert nodes[f"artifact_{p.a['config']}"] == ("Dataset: config", "ellipse", True)
    assert nodes[f"execution_{p.e['train']}"] == ("Step: train", "box", False)
    assert (f"artifact_{p.a['config']}", f"execution_{p.e['train']}", "INPUT") in edges
    assert (f"execution_{p.e['train']}", f"artifact_{p.a['model']}", "OUTPUT") in edges


def test_to_mermaid_has_every_node_and_edge(p):
    g = lineage.upstream(p.s, p.a["metrics"])
    _check_mermaid(g)
    nodes, edges = parse_mermaid(g.to_mermaid())
    assert len(nodes) == 9 and len(edges) == 9
    assert nodes[f"artifact_{p.a['metrics']}"] == ("Metrics: metrics", "artifact")
    assert nodes[f"execution_{p.e['evaluate']}"] == ("Step: evaluate", "execution")
    assert (f"artifact_{p.a['model']}", f"execution_{p.e['evaluate']}", "INPUT") in edges


def test_empty_graph_renders(store):
    g = lineage.Graph()
    assert parse_dot(g.to_dot()) == ({}, [])
    assert parse_mermaid(g.to_mermaid()) == ({}, [])
    assert g.to_json() == {"nodes": [], "edges": []}


@pytest.fixture
def odd_names(store):
    """A producer and its output whose names hold quotes, backslashes and brackets."""
    t = store.put_artifact_type(pb.ArtifactType(name='Data"Set'))
    et = store.put_execution_type(pb.ExecutionType(name="Step"))
    names = ['say "hi"', 'back\\slash "q"', 'x"]) --> y', "brackets [a] (b) {c} |d| <e>;"]
    arts = store.put_artifacts([pb.Artifact(type_id=t, name=n) for n in names])
    [e] = store.put_executions([pb.Execution(type_id=et, name='run "1" ["x"]')])
    store.put_events([pb.Event(artifact_id=arts[0], execution_id=e, type=pb.Event.INPUT)]
                     + [pb.Event(artifact_id=a, execution_id=e, type=pb.Event.OUTPUT) for a in arts[1:]])
    return store, arts


def test_quotes_in_names_keep_dot_valid(odd_names):
    store, arts = odd_names
    g = lineage.downstream(store, arts[0])
    assert len(g.nodes) == 5 and len(g.edges) == 4
    _check_dot(g)


def test_quotes_in_names_keep_mermaid_valid(odd_names):
    store, arts = odd_names
    g = lineage.downstream(store, arts[0])
    _check_mermaid(g)
    assert '"hi"' not in g.to_mermaid()


def test_quotes_in_names_keep_json_valid(odd_names):
    store, arts = odd_names
    data = lineage.downstream(store, arts[0]).to_json()
    assert json.loads(json.dumps(data)) == data
    assert 'say "hi"' in {n["name"] for n in data["nodes"]}


def test_non_ascii_names_render_as_themselves(store):
    t = store.put_artifact_type(pb.ArtifactType(name="Données"))
    [a] = store.put_artifacts([pb.Artifact(type_id=t, name="résumé ✓")])
    g = lineage.upstream(store, a)
    _check_dot(g)  # the DOT label is the text itself, not a JSON \\u escape
    _check_mermaid(g)
    assert "résumé ✓" in g.to_mermaid()


def test_line_breaks_in_names_keep_output_valid(store):
    t = store.put_artifact_type(pb.ArtifactType(name="D"))
    [a] = store.put_artifacts([pb.Artifact(type_id=t, name="two\nlines")])
    g = lineage.upstream(store, a)
    _check_dot(g)
    nodes, _ = parse_mermaid(g.to_mermaid())  # every statement on one line
    assert set(nodes) == {f"artifact_{a}"}
