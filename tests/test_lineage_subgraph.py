"""MetadataStore.get_lineage_subgraph (reference §5.1, §10.11): ml-metadata 1.17's GetLineageSubgraph.

Graphs are built from named nodes: artifacts are named ``a...``, executions ``e...``, and an edge ``"a0>e0"``
is an input event of e0 (INPUT unless told otherwise), ``"e0>a1"`` an output event (OUTPUT unless told).
Results are compared as sorted names and sorted edge labels, so every expectation is an exact set.

The expectations were checked against google's ml-metadata 1.17.1 (``MLMD_TEST_ORACLE=1``, see
store_fixtures); the statement-count tests are mlmd_core-only.
"""

# Fixtures are imported from store_fixtures and used as test arguments (pytest's way), which reads as F811.
# ruff: noqa: F811

from __future__ import annotations

import lineage_net
import pytest
from lineage_net import INPUT_KINDS, OUTPUT_KINDS, L, long_chain
from store_fixtures import (
    close_store,
    count_statements,
    errors,
    memory_config,
    only_mlmd_core,
    open_store,
    pb,
    raw_call,
    store,  # noqa: F401  (fixture)
    svc_pb,
)

Opts = pb.LineageSubgraphQueryOptions
UP, DOWN, BOTH, UNSPECIFIED = Opts.UPSTREAM, Opts.DOWNSTREAM, Opts.BIDIRECTIONAL, Opts.DIRECTION_UNSPECIFIED
ALL_PATHS = ["artifacts", "executions", "contexts", "events", "attributions", "associations",
             "artifact_types", "execution_types", "context_types"]


class Net(lineage_net.Net):
    """Named nodes, queried with get_lineage_subgraph."""

    def get(self, start: str | None = None, start_e: str | None = None, paths: list[str] | None = None,
            **kw) -> pb.LineageGraph:
        return self.s.get_lineage_subgraph(opts(start, start_e, **kw), paths)

    def walk(self, *args, **kw) -> tuple[list[str], list[str], list[str]]:
        return self.view(self.get(*args, **kw))


def names(*ns: str) -> str:
    return "name IN (" + ", ".join(f"'{n}'" for n in ns) + ")"


def opts(start: str | None = None, start_e: str | None = None, hops: int | None = None,
         direction: int | None = None, end: str | None = None, end_e: str | None = None,
         include: bool = False) -> pb.LineageSubgraphQueryOptions:
    """Options; `start`/`start_e`/`end`/`end_e` are filter queries, or bare node names (no space)."""
    def q(x: str) -> str:
        return names(*x.split(",")) if " " not in x else x

    o = Opts()
    if start is not None:
        o.starting_artifacts.filter_query = q(start)
    if start_e is not None:
        o.starting_executions.filter_query = q(start_e)
    if hops is not None:
        o.max_num_hops = hops
    if direction is not None:
        o.direction = direction
    if end is not None:
        o.ending_artifacts.filter_query = q(end)
        o.ending_artifacts.include_ending_nodes = include
    if end_e is not None:
        o.ending_executions.filter_query = q(end_e)
        o.ending_executions.include_ending_nodes = include
    return o


EMPTY = ([], [], [])


@pytest.fixture
def net(store):
    return Net(store)


@pytest.fixture
def chain(net):
    """a0 > e0 > a1 > e1 > a2 > e2 > a3."""
    net.edges("a0>e0", "e0>a1", "a1>e1", "e1>a2", "a2>e2", "e2>a3")
    return net


@pytest.fixture
def diamond(net):
    """a0 feeds e1 and e2; e1 makes a1, e2 makes a2; e3 reads a1 and a2 and makes a3."""
    net.edges("a0>e1", "a0>e2", "e1>a1", "e2>a2", "a1>e3", "a2>e3", "e3>a3")
    return net


# --------------------------------------------------------------------------------------------- chains


@pytest.mark.parametrize("hops,expected", [
    (0, L("a1", "", "")),
    (1, L("a1", "e0 e1", "e0>a1 a1>e1")),
    (2, L("a0 a1 a2", "e0 e1", "a0>e0 e0>a1 a1>e1 e1>a2")),
    (3, L("a0 a1 a2", "e0 e1 e2", "a0>e0 e0>a1 a1>e1 e1>a2 a2>e2")),
    (4, L("a0 a1 a2 a3", "e0 e1 e2", "a0>e0 e0>a1 a1>e1 e1>a2 a2>e2 e2>a3")),
])
def test_chain_bidirectional_hops(chain, hops, expected):
    assert chain.walk("a1", hops=hops, direction=BOTH) == expected


@pytest.mark.parametrize("hops,expected", [
    (0, L("a3", "", "")),
    (1, L("a3", "e2", "e2>a3")),
    (2, L("a2 a3", "e2", "a2>e2 e2>a3")),
    (3, L("a2 a3", "e1 e2", "e1>a2 a2>e2 e2>a3")),
    (6, L("a0 a1 a2 a3", "e0 e1 e2", "a0>e0 e0>a1 a1>e1 e1>a2 a2>e2 e2>a3")),
])
def test_chain_upstream_hops(chain, hops, expected):
    assert chain.walk("a3", hops=hops, direction=UP) == expected


@pytest.mark.parametrize("hops,expected", [
    (0, L("a0", "", "")),
    (1, L("a0", "e0", "a0>e0")),
    (2, L("a0 a1", "e0", "a0>e0 e0>a1")),
    (3, L("a0 a1", "e0 e1", "a0>e0 e0>a1 a1>e1")),
])
def test_chain_downstream_hops(chain, hops, expected):
    assert chain.walk("a0", hops=hops, direction=DOWN) == expected


def test_chain_directions_from_the_middle(chain):
    assert chain.walk("a2", direction=UP) == L("a0 a1 a2", "e0 e1", "a0>e0 e0>a1 a1>e1 e1>a2")
    assert chain.walk("a2", direction=DOWN) == L("a2 a3", "e2", "a2>e2 e2>a3")
    everything = L("a0 a1 a2 a3", "e0 e1 e2", "a0>e0 e0>a1 a1>e1 e1>a2 a2>e2 e2>a3")
    assert chain.walk("a2", direction=BOTH) == everything
    # DIRECTION_UNSPECIFIED (and an unset direction) is bidirectional.
    assert chain.walk("a2", direction=UNSPECIFIED) == everything
    assert chain.walk("a2") == everything


@pytest.mark.parametrize("hops,direction,expected", [
    (0, BOTH, L("", "e1", "")),
    (1, BOTH, L("a1 a2", "e1", "a1>e1 e1>a2")),
    (2, BOTH, L("a1 a2", "e0 e1 e2", "e0>a1 a1>e1 e1>a2 a2>e2")),
    (1, UP, L("a1", "e1", "a1>e1")),
    (2, UP, L("a1", "e0 e1", "e0>a1 a1>e1")),
    (1, DOWN, L("a2", "e1", "e1>a2")),
    (3, DOWN, L("a2 a3", "e1 e2", "e1>a2 a2>e2 e2>a3")),
])
def test_chain_from_an_execution(chain, hops, direction, expected):
    assert chain.walk(start_e="e1", hops=hops, direction=direction) == expected


def test_several_starting_nodes(chain):
    assert chain.walk("a0,a3", hops=1, direction=BOTH) == L("a0 a3", "e0 e2", "a0>e0 e2>a3")
    assert chain.walk("a0,a3", hops=2, direction=DOWN) == L("a0 a1 a3", "e0", "a0>e0 e0>a1")
    assert chain.walk(start_e="e0,e2", hops=1, direction=UP) == L("a0 a2", "e0 e2", "a0>e0 a2>e2")


def test_starting_executions_by_context_filter(net):
    net.edges("a0>e0", "e0>a1", "a1>e1", "e1>a2")
    net.context("c0", "e1")
    assert net.walk(start_e="contexts_c.name = 'c0'", hops=1, direction=BOTH) == L("a1 a2", "e1", "a1>e1 e1>a2")


# ------------------------------------------------------------------------------------------- diamonds


def test_diamond_upstream_from_the_bottom(diamond):
    assert diamond.walk("a3", direction=UP) == L(
        "a0 a1 a2 a3", "e1 e2 e3", "a0>e1 a0>e2 e1>a1 e2>a2 a1>e3 a2>e3 e3>a3")


def test_diamond_downstream_from_the_top(diamond):
    assert diamond.walk("a0", direction=DOWN) == L(
        "a0 a1 a2 a3", "e1 e2 e3", "a0>e1 a0>e2 e1>a1 e2>a2 a1>e3 a2>e3 e3>a3")


@pytest.mark.parametrize("hops,expected", [
    (1, L("a1", "e1 e3", "e1>a1 a1>e3")),
    (2, L("a0 a1 a2 a3", "e1 e3", "a0>e1 e1>a1 a1>e3 a2>e3 e3>a3")),
    (3, L("a0 a1 a2 a3", "e1 e2 e3", "a0>e1 a0>e2 e1>a1 e2>a2 a1>e3 a2>e3 e3>a3")),
])
def test_diamond_bidirectional_from_one_side(diamond, hops, expected):
    assert diamond.walk("a1", hops=hops, direction=BOTH) == expected


def test_diamond_one_side_only_in_each_direction(diamond):
    assert diamond.walk("a1", direction=UP) == L("a0 a1", "e1", "a0>e1 e1>a1")
    assert diamond.walk("a1", direction=DOWN) == L("a1 a3", "e3", "a1>e3 e3>a3")


def test_directional_walk_keeps_edges_to_visited_nodes(net):
    """e1 reads a0 and a1 (a1 made from a0 by e0). Walking up from a2 reaches a0 at hop 2 and e0 at hop 3;
    the event a0>e0 leads from e0 to the already visited a0 and is still returned."""
    net.edges("a0>e0", "e0>a1", "a0>e1", "a1>e1", "e1>a2")
    everything = L("a0 a1 a2", "e0 e1", "a0>e0 e0>a1 a0>e1 a1>e1 e1>a2")
    assert net.walk("a2", direction=UP) == everything
    # Downstream from a0: a1>e1 leads from a1 (hop 2) to e1 (visited at hop 1).
    assert net.walk("a0", direction=DOWN) == everything
    assert net.walk("a0", direction=BOTH) == everything


# --------------------------------------------------------------------------------- fan-in and fan-out


@pytest.fixture
def fan(net):
    """e0 reads i0, i1, i2 and writes o0, o1, o2; o0 is read by r0, r1, r2, each writing x0, x1, x2."""
    net.edges("a_i0>e0", "a_i1>e0", "a_i2>e0", "e0>a_o0", "e0>a_o1", "e0>a_o2")
    net.edges("a_o0>e_r0", "a_o0>e_r1", "a_o0>e_r2", "e_r0>a_x0", "e_r1>a_x1", "e_r2>a_x2")
    return net


def test_fan_in_upstream(fan):
    assert fan.walk("a_o1", direction=UP) == L("a_i0 a_i1 a_i2 a_o1", "e0", "a_i0>e0 a_i1>e0 a_i2>e0 e0>a_o1")


def test_fan_out_downstream(fan):
    assert fan.walk("a_i0", hops=2, direction=DOWN) == L("a_i0 a_o0 a_o1 a_o2", "e0",
                                                         "a_i0>e0 e0>a_o0 e0>a_o1 e0>a_o2")
    assert fan.walk("a_o0", direction=DOWN) == L(
        "a_o0 a_x0 a_x1 a_x2", "e_r0 e_r1 e_r2",
        "a_o0>e_r0 a_o0>e_r1 a_o0>e_r2 e_r0>a_x0 e_r1>a_x1 e_r2>a_x2")


def test_fan_bidirectional_reaches_siblings(fan):
    assert fan.walk("a_i0", hops=2, direction=BOTH) == L(
        "a_i0 a_i1 a_i2 a_o0 a_o1 a_o2", "e0", "a_i0>e0 a_i1>e0 a_i2>e0 e0>a_o0 e0>a_o1 e0>a_o2")
    got = fan.walk("a_i0", direction=BOTH)
    assert got[0] == sorted(["a_i0", "a_i1", "a_i2", "a_o0", "a_o1", "a_o2", "a_x0", "a_x1", "a_x2"])
    assert got[1] == ["e0", "e_r0", "e_r1", "e_r2"]
    assert len(got[2]) == 12


def test_fan_in_from_several_readers_of_one_execution(fan):
    # Upstream from x0: r0, o0, e0 and e0's inputs, not o1/o2 (siblings) nor r1/r2 (other readers of o0).
    assert fan.walk("a_x0", direction=UP) == L(
        "a_i0 a_i1 a_i2 a_o0 a_x0", "e0 e_r0", "a_i0>e0 a_i1>e0 a_i2>e0 e0>a_o0 a_o0>e_r0 e_r0>a_x0")


# -------------------------------------------------------------------------------- event kinds, direction


@pytest.fixture
def kinds(net):
    """Execution e_x with one artifact per event kind; artifact a_x with one execution per event kind."""
    for k in INPUT_KINDS:
        net.edges(f"a_{k}>e_x", kind=k)
        net.edges(f"a_x>e_{k}", kind=k)
    for k in OUTPUT_KINDS:
        net.edges(f"e_x>a_{k}", kind=k)
        net.edges(f"e_{k}>a_x", kind=k)
    return net


def test_event_kinds_from_an_execution(kinds):
    ins = sorted(f"a_{k}" for k in INPUT_KINDS)
    outs = sorted(f"a_{k}" for k in OUTPUT_KINDS)  # PENDING_OUTPUT is an output
    assert kinds.walk(start_e="e_x", hops=1, direction=UP)[0] == ins
    assert kinds.walk(start_e="e_x", hops=1, direction=DOWN)[0] == outs
    assert kinds.walk(start_e="e_x", hops=1, direction=BOTH)[0] == sorted(ins + outs)
    assert len(kinds.walk(start_e="e_x", hops=1, direction=BOTH)[2]) == 7


def test_event_kinds_from_an_artifact(kinds):
    producers = sorted(f"e_{k}" for k in OUTPUT_KINDS)
    consumers = sorted(f"e_{k}" for k in INPUT_KINDS)
    assert kinds.walk("a_x", hops=1, direction=UP)[1] == producers
    assert kinds.walk("a_x", hops=1, direction=DOWN)[1] == consumers
    assert kinds.walk("a_x", hops=1, direction=BOTH)[1] == sorted(producers + consumers)


def test_pending_output_is_followed_upstream(net):
    net.edges("a0>e0")
    net.edges("e0>a1", kind=pb.Event.PENDING_OUTPUT)
    assert net.walk("a1", direction=UP) == L("a0 a1", "e0", "a0>e0 e0>a1")
    assert net.walk("a0", direction=DOWN) == L("a0 a1", "e0", "a0>e0 e0>a1")
    [ev] = [ev for ev in net.get("a1", direction=UP).events if ev.artifact_id == net.ids["a1"]]
    assert ev.type == pb.Event.PENDING_OUTPUT


# ------------------------------------------------------------------------------------------- contexts


@pytest.fixture
def two_chains(net):
    """Two lineages linked only through contexts, in a cycle: x0>ex>x1 and y0>ey>y1;
    c_run holds x1, ey, y0 and c_other holds y1, ex, x0 (with a parent link between them)."""
    net.edges("a_x0>e_x", "e_x>a_x1", "a_y0>e_y", "e_y>a_y1")
    c_run = net.context("c_run", "a_x1", "e_y", "a_y0")
    c_other = net.context("c_other", "a_y1", "e_x", "a_x0", type_id=net.pipeline)
    net.s.put_parent_contexts([pb.ParentContext(child_id=c_run, parent_id=c_other)])
    net.context("c_unrelated", "a_y1", "e_y")
    return net


@pytest.mark.parametrize("direction", [BOTH, UP, DOWN], ids=["BOTH", "UP", "DOWN"])
def test_contexts_create_no_lineage_edges(two_chains, direction):
    got = two_chains.walk("a_x0,a_x1", direction=direction)
    assert got == L("a_x0 a_x1", "e_x", "a_x0>e_x e_x>a_x1")


def test_contexts_attributions_associations_of_returned_nodes(two_chains):
    n = two_chains
    g = n.get("a_x1", direction=BOTH)
    assert n.view(g) == L("a_x0 a_x1", "e_x", "a_x0>e_x e_x>a_x1")
    # Every link of a returned node, including to contexts that also hold other (unreturned) nodes.
    assert sorted(n.context_names[c.id] for c in g.contexts) == ["c_other", "c_run"]
    assert {c.name for c in g.contexts} == {"c_other", "c_run"}
    assert sorted((n.artifact_names[x.artifact_id], n.context_names[x.context_id]) for x in g.attributions) == [
        ("a_x0", "c_other"), ("a_x1", "c_run")]
    assert sorted((n.execution_names[x.execution_id], n.context_names[x.context_id]) for x in g.associations) == [
        ("e_x", "c_other")]
    assert sorted(t.name for t in g.context_types) == ["Pipeline", "Run"]


def test_contexts_of_executions_only(two_chains):
    n = two_chains
    g = n.get(start_e="e_y", hops=0)
    assert n.view(g) == L("", "e_y", "")
    assert sorted(c.name for c in g.contexts) == ["c_run", "c_unrelated"]
    assert sorted(n.context_names[x.context_id] for x in g.associations) == ["c_run", "c_unrelated"]
    assert list(g.attributions) == []


def test_nodes_without_links_have_no_contexts(chain):
    g = chain.get("a0", direction=DOWN)
    assert list(g.contexts) == [] and list(g.context_types) == []
    assert list(g.attributions) == [] and list(g.associations) == []


def test_put_lineage_subgraph_example(store):
    """ml-metadata's test_put_lineage_subgraph_get_lineage_subgraph (reference §5.1, verified examples)."""
    at = store.put_artifact_type(pb.ArtifactType(name="artifact_type"))
    et = store.put_execution_type(pb.ExecutionType(name="execution_type"))
    ct = store.put_context_type(pb.ContextType(name="context_type"))
    executions = [pb.Execution(type_id=et, name=f"e{i}") for i in range(2)]
    artifacts = [pb.Artifact(type_id=at, uri="input_artifact"), pb.Artifact(type_id=at, uri="output_artifact")]
    contexts = [pb.Context(type_id=ct, name="existing_context"), pb.Context(type_id=ct, name="new_context")]
    edges = [(0, 0, pb.Event(type=pb.Event.INPUT)), (0, 1, pb.Event(type=pb.Event.OUTPUT)),
             (1, 0, pb.Event(type=pb.Event.INPUT)), (1, 1, pb.Event(type=pb.Event.OUTPUT))]
    store.put_lineage_subgraph(executions, artifacts, contexts, edges)

    g = store.get_lineage_subgraph(Opts(starting_artifacts=Opts.StartingNodes(filter_query="uri = 'output_artifact'"),
                                        max_num_hops=10))
    counts = [len(g.artifacts), len(g.executions), len(g.contexts), len(g.artifact_types),
              len(g.execution_types), len(g.context_types), len(g.events), len(g.associations),
              len(g.attributions)]
    assert counts == [2, 2, 2, 1, 1, 1, 4, 4, 4]

    g = store.get_lineage_subgraph(Opts(
        starting_executions=Opts.StartingNodes(filter_query="contexts_a.name='existing_context'"), max_num_hops=0))
    counts = [len(g.artifacts), len(g.executions), len(g.contexts), len(g.artifact_types), len(g.events),
              len(g.associations), len(g.attributions)]
    assert counts == [0, 2, 2, 0, 0, 4, 0]


def test_direction_example(store):
    """in -> e -> out: DOWNSTREAM from e gives {e, out}, UPSTREAM {e, in}, one event each."""
    at = store.put_artifact_type(pb.ArtifactType(name="A"))
    et = store.put_execution_type(pb.ExecutionType(name="E"))
    a_in, a_out = store.put_artifacts([pb.Artifact(type_id=at, uri="in"), pb.Artifact(type_id=at, uri="out")])
    [e] = store.put_executions([pb.Execution(type_id=et, name="e")])
    store.put_events([pb.Event(artifact_id=a_in, execution_id=e, type=pb.Event.INPUT),
                      pb.Event(artifact_id=a_out, execution_id=e, type=pb.Event.OUTPUT)])
    for direction, uri in ((DOWN, "out"), (UP, "in")):
        g = store.get_lineage_subgraph(Opts(starting_executions=Opts.StartingNodes(filter_query="name = 'e'"),
                                            max_num_hops=2, direction=direction))
        assert [x.id for x in g.executions] == [e]
        assert [a.uri for a in g.artifacts] == [uri]
        assert len(g.events) == 1


# ------------------------------------------------------------------------------------------- cycles


def test_event_cycle_terminates(net):
    """a0 > e0 > a1 > e1 > a0: a directed cycle of events."""
    net.edges("a0>e0", "e0>a1", "a1>e1", "e1>a0")
    everything = L("a0 a1", "e0 e1", "a0>e0 e0>a1 a1>e1 e1>a0")
    for direction in (UP, DOWN, BOTH):
        assert net.walk("a0", direction=direction) == everything
    assert net.walk("a0", hops=2, direction=DOWN) == L("a0 a1", "e0", "a0>e0 e0>a1")
    # Hop 4 comes back to the visited a0: the closing edge is kept in a directional walk.
    assert net.walk("a0", hops=4, direction=DOWN) == everything


def test_artifact_both_input_and_output_of_one_execution(net):
    net.edges("a0>e0", "e0>a0")
    assert net.walk("a0", direction=DOWN) == L("a0", "e0", "a0>e0 e0>a0")
    assert net.walk("a0", direction=UP) == L("a0", "e0", "a0>e0 e0>a0")


# ---------------------------------------------------------------------------------------- ending nodes


@pytest.mark.parametrize("include,expected", [
    (False, L("a0 a1", "e0 e1", "a0>e0 e0>a1 a1>e1")),
    (True, L("a0 a1 a2", "e0 e1", "a0>e0 e0>a1 a1>e1 e1>a2")),
])
def test_ending_artifacts(chain, include, expected):
    assert chain.walk("a0", direction=DOWN, end="a2", include=include) == expected
    assert chain.walk("a0", direction=BOTH, end="a2", include=include) == expected


@pytest.mark.parametrize("include,expected", [
    (False, L("a0 a1", "e0", "a0>e0 e0>a1")),
    (True, L("a0 a1", "e0 e1", "a0>e0 e0>a1 a1>e1")),
])
def test_ending_executions(chain, include, expected):
    assert chain.walk("a0", direction=DOWN, end_e="e1", include=include) == expected


def test_ending_nodes_upstream(chain):
    assert chain.walk("a3", direction=UP, end="a1") == L("a2 a3", "e1 e2", "e1>a2 a2>e2 e2>a3")
    assert chain.walk("a3", direction=UP, end="a1", include=True) == L(
        "a1 a2 a3", "e1 e2", "a1>e1 e1>a2 a2>e2 e2>a3")


def test_ending_filter_that_matches_several_nodes(fan):
    got = fan.walk("a_i0", direction=DOWN, end="name LIKE 'a_o%'")
    assert got == L("a_i0", "e0", "a_i0>e0")
    got = fan.walk("a_i0", direction=DOWN, end="name LIKE 'a_o%'", include=True)
    assert got == L("a_i0 a_o0 a_o1 a_o2", "e0", "a_i0>e0 e0>a_o0 e0>a_o1 e0>a_o2")


def test_ending_filter_on_a_node_not_reached_changes_nothing(chain):
    assert chain.walk("a0", hops=2, direction=DOWN, end="a3") == L("a0 a1", "e0", "a0>e0 e0>a1")


def test_starting_node_that_is_an_ending_node(chain):
    # Not expanded; returned only with include_ending_nodes.
    assert chain.walk("a1", direction=BOTH, end="a1") == EMPTY
    assert chain.walk("a1", direction=BOTH, end="a1", include=True) == L("a1", "", "")
    assert chain.walk(start_e="e1", direction=BOTH, end_e="e1") == EMPTY
    assert chain.walk(start_e="e1", direction=BOTH, end_e="e1", include=True) == L("", "e1", "")


def test_starting_nodes_partly_ending(chain):
    # a1 starts but is an ending node: a0 is expanded, a1 not (so e1 is never reached).
    assert chain.walk("a0,a1", direction=DOWN, end="a1") == L("a0", "e0", "a0>e0")
    assert chain.walk("a0,a1", direction=BOTH, end="a1") == L("a0", "e0", "a0>e0")
    # e0 leads to the starting ending node a1: the edge is there exactly when a1 is.
    assert chain.walk("a0,a1", direction=DOWN, end="a1", include=True) == L("a0 a1", "e0", "a0>e0 e0>a1")
    assert chain.walk("a0,a1", direction=BOTH, end="a1", include=True) == L("a0 a1", "e0", "a0>e0 e0>a1")


@pytest.fixture
def shortcut(net):
    """a0 feeds e0 and e1; e1 makes a1, which e0 also reads. e0 is found at hop 1, a1 at hop 2."""
    net.edges("a0>e0", "a0>e1", "e1>a1", "a1>e0")
    return net


@pytest.mark.parametrize("direction", [DOWN, BOTH], ids=["DOWN", "BOTH"])
def test_edges_to_an_ending_node_found_earlier(shortcut, direction):
    """a1>e0 reaches e0, an ending node found a hop before: kept with include_ending_nodes (in every
    direction, as ml-metadata does), dropped without (no edge may point at a node not returned)."""
    assert shortcut.walk("a0", direction=direction, end_e="e0", include=True) == L(
        "a0 a1", "e0 e1", "a0>e0 a0>e1 e1>a1 a1>e0")
    assert shortcut.walk("a0", direction=direction, end_e="e0") == L("a0 a1", "e1", "a0>e1 e1>a1")


def test_bidirectional_walk_returns_each_event_once(shortcut):
    g = shortcut.get("a0", direction=BOTH)
    assert shortcut.view(g) == L("a0 a1", "e0 e1", "a0>e0 a0>e1 e1>a1 a1>e0")
    assert len(g.events) == len({(ev.artifact_id, ev.execution_id, ev.type) for ev in g.events}) == 4


def test_returned_edges_only_join_returned_nodes(diamond):
    for kw in ({"end": "a1"}, {"end": "a1", "include": True}, {"end_e": "e3"}, {"end_e": "e1,e3"},
               {"end": "a0,a3"}, {"hops": 3}):
        for start in ("a0", "a3", "a1"):
            for direction in (UP, DOWN, BOTH):
                g = diamond.get(start, direction=direction, **kw)
                artifact_ids, execution_ids = {a.id for a in g.artifacts}, {e.id for e in g.executions}
                for ev in g.events:
                    assert ev.artifact_id in artifact_ids and ev.execution_id in execution_ids, (start, kw)


def test_ending_nodes_of_both_kinds(diamond):
    assert diamond.walk("a0", direction=DOWN, end="a1", end_e="e2") == L("a0", "e1", "a0>e1")
    assert diamond.walk("a0", direction=DOWN, end="a1", end_e="e2", include=True) == L(
        "a0 a1", "e1 e2", "a0>e1 a0>e2 e1>a1")


# ------------------------------------------------------------------------------------------ hop limits


def _chain_names(last_step: int, width: int, last_artifact: int) -> tuple[list[str], list[str]]:
    artifacts = [f"a{i}" for i in range(last_artifact + 1)]
    artifacts += [f"a{i}_s{j}" for i in range(1, last_artifact + 1) for j in range(width)]
    return sorted(artifacts), sorted(f"e{i}" for i in range(last_step + 1))


def test_hundred_hop_chain_with_fan_out(net):
    long_chain(net, steps=50, width=2)
    g = net.s.get_lineage_subgraph(opts("a0", hops=100, direction=DOWN))
    assert (sorted(a.name for a in g.artifacts), sorted(e.name for e in g.executions)) == _chain_names(49, 2, 50)
    assert len(g.events) == 50 * 4
    g = net.s.get_lineage_subgraph(opts("a50", hops=100, direction=UP))
    assert sorted(a.name for a in g.artifacts) == sorted(f"a{i}" for i in range(51))  # no side outputs upstream
    assert len(g.executions) == 50 and len(g.events) == 100


@pytest.mark.parametrize("hops", [None, 100, 101, 1000, 2**40])
def test_hops_above_100_are_capped(net, hops):
    long_chain(net, steps=60, width=1)
    g = net.s.get_lineage_subgraph(opts("a0", hops=hops, direction=DOWN))
    # 100 hops from a0: e0..e49 (odd hops) and a1..a50 with their side artifacts (even hops).
    assert (sorted(a.name for a in g.artifacts), sorted(e.name for e in g.executions)) == _chain_names(49, 1, 50)


def test_hops_99_stop_before_the_last_artifacts(net):
    long_chain(net, steps=60, width=1)
    g = net.s.get_lineage_subgraph(opts("a0", hops=99, direction=DOWN))
    assert (sorted(a.name for a in g.artifacts), sorted(e.name for e in g.executions)) == _chain_names(49, 1, 49)


def test_zero_hops_returns_starting_nodes_only(diamond):
    g = diamond.get("a0,a3", hops=0)
    assert diamond.view(g) == L("a0 a3", "", "")
    assert list(g.events) == []
    g = diamond.get(start_e="e1,e2,e3", hops=0, direction=UP)
    assert diamond.view(g) == L("", "e1 e2 e3", "")


# -------------------------------------------------------------------------------------- starting nodes


def test_more_than_101_starting_artifacts_are_capped(net):
    ids = net.s.put_artifacts([pb.Artifact(type_id=net.data, uri=f"/x/{i}") for i in range(150)])
    g = net.s.get_lineage_subgraph(opts(start="id > 0", hops=0))
    assert len(g.artifacts) == 101
    assert set(a.id for a in g.artifacts) <= set(ids)
    g = net.s.get_lineage_subgraph(opts(start="uri LIKE '/x/1%'", hops=0))  # 1, 10-19, 100-149: 61
    assert len(g.artifacts) == 61


def test_more_than_101_starting_executions_are_capped(net):
    net.s.put_executions([pb.Execution(type_id=net.step) for _ in range(120)])
    g = net.s.get_lineage_subgraph(opts(start_e="id > 0", hops=0))
    assert len(g.executions) == 101


def test_101_starting_nodes_all_expanded(net):
    """101 chains a_i > e_i: every starting node's execution is reached (not only 100 of them)."""
    arts = net.s.put_artifacts([pb.Artifact(type_id=net.data, name=f"a{i}") for i in range(101)])
    exes = net.s.put_executions([pb.Execution(type_id=net.step, name=f"e{i}") for i in range(101)])
    net.s.put_events([pb.Event(artifact_id=a, execution_id=e, type=pb.Event.INPUT) for a, e in zip(arts, exes)])
    g = net.s.get_lineage_subgraph(opts(start="id > 0", hops=1, direction=DOWN))
    assert len(g.artifacts) == 101 and len(g.executions) == 101 and len(g.events) == 101


# ---------------------------------------------------------------------------------------- bad options


def test_missing_starting_nodes(chain):
    with pytest.raises(errors.InvalidArgumentError, match="Missing arguments for listing starting nodes"):
        chain.s.get_lineage_subgraph(Opts(max_num_hops=1))
    with pytest.raises(errors.InvalidArgumentError, match="Missing arguments for listing starting nodes"):
        chain.s.get_lineage_subgraph(Opts())


@pytest.mark.parametrize("which", ["starting_artifacts", "starting_executions"])
def test_unspecified_filter_query(chain, which):
    for o in (Opts(**{which: Opts.StartingNodes()}), Opts(**{which: Opts.StartingNodes(filter_query="")})):
        with pytest.raises(errors.InvalidArgumentError, match="Cannot list starting nodes if `filter_query` is "
                                                              "unspecified"):
            chain.s.get_lineage_subgraph(o)


def test_blank_filter_query_is_invalid(chain):
    with pytest.raises(errors.InvalidArgumentError):
        chain.s.get_lineage_subgraph(opts(start="   "))


@pytest.mark.parametrize("hops", [-1, -5, -(2**40)])
def test_negative_hops(chain, hops):
    with pytest.raises(errors.InvalidArgumentError, match=f"max_num_hops cannot be negative: max_num_hops = {hops}"):
        chain.s.get_lineage_subgraph(opts("a0", hops=hops))


def test_validation_order(chain):
    s = chain.s
    # Missing starting nodes comes before a negative hop count.
    with pytest.raises(errors.InvalidArgumentError, match="Missing arguments"):
        s.get_lineage_subgraph(Opts(max_num_hops=-1))
    # An unspecified filter before a negative hop count.
    with pytest.raises(errors.InvalidArgumentError, match="unspecified"):
        s.get_lineage_subgraph(Opts(starting_artifacts=Opts.StartingNodes(), max_num_hops=-1))
    # A negative hop count before the filter is parsed or matched.
    with pytest.raises(errors.InvalidArgumentError, match="max_num_hops cannot be negative"):
        s.get_lineage_subgraph(opts(start="name = ", hops=-1))
    with pytest.raises(errors.InvalidArgumentError, match="max_num_hops cannot be negative"):
        s.get_lineage_subgraph(opts(start="name = 'nothing'", hops=-1))


@pytest.mark.parametrize("start", ["name = ", "foo = 1", "name == 'a0'", "id = 'a'", "uri = 'x' and"])
def test_invalid_starting_filter(chain, start):
    with pytest.raises(errors.InvalidArgumentError, match="filter_query"):
        chain.s.get_lineage_subgraph(opts(start=start))


def test_invalid_starting_execution_filter(chain):
    with pytest.raises(errors.InvalidArgumentError, match="filter_query"):
        chain.s.get_lineage_subgraph(opts(start_e="uri = 'x'"))  # executions have no uri


@pytest.mark.parametrize("hops", [0, 2])
def test_invalid_ending_filter(chain, hops):
    with pytest.raises(errors.InvalidArgumentError, match="filter_query"):
        chain.s.get_lineage_subgraph(opts("a0", hops=hops, end="bad ="))
    with pytest.raises(errors.InvalidArgumentError, match="filter_query"):
        chain.s.get_lineage_subgraph(opts("a0", hops=2, end_e="uri = 'x'"))


@pytest.mark.parametrize("o", [
    opts(start="name = 'nothing'"),
    opts(start_e="name = 'nothing'", hops=3),
    opts(start="name = 'e0'"),  # an execution's name, asked of artifacts
    opts(start="id > 1000", hops=0, direction=UP),
])
def test_nothing_matches_the_starting_filter(chain, o):
    with pytest.raises(errors.NotFoundError, match="Cannot find qualified nodes to start the traversal"):
        chain.s.get_lineage_subgraph(o)


def test_empty_store_is_not_found(store):
    with pytest.raises(errors.NotFoundError):
        store.get_lineage_subgraph(opts(start="id > 0"))
    with pytest.raises(errors.NotFoundError):
        store.get_lineage_subgraph(opts(start_e="id > 0"))


def test_isolated_node_has_an_empty_neighbourhood(net):
    net.node("a_alone")
    g = net.get("a_alone")
    assert net.view(g) == L("a_alone", "", "")
    assert list(g.contexts) == [] and list(g.attributions) == []


# ----------------------------------------------------------------------------------------- field masks


@pytest.fixture
def masked(two_chains):
    """two_chains plus a Model artifact made by a Train execution from x1."""
    n = two_chains
    n.node("a_model", type_id=n.model)
    n.node("e_train", type_id=n.train)
    n.edges("a_x1>e_train", "e_train>a_model")
    return n


def test_default_mask_hydrates_everything(masked):
    n = masked
    g = n.get("a_x0", direction=DOWN)
    assert n.view(g) == L("a_x0 a_x1 a_model", "e_x e_train",
                          "a_x0>e_x e_x>a_x1 a_x1>e_train e_train>a_model")
    # Full nodes, equal to what the getters return.
    assert sorted(a.SerializeToString(deterministic=True) for a in g.artifacts) == sorted(
        a.SerializeToString(deterministic=True) for a in n.s.get_artifacts_by_id([a.id for a in g.artifacts]))
    assert sorted(e.SerializeToString(deterministic=True) for e in g.executions) == sorted(
        e.SerializeToString(deterministic=True) for e in n.s.get_executions_by_id([e.id for e in g.executions]))
    assert sorted(c.SerializeToString(deterministic=True) for c in g.contexts) == sorted(
        c.SerializeToString(deterministic=True) for c in n.s.get_contexts_by_id([c.id for c in g.contexts]))
    assert {a.type for a in g.artifacts} == {"Data", "Model"}
    assert all(a.uri.startswith("/data/") for a in g.artifacts)
    assert {e.type for e in g.executions} == {"Step", "Train"}
    # Types only of the returned nodes: no Unused*, no mlmd.* system types.
    assert sorted(t.name for t in g.artifact_types) == ["Data", "Model"]
    assert sorted(t.name for t in g.execution_types) == ["Step", "Train"]
    assert sorted(t.name for t in g.context_types) == ["Pipeline", "Run"]
    assert sorted(t.id for t in g.artifact_types) == sorted([n.data, n.model])
    # Events carry their timestamp.
    assert all(ev.milliseconds_since_epoch > 0 for ev in g.events)


def test_empty_mask_means_everything(masked):
    """ml-metadata's wrapper treats an empty `field_mask_paths` like None (`if not field_mask_paths`)."""
    n = masked
    full = n.get("a_x0", direction=DOWN)
    g = n.get("a_x0", direction=DOWN, paths=[])
    assert g.SerializeToString(deterministic=True) == full.SerializeToString(deterministic=True)
    assert len(g.artifact_types) == 2 and len(g.contexts) == 2


def test_explicit_all_paths_equals_default(masked):
    n = masked
    full = n.get("a_x0", direction=DOWN)
    g = n.get("a_x0", direction=DOWN, paths=list(reversed(ALL_PATHS)) + ["parent_contexts"])
    assert g.SerializeToString(deterministic=True) == full.SerializeToString(deterministic=True)
    assert list(g.parent_contexts) == []  # never filled


def test_edges_only_mask(masked):
    n = masked
    g = n.get("a_x0", direction=DOWN, paths=["events", "associations", "attributions"])
    assert list(g.artifacts) == [] and list(g.executions) == [] and list(g.contexts) == []
    assert list(g.artifact_types) == [] and list(g.execution_types) == [] and list(g.context_types) == []
    assert sorted(n.label(ev) for ev in g.events) == sorted(
        ["a_x0>e_x", "e_x>a_x1", "a_x1>e_train", "e_train>a_model"])
    assert len(g.attributions) == 2 and len(g.associations) == 1


@pytest.mark.parametrize("path", ["artifacts", "executions", "contexts", "events", "attributions",
                                  "associations"])
def test_single_path_mask(masked, path):
    n = masked
    full = n.get("a_x0", direction=DOWN)
    g = n.get("a_x0", direction=DOWN, paths=[path])
    for field in ALL_PATHS:
        got = [x.SerializeToString(deterministic=True) for x in getattr(g, field)]
        if field == path:
            assert got and got == [x.SerializeToString(deterministic=True) for x in getattr(full, field)]
        else:
            assert got == [], field


def test_types_mask_gives_only_types_of_returned_nodes(masked):
    n = masked
    g = n.get("a_x0", hops=2, direction=DOWN, paths=["artifacts", "executions", "contexts", "artifact_types",
                                                      "execution_types", "context_types"])
    assert sorted(a.name for a in g.artifacts) == ["a_x0", "a_x1"]
    assert [e.name for e in g.executions] == ["e_x"]
    assert list(g.events) == []
    assert [t.name for t in g.artifact_types] == ["Data"]  # Model is not reached in 2 hops
    assert [t.name for t in g.execution_types] == ["Step"]
    assert sorted(t.name for t in g.context_types) == ["Pipeline", "Run"]


def test_types_come_from_the_nodes_the_server_returned(masked):
    """The wrapper hydrates *_types from the node stubs, which the server sends only for the node paths
    asked for: with `artifacts` but not `executions`/`contexts`, no execution or context types."""
    n = masked
    g = n.get("a_x0", hops=2, direction=DOWN, paths=["artifacts", "artifact_types", "execution_types",
                                                      "context_types"])
    assert sorted(a.name for a in g.artifacts) == ["a_x0", "a_x1"]
    assert [t.name for t in g.artifact_types] == ["Data"]
    assert list(g.executions) == [] and list(g.execution_types) == []
    assert list(g.contexts) == [] and list(g.context_types) == []
    g = n.get("a_x0", direction=DOWN, paths=["executions", "artifact_types"])
    assert sorted(e.name for e in g.executions) == ["e_train", "e_x"]
    assert list(g.artifact_types) == []


def test_types_only_mask(masked):
    """A mask of *_types only sends an empty read_mask; ml-metadata still answers with the types."""
    n = masked
    g = n.get("a_x0", direction=DOWN, paths=["artifact_types"])
    assert sorted(t.name for t in g.artifact_types) == ["Data", "Model"]
    assert list(g.artifacts) == [] and list(g.events) == [] and list(g.execution_types) == []
    g = n.get(start_e="e_train", hops=0, paths=["execution_types", "context_types"])
    assert [t.name for t in g.execution_types] == ["Train"]
    assert list(g.context_types) == []  # e_train is in no context


def test_unknown_mask_path_is_ignored(masked):
    n = masked
    g = n.get("a_x0", direction=DOWN, paths=["no_such_field"])
    assert g.ByteSize() == 0
    g = n.get("a_x0", direction=DOWN, paths=["no_such_field", "events"])
    assert len(g.events) == 4 and list(g.artifacts) == []


def test_artifact_types_as_get_artifacts_and_types_returns_them(net):
    """Types are hydrated with get_artifacts_and_types_by_artifact_ids: a type derived from mlmd.Model comes
    back as itself, without its base_type (as ml-metadata does), and the system type is not added."""
    s = net.s
    t = s.put_artifact_type(pb.ArtifactType(name="MyModel", base_type=pb.ArtifactType.MODEL))
    [a] = s.put_artifacts([pb.Artifact(type_id=t, name="a_m")])
    g = s.get_lineage_subgraph(opts("a_m"))
    assert list(g.artifact_types) == list(s.get_artifacts_and_types_by_artifact_ids([a])[1])
    assert [(x.id, x.name) for x in g.artifact_types] == [(t, "MyModel")]
    assert not g.artifact_types[0].HasField("base_type")


# ----------------------------------------------------------------------------------------- wire level


def _raw(s, o, paths=None):
    request = svc_pb.GetLineageSubgraphRequest(lineage_subgraph_query_options=o)
    if paths is not None:
        request.read_mask.paths.extend(paths)
    return raw_call(s, "GetLineageSubgraph", request).lineage_subgraph


def test_raw_response_has_id_only_nodes(masked):
    n = masked
    g = _raw(n.s, opts("a_x0", direction=DOWN), ["artifacts", "executions", "contexts", "events"])
    assert sorted(a.id for a in g.artifacts) == sorted(n.ids[x] for x in ("a_x0", "a_x1", "a_model"))
    assert all(a == pb.Artifact(id=a.id) for a in g.artifacts)
    assert all(e == pb.Execution(id=e.id) for e in g.executions)
    assert all(c == pb.Context(id=c.id) for c in g.contexts)
    assert len(g.events) == 4


def test_raw_types_are_all_types_of_the_database(masked):
    """The server fills *_types with every type, the system types (mlmd.*) included."""
    n = masked
    g = _raw(n.s, opts("a_x0", hops=0), ["artifact_types", "execution_types", "context_types"])
    artifact_types = {t.name for t in g.artifact_types}
    assert {"Data", "Model", "Unused", "mlmd.Dataset", "mlmd.Model"} <= artifact_types
    assert {"Step", "Train", "UnusedStep", "mlmd.Train"} <= {t.name for t in g.execution_types}
    assert {"Run", "Pipeline", "UnusedCtx"} == {t.name for t in g.context_types}
    assert list(g.artifacts) == [] and list(g.events) == []


@pytest.mark.parametrize("paths", [None, []])
def test_raw_empty_read_mask_returns_everything(masked, paths):
    """ml-metadata 1.17.1 answers an unset or empty read_mask with every field (verified), although
    the reference §5.1 calls it InvalidArgument."""
    n = masked
    g = _raw(n.s, opts("a_x0", direction=DOWN), paths)
    assert len(g.artifacts) == 3 and len(g.executions) == 2 and len(g.events) == 4
    assert len(g.contexts) == 2 and len(g.attributions) == 2 and len(g.associations) == 1
    assert len(g.artifact_types) >= 3


# --------------------------------------------------------------------------------- set-based traversal


@only_mlmd_core
@pytest.mark.parametrize("direction", [DOWN, BOTH], ids=["DOWN", "BOTH"])
def test_hundred_hop_chain_costs_at_most_two_statements_per_hop(net, direction):
    long_chain(net, steps=50, width=3)
    count, g = count_statements(net.s, lambda: net.s.get_lineage_subgraph(opts("a0", hops=100,
                                                                                  direction=direction)))
    assert len(g.executions) == 50 and len(g.artifacts) == 51 + 150
    assert count <= 2 * 100 + 30, count


@only_mlmd_core
def test_hundred_hop_chain_with_ending_filter_costs_at_most_two_statements_per_hop(net):
    long_chain(net, steps=50, width=3)
    count, g = count_statements(net.s, lambda: net.s.get_lineage_subgraph(
        opts("a0", hops=100, direction=DOWN, end="name = 'nothing'", end_e="name = 'nothing'")))
    assert len(g.executions) == 50
    assert count <= 2 * 100 + 30, count


@only_mlmd_core
def test_statement_count_does_not_grow_with_fan_out():
    counts = []
    for width in (1, 8):
        s = open_store(memory_config())
        try:
            long_chain(Net(s), steps=20, width=width)
            count, g = count_statements(s, lambda s=s: s.get_lineage_subgraph(opts("a0", direction=BOTH)))
            assert len(g.artifacts) == 21 + 20 * width
            counts.append(count)
        finally:
            close_store(s)
    assert counts[0] == counts[1], counts


@only_mlmd_core
@pytest.mark.parametrize("direction", [UP, DOWN], ids=["UP", "DOWN"])
def test_directional_walk_costs_the_same_statements_whatever_the_hops(net, direction):
    """Without ending nodes an UPSTREAM/DOWNSTREAM walk is one recursive query on every backend, and the whole
    call costs 8 statements at 2 hops as at 100: the starting filter, the walk, the event paths, the links, the
    nodes of every kind, their properties, the types and the types' properties."""
    long_chain(net, steps=50, width=2)
    net.context("c0", "a0", "a1", "e0")
    start = "a0" if direction == DOWN else "a50"
    counts = [count_statements(net.s, lambda h=h: net.s.get_lineage_subgraph(
        opts(start, hops=h, direction=direction)))[0] for h in (2, 100)]
    assert counts[0] == counts[1] <= 8, counts


def test_wide_subgraph_is_hydrated_across_id_list_chunks(net):
    """A walk reaching more nodes than one IN-list takes (500): every node, property, link and type is there,
    as the node reads return them."""
    outputs = [f"e0>a{i}" for i in range(1, 1201)]
    net.edges("a0>e0", *outputs)
    artifacts = net.s.get_artifacts_by_id([net.ids[f"a{i}"] for i in range(1201)])
    for artifact in artifacts:
        artifact.custom_properties["n"].int_value = int(artifact.name[1:])
    net.s.put_artifacts(artifacts)
    net.context("c0", *(f"a{i}" for i in range(0, 1201, 2)), "e0")
    net.context("c1", *(f"a{i}" for i in range(1, 1201, 2)))
    g = net.get("a0", direction=DOWN)
    ids = sorted(net.ids[f"a{i}"] for i in range(1201))
    assert list(g.artifacts) == net.s.get_artifacts_by_id(ids)
    assert list(g.executions) == net.s.get_executions_by_id([net.ids["e0"]])
    assert sorted(c.name for c in g.contexts) == ["c0", "c1"]
    assert len(g.attributions) == 1201 and len(g.associations) == 1 and len(g.events) == 1201
    assert [t.name for t in g.artifact_types] == ["Data"] and [t.name for t in g.context_types] == ["Run"]


MASKS = [None, ["artifact_types"], ["execution_types", "context_types"], ["events"], ["contexts"],
         ["context_types"], ["artifacts", "execution_types"], ["executions", "artifact_types"],
         ["attributions", "associations", "context_types"], ["artifacts", "artifact_types", "events"],
         ["no_such_field", "contexts", "context_types"]]


@only_mlmd_core
@pytest.mark.parametrize("mask", MASKS, ids=[",".join(m) if m else "default" for m in MASKS])
def test_in_process_hydration_equals_the_client_path(masked, mask):
    """The in-process store walks and hydrates in one transaction; the answer is the one ml-metadata's client
    builds from the server's stubs with its follow-up calls (the gRPC path), for every mask."""
    n = masked
    n.context("c_all", "a_x0", "a_x1", "e_x", "a_model", "e_train")
    for q in (opts("a_x0", direction=DOWN), opts("a_x0", direction=BOTH), opts("a_model", hops=3, direction=UP),
              opts(start_e="e_train", hops=0)):
        in_process = n.s.get_lineage_subgraph(q, mask)
        n.s._in_process = False  # the same store answered as over gRPC: stubs, then hydrating calls
        try:
            hydrated = n.s.get_lineage_subgraph(q, mask)
        finally:
            n.s._in_process = True
        assert in_process.SerializeToString(deterministic=True) == hydrated.SerializeToString(deterministic=True)


@only_mlmd_core
def test_all_statements_are_counted(net):
    """The trace callback sees the traversal (guards the counting helper itself)."""
    net.edges("a0>e0", "e0>a1")
    count, _ = count_statements(net.s, lambda: net.s.get_lineage_subgraph(opts("a0", hops=2)))
    assert count >= 3


# ---------------------------------------------------------------------------- against a reference model


def _model(events, start_kind, starting, direction, hops, ends, include):
    """ml-metadata 1.17's QueryLineageSubgraph over (artifact, execution, type) triples, written plainly:
    returns (artifact names, execution names, sorted event triples)."""
    other = {"a": "e", "e": "a"}
    visited = {"a": set(), "e": set()}
    ending = {"a": set(), "e": set()}
    ending[start_kind] = set(starting) & ends[start_kind]
    output = sorted(set(starting) - ending[start_kind])
    visited[start_kind] = set(output)
    kept = []
    kind = start_kind
    for _ in range(hops):
        to = other[kind]
        if direction in (UP, DOWN):
            wanted = OUTPUT_KINDS if (direction == UP) == (kind == "a") else INPUT_KINDS
        else:
            wanted = INPUT_KINDS + OUTPUT_KINDS
        frontier = set(output)
        evs = [ev for ev in events if (ev[0] if kind == "a" else ev[1]) in frontier and ev[2] in wanted]
        far = [(ev, ev[1] if kind == "a" else ev[0]) for ev in evs]
        unvisited = {f for _, f in far if f not in visited[to] and f not in ending[to]}
        ending[to] |= unvisited & ends[to]
        unvisited -= ending[to]
        for ev, f in far:
            if f in unvisited:
                kept.append(ev)
            elif f in ending[to]:
                if include[to]:
                    kept.append(ev)
            elif direction in (UP, DOWN):
                kept.append(ev)
        visited[to] |= unvisited
        output = sorted(unvisited)
        kind = to
        if not output:
            break
    artifacts = visited["a"] | (ending["a"] if include["a"] else set())
    executions = visited["e"] | (ending["e"] if include["e"] else set())
    return sorted(artifacts), sorted(executions), sorted(kept)


def _random_case(net, rng):
    n_a, n_e = rng.randint(2, 9), rng.randint(1, 7)
    kinds = INPUT_KINDS + OUTPUT_KINDS
    triples = set()
    for _ in range(rng.randint(1, 16)):
        triples.add((f"a{rng.randrange(n_a)}", f"e{rng.randrange(n_e)}", rng.choice(kinds)))
    for i in range(n_a):
        net.node(f"a{i}")
    for i in range(n_e):
        net.node(f"e{i}")
    net.s.put_events([pb.Event(artifact_id=net.ids[a], execution_id=net.ids[e], type=t) for a, e, t in triples])
    return sorted(triples), n_a, n_e


@pytest.mark.parametrize("with_ending", [False, True], ids=["plain", "ending"])
@pytest.mark.parametrize("seed", range(25))
def test_random_graphs_match_the_model(store, seed, with_ending):
    """Random event graphs (cycles, parallel events of several kinds) and random queries against _model,
    which was checked against ml-metadata 1.17.1 on these very cases."""
    import random

    rng = random.Random(seed)
    net = Net(store)
    triples, n_a, n_e = _random_case(net, rng)
    for _ in range(12):
        start_kind = rng.choice("ae")
        pool = n_a if start_kind == "a" else n_e
        starting = sorted({f"{start_kind}{rng.randrange(pool)}" for _ in range(rng.randint(1, 2))})
        direction = rng.choice([UP, DOWN, BOTH, UNSPECIFIED])
        hops = rng.choice([0, 1, 2, 3, 4, 6, 100])
        ends = {"a": set(), "e": set()}
        include = {"a": rng.random() < 0.5, "e": rng.random() < 0.5}
        kw = {}
        if with_ending and rng.random() < 0.6:
            ends["a"] = {f"a{rng.randrange(n_a)}" for _ in range(rng.randint(1, 2))}
            kw.update(end=",".join(sorted(ends["a"])))
        if with_ending and rng.random() < 0.5:
            ends["e"] = {f"e{rng.randrange(n_e)}" for _ in range(rng.randint(1, 2))}
            kw.update(end_e=",".join(sorted(ends["e"])))
        o = opts(**({"start": ",".join(starting)} if start_kind == "a" else {"start_e": ",".join(starting)}),
                 hops=hops, direction=direction)
        for key, spec in (("end", o.ending_artifacts), ("end_e", o.ending_executions)):
            if key in kw:
                spec.filter_query = names(*kw[key].split(","))
                spec.include_ending_nodes = include["a" if key == "end" else "e"]
        g = store.get_lineage_subgraph(o)
        got = (sorted(a.name for a in g.artifacts), sorted(e.name for e in g.executions),
               sorted((net.artifact_names[ev.artifact_id], net.execution_names[ev.execution_id], ev.type)
                      for ev in g.events))
        expected = _model(triples, start_kind, starting, direction, hops, ends, include)
        assert got == expected, (seed, starting, direction, hops, kw, include)


@pytest.mark.parametrize("start,direction", [("a0", DOWN), ("a3", UP), ("a1", UP), ("a1", DOWN)])
@pytest.mark.parametrize("hops", [1, 2, 3, 5, None])
def test_ending_filter_matching_nothing_changes_nothing(diamond, start, direction, hops):
    """A walk with an ending filter that matches nothing gives the very same graph (same order too)."""
    plain = diamond.get(start, hops=hops, direction=direction)
    filtered = diamond.get(start, hops=hops, direction=direction, end="name = 'none'", end_e="name = 'none'")
    assert plain.SerializeToString(deterministic=True) == filtered.SerializeToString(deterministic=True)
