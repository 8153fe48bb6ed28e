"""ListOptions(filter_query=...): ml-metadata's declarative node filter (reference §4.2-§4.5).

Every construct of the language is checked against its exact result set, on each node kind where it
applies, over one small store (the `data` fixture); the §4.5 examples, paging and the by-context and
by-type listings use a store of 200 nodes per kind (the `many` fixture).

The expectations were checked against google's ml-metadata 1.17.1 (see store_fixtures.py for running
this module with MLMD_TEST_ORACLE=1). Tests of the places where mlmd_core deliberately differs (queries
that fail inside ml-metadata with an InternalError or a bogus syntax error) are marked only_mlmd_core.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from store_fixtures import (
    STORE_BACKENDS,
    backend_config,
    close_store,
    errors,
    mlmd,
    only_mlmd_core,
    open_store,
    pb,
    raw_call,
    set_value,
    store,  # noqa: F401 - fixture
    svc_pb,
    tick,
)

ListOptions = mlmd.ListOptions
OrderByField = mlmd.OrderByField
Field = pb.ListOperationOptions.OrderByField.Field
A, E, C = "artifacts", "executions", "contexts"
KINDS = (A, E, C)


# --------------------------------------------------------------------------------------------- fixtures


@dataclass
class Data:
    """The small store: labels are a1..a6, e1..e4, r1, r2, p1, lonely, solo (see `data`)."""

    store: object
    ids: dict[str, int] = field(default_factory=dict)  # label -> id (labels are unique across kinds)
    labels: dict[str, dict[int, str]] = field(default_factory=dict)  # kind -> id -> label
    fmt: dict[str, object] = field(default_factory=dict)  # placeholders of the queries below

    def run(self, kind: str, query: str, **options) -> list[str]:
        nodes = getattr(self.store, f"get_{kind}")(ListOptions(filter_query=self.q(query), **options))
        return [self.labels[kind][n.id] for n in nodes]

    def q(self, query: str) -> str:
        return query.format_map(self.fmt)

    def expect(self, kind: str, expected: str) -> list[str]:
        """Labels in id order (the default ListOptions order)."""
        return sorted(expected.split(), key=lambda label: self.ids[label])


def _node(node, name=None, props=None, custom=None, **fields):
    if name is not None:
        node.name = name
    for k, v in fields.items():
        if v is not None:
            setattr(node, k, v)
    for k, v in (props or {}).items():
        set_value(node.properties[k], v)
    for k, v in (custom or {}).items():
        set_value(node.custom_properties[k], v)
    return node


def _with_props(t):
    t.properties["i"] = pb.INT
    t.properties["d"] = pb.DOUBLE
    t.properties["s"] = pb.STRING
    t.properties["b"] = pb.BOOLEAN
    return t


@pytest.fixture(scope="module", params=STORE_BACKENDS)
def data(request):
    """Artifacts (type, uri, state, external_id, properties i/d/s/b, custom properties):
        a1      DataSet     'gs://bucket/a1'  LIVE     ext_a1  i=1 d=1.5 s='x' b=true   `my prop`=10 tag='red'
                                                                                         `my:custom.property`=true
        a2      DataSet v2  '/data/a2'        DELETED  ext_a2  i=2 d=2.5 s='y' b=false  tag='blue' `my prop`=20
        A3      Model       ''                -        -       -                        tag='Red'
        (a4)    DataSet     'GS://UPPER/a4'   PENDING  -       i=3                      i=100   (no name)
        a5      Model       '/data/a5'        MARKED_FOR_DELETION ext_a5  -             `my prop`=30
        "it's"  DataSet     'he said "hi"'    UNKNOWN  -       s="it's"                 -       (label a6)
    Executions: e1 Trainer COMPLETE ext_e1 i=1 s='x' tag='red'; e2 Trainer (no state) i=2;
                e3 Evaluator FAILED tag='blue'; e4 Evaluator NEW.
    Contexts: r1 Run ext_r1 i=1 s='x' owner='alice'; r2 Run i=2 owner='bob'; p1, lonely, solo Pipeline.
    Attributions: r1{a1,a2,a5} r2{a2,A3} p1{a1} solo{A3}; associations: r1{e1,e2} r2{e2,e3} p1{e1} solo{e2}.
    Parents: r1 -> p1; r2 -> p1 and r1. lonely has no links at all.
    Events (type, ms): a1->e1 INPUT 1000, e1->a2 OUTPUT 2000, a2->e3 INPUT 3000, e2->A3 DECLARED_OUTPUT 4000,
                       a5->e3 INTERNAL_INPUT 5000, e2->a6 OUTPUT 6000. a4 and e4 have no events.
    Every node is created in its own call, a few ms apart: create times increase with ids."""
    s = open_store(backend_config(request.param))
    d = Data(store=s, labels={A: {}, E: {}, C: {}})
    types = {
        "ds": s.put_artifact_type(_with_props(pb.ArtifactType(name="DataSet"))),
        "ds2": s.put_artifact_type(_with_props(pb.ArtifactType(name="DataSet", version="v2"))),
        "model": s.put_artifact_type(pb.ArtifactType(name="Model")),
        "trainer": s.put_execution_type(_with_props(pb.ExecutionType(name="Trainer"))),
        "eval": s.put_execution_type(pb.ExecutionType(name="Evaluator")),
        "run": s.put_context_type(_with_props(pb.ContextType(name="Run"))),
        "pipe": s.put_context_type(pb.ContextType(name="Pipeline")),
    }
    Art, Exe = pb.Artifact, pb.Execution
    artifacts = [
        ("a1", _node(Art(type_id=types["ds"]), "a1", dict(i=1, d=1.5, s="x", b=True),
                     {"my prop": 10, "tag": "red", "my:custom.property": True},
                     uri="gs://bucket/a1", state=Art.LIVE, external_id="ext_a1")),
        ("a2", _node(Art(type_id=types["ds2"]), "a2", dict(i=2, d=2.5, s="y", b=False), {"tag": "blue", "my prop": 20},
                     uri="/data/a2", state=Art.DELETED, external_id="ext_a2")),
        ("A3", _node(Art(type_id=types["model"]), "A3", None, {"tag": "Red"})),
        ("a4", _node(Art(type_id=types["ds"]), None, dict(i=3), {"i": 100}, uri="GS://UPPER/a4", state=Art.PENDING)),
        ("a5", _node(Art(type_id=types["model"]), "a5", None, {"my prop": 30}, uri="/data/a5",
                     state=Art.MARKED_FOR_DELETION, external_id="ext_a5")),
        ("a6", _node(Art(type_id=types["ds"]), "it's", dict(s="it's"), None, uri='he said "hi"', state=Art.UNKNOWN)),
    ]
    executions = [
        ("e1", _node(Exe(type_id=types["trainer"]), "e1", dict(i=1, s="x"), {"tag": "red"},
                     last_known_state=Exe.COMPLETE, external_id="ext_e1")),
        ("e2", _node(Exe(type_id=types["trainer"]), "e2", dict(i=2))),
        ("e3", _node(Exe(type_id=types["eval"]), "e3", None, {"tag": "blue"}, last_known_state=Exe.FAILED)),
        ("e4", _node(Exe(type_id=types["eval"]), "e4", last_known_state=Exe.NEW)),
    ]
    contexts = [
        ("r1", _node(pb.Context(type_id=types["run"]), "r1", dict(i=1, s="x"), {"owner": "alice"},
                     external_id="ext_r1")),
        ("r2", _node(pb.Context(type_id=types["run"]), "r2", dict(i=2), {"owner": "bob"})),
        ("p1", _node(pb.Context(type_id=types["pipe"]), "p1")),
        ("lonely", _node(pb.Context(type_id=types["pipe"]), "lonely")),
        ("solo", _node(pb.Context(type_id=types["pipe"]), "solo")),
    ]
    for kind, put, nodes in ((A, s.put_artifacts, artifacts), (E, s.put_executions, executions),
                             (C, s.put_contexts, contexts)):
        for label, node in nodes:
            [node_id] = put([node])
            d.ids[label] = node_id
            d.labels[kind][node_id] = label
            tick()
    i = d.ids
    s.put_attributions_and_associations(
        [pb.Attribution(artifact_id=i[a], context_id=i[c]) for a, c in
         [("a1", "r1"), ("a2", "r1"), ("a5", "r1"), ("a2", "r2"), ("A3", "r2"), ("a1", "p1"), ("A3", "solo")]],
        [pb.Association(execution_id=i[e], context_id=i[c]) for e, c in
         [("e1", "r1"), ("e2", "r1"), ("e2", "r2"), ("e3", "r2"), ("e1", "p1"), ("e2", "solo")]])
    s.put_parent_contexts([pb.ParentContext(child_id=i[c], parent_id=i[p])
                           for c, p in [("r1", "p1"), ("r2", "p1"), ("r2", "r1")]])
    Ev = pb.Event
    s.put_events([Ev(artifact_id=i[a], execution_id=i[e], type=t, milliseconds_since_epoch=ms) for a, e, t, ms in [
        ("a1", "e1", Ev.INPUT, 1000), ("a2", "e1", Ev.OUTPUT, 2000), ("a2", "e3", Ev.INPUT, 3000),
        ("A3", "e2", Ev.DECLARED_OUTPUT, 4000), ("a5", "e3", Ev.INTERNAL_INPUT, 5000), ("a6", "e2", Ev.OUTPUT, 6000)]])
    d.fmt = {**i, **{f"t_{k}": v for k, v in types.items()}}
    for kind in KINDS:
        for node in getattr(s, f"get_{kind}")():
            label = d.labels[kind][node.id]
            d.fmt[f"c_{label}"] = node.create_time_since_epoch
            d.fmt[f"u_{label}"] = node.last_update_time_since_epoch
    yield d
    close_store(s)


def test_fixture_times_are_distinct_and_increasing(data):
    for kind in KINDS:
        nodes = getattr(data.store, f"get_{kind}")()
        times = [n.create_time_since_epoch for n in nodes]
        assert times == sorted(times) and len(set(times)) == len(times)


def _check(data, kind, query, expected):
    got = data.run(kind, query)
    assert got == data.expect(kind, expected), data.q(query)


# ------------------------------------------------------------------------------------ generic operators
# (query, expected ids) run on all three kinds: every kind has ids 1..n here (6 artifacts, 4 executions,
# 5 contexts); "*" means every node, "-k" all but k.

GENERIC = [
    ("id = 1", "1"), ("id != 1", "-1"), ("id <> 1", "-1"), ("id < 3", "1 2"), ("id <= 2", "1 2"),
    ("id > 3", "4 5 6"), ("id >= 4", "4 5 6"), ("1 = id", "1"), ("2 >= id", "1 2"),
    ("id BETWEEN 2 AND 3", "2 3"), ("id NOT BETWEEN 2 AND 3", "-2 -3"),
    ("id IN (1, 3)", "1 3"), ("id IN (1)", "1"), ("id NOT IN (1, 3)", "-1 -3"), ("2 IN (id, 5)", "2"),
    ("id IN (1, 2.0)", "1 2"),
    ("NOT(id = 1)", "-1"), ("NOT id = 1", "-1"), ("NOT NOT id = 1", "1"), ("NOT (NOT (NOT (id = 1)))", "-1"),
    ("id = 1 OR id = 2", "1 2"), ("(id = 1 OR id = 2) AND id != 1", "2"),
    ("id = 1 OR id = 2 AND id = 3", "1"),  # AND binds tighter than OR
    ("(id = 1 OR id = 2) AND id = 3", ""), ("id = 1 AND NOT id = 2", "1"),
    ("((((id = 2))))", "2"), ("(id = 1) OR ((id = 2) AND (id > 1))", "1 2"),
    # case-insensitive keywords
    ("id = 1 or id = 2", "1 2"), ("id = 1 Or id = 2", "1 2"), ("nOt (id = 1) aNd id < 4", "2 3"),
    ("id iN (2)", "2"), ("id nOt In (2)", "-2"), ("id BeTwEeN 1 aNd 2", "1 2"), ("id iS nUlL", ""),
    ("id Is NoT nUlL", "*"), ("tRuE", "*"), ("FaLsE", ""), ("name lIkE '%' AND id = 1", "1"),
    # literals and arithmetic
    ("TRUE", "*"), ("FALSE", ""), ("NOT TRUE", ""), ("TRUE OR id = 1", "*"), ("TRUE AND FALSE", ""),
    ("id = 1 AND TRUE", "1"), ("id = 1 AND TRUE = TRUE", "1"), ("(id = 1) = TRUE", "1"),
    ("(id = 1) = FALSE", "-1"), ("(id = 1) != (id = 2)", "1 2"),
    ("id + 1 > 4", "4 5 6"), ("id - 1 = 0", "1"), ("id * 2 = 4", "2"),
    ("id / 2 = 1", "2"),  # real division: 3 / 2 is 1.5
    ("-id = -1", "1"), ("- id = -1", "1"), ("id = 2 - -1", "3"), ("id = 1.0", "1"), ("id < 1.5", "1"),
    ("id + 1.5 > 3", "-1"), ("id * 1.0 = 1", "1"), ("id = 1e0", "1"), ("id < .5", ""), ("id = 1.", "1"),
    ("id < 1e1", "*"), ("id = 9223372036854775807", ""), ("id IS NULL", ""), ("id IS NOT NULL", "*"),
    ("NULL IS NULL", "*"), ("id IN (" + ", ".join(str(n) for n in range(2, 300)) + ")", "-1"),
    # timestamps and ids compare as int64
    ("create_time_since_epoch > 0", "*"), ("last_update_time_since_epoch > 0", "*"),
    ("create_time_since_epoch <= last_update_time_since_epoch", "*"),
    ("create_time_since_epoch > last_update_time_since_epoch", ""),
    ("name IS NOT NULL AND id < 3", "1 2"),
    # whitespace
    ("\tid\n=\n1", "1"), ("id = 1 OR\n\tid = 2", "1 2"),
]

_SIZES = {A: 6, E: 4, C: 5}


def _generic_ids(kind: str, spec: str) -> list[int]:
    n = _SIZES[kind]
    if spec == "*":
        return list(range(1, n + 1))
    tokens = spec.split()
    if tokens and all(t.startswith("-") for t in tokens):
        excluded = {int(t[1:]) for t in tokens}
        return [i for i in range(1, n + 1) if i not in excluded]
    return [int(t) for t in tokens if int(t) <= n]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("query,expected", GENERIC, ids=[q[:60] for q, _ in GENERIC])
def test_generic_operators(data, kind, query, expected):
    got = [n.id for n in getattr(data.store, f"get_{kind}")(ListOptions(filter_query=query))]
    assert got == _generic_ids(kind, expected)


# ------------------------------------------------------------------------------------------ attributes

ATTRIBUTES = [
    # id / type_id
    (A, "type_id = {t_ds}", "a1 a4 a6"), (E, "type_id = {t_eval}", "e3 e4"), (C, "type_id = {t_run}", "r1 r2"),
    (A, "type_id + 1 > {t_ds} + 1", "a2 A3 a5"), (A, "type_id IN ({t_ds2}, {t_model})", "a2 A3 a5"),
    (A, "type_id = {t_trainer}", ""), (E, "type_id = {t_ds}", ""),
    (A, "type_id = {t_ds} AND name IS NOT NULL", "a1 a6"),
    # name (single and double quotes; NULL name)
    (A, "name = 'a1'", "a1"), (A, 'name = "a1"', "a1"), (E, "name = 'e1'", "e1"), (E, 'name = "e2"', "e2"),
    (C, "name = 'r1'", "r1"), (C, 'name = "lonely"', "lonely"), (A, "name = 'e1'", ""), (E, "name = 'a1'", ""),
    (A, "name != 'a1'", "a2 A3 a5 a6"), (A, "name <> 'a1'", "a2 A3 a5 a6"), (E, "name != 'e1'", "e2 e3 e4"),
    (C, "name != 'r1'", "r2 p1 lonely solo"),
    (A, "name IS NULL", "a4"), (A, "name IS NOT NULL", "a1 a2 A3 a5 a6"), (E, "name IS NULL", ""),
    (A, "name > 'a2'", "a5 a6"), (A, "name < 'a'", "A3"),  # binary string order: 'A3' < 'a' < "it's"
    (C, "name >= 'p'", "r1 r2 p1 solo"),
    (A, "name IN ('a1', 'e1', 'r1', 'zzz')", "a1"), (E, "name IN ('a1', 'e1', 'r1')", "e1"),
    (C, "name IN ('a1', 'e1', 'r1')", "r1"), (A, "name NOT IN ('a1', 'a2')", "A3 a5 a6"),
    (A, "name = 'it\\'s'", "a6"), (A, "name = \"it's\"", "a6"), (A, "name = 'a\\x31'", "a1"),
    # external_id
    (A, "external_id IS NULL", "A3 a4 a6"), (A, "external_id IS NOT NULL", "a1 a2 a5"),
    (A, "external_id = 'ext_a1'", "a1"), (A, "external_id LIKE 'ext_%'", "a1 a2 a5"),
    (E, "external_id = 'ext_e1'", "e1"), (E, "external_id IS NULL", "e2 e3 e4"),
    (C, "external_id = 'ext_r1'", "r1"), (C, "external_id IS NOT NULL", "r1"), (A, "name = external_id", ""),
    # type: the type's name, across versions, = case-sensitive and LIKE not
    (A, "type = 'DataSet'", "a1 a2 a4 a6"), (A, "type = 'dataset'", ""), (A, "type LIKE 'dataset'", "a1 a2 a4 a6"),
    (A, "type LIKE 'data%'", "a1 a2 a4 a6"), (A, "type != 'Model'", "a1 a2 a4 a6"),
    (A, "type IN ('Model', 'Evaluator', 'Pipeline')", "A3 a5"), (A, "type = 'Trainer'", ""),
    (E, "type = 'Trainer'", "e1 e2"), (E, "type IN ('Model', 'Evaluator', 'Pipeline')", "e3 e4"),
    (E, "type = 'DataSet'", ""), (C, "type = 'Run'", "r1 r2"), (C, "type = 'Pipeline'", "p1 lonely solo"),
    (C, "type = 'DataSet'", ""),
    # times (each node has its own create time; nothing was updated)
    (A, "create_time_since_epoch = {c_a2}", "a2"), (A, "create_time_since_epoch > {c_a2}", "A3 a4 a5 a6"),
    (A, "create_time_since_epoch BETWEEN {c_a2} AND {c_a4}", "a2 A3 a4"),
    (A, "last_update_time_since_epoch <= {u_a1}", "a1"), (A, "last_update_time_since_epoch = {u_a5}", "a5"),
    (E, "create_time_since_epoch >= {c_e3}", "e3 e4"), (E, "last_update_time_since_epoch < {u_e2}", "e1"),
    (C, "create_time_since_epoch < {c_p1}", "r1 r2"), (C, "last_update_time_since_epoch = {u_solo}", "solo"),
    # uri: stored as '' when unset, so IS NULL never matches
    (A, "uri = ''", "A3"), (A, "uri IS NULL", ""), (A, "uri IS NOT NULL", "a1 a2 A3 a4 a5 a6"),
    (A, "uri != ''", "a1 a2 a4 a5 a6"),
    (A, "uri LIKE 'gs://%'", "a1 a4"), (A, "uri LIKE 'GS://%'", "a1 a4"), (A, 'uri LIKE "%/a2"', "a2"),
    (A, "uri LIKE '%/data/%' OR uri LIKE '/data/%'", "a2 a5"), (A, "uri = 'he said \"hi\"'", "a6"),
    (A, 'uri = "he said \\"hi\\""', "a6"), (A, "uri LIKE '%\"%'", "a6"),
    # LIKE
    (A, "name LIKE 'a%'", "a1 a2 A3 a5"), (A, "name LIKE 'A%'", "a1 a2 A3 a5"), (A, "name LIKE 'a_'", "a1 a2 A3 a5"),
    (A, "name LIKE '_'", ""), (A, "name LIKE '%'", "a1 a2 A3 a5 a6"), (A, "name NOT LIKE '%'", ""),
    (A, "name NOT LIKE 'a%'", "a6"), (E, "name LIKE 'E%'", "e1 e2 e3 e4"), (E, "name NOT LIKE '%1'", "e2 e3 e4"),
    (C, "name LIKE '%o%'", "lonely solo"), (C, "name NOT LIKE 'r_'", "p1 lonely solo"),
    # LOWER / UPPER
    (A, "LOWER(name) = 'a3'", "A3"), (A, "lower(name) = 'a3'", "A3"), (A, "UPPER(name) = 'A1'", "a1"),
    (A, "lower(lower(name)) = 'a3'", "A3"), (A, "UPPER(uri) LIKE 'GS:%'", "a1 a4"),
    (E, "UPPER(name) = 'E1'", "e1"), (C, "LOWER(type) = 'run'", "r1 r2"),
    (A, "LOWER(custom_properties.tag.string_value) = 'red'", "a1 A3"),
]


@pytest.mark.parametrize("kind,query,expected", ATTRIBUTES, ids=[f"{k}:{q[:60]}" for k, q, _ in ATTRIBUTES])
def test_attributes(data, kind, query, expected):
    _check(data, kind, query, expected)


# ------------------------------------------------------------------------------------------ properties

PROPERTIES = [
    (A, "properties.i.int_value = 1", "a1"), (E, "properties.i.int_value = 1", "e1"),
    (C, "properties.i.int_value = 1", "r1"),
    # nodes without the property never match, whatever the operator
    (A, "properties.i.int_value != 1", "a2 a4"), (E, "properties.i.int_value != 1", "e2"),
    (C, "properties.i.int_value != 1", "r2"),
    (A, "properties.i.int_value > 0", "a1 a2 a4"), (A, "properties.i.int_value IS NOT NULL", "a1 a2 a4"),
    (A, "properties.i.int_value IS NULL", ""), (E, "properties.i.int_value IS NULL", ""),
    (A, "properties.i.string_value IS NULL", "a1 a2 a4"),  # the row exists, its string_value is NULL
    (E, "properties.i.string_value IS NULL", "e1 e2"), (C, "properties.i.double_value IS NULL", "r1 r2"),
    (A, "properties.i.int_value IN (1, 3)", "a1 a4"), (E, "properties.i.int_value IN (1, 3)", "e1"),
    (C, "properties.i.int_value IN (1, 3)", "r1"), (A, "properties.i.int_value NOT IN (1)", "a2 a4"),
    (A, "properties.i.int_value BETWEEN 2 AND 3", "a2 a4"), (E, "properties.i.int_value BETWEEN 2 AND 3", "e2"),
    (C, "properties.i.int_value BETWEEN 2 AND 3", "r2"),
    (A, "properties.d.double_value > 2", "a2"), (A, "properties.d.double_value = 1.5", "a1"),
    (A, "properties.d.double_value = 1", ""), (A, "properties.d.double_value IN (1.5, 2)", "a1"),
    (A, "properties.d.double_value < 1e308", "a1 a2"), (A, "properties.d.double_value * 2 = 3", "a1"),
    (A, "properties.i.int_value + properties.d.double_value > 3", "a2"),
    (A, "-properties.i.int_value = -1", "a1"),
    (A, "properties.s.string_value = 'x'", "a1"), (E, "properties.s.string_value = 'x'", "e1"),
    (C, "properties.s.string_value = 'x'", "r1"), (C, "properties.s.string_value LIKE 'x%'", "r1"),
    (A, "properties.s.string_value = \"it's\"", "a6"), (A, "properties.s.string_value = 'it\\'s'", "a6"),
    (A, "properties.s.string_value > 'x'", "a2"),
    (A, "properties.b.bool_value = true", "a1"), (A, "properties.b.bool_value = FALSE", "a2"),
    (A, "properties.b.bool_value", "a1"), (A, "NOT properties.b.bool_value", "a2"),
    (A, "properties.b.bool_value != TRUE", "a2"), (A, "properties.b.bool_value IS NOT NULL", "a1 a2"),
    (A, "properties.b.bool_value OR properties.i.int_value = 2", "a1 a2"),
    (E, "properties.b.bool_value = true", ""),
    # properties and custom_properties are separate maps (a4 has property i=3 and custom property i=100)
    (A, "custom_properties.i.int_value = 100", "a4"), (A, "properties.i.int_value = 100", ""),
    (A, "properties.i.int_value = 3", "a4"), (A, "custom_properties.i.int_value = 3", ""),
    (A, "custom_properties.tag.string_value = 'red'", "a1"), (E, "custom_properties.tag.string_value = 'red'", "e1"),
    (C, "custom_properties.owner.string_value = 'bob'", "r2"), (C, "custom_properties.tag.string_value = 'red'", ""),
    (A, "custom_properties.tag.string_value LIKE 'red'", "a1 A3"),
    (A, "custom_properties.tag.string_value NOT IN ('red')", "a2 A3"),
    (E, "custom_properties.tag.string_value NOT IN ('red')", "e3"),
    (A, "custom_properties.tag.string_value NOT LIKE 'r%'", "a2"),
    (E, "custom_properties.tag.string_value NOT LIKE 'r%'", "e3"),
    (A, "NOT (custom_properties.tag.string_value = 'red')", "a2 A3"),
    (E, "NOT (custom_properties.tag.string_value = 'red')", "e3"),
    (A, "custom_properties.tag.string_value IS NULL", ""), (A, "custom_properties.tag.int_value IS NULL", "a1 a2 A3"),
    # back-quoted names
    (A, "custom_properties.`my prop`.int_value > 15", "a2 a5"),
    (A, "custom_properties.`my prop`.int_value > 0", "a1 a2 a5"),
    (A, "custom_properties.`my:custom.property`.bool_value = true", "a1"),
    (A, "custom_properties.`my:custom.property`.bool_value", "a1"), (A, "properties.`i`.int_value = 1", "a1"),
    (A, "properties.`my prop`.int_value > 0", ""),
    # two fields of one property are one row
    (A, "properties.i.int_value = 1 AND properties.i.double_value IS NULL", "a1"),
    (A, "properties.i.int_value IS NULL AND properties.i.string_value IS NULL", ""),
    (A, "properties.s.string_value = custom_properties.tag.string_value", ""),
]


@pytest.mark.parametrize("kind,query,expected", PROPERTIES, ids=[f"{k}:{q[:60]}" for k, q, _ in PROPERTIES])
def test_properties(data, kind, query, expected):
    _check(data, kind, query, expected)


# ------------------------------------------------------------------------------------------ neighbours

NEIGHBOURS = [
    # contexts_ on artifacts (Attribution) and executions (Association)
    (A, "contexts_a.name = 'r1'", "a1 a2 a5"), (A, "contexts_a.name = 'r2'", "a2 A3"),
    (A, "contexts_a.type = 'Run'", "a1 a2 A3 a5"), (A, "contexts_a.type = 'Pipeline'", "a1 A3"),
    (A, "contexts_a.id = {p1}", "a1"), (A, "contexts_a.id IN ({r2}, {solo})", "a2 A3"),
    (A, "contexts_a.name LIKE '%1'", "a1 a2 a5"),  # a1 is in r1 and p1 and still listed once
    (A, "contexts_a.create_time_since_epoch >= {c_r2}", "a1 a2 A3"),
    (A, "contexts_a.last_update_time_since_epoch < {u_r2}", "a1 a2 a5"),
    (A, "contexts_c.create_time_since_epoch < {c_r2} AND contexts_c.last_update_time_since_epoch < {u_r2}",
     "a1 a2 a5"),
    (E, "contexts_a.name = 'r1'", "e1 e2"), (E, "contexts_a.name = 'r2'", "e2 e3"),
    (E, "contexts_a.type = 'Pipeline'", "e1 e2"), (E, "contexts_a.id = {solo}", "e2"),
    (E, "contexts_a.create_time_since_epoch > {c_p1}", "e2"), (E, "contexts_a.name IS NOT NULL", "e1 e2 e3"),
    # events_ on artifacts and executions
    (A, "events_0.type = INPUT", "a1 a2"), (A, "events_0.type = OUTPUT", "a2 a6"),
    (A, "events_0.type = DECLARED_OUTPUT", "A3"), (A, "events_0.type = INTERNAL_INPUT", "a5"),
    (A, "events_0.type = DECLARED_INPUT", ""), (A, "events_0.type = INTERNAL_OUTPUT", ""),
    (A, "events_0.type IS NULL", ""), (A, "events_0.type IS NOT NULL", "a1 a2 A3 a5 a6"),
    (A, "events_0.execution_id = {e1}", "a1 a2"), (A, "events_0.execution_id = {e3}", "a2 a5"),
    (A, "events_0.milliseconds_since_epoch = 2000", "a2"),
    (A, "events_0.milliseconds_since_epoch > 2500", "a2 A3 a5 a6"),
    (A, "uri = '/data/a2' AND events_0.execution_id = {e1}", "a2"),
    (A, "events_0.type = OUTPUT AND events_0.milliseconds_since_epoch = 2000", "a2"),
    (E, "events_0.artifact_id = {a2}", "e1 e3"), (E, "events_0.artifact_id = {a2} AND events_0.type = OUTPUT", "e1"),
    (E, "events_0.type = INPUT", "e1 e3"), (E, "events_x.milliseconds_since_epoch < 2500", "e1"),
    (E, "events_0.type = OUTPUT OR events_0.type = DECLARED_OUTPUT", "e1 e2"),
    # artifacts_ / executions_ on contexts
    (C, "artifacts_a.name = 'a1'", "r1 p1"), (C, "artifacts_a.name = 'a2'", "r1 r2"),
    (C, "artifacts_a.id = {A3}", "r2 solo"), (C, "artifacts_a.uri LIKE '/data/%'", "r1 r2"),
    (C, "artifacts_a.uri = ''", "r2 solo"), (C, "artifacts_a.type = 'Model'", "r1 r2 solo"),
    (C, "artifacts_a.create_time_since_epoch > {c_a4}", "r1"),
    (C, "artifacts_a.last_update_time_since_epoch <= {u_a1}", "r1 p1"),
    (C, "executions_a.name = 'e1'", "r1 p1"), (C, "executions_a.id = {e3}", "r2"),
    (C, "executions_a.type = 'Evaluator'", "r2"), (C, "executions_a.type = 'Trainer'", "r1 r2 p1 solo"),
    (C, "executions_a.create_time_since_epoch >= {c_e2}", "r1 r2 solo"),
    (C, "executions_a.last_update_time_since_epoch = {u_e1}", "r1 p1"),
    (C, "artifacts_c.id = {a1} and name = 'p1'", "p1"),
    (C, "executions_c.id = {e1} and artifacts_a.id = {a1}", "r1 p1"),
    (C, "artifacts_x.uri = '' AND executions_y.name = 'e2'", "r2 solo"),
    (C, "artifacts_x.name = 'a2' AND executions_x.name = 'e3'", "r2"),
    # parent_contexts_ / child_contexts_ on contexts
    (C, "parent_contexts_a.name = 'p1'", "r1 r2"), (C, "parent_contexts_a.name = 'r1'", "r2"),
    (C, "parent_contexts_a.type = 'Pipeline'", "r1 r2"), (C, "parent_contexts_a.id = {r1}", "r2"),
    (C, "parent_contexts_c.type = 'Pipeline' AND custom_properties.owner.string_value = 'bob'", "r2"),
    (C, "child_contexts_a.name = 'r1'", "p1"), (C, "child_contexts_a.type = 'Run'", "r1 p1"),
    (C, "child_contexts_a.id = {r2}", "r1 p1"), (C, "child_contexts_a.name LIKE 'r%'", "r1 p1"),
    (C, "parent_contexts_a.id = child_contexts_b.id", ""),
]


@pytest.mark.parametrize("kind,query,expected", NEIGHBOURS, ids=[f"{k}:{q[:60]}" for k, q, _ in NEIGHBOURS])
def test_neighbours(data, kind, query, expected):
    _check(data, kind, query, expected)


# The fields ml-metadata accepts but then fails on with InternalError ("no such column"); they work here.
FIXED_NEIGHBOUR_FIELDS = [
    (C, "artifacts_a.external_id = 'ext_a1'", "r1 p1"), (C, "artifacts_a.external_id IS NULL", "r2 solo"),
    (C, "artifacts_a.external_id LIKE 'ext_%'", "r1 r2 p1"),
    (C, "executions_a.external_id = 'ext_e1'", "r1 p1"), (C, "executions_a.external_id IS NULL", "r1 r2 solo"),
    (C, "parent_contexts_a.create_time_since_epoch = {c_p1}", "r1 r2"),
    (C, "parent_contexts_a.create_time_since_epoch = {c_r1}", "r2"),
    (C, "parent_contexts_a.last_update_time_since_epoch = {u_r1}", "r2"),
    (C, "parent_contexts_a.last_update_time_since_epoch > 0", "r1 r2"),
    (C, "child_contexts_a.create_time_since_epoch = {c_r2}", "r1 p1"),
    (C, "child_contexts_a.create_time_since_epoch < {c_r2}", "p1"),
    (C, "child_contexts_a.last_update_time_since_epoch = {u_r1}", "p1"),
    (C, "child_contexts_a.last_update_time_since_epoch >= {u_r1} AND parent_contexts_b.name = 'p1'", "r1"),
]


@only_mlmd_core
@pytest.mark.parametrize("kind,query,expected", FIXED_NEIGHBOUR_FIELDS,
                         ids=[f"{k}:{q[:60]}" for k, q, _ in FIXED_NEIGHBOUR_FIELDS])
def test_neighbour_fields_that_fail_in_ml_metadata_work(data, kind, query, expected):
    _check(data, kind, query, expected)


# ----------------------------------------------------------------------------------------------- enums

ENUMS = [
    (A, "state = LIVE", "a1"), (A, "state = DELETED", "a2"), (A, "state = UNKNOWN", "a6"), (A, "state = PENDING", "a4"),
    (A, "state = MARKED_FOR_DELETION", "a5"), (A, "state IS NULL", "A3"), (A, "state IS NOT NULL", "a1 a2 a4 a5 a6"),
    # != and NOT IN also match an unset state; NOT(=) and NOT(IN) do not
    (A, "state != LIVE", "a2 A3 a4 a5 a6"), (A, "state IN (LIVE, DELETED)", "a1 a2"),
    (A, "state NOT IN (LIVE, DELETED)", "A3 a4 a5 a6"), (A, "state NOT IN (LIVE)", "a2 A3 a4 a5 a6"),
    (A, "NOT (state = LIVE)", "a2 a4 a5 a6"), (A, "NOT (state IN (LIVE))", "a2 a4 a5 a6"),
    (A, "NOT (state != LIVE)", "a1"), (A, "NOT (state NOT IN (LIVE))", "a1"),
    (A, "state = LIVE OR state IS NULL", "a1 A3"), (A, "state != LIVE AND state != DELETED", "A3 a4 a5 a6"),
    (A, "state IN (LIVE) OR state IN (DELETED)", "a1 a2"), (A, "state = LIVE AND uri LIKE 'gs%'", "a1"),
    (A, "state != DELETED AND type = 'DataSet'", "a1 a4 a6"),
    (A, "uri LIKE 'gs%' OR state = LIVE", "a1 a4"), (A, "uri LIKE '%' and type_id = {t_model} AND state IS NULL", "A3"),
    (A, "uri LIKE '%' and type = 'DataSet' AND (state = LIVE OR state = DELETED)", "a1 a2"),
    (A, "uri LIKE '%' and type = 'Model' and state != LIVE", "A3 a5"),
    (E, "last_known_state = COMPLETE", "e1"), (E, "last_known_state = FAILED", "e3"),
    (E, "last_known_state = NEW", "e4"),
    (E, "last_known_state = UNKNOWN", ""), (E, "last_known_state = RUNNING", ""), (E, "last_known_state = CACHED", ""),
    (E, "last_known_state = CANCELED", ""), (E, "last_known_state IS NULL", "e2"),
    (E, "last_known_state != COMPLETE", "e2 e3 e4"), (E, "last_known_state IN (COMPLETE, NEW)", "e1 e4"),
    (E, "last_known_state NOT IN (COMPLETE, NEW)", "e2 e3"), (E, "NOT (last_known_state = COMPLETE)", "e3 e4"),
    (E, "NOT (last_known_state NOT IN (COMPLETE))", "e1"),
    (E, "(last_known_state = COMPLETE OR last_known_state = NEW)", "e1 e4"),
    (E, "type_id = {t_trainer} AND last_known_state != COMPLETE", "e2"),
    (E, "last_known_state = COMPLETE OR name = 'e2'", "e1 e2"),
    # events_x.type: no NULLs, but the join still needs an event (a4, e4 have none)
    (A, "events_0.type != INPUT", "a2 A3 a5 a6"), (A, "events_0.type NOT IN (INPUT)", "a2 A3 a5 a6"),
    (A, "events_0.type IN (INPUT, INTERNAL_INPUT)", "a1 a2 a5"), (A, "NOT (events_0.type = INPUT)", "a2 A3 a5 a6"),
    (A, "events_0.type = INPUT OR events_0.type = OUTPUT", "a1 a2 a6"), (E, "events_0.type != OUTPUT", "e1 e2 e3"),
    (E, "events_0.type IN (INPUT, OUTPUT)", "e1 e2 e3"),
    # artifacts_x.state / executions_x.last_known_state on contexts
    (C, "artifacts_a.state = LIVE", "r1 p1"), (C, "artifacts_a.state IS NULL", "r2 solo"),
    (C, "artifacts_a.state IN (LIVE)", "r1 p1"), (C, "artifacts_a.state = LIVE AND artifacts_b.state = DELETED", "r1"),
    (C, "artifacts_a.state = LIVE OR artifacts_b.state = DELETED", "r1 r2 p1"),
    (C, "artifacts_a.state = LIVE AND artifacts_a.state = DELETED", ""),
    (C, "executions_a.last_known_state = COMPLETE", "r1 p1"),
    (C, "executions_a.last_known_state IS NULL", "r1 r2 solo"),
    (C, "executions_a.last_known_state IN (COMPLETE, FAILED)", "r1 r2 p1"),
    (C, "executions_a.last_known_state = UNKNOWN", ""),
]


@pytest.mark.parametrize("kind,query,expected", ENUMS, ids=[f"{k}:{q[:60]}" for k, q, _ in ENUMS])
def test_enums(data, kind, query, expected):
    _check(data, kind, query, expected)


# ml-metadata's regex rewrite of `!=` / `NOT IN` breaks on the prefixed enum fields (a syntax error there);
# the intended meaning (unset values match) is implemented. solo holds only A3 (no state) and e2 (none).
PREFIXED_NEGATIVE_ENUMS = [
    (C, "artifacts_a.state != LIVE", "r1 r2 solo"), (C, "artifacts_a.state NOT IN (LIVE, DELETED)", "r1 r2 solo"),
    (C, "artifacts_a.state != DELETED", "r1 r2 p1 solo"),
    (C, "executions_a.last_known_state != COMPLETE", "r1 r2 solo"),
    (C, "executions_a.last_known_state NOT IN (COMPLETE, FAILED)", "r1 r2 solo"),
]


@only_mlmd_core
@pytest.mark.parametrize("kind,query,expected", PREFIXED_NEGATIVE_ENUMS,
                         ids=[f"{k}:{q[:60]}" for k, q, _ in PREFIXED_NEGATIVE_ENUMS])
def test_prefixed_enum_negations_match_unset_values(data, kind, query, expected):
    _check(data, kind, query, expected)


# ------------------------------------------------------------- inner-join existence semantics (§4.4)


def test_or_with_a_neighbour_drops_nodes_without_neighbours(data):
    # a4 has no context, so `id = a4` cannot rescue it
    _check(data, A, "id = {a4} OR contexts_a.name = 'r2'", "a2 A3")
    _check(data, A, "name = 'a1' OR contexts_a.name = 'r2'", "a1 a2 A3")
    _check(data, E, "name = 'e4' OR contexts_a.name = 'r2'", "e2 e3")
    _check(data, C, "name = 'lonely' OR artifacts_a.name = 'a1'", "r1 p1")
    _check(data, C, "name = 'lonely' OR parent_contexts_a.name = 'r1'", "r2")
    _check(data, A, "id = {a4} OR events_0.type = DECLARED_OUTPUT", "A3")
    _check(data, A, "TRUE OR contexts_a.id > 0", "a1 a2 A3 a5")


def test_or_with_a_property_drops_nodes_without_the_property(data):
    _check(data, A, "name = 'A3' OR properties.i.int_value = 1", "a1")
    _check(data, E, "name = 'e3' OR properties.i.int_value = 1", "e1")
    _check(data, C, "name = 'p1' OR properties.i.int_value = 1", "r1")
    _check(data, A, "name = 'a1' OR custom_properties.tag.string_value = 'blue'", "a1 a2")
    _check(data, A, "TRUE OR properties.s.string_value = 'zzz'", "a1 a2 a6")
    _check(data, A, "properties.i.int_value IS NULL OR name = 'A3'", "")


def test_negative_comparison_on_a_property_needs_the_property(data):
    _check(data, A, "properties.i.int_value != 1", "a2 a4")
    _check(data, A, "NOT (properties.i.int_value = 1)", "a2 a4")
    _check(data, A, "properties.i.int_value NOT IN (1)", "a2 a4")
    _check(data, A, "NOT (properties.i.int_value = 1) OR name = 'a5'", "a2 a4")


def test_not_of_a_neighbour_means_some_other_neighbour(data):
    # a1: r1, p1; a2: r1, r2; A3: r2, solo; a5: r1 only; a4, a6: none
    _check(data, A, "NOT(contexts_a.name = 'r1')", "a1 a2 A3")
    _check(data, A, "contexts_a.name != 'r1'", "a1 a2 A3")
    _check(data, E, "NOT(contexts_a.name = 'r1')", "e1 e2 e3")
    _check(data, C, "NOT (parent_contexts_a.name = 'p1')", "r2")
    _check(data, C, "NOT (child_contexts_a.name = 'r2')", "p1")
    _check(data, C, "NOT (artifacts_a.name = 'a1')", "r1 r2 solo")


def test_same_alias_is_the_same_row(data):
    _check(data, A, "contexts_a.name = 'r1' AND contexts_a.name = 'r2'", "")
    _check(data, E, "contexts_a.name = 'r1' AND contexts_a.name = 'r2'", "")
    _check(data, A, "contexts_a.type = 'Run' AND contexts_a.name = 'r2'", "a2 A3")
    _check(data, A, "contexts_a.type = 'Pipeline' AND contexts_a.name = 'r1'", "")
    _check(data, A, "events_0.type = INPUT AND events_0.type = OUTPUT", "")
    _check(data, A, "events_0.type = OUTPUT AND events_0.milliseconds_since_epoch = 3000", "")
    _check(data, C, "parent_contexts_a.name = 'p1' AND parent_contexts_a.name = 'r1'", "")
    _check(data, C, "child_contexts_a.name = 'r2' AND child_contexts_a.name = 'r1'", "")
    _check(data, C, "artifacts_a.name = 'a1' AND artifacts_a.name = 'a2'", "")
    _check(data, C, "executions_a.name = 'e1' AND executions_a.name = 'e2'", "")
    _check(data, A, "contexts_a.id = contexts_a.id", "a1 a2 A3 a5")


def test_different_aliases_are_independent(data):
    _check(data, A, "contexts_a.name = 'r1' AND contexts_b.name = 'r2'", "a2")
    _check(data, E, "contexts_a.name = 'r1' AND contexts_b.name = 'r2'", "e2")
    _check(data, A, "contexts_a.name = 'r1' OR contexts_b.name = 'r2'", "a1 a2 A3 a5")
    _check(data, A, "contexts_a.id != contexts_b.id", "a1 a2 A3")
    _check(data, A, "contexts_a.id = contexts_b.id", "a1 a2 A3 a5")
    _check(data, A, "events_0.type = OUTPUT AND events_1.milliseconds_since_epoch = 3000", "a2")
    _check(data, A, "events_0.type = INPUT AND events_1.type = OUTPUT", "a2")
    _check(data, E, "events_0.type = INPUT AND events_1.type = OUTPUT", "e1")
    _check(data, C, "parent_contexts_a.name = 'p1' AND parent_contexts_b.name = 'r1'", "r2")
    _check(data, C, "child_contexts_a.name = 'r2' AND child_contexts_b.name = 'r1'", "p1")
    _check(data, C, "executions_a.name = 'e1' AND executions_b.name = 'e2'", "r1")
    # §4.5 example 13: in all three contexts
    _check(data, A, "(contexts_1.type = 'Run' AND contexts_1.name = 'r1') AND (contexts_2.type = 'Run' AND "
                    "contexts_2.name = 'r2') AND (contexts_3.type = 'Pipeline' AND contexts_3.name = 'p1')", "")
    _check(data, A, "(contexts_1.type = 'Run' AND contexts_1.name = 'r1') AND "
                    "(contexts_2.type = 'Pipeline' AND contexts_2.name = 'p1')", "a1")
    # the alias namespaces of different prefixes are separate
    _check(data, C, "parent_contexts_x.name = 'p1' AND child_contexts_x.name = 'r2'", "r1")
    _check(data, C, "artifacts_x.name = 'a2' AND executions_x.name = 'e3'", "r2")


def test_results_are_distinct(data):
    # a1 is attributed to two matching contexts, a2 to two, a2 has two events
    for query in ("contexts_a.name LIKE '%1'", "contexts_a.type = 'Run'", "contexts_a.id > 0",
                  "contexts_a.id > 0 AND contexts_b.id > 0", "events_0.milliseconds_since_epoch > 0"):
        got = data.run(A, query)
        assert len(got) == len(set(got)), query
    assert data.run(A, "contexts_a.id > 0 AND contexts_b.id > 0") == ["a1", "a2", "A3", "a5"]
    assert data.run(C, "artifacts_a.id > 0 AND executions_b.id > 0") == ["r1", "r2", "p1", "solo"]
    # the pages are made of distinct nodes too: one row a page, following the tokens
    options = pb.ListOperationOptions(max_result_size=1, filter_query="contexts_a.id > 0 AND contexts_b.id > 0")
    options.order_by_field.field = Field.ID
    seen = []
    for _ in range(10):
        response = raw_call(data.store, "GetArtifacts", svc_pb.GetArtifactsRequest(options=options))
        seen += [data.labels[A][a.id] for a in response.artifacts]
        if not response.next_page_token:
            break
        options.next_page_token = response.next_page_token
    assert seen == ["a1", "a2", "A3", "a5"]


def test_properties_and_custom_properties_are_separate_maps(data):
    # a4 has property i = 3 and custom property i = 100
    _check(data, A, "properties.i.int_value = 3", "a4")
    _check(data, A, "custom_properties.i.int_value = 3", "")
    _check(data, A, "custom_properties.i.int_value = 100", "a4")
    _check(data, A, "properties.i.int_value = 100", "")
    _check(data, A, "properties.i.int_value = 3 AND custom_properties.i.int_value = 100", "a4")
    _check(data, A, "custom_properties.tag.string_value IS NOT NULL AND properties.tag.string_value IS NULL", "")


def test_uri_is_never_null(data):
    _check(data, A, "uri IS NULL", "")
    _check(data, A, "uri = ''", "A3")
    _check(data, A, "NOT (uri IS NOT NULL)", "")
    _check(data, C, "artifacts_a.uri IS NULL", "")
    _check(data, C, "artifacts_a.uri = ''", "r2 solo")


def test_equality_is_case_sensitive_and_like_is_not(data):
    _check(data, A, "type = 'dataset'", "")
    _check(data, A, "type LIKE 'dataset'", "a1 a2 a4 a6")
    _check(data, A, "uri LIKE 'GS://%'", "a1 a4")
    _check(data, A, "uri = 'GS://bucket/a1'", "")
    _check(data, A, "custom_properties.tag.string_value = 'red'", "a1")
    _check(data, A, "custom_properties.tag.string_value LIKE 'RED'", "a1 A3")
    # name lookups go through the (type_id, name) index, on MySQL in its case-insensitive collation first
    _check(data, A, "name = 'a3'", "")
    _check(data, A, "name = 'A3'", "A3")
    _check(data, A, "name IN ('a3', 'A1', 'a5')", "a5")
    _check(data, A, "type = 'Model' AND name = 'a3'", "")
    _check(data, A, "contexts_c.name = 'R1'", "")
    _check(data, A, "contexts_c.name = 'r1' AND name != 'A5'", "a1 a2 a5")
    _check(data, A, "external_id = 'EXT_A1'", "")
    _check(data, C, "name = 'R2' OR name = 'solo'", "solo")
    _check(data, C, "NOT name = 'R2'", "r1 r2 p1 lonely solo")


NON_ASCII = ["héllo", "Grüße", "数据 ✓", "🚀"]  # no two equal but for case: MySQL's unique keys ignore it


def test_text_beyond_ascii_is_matched_exactly(store):  # noqa: F811 - the fixture
    """On MySQL the stored text (utf8mb4 columns) and a query's literals (the latin1 session ml-metadata's
    client uses, backends.md) are in different character sets: compared byte for byte, no such text matched."""
    type_id = store.put_artifact_type(pb.ArtifactType(name="Doc", properties={"title": pb.STRING}))
    artifacts = []
    for text in NON_ASCII:
        artifact = pb.Artifact(type_id=type_id, name=text, uri=f"/{text}", external_id=f"x-{text}")
        artifact.properties["title"].string_value = text
        artifacts.append(artifact)
    store.put_artifacts(artifacts)

    def found(query: str) -> list[str]:
        return sorted(a.name for a in store.get_artifacts(ListOptions(filter_query=query)))

    for text in NON_ASCII:
        for query in (f"name = '{text}'", f"uri = '/{text}'", f"external_id = 'x-{text}'",
                      f"properties.title.string_value = '{text}'", f"type = 'Doc' AND name = '{text}'"):
            assert found(query) == [text], query
    assert found("name IN ('héllo', '🚀', 'HÉLLO')") == sorted(["héllo", "🚀"])
    assert found("uri != '/héllo'") == sorted(set(NON_ASCII) - {"héllo"})
    assert found("properties.title.string_value IN ('GRÜSSE', 'grüße')") == []


def test_type_matches_the_name_across_versions(data):
    # a2's type is DataSet version v2, the others DataSet without a version
    _check(data, A, "type = 'DataSet'", "a1 a2 a4 a6")
    _check(data, A, "type = 'DataSet' AND type_id = {t_ds2}", "a2")
    _check(data, C, "artifacts_a.type = 'DataSet' AND artifacts_a.id = {a2}", "r1 r2")


def test_distinct_with_limit_and_descending_order(data):
    got = data.run(A, "contexts_a.id > 0 AND events_0.type IS NOT NULL", limit=3, is_asc=False)
    assert got == ["a5", "A3", "a2"]


# ----------------------------------------------------------------------------------------- §4.5 examples


@dataclass
class Many:
    store: object
    ids: dict[str, list[int]]  # kind -> ids of node_0..node_199
    context_id: int
    other_context_id: int
    type_names: dict[str, str]


N = 200


@pytest.fixture(scope="module", params=STORE_BACKENDS)
def many(request):
    """node_0..node_199 of each kind, custom property p = i; artifacts/executions 0..149 in context `ctx`,
    every third of them also in `other`. Nodes are written 40 a call, so create times have ties."""
    s = open_store(backend_config(request.param))
    at = s.put_artifact_type(pb.ArtifactType(name="A"))
    et = s.put_execution_type(pb.ExecutionType(name="E"))
    ct = s.put_context_type(pb.ContextType(name="C"))
    ids: dict[str, list[int]] = {A: [], E: [], C: []}
    for kind, cls, type_id in ((A, pb.Artifact, at), (E, pb.Execution, et), (C, pb.Context, ct)):
        put = getattr(s, f"put_{kind}")
        for start in range(0, N, 40):
            batch = []
            for i in range(start, start + 40):
                node = cls(type_id=type_id, name=f"node_{i}")
                node.custom_properties["p"].int_value = i
                batch.append(node)
            ids[kind] += put(batch)
            tick()
    ctx, other = ids[C][0], ids[C][1]
    s.put_attributions_and_associations(
        [pb.Attribution(artifact_id=a, context_id=ctx) for a in ids[A][:150]]
        + [pb.Attribution(artifact_id=a, context_id=other) for a in ids[A][:150:3]],
        [pb.Association(execution_id=e, context_id=ctx) for e in ids[E][:150]]
        + [pb.Association(execution_id=e, context_id=other) for e in ids[E][:150:3]])
    yield Many(s, ids, ctx, other, {A: "A", E: "E", C: "C"})
    close_store(s)


@pytest.mark.parametrize("kind", KINDS)
def test_example_1_property_and_name_like(many, kind):
    nodes = getattr(many.store, f"get_{kind}")(
        ListOptions(filter_query="custom_properties.p.int_value < 21 AND name LIKE 'node_2%'"))
    assert [n.name for n in nodes] == ["node_2", "node_20"]
    assert [n.id for n in nodes] == [many.ids[kind][2], many.ids[kind][20]]


@pytest.mark.parametrize("kind", KINDS)
def test_example_2_invalid_syntax(many, kind):
    with pytest.raises(errors.InvalidArgumentError, match=r"Syntax error.*\[at 1:9\]"):
        getattr(many.store, f"get_{kind}")(ListOptions(filter_query="invalid syntax"))


def test_examples_3_to_15(data):
    # 3, 5, 6: uri, name, lower-case `and` with type_id and create time
    _check(data, A, "uri = '/data/a5'", "a5")
    _check(data, E, "name = 'e3'", "e3")
    _check(data, A, "uri = '/data/a2' and type_id = {t_ds2} and create_time_since_epoch = {c_a2}", "a2")
    # 4: executions of a context
    _check(data, E, "contexts_a.name='r2'", "e2 e3")
    # 7, 8
    _check(data, A, "uri LIKE '/data/%' OR state = LIVE", "a1 a2 a5")
    _check(data, A, "uri LIKE '%' and type_id = {t_model} AND state IS NULL", "A3")
    _check(data, A, "uri LIKE '%' and type = 'DataSet' AND (state = LIVE OR state = DELETED)", "a1 a2")
    _check(data, A, "uri LIKE '%' and type = 'Model' and state != LIVE", "A3 a5")
    # 9
    _check(data, A, "NOT(id = {a1})", "a2 A3 a4 a5 a6")
    _check(data, A, "id IN ({a1}, {a5})", "a1 a5")
    _check(data, A, "type_id = {t_ds} AND name IS NOT NULL", "a1 a6")
    _check(data, C, "(type='Run' AND name='r2') OR (type='Run' AND name='r1')", "r1 r2")
    # 10, 11
    _check(data, A, "events_0.type = INPUT OR events_0.type = OUTPUT", "a1 a2 a6")
    _check(data, A, "events_0.type = OUTPUT AND events_0.milliseconds_since_epoch = 6000", "a6")
    _check(data, E, "events_0.artifact_id = {a6} AND events_0.type = OUTPUT", "e2")
    _check(data, E, "type_id = {t_trainer} AND last_known_state != COMPLETE", "e2")
    _check(data, E, "(last_known_state = COMPLETE OR last_known_state = NEW)", "e1 e4")
    # 12
    _check(data, A, "uri IS NOT NULL AND type = 'DataSet' AND contexts_c.name = 'r1' AND contexts_c.type = 'Run'",
           "a1 a2")
    _check(data, A, "contexts_c.name LIKE '%' AND contexts_c.type = 'Pipeline'", "a1 A3")
    # 14
    _check(data, C, "artifacts_c.id = {a1} and name = 'p1'", "p1")
    _check(data, C, "executions_c.id = {e2} and artifacts_a.id = {A3}", "r2 solo")
    _check(data, C, "parent_contexts_c.name = 'p1'", "r1 r2")
    _check(data, C, "child_contexts_c.type = 'Run'", "r1 p1")
    _check(data, C, "parent_contexts_c.type = 'Pipeline' AND custom_properties.owner.string_value = 'bob'", "r2")
    _check(data, C, "properties.s.string_value LIKE 'x%'", "r1")
    # 15
    _check(data, A, "custom_properties.`my prop`.int_value > 0", "a1 a2 a5")
    _check(data, A, "type = 'DataSet' AND (contexts_a.type = 'Run' AND contexts_a.name = 'r1') AND "
                    "properties.i.int_value = 1", "a1")
    # both properties are joined: a1 has no custom property i, so the OR cannot rescue it
    _check(data, A, "type = 'DataSet' AND (contexts_a.type = 'Run' AND contexts_a.name = 'r1') AND "
                    "(properties.i.int_value = 1 OR custom_properties.i.int_value = 1)", "")
    _check(data, A, 'uri LIKE "%/a2" AND properties.i.int_value > 0', "a2")


# -------------------------------------------------------------------- ordering, limits and paging


def _ids_of(nodes):
    return [n.id for n in nodes]


@pytest.mark.parametrize("kind", KINDS)
def test_filter_over_more_than_one_page(many, kind):
    got = getattr(many.store, f"get_{kind}")(ListOptions(filter_query="custom_properties.p.int_value >= 50"))
    assert _ids_of(got) == many.ids[kind][50:]  # 150 rows: the client follows a page token
    assert [n.name for n in got][:2] == ["node_50", "node_51"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("order_by,key", [(OrderByField.ID, "id"), (OrderByField.CREATE_TIME, "create"),
                                          (OrderByField.UPDATE_TIME, "update")])
@pytest.mark.parametrize("is_asc", [True, False])
def test_filter_with_order_and_limit(many, kind, order_by, key, is_asc):
    query = "name LIKE 'node_1%' OR custom_properties.p.int_value < 60"
    everything = getattr(many.store, f"get_{kind}")()
    by_name = {n.name: n for n in everything}
    matching = [n for name, n in by_name.items() if name.startswith("node_1") or int(name[5:]) < 60]
    sort_key = {"id": lambda n: (n.id,), "create": lambda n: (n.create_time_since_epoch, n.id),
                "update": lambda n: (n.last_update_time_since_epoch, n.id)}[key]
    expected = [n.id for n in sorted(matching, key=sort_key, reverse=not is_asc)]
    assert len(expected) == 160  # node_0..node_59 and node_100..node_199
    got = getattr(many.store, f"get_{kind}")(ListOptions(filter_query=query, order_by=order_by, is_asc=is_asc))
    assert _ids_of(got) == expected
    limited = getattr(many.store, f"get_{kind}")(
        ListOptions(filter_query=query, order_by=order_by, is_asc=is_asc, limit=130))
    assert _ids_of(limited) == expected[:130]


@pytest.mark.parametrize("kind,method", [(A, "GetArtifacts"), (E, "GetExecutions"), (C, "GetContexts")])
def test_raw_pages_of_a_filter(many, kind, method):
    options = pb.ListOperationOptions(max_result_size=100, filter_query="custom_properties.p.int_value >= 50")
    options.order_by_field.field = Field.ID
    request = getattr(svc_pb, f"{method}Request")(options=options)
    first = raw_call(many.store, method, request)
    rows = getattr(first, kind)
    assert _ids_of(rows) == many.ids[kind][50:150]
    assert first.next_page_token
    request.options.next_page_token = first.next_page_token
    second = raw_call(many.store, method, request)
    assert _ids_of(getattr(second, kind)) == many.ids[kind][150:]
    assert not second.next_page_token


def test_raw_next_page_uses_the_current_filter(many):
    """Only the order is checked against the token; the filter of the current request applies."""
    options = pb.ListOperationOptions(max_result_size=10, filter_query="custom_properties.p.int_value >= 50")
    options.order_by_field.field = Field.ID
    first = raw_call(many.store, "GetArtifacts", svc_pb.GetArtifactsRequest(options=options))
    assert _ids_of(first.artifacts) == many.ids[A][50:60]
    options.next_page_token = first.next_page_token
    options.filter_query = "custom_properties.p.int_value < 65"
    second = raw_call(many.store, "GetArtifacts", svc_pb.GetArtifactsRequest(options=options))
    assert _ids_of(second.artifacts) == many.ids[A][60:65]
    assert not second.next_page_token


def test_raw_invalid_filter_on_a_later_page(many):
    options = pb.ListOperationOptions(max_result_size=10, filter_query="custom_properties.p.int_value >= 50")
    options.order_by_field.field = Field.ID
    first = raw_call(many.store, "GetArtifacts", svc_pb.GetArtifactsRequest(options=options))
    options.next_page_token = first.next_page_token
    options.filter_query = "custom_properties.p.int_value >="
    with pytest.raises(errors.InvalidArgumentError, match="Syntax error"):
        raw_call(many.store, "GetArtifacts", svc_pb.GetArtifactsRequest(options=options))


def test_filter_with_limit_stops_early(many):
    got = many.store.get_artifacts(ListOptions(filter_query="name LIKE 'node_1%'", limit=5))
    assert [n.name for n in got] == ["node_1", "node_10", "node_11", "node_12", "node_13"]


@pytest.mark.parametrize("kind", [A, E])
def test_by_context_with_filter(many, kind):
    get = getattr(many.store, f"get_{kind}_by_context")
    got = get(many.context_id, ListOptions(filter_query="custom_properties.p.int_value >= 100"))
    assert _ids_of(got) == many.ids[kind][100:150]
    got = get(many.context_id, ListOptions(filter_query="custom_properties.p.int_value < 120"))
    assert _ids_of(got) == many.ids[kind][:120]  # 120 of the members: two pages
    got = get(many.context_id, ListOptions(filter_query="custom_properties.p.int_value >= 20", is_asc=False,
                                           limit=5))
    assert _ids_of(got) == many.ids[kind][149:144:-1]
    # a neighbour alias inside a by-context listing: members that are also in `other`
    got = get(many.context_id, ListOptions(filter_query="contexts_o.name = 'node_1'"))
    assert _ids_of(got) == many.ids[kind][:150:3]
    got = get(many.other_context_id, ListOptions(filter_query="name LIKE 'node_1%'"))
    assert _ids_of(got) == [i for n, i in enumerate(many.ids[kind][:150:3], 0) if str(n * 3).startswith("1")]
    assert get(many.context_id, ListOptions(filter_query="custom_properties.p.int_value >= 150")) == []


@pytest.mark.parametrize("kind", [A, E])
def test_by_context_with_invalid_filter(many, kind):
    get = getattr(many.store, f"get_{kind}_by_context")
    with pytest.raises(errors.InvalidArgumentError, match="Unrecognized name: foo"):
        get(many.context_id, ListOptions(filter_query="foo = 1"))


@pytest.mark.parametrize("kind,method", [(A, "GetArtifactsByType"), (E, "GetExecutionsByType"),
                                         (C, "GetContextsByType")])
def test_raw_by_type_with_filter(many, kind, method):
    options = pb.ListOperationOptions(max_result_size=10, filter_query="custom_properties.p.int_value >= 100")
    options.order_by_field.field = Field.ID
    request = getattr(svc_pb, f"{method}Request")(type_name=many.type_names[kind], options=options)
    first = raw_call(many.store, method, request)
    assert _ids_of(getattr(first, kind)) == many.ids[kind][100:110]
    assert first.next_page_token
    request.options.next_page_token = first.next_page_token
    request.options.max_result_size = 100
    second = raw_call(many.store, method, request)
    assert _ids_of(getattr(second, kind)) == many.ids[kind][110:200]
    assert not second.next_page_token
    request = getattr(svc_pb, f"{method}Request")(type_name="no such type", options=options)
    assert list(getattr(raw_call(many.store, method, request), kind)) == []
    bad = pb.ListOperationOptions(max_result_size=10, filter_query="name = 1")
    bad.order_by_field.field = Field.ID
    request = getattr(svc_pb, f"{method}Request")(type_name=many.type_names[kind], options=bad)
    with pytest.raises(errors.InvalidArgumentError, match="No matching signature for operator ="):
        raw_call(many.store, method, request)


def test_empty_filter_is_no_filter(many):
    assert len(many.store.get_artifacts(ListOptions(filter_query=""))) == N
    options = pb.ListOperationOptions(max_result_size=5, filter_query="")
    options.order_by_field.field = Field.ID
    response = raw_call(many.store, "GetArtifacts", svc_pb.GetArtifactsRequest(options=options))
    assert _ids_of(response.artifacts) == many.ids[A][:5]


# ------------------------------------------------------------------------------------------------- errors

ERRORS = [
    # unknown names and fields
    (A, "foo = 1", r"Unrecognized name: foo"), (E, "foo = 1", r"Unrecognized name: foo"),
    (C, "foo = 1", r"Unrecognized name: foo"),
    (A, "properties.i.int = 1", r"Field name int does not exist"),
    (E, "properties.i.string = 'a'", r"Field name string does not exist"),
    (C, "custom_properties.owner.str_value = 'a'", r"Field name str_value does not exist|Unrecognized name"),
    (A, "properties.foo = 1", r"Unrecognized name"), (A, "properties.foo", r"Unrecognized name"),
    (C, "custom_properties.foo IS NULL", r"Unrecognized name"),
    # attributes that a kind does not have
    (E, "uri = 'x'", r"Unrecognized name: uri"), (C, "uri = 'x'", r"Unrecognized name: uri"),
    (E, "state = LIVE", r"Unrecognized name: state"), (C, "state = LIVE", r"Unrecognized name: state"),
    (A, "last_known_state = COMPLETE", r"Unrecognized name: last_known_state"),
    (C, "last_known_state = NEW", r"Unrecognized name: last_known_state"),
    # prefixes on kinds that do not allow them
    (A, "parent_contexts_a.name = 'p1'", r"Unrecognized name: parent_contexts_a"),
    (A, "child_contexts_a.name = 'r1'", r"Unrecognized name: child_contexts_a"),
    (A, "artifacts_a.name = 'a1'", r"Unrecognized name: artifacts_a"),
    (A, "executions_a.name = 'e1'", r"Unrecognized name: executions_a"),
    (E, "artifacts_a.name = 'a1'", r"Unrecognized name: artifacts_a"),
    (E, "executions_a.id = 1", r"Unrecognized name: executions_a"),
    (E, "parent_contexts_a.name = 'p1'", r"Unrecognized name: parent_contexts_a"),
    (E, "child_contexts_a.name = 'p1'", r"Unrecognized name: child_contexts_a"),
    (C, "contexts_a.name = 'r1'", r"Unrecognized name: contexts_a"),
    (C, "events_0.type = INPUT", r"Unrecognized name: events_0"),
    # fields a neighbour does not have
    (A, "contexts_a.uri = 'x'", r"Field name uri does not exist"),
    (A, "contexts_a.state = LIVE", r"Field name state does not exist"),
    (A, "contexts_a.external_id = 'ext_r1'", r"Field name external_id does not exist"),
    (E, "contexts_a.external_id IS NULL", r"Field name external_id does not exist"),
    (C, "parent_contexts_a.external_id IS NULL", r"Field name external_id does not exist"),
    (C, "child_contexts_a.external_id = 'x'", r"Field name external_id does not exist"),
    (A, "contexts_a.properties.i.int_value = 1", r"does not exist|Unrecognized name"),
    (A, "events_0.artifact_id = 1", r"Field name artifact_id does not exist"),
    (E, "events_0.execution_id = 1", r"Field name execution_id does not exist"),
    (A, "events_0.path = 1", r"Field name path does not exist"),
    (C, "artifacts_a.last_known_state = NEW", r"Field name last_known_state does not exist"),
    (C, "executions_a.uri = 'x'", r"Field name uri does not exist"),
    (C, "executions_a.state = LIVE", r"Field name state does not exist"),
    # type mismatches
    (A, "id = 'a'", r"No matching signature for operator ="), (E, "id = 'a'", r"No matching signature for operator ="),
    (C, "id = 'a'", r"No matching signature for operator ="),
    (A, "name = 1", r"No matching signature for operator ="), (A, "type = 1", r"No matching signature for operator ="),
    (A, "state = 'LIVE'", r"No matching signature for operator ="),
    (A, "properties.i.int_value = 'a'", r"No matching signature for operator ="),
    (A, "properties.b.bool_value = 1", r"No matching signature for operator ="),
    (A, "name LIKE 1", r"No matching signature for operator LIKE"),
    (A, "id LIKE '1'", r"No matching signature for operator LIKE"),
    (A, "id IN ('a')", r"No matching signature for operator IN"),
    (A, "id IN (1, 'a')", r"No matching signature for operator IN"),
    (A, "id + 'a' = 1", r"No matching signature for operator \+"),
    (A, "LOWER(id) = 'a'", r"No matching signature for function LOWER"),
    (A, "FOO(name) = 'a'", r"Function not found: FOO"),
    (A, "id", r"not a valid boolean expression"), (E, "name", r"not a valid boolean expression"),
    (C, "1", r"not a valid boolean expression"), (A, "'a'", r"not a valid boolean expression"),
    # NULL literals
    (A, "name = NULL", r"Operands of = cannot be literal NULL"),
    (A, "id = 1 AND name = NULL", r"Operands of = cannot be literal NULL"),
    (E, "NULL != name", r"Operands of != cannot be literal NULL"),
    # enums
    (A, "state = ABANDONED", r"Unsupported enum value specified in the query: ABANDONED"),
    (A, "state = REFERENCE", r"Unsupported enum value specified in the query: REFERENCE"),
    (A, "state IN (LIVE, ABANDONED)", r"Unsupported enum value specified in the query: ABANDONED"),
    (C, "artifacts_a.state = ABANDONED", r"Unsupported enum value specified in the query: ABANDONED"),
    (A, "events_0.type = PENDING_OUTPUT", r"Unsupported enum value specified in the query: PENDING_OUTPUT"),
    (A, "events_0.type = UNKNOWN", r"Unsupported enum value specified in the query: UNKNOWN"),
    (E, "events_0.type IN (INPUT, UNKNOWN)", r"Unsupported enum value specified in the query: UNKNOWN"),
    (A, "state = 1", r"Unsupported enum value specified in the query: 1"),
    (E, "last_known_state = 3", r"Unsupported enum value specified in the query: 3"),
    (A, "events_0.type = 1", r"Unsupported enum value specified in the query: 1"),
    (A, "state IN (LIVE, 3)", r"Unsupported enum value specified in the query: 3"),
    (A, "state = NEW", r"Unsupported enum value specified in the query: NEW"),
    (E, "last_known_state = LIVE", r"Unsupported enum value specified in the query: LIVE"),
    (E, "last_known_state = PENDING", r"Unsupported enum value specified in the query: PENDING"),
    (A, "state = live", r"Unsupported enum value specified in the query: live"),
    (A, "state IN LIVE", r"Expected a list of enum values enclosed in parentheses|Syntax error"),
    (E, "last_known_state IN RUNNING", r"Expected a list of enum values enclosed in parentheses|Syntax error"),
    (A, "LIVE = state", r"Unrecognized name: LIVE"),
    # syntax errors, with their position
    (A, "name == 'a1'", r"Syntax error.*\[at 1:7\]"), (E, "name == 'e1'", r"Syntax error.*\[at 1:7\]"),
    (A, "id IN ()", r"Syntax error.*\[at 1:8\]"), (A, "state IN ()", r"Syntax error.*\[at 1:11\]"),
    (A, "name = 'a1'; DROP TABLE Artifact", r"Syntax error.*\[at 1:12\]"),
    (A, "id = 1)", r"Syntax error.*\[at 1:7\]"), (A, "(id = 1", r"Syntax error"),
    (A, "()", r"Syntax error.*\[at 1:2\]"), (A, ")", r"Syntax error.*\[at 1:1\]"),
    (A, "name = 'unterminated", r"Syntax error.*\[at 1:8\]"), (A, "name = \"a1'", r"Syntax error.*\[at 1:8\]"),
    (A, "properties.0:b.int_value = 1", r"Syntax error"),
    (A, "custom_properties.my prop.int_value > 0", r"Syntax error.*\[at 1:22\]"),
    (A, "properties.s.string_value = 'it''s'", r"Syntax error.*\[at 1:33\]"),
    (A, "AND name = 'a1'", r"Syntax error.*\[at 1:1\]"), (A, "name = 'a1' OR OR id = 1", r"Syntax error.*\[at 1:16\]"),
    (A, "id = 1 XOR id = 2", r"Syntax error.*\[at 1:8\]"), (A, "id = 1;", r"Syntax error.*\[at 1:7\]"),
    (A, "id IN 1", r"Syntax error.*\[at 1:7\]"), (A, "name LIKE 'a1' ESCAPE '!'", r"Syntax error.*\[at 1:16\]"),
    (A, "name IS NULL IS NULL", r"Syntax error.*\[at 1:14\]"),
    (A, "name IS NULL = FALSE", r"Syntax error.*\[at 1:14\]"),
    (A, "id = 1\n  AND\n  id ==2", r"Syntax error.*\[at 3:7\]"),
    (A, "id = 1\n  AND foo = 2", r"Unrecognized name: foo"),
    # a trailing operator: the end of the expression is where the error is
    (A, "name = 'a1' and", r"Syntax error: Unexpected end of expression \[at 1:16\]"),
    (E, "id = 1 AND", r"Syntax error: Unexpected end of expression \[at 1:11\]"),
    (C, "id = 1\nAND", r"Syntax error: Unexpected end of expression \[at 2:4\]"),
    (A, "id BETWEEN 1 AND", r"Syntax error: Unexpected end of expression \[at 1:17\]"),
    (A, "(", r"Syntax error: Unexpected end of expression \[at 1:2\]"),
    (A, "NOT", r"Syntax error: Unexpected end of expression \[at 1:4\]"),
]


@pytest.mark.parametrize("kind,query,message", ERRORS, ids=[f"{k}:{q[:60]}" for k, q, _ in ERRORS])
def test_invalid_queries(data, kind, query, message):
    with pytest.raises(errors.InvalidArgumentError) as info:
        data.run(kind, query)
    text = str(info.value)
    assert "Invalid `filter_query`" in text
    assert re.search(message, text), text


# The operators of enum fields are =, !=, IN and NOT IN (plus IS NULL); ordering them is an error.
ENUM_ORDERING = [
    (A, "state > LIVE"), (A, "state < DELETED"), (A, "state >= LIVE"), (A, "state BETWEEN LIVE AND DELETED"),
    (E, "last_known_state > NEW"), (E, "last_known_state BETWEEN NEW AND COMPLETE"),
    (A, "events_0.type < OUTPUT"), (C, "artifacts_a.state BETWEEN LIVE AND DELETED"),
    (C, "executions_a.last_known_state <= FAILED"),
]


@pytest.mark.parametrize("kind,query", ENUM_ORDERING, ids=[f"{k}:{q}" for k, q in ENUM_ORDERING])
def test_ordering_enums_is_invalid(data, kind, query):
    with pytest.raises(errors.InvalidArgumentError):
        data.run(kind, query)


@pytest.mark.parametrize("query,message", [
    ("id = 99999999999999999999", r"Invalid integer literal"),
    ("name = '\\q'", r"Illegal escape sequence"),
    ("name LIKE '\\%'", r"Illegal escape sequence"),
    ("custom_properties.``.int_value = 1", r"[Ee]mpty identifier|Syntax error"),
])
def test_invalid_literals(data, query, message):
    with pytest.raises(errors.InvalidArgumentError, match=message):
        data.run(A, query)


# A valid query, then an invalid one that differs only in spacing or in a literal's value. Whether a query is
# valid must not depend on what was asked before (e.g. on a compiled statement cached for a similar query).
SAME_SHAPE = [
    ("id <= 2", "id < = 2"), ("id >= 5", "id > = 5"), ("id != 1", "id ! = 1"), ("id <> 1", "id < > 1"),
    ("id > -9223372036854775808", "id > -9223372036854775809"),
    ("id > -9223372036854775808", "id > -99999999999999999999"),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("valid,invalid", SAME_SHAPE, ids=[f"{v} then {i}" for v, i in SAME_SHAPE])
def test_validity_does_not_depend_on_earlier_queries(data, kind, valid, invalid):
    data.run(kind, valid)
    with pytest.raises(errors.InvalidArgumentError):
        data.run(kind, invalid)
    data.run(kind, valid)
    with pytest.raises(errors.InvalidArgumentError):
        data.run(kind, invalid)


def test_errors_name_the_kind_independent_problem_on_every_kind(data):
    for kind in KINDS:
        with pytest.raises(errors.InvalidArgumentError, match=r"Syntax error.*\[at 1:9\]"):
            data.run(kind, "invalid syntax")
        with pytest.raises(errors.InvalidArgumentError, match="Operands of = cannot be literal NULL"):
            data.run(kind, "name = NULL")


# --------------------------------------------------------- ZetaSQL surface that ml-metadata accepts

ZETASQL_SURFACE = [
    # comments
    (A, "id = {a2} -- a comment", "a2"), (A, "id = {a2} # a comment", "a2"), (A, "id = {a2} /* a comment */", "a2"),
    (A, "id = 2 --1", "a2"),  # `--` starts a comment: this is not 2 - (-1)
    (A, "name = 'zzz' OR TRUE --'", "a1 a2 A3 a4 a5 a6"),
    # identifiers are case-insensitive in ZetaSQL
    (A, "NAME = 'a1'", "a1"), (A, "Id = {a1}", "a1"), (A, "URI = ''", "A3"), (A, "Type = 'Model'", "A3 a5"),
    (E, "Name = 'e1'", "e1"), (A, "contexts_a.NAME = 'r1'", "a1 a2 a5"),
    # string escapes
    (A, "name = '\\x61\\x31'", "a1"), (A, "name = '\\u0061\\U00000031'", "a1"), (A, "name = '\\141\\061'", "a1"),
    # numbers
    (A, "id = 0x2", "a2"), (A, "id = -9223372036854775808", ""), (A, "id > -9223372036854775808", "a1 a2 A3 a4 a5 a6"),
    # NULL inside IN lists
    (A, "name IN ('a1', NULL)", "a1"), (A, "name NOT IN ('a1', NULL)", ""), (A, "id = 1 AND name IN (NULL)", ""),
]


@pytest.mark.parametrize("kind,query,expected", ZETASQL_SURFACE, ids=[f"{k}:{q[:60]}" for k, q, _ in ZETASQL_SURFACE])
def test_zetasql_surface_accepted_by_ml_metadata(data, kind, query, expected):
    _check(data, kind, query, expected)


# ------------------------------------------------------------------------------------------- query plans


@only_mlmd_core
@pytest.mark.parametrize("backend", STORE_BACKENDS)
@pytest.mark.parametrize("query,index", [
    ("name = 'n7'", "name"),
    ("name = 'n7' AND uri LIKE '/u/%'", "name"),
    ("type = 'T1' AND name = 'n7'", "name"),
    ("uri = '/u/7'", "uri"),
])
def test_exact_string_lookups_use_an_index(backend, query, index):
    """No index starts with a node's name: `name = ...` is bounded by `type_id IN (the kind's types)` too,
    which the unique index (type_id, name) answers (before: a scan of every node). On MySQL, an exact match
    (BINARY) comes with the same comparison in the column's collation, which the index can use."""
    import server_backends
    from sqlalchemy import select

    from mlmd_core import filter as filter_query
    from mlmd_core.store.kinds import ARTIFACT
    from mlmd_core.store.sql import Statement

    config = backend_config(backend)
    s = open_store(config)
    try:
        type_ids = [s.put_artifact_type(pb.ArtifactType(name=f"T{t}")) for t in range(3)]
        s.put_artifacts([pb.Artifact(type_id=type_ids[i % 3], name=f"n{i}", uri=f"/u/{i}") for i in range(3000)])
        database = s._backend.database
        stmt = select(ARTIFACT.table.c.id).where(filter_query.condition(ARTIFACT, query))
        sql, values = Statement(stmt, database.dialect).bind(filter_query.parameters(query)[1])
        if backend == "memory":
            handle, raw, _ = database.acquire()
            try:
                plan = " ".join(row[-1] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", values))
            finally:
                database.release(handle)
            used = {"name": "(type_id=? AND name=?)", "uri": "idx_artifact_uri (uri=?)"}[index]
            assert used in plan and "SCAN Artifact" not in plan, plan
            return
        conn = server_backends.admin_connection(
            backend, config.mysql.database if backend == "mysql" else config.postgresql.dbname)
        try:
            cur = conn.cursor()
            cur.execute("ANALYZE TABLE Artifact, Type" if backend == "mysql" else "ANALYZE")
            if backend == "mysql":
                cur.fetchall()
            cur.execute(f"EXPLAIN {sql}", values)
            rows = cur.fetchall()
            if backend == "mysql":  # the Artifact row: looked up by the index (not "index": all of it read)
                columns = [d[0] for d in cur.description]
                [artifact] = [dict(zip(columns, r)) for r in rows if r[columns.index("table")] == "Artifact"]
                assert artifact["type"] in ("const", "eq_ref", "ref", "range"), rows
                assert artifact["key"] == {"name": "UniqueArtifactTypeName", "uri": "idx_artifact_uri"}[index], rows
            else:  # the index searched by type_id and name (not just scanned with a name filter)
                plan = " ".join(r[0] for r in rows)
                used = {"name": "Index Cond: ((type_id = ", "uri": "Index Cond: (uri = "}[index]
                assert used in plan and "Seq Scan on artifact" not in plan, plan
        finally:
            conn.close()
    finally:
        close_store(s)


@only_mlmd_core
@pytest.mark.parametrize("query,uses_property_index", [
    ("custom_properties.cache_key.string_value = 'k7' AND last_known_state = COMPLETE", True),
    ("custom_properties.cache_key.string_value IN ('k7', 'k8')", True),
    ("custom_properties.cache_key.string_value > 'k7'", False),  # a range: scan in id order, stop when full
])
def test_property_equality_is_answered_by_the_property_index(tmp_path, query, uses_property_index):
    """An equality on one property is `id IN (matching property rows)`, answered by the index on
    (name, is_custom_property, string_value), not by probing every execution in turn."""
    import sqlite3

    from sqlalchemy import select
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    from mlmd_core import filter as filter_query
    from mlmd_core.store.kinds import EXECUTION

    path = tmp_path / "plan.sqlite"
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    with mlmd.MetadataStore(config) as s:
        et = s.put_execution_type(pb.ExecutionType(name="S"))
        s.put_executions([pb.Execution(type_id=et, custom_properties={"cache_key": pb.Value(string_value=f"k{i}")})
                          for i in range(200)])
    stmt = select(EXECUTION.table.c.id).where(filter_query.condition(EXECUTION, query))
    compiled = stmt.compile(dialect=sqlite_dialect.dialect(), compile_kwargs={"render_postcompile": True})
    params = [compiled.params[name] for name in compiled.positiontup] if compiled.positiontup else compiled.params
    with sqlite3.connect(path) as conn:
        plan = " ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {compiled}", params))
    assert ("idx_execution_property_string" in plan) is uses_property_index, plan
