"""MetadataStore.get_lineage_graph: GetLineageGraph with ml-metadata 1.14's semantics (reference §5.2).

ml-metadata 1.17 no longer serves this RPC, so these tests only run against mlmd_core. The expectations
follow the reference: `query_nodes` must be `artifacts_options` (one page of it), `max_num_hops` defaults
to 20, `max_node_size` (<= 0 unlimited) caps artifacts plus executions,
boundary filter queries prune nodes and what lies beyond them, and the response holds full artifacts,
executions and events plus all non-system artifact/execution types and all context types, no contexts.
Where 1.14 cut graphs short silently we do not (docs/compatibility.md): hops are capped at 100 as in
GetLineageSubgraph, not 20, and max_node_size caps only when the request sets it (1.14 applied the
proto default of 20 to every request).
"""

# Fixtures are imported from store_fixtures and used as test arguments (pytest's way), which reads as F811.
# ruff: noqa: F811

from __future__ import annotations

import lineage_net
import pytest
from lineage_net import L, long_chain
from store_fixtures import ORACLE, errors, pb, store  # noqa: F401

pytestmark = pytest.mark.skipif(ORACLE, reason="ml-metadata 1.17 has no get_lineage_graph")

Q = pb.LineageGraphQueryOptions


class Net(lineage_net.Net):
    """Named nodes, queried with get_lineage_graph."""

    def graph(self, query: str, hops: int | None = None, max_node_size: int | None = 0,
              boundary_artifacts: str | None = None, boundary_executions: str | None = None,
              max_result_size: int | None = None) -> pb.LineageGraph:
        """max_node_size 0 (unlimited) unless told; None leaves it unset (no cap)."""
        o = Q(artifacts_options=pb.ListOperationOptions(filter_query=query))
        if max_result_size is not None:
            o.artifacts_options.max_result_size = max_result_size
        if hops is not None:
            o.stop_conditions.max_num_hops = hops
        if boundary_artifacts is not None:
            o.stop_conditions.boundary_artifacts = boundary_artifacts
        if boundary_executions is not None:
            o.stop_conditions.boundary_executions = boundary_executions
        if max_node_size is not None:
            o.max_node_size = max_node_size
        return self.s.get_lineage_graph(o)

    def walk(self, *args, **kw) -> tuple[list[str], list[str], list[str]]:
        return self.view(self.graph(*args, **kw))


def chain_view(steps: int) -> tuple[list[str], list[str], list[str]]:
    """Nodes and edges of the chain prefix a0 > e0 > ... > e{steps-1} > a{steps}."""
    edges = [f"a{i}>e{i}" for i in range(steps)] + [f"e{i}>a{i + 1}" for i in range(steps)]
    return sorted(f"a{i}" for i in range(steps + 1)), sorted(f"e{i}" for i in range(steps)), sorted(edges)


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
    net.edges("a0>e1", "a0>e2", "e1>a1", "e2>a2", "a1>e3", "a2>e3", "e3>a3")
    return net


# ---------------------------------------------------------------------------------------- traversal


def test_bidirectional_from_the_middle(chain):
    assert chain.walk("name = 'a2'") == L("a0 a1 a2 a3", "e0 e1 e2", "a0>e0 e0>a1 a1>e1 e1>a2 a2>e2 e2>a3")


@pytest.mark.parametrize("hops,expected", [
    (0, L("a1", "", "")),
    (1, L("a1", "e0 e1", "e0>a1 a1>e1")),
    (2, L("a0 a1 a2", "e0 e1", "a0>e0 e0>a1 a1>e1 e1>a2")),
    (3, L("a0 a1 a2", "e0 e1 e2", "a0>e0 e0>a1 a1>e1 e1>a2 a2>e2")),
])
def test_hops(chain, hops, expected):
    assert chain.walk("name = 'a1'", hops=hops) == expected


def test_diamond(diamond):
    everything = L("a0 a1 a2 a3", "e1 e2 e3", "a0>e1 a0>e2 e1>a1 e2>a2 a1>e3 a2>e3 e3>a3")
    assert diamond.walk("name = 'a0'") == everything
    assert diamond.walk("name = 'a3'") == everything
    assert diamond.walk("name = 'a1'", hops=2) == L("a0 a1 a2 a3", "e1 e3", "a0>e1 e1>a1 a1>e3 a2>e3 e3>a3")


def test_several_starting_artifacts(chain):
    assert chain.walk("name IN ('a0', 'a3')", hops=1) == L("a0 a3", "e0 e2", "a0>e0 e2>a3")


def test_contexts_create_no_edges(net):
    net.edges("a0>e0", "e0>a1", "a_y0>e_y", "e_y>a_y1")
    [c] = net.s.put_contexts([pb.Context(type_id=net.run, name="c")])
    net.s.put_attributions_and_associations(
        [pb.Attribution(artifact_id=net.ids[a], context_id=c) for a in ("a1", "a_y0")],
        [pb.Association(execution_id=net.ids["e_y"], context_id=c)])
    assert net.walk("name = 'a0'") == L("a0 a1", "e0", "a0>e0 e0>a1")


def test_cycle_terminates(net):
    net.edges("a0>e0", "e0>a1", "a1>e1", "e1>a0")
    assert net.walk("name = 'a0'") == L("a0 a1", "e0 e1", "a0>e0 e0>a1 a1>e1 e1>a0")


# ------------------------------------------------------------------------------------------ max_num_hops


def test_default_hops_is_20(net):
    long_chain(net, 15)  # 30 hops from a0
    assert net.walk("name = 'a0'") == chain_view(10)


@pytest.mark.parametrize("hops", [30, 100, 1000])
def test_hops_are_capped_at_100(net, hops):
    long_chain(net, 60)
    assert net.walk("name = 'a0'", hops=hops) == chain_view(min(hops, 100) // 2)


def test_hops_below_the_cap(net):
    long_chain(net, 15)
    assert net.walk("name = 'a0'", hops=19) == L(
        " ".join(f"a{i}" for i in range(10)), " ".join(f"e{i}" for i in range(10)),
        " ".join([f"a{i}>e{i}" for i in range(10)] + [f"e{i}>a{i + 1}" for i in range(9)]))
    assert net.walk("name = 'a0'", hops=4) == chain_view(2)


@pytest.mark.parametrize("hops", [-1, -20])
def test_negative_hops(chain, hops):
    with pytest.raises(errors.InvalidArgumentError, match="max_num_hops"):
        chain.graph("name = 'a0'", hops=hops)


# ----------------------------------------------------------------------------------------- max_node_size


@pytest.fixture
def fan(net):
    """a0 read by 30 executions e0..e29, each writing one artifact o0..o29."""
    net.edges(*[f"a0>e{i}" for i in range(30)], *[f"e{i}>a_o{i}" for i in range(30)])
    return net


def _check_closed(net: Net, g: pb.LineageGraph) -> None:
    """Every event joins two returned nodes, and every returned node but the start hangs on an event."""
    artifacts, executions = {a.id for a in g.artifacts}, {e.id for e in g.executions}
    assert all(ev.artifact_id in artifacts and ev.execution_id in executions for ev in g.events)
    touched = {("a", ev.artifact_id) for ev in g.events} | {("e", ev.execution_id) for ev in g.events}
    assert {("e", e) for e in executions} <= touched


@pytest.mark.parametrize("size", [1, 2, 5, 20, 31])
def test_max_node_size_caps_artifacts_plus_executions(fan, size):
    g = fan.graph("name = 'a0'", max_node_size=size)
    assert len(g.artifacts) + len(g.executions) == size
    assert [a.name for a in g.artifacts if a.name == "a0"] == ["a0"]
    _check_closed(fan, g)
    # The first frontier is cut: only the start and (some of) its 30 readers, no outputs.
    assert [a.name for a in g.artifacts] == ["a0"]
    assert len(g.events) == size - 1


def test_max_node_size_lets_later_hops_fill_the_budget(fan):
    g = fan.graph("name = 'a0'", max_node_size=40)
    assert len(g.artifacts) + len(g.executions) == 40
    assert len(g.executions) == 30 and len(g.artifacts) == 10
    _check_closed(fan, g)


def test_max_node_size_larger_than_the_graph(fan):
    g = fan.graph("name = 'a0'", max_node_size=1000)
    assert len(g.artifacts) == 31 and len(g.executions) == 30 and len(g.events) == 60


@pytest.mark.parametrize("size", [0, -1])
def test_non_positive_max_node_size_is_unlimited(fan, size):
    g = fan.graph("name = 'a0'", max_node_size=size)
    assert len(g.artifacts) == 31 and len(g.executions) == 30 and len(g.events) == 60


def test_max_node_size_caps_only_when_set(fan):
    """1.14 applied the proto default (20) to every request; we cap only when the request sets it."""
    assert Q().max_node_size == 20 and not Q().HasField("max_node_size")
    g = fan.graph("name = 'a0'", max_node_size=None)
    assert len(g.artifacts) == 31 and len(g.executions) == 30
    g = fan.graph("name = 'a0'", max_node_size=20)
    assert len(g.artifacts) + len(g.executions) == 20
    _check_closed(fan, g)


def test_max_node_size_truncates_the_starting_artifacts_first(net):
    net.edges(*[f"a{i}>e{i}" for i in range(6)])
    g = net.graph("name LIKE 'a%'", max_node_size=3)
    assert len(g.artifacts) == 3 and list(g.executions) == [] and list(g.events) == []


def test_max_node_size_on_a_chain(chain):
    assert chain.walk("name = 'a0'", max_node_size=3) == L("a0 a1", "e0", "a0>e0 e0>a1")
    assert chain.walk("name = 'a0'", max_node_size=4) == L("a0 a1", "e0 e1", "a0>e0 e0>a1 a1>e1")


# --------------------------------------------------------------------------------------------- boundaries


def test_boundary_artifacts_prune_beyond(chain):
    assert chain.walk("name = 'a0'", boundary_artifacts="name != 'a2'") == L("a0 a1", "e0 e1", "a0>e0 e0>a1 a1>e1")


def test_boundary_executions_prune_beyond(chain):
    assert chain.walk("name = 'a0'", boundary_executions="name != 'e1'") == L("a0 a1", "e0", "a0>e0 e0>a1")


def test_boundary_keeps_what_another_path_reaches(diamond):
    # e1 fails the boundary; a1, beyond it, is still reached through e3.
    assert diamond.walk("name = 'a0'", boundary_executions="name != 'e1'") == L(
        "a0 a1 a2 a3", "e2 e3", "a0>e2 e2>a2 a2>e3 a1>e3 e3>a3")


def test_boundaries_of_both_kinds(diamond):
    assert diamond.walk("name = 'a0'", boundary_artifacts="name != 'a2'", boundary_executions="name != 'e3'") == L(
        "a0 a1", "e1 e2", "a0>e1 a0>e2 e1>a1")


def test_boundary_on_properties(net):
    net.edges("a0>e0", "e0>a1", "a1>e1", "e1>a2")
    ex = pb.Execution(id=net.ids["e0"], type_id=net.step)
    ex.custom_properties["keep"].int_value = 1
    net.s.put_executions([ex])
    assert net.walk("name = 'a0'", boundary_executions="custom_properties.keep.int_value = 1") == L(
        "a0 a1", "e0", "a0>e0 e0>a1")


def test_invalid_boundary_filter(chain):
    with pytest.raises(errors.InvalidArgumentError):
        chain.graph("name = 'a0'", boundary_artifacts="name = ")
    with pytest.raises(errors.InvalidArgumentError):
        chain.graph("name = 'a0'", boundary_executions="uri = 'x'")  # executions have no uri


# ---------------------------------------------------------------------------------------- query nodes


def test_query_nodes_missing(chain):
    with pytest.raises(errors.InvalidArgumentError, match="Missing query_nodes conditions"):
        chain.s.get_lineage_graph(Q())
    with pytest.raises(errors.InvalidArgumentError, match="Missing query_nodes conditions"):
        chain.s.get_lineage_graph(Q(stop_conditions=Q.BoundaryConstraint(max_num_hops=2), max_node_size=5))


def test_no_match_is_not_found(chain):
    with pytest.raises(errors.NotFoundError):
        chain.graph("name = 'nothing'")


def test_empty_store_is_not_found(store):
    with pytest.raises(errors.NotFoundError):
        store.get_lineage_graph(Q(artifacts_options=pb.ListOperationOptions()))


def test_invalid_query_filter(chain):
    with pytest.raises(errors.InvalidArgumentError):
        chain.graph("name = ")


def test_query_nodes_are_one_page(net):
    net.s.put_artifacts([pb.Artifact(type_id=net.data, name=f"a{i}") for i in range(30)])
    g = net.graph("name LIKE 'a%'", hops=0, max_result_size=7)
    assert len(g.artifacts) == 7
    g = net.graph("name LIKE 'a%'", hops=0)  # ListOperationOptions' default page: 20
    assert len(g.artifacts) == 20


def test_query_nodes_without_filter(chain):
    g = chain.s.get_lineage_graph(Q(artifacts_options=pb.ListOperationOptions(), max_node_size=0))
    assert chain.view(g) == L("a0 a1 a2 a3", "e0 e1 e2", "a0>e0 e0>a1 a1>e1 e1>a2 a2>e2 e2>a3")


# -------------------------------------------------------------------------------------------- response


def test_response_has_full_nodes_and_events(chain):
    s = chain.s
    [e1] = s.get_executions_by_id([chain.ids["e1"]])
    e1.last_known_state = pb.Execution.COMPLETE
    e1.custom_properties["k"].string_value = "v"
    s.put_executions([e1])
    g = chain.graph("name = 'a1'", hops=2)
    for a in g.artifacts:
        assert a.SerializeToString(deterministic=True) == s.get_artifacts_by_id([a.id])[0].SerializeToString(
            deterministic=True)
        assert a.type == "Data" and a.uri == f"/data/{a.name}" and a.create_time_since_epoch > 0
    for e in g.executions:
        assert e.SerializeToString(deterministic=True) == s.get_executions_by_id([e.id])[0].SerializeToString(
            deterministic=True)
    [got_e1] = [e for e in g.executions if e.name == "e1"]
    assert got_e1.last_known_state == pb.Execution.COMPLETE and got_e1.custom_properties["k"].string_value == "v"
    stored = {(ev.artifact_id, ev.execution_id, ev.type): ev for ev in s.get_events_by_execution_ids(
        [e.id for e in g.executions])}
    assert len(g.events) == 4
    for ev in g.events:
        assert ev == stored[(ev.artifact_id, ev.execution_id, ev.type)]
        assert ev.milliseconds_since_epoch > 0


def test_events_keep_their_paths(net):
    [a] = net.s.put_artifacts([pb.Artifact(type_id=net.data, name="a0")])
    [e] = net.s.put_executions([pb.Execution(type_id=net.step, name="e0")])
    ev = pb.Event(artifact_id=a, execution_id=e, type=pb.Event.INPUT)
    ev.path.steps.add().key = "examples"
    ev.path.steps.add().index = 3
    net.s.put_events([ev])
    [got] = net.graph("name = 'a0'").events
    assert [s.key for s in got.path.steps[:1]] == ["examples"] and got.path.steps[1].index == 3


def test_response_types_and_no_contexts(chain):
    s = chain.s
    [c] = s.put_contexts([pb.Context(type_id=chain.run, name="c")])
    s.put_attributions_and_associations([pb.Attribution(artifact_id=chain.ids["a0"], context_id=c)],
                                        [pb.Association(execution_id=chain.ids["e0"], context_id=c)])
    g = chain.graph("name = 'a0'", hops=1)
    # All non-system types, used or not; all context types.
    assert sorted(t.name for t in g.artifact_types) == ["Data", "Model", "Unused"]
    assert sorted(t.name for t in g.execution_types) == ["Step", "Train", "UnusedStep"]
    assert sorted(t.name for t in g.context_types) == ["Pipeline", "Run", "UnusedCtx"]
    assert not any(t.name.startswith("mlmd.") for t in list(g.artifact_types) + list(g.execution_types))
    assert list(g.contexts) == [] and list(g.attributions) == [] and list(g.associations) == []
    assert list(g.parent_contexts) == []


def test_types_are_returned_even_with_zero_hops(chain):
    g = chain.graph("name = 'a0'", hops=0)
    assert chain.view(g) == L("a0", "", "")
    assert sorted(t.name for t in g.artifact_types) == ["Data", "Model", "Unused"]
    assert sorted(t.name for t in g.context_types) == ["Pipeline", "Run", "UnusedCtx"]


def test_no_duplicate_events(diamond):
    g = diamond.graph("name IN ('a0', 'a3')")
    keys = [(ev.artifact_id, ev.execution_id, ev.type) for ev in g.events]
    assert len(keys) == len(set(keys)) == 7
