"""ListOptions, client-side paging and the server's page tokens (reference §1.4, §4.6, §10.9)."""

from __future__ import annotations

import base64
import re

import pytest
from store_fixtures import (
    GRPC,
    STORE_BACKENDS,
    backend_config,
    close_store,
    errors,
    make_types,
    mlmd,
    open_store,
    pb,
    raw_call,
    svc_pb,
    tick,
)

from mlmd_core import metadata_store

ListOptions = mlmd.ListOptions
OrderByField = mlmd.OrderByField
Field = pb.ListOperationOptions.OrderByField.Field

N_ARTIFACTS = 260
BATCH = 30  # page boundaries (100, 200) fall inside a batch, whose rows share one create time
N_EXECUTIONS = 130


class Data:
    store: object
    artifacts: list  # as stored, in id order
    executions: list
    context_id: int
    empty_context_id: int


@pytest.fixture(scope="module", params=STORE_BACKENDS)
def data(request):
    """260 artifacts created in batches (several create times) then partly updated in another order, and
    130 executions associated with one context. Read-only for the tests of this module."""
    s = open_store(backend_config(request.param))
    types = make_types(s)
    ids: list[int] = []
    for start in range(0, N_ARTIFACTS, BATCH):
        ids += s.put_artifacts([pb.Artifact(type_id=types.artifact, uri=f"/a/{i}")
                                for i in range(start, min(start + BATCH, N_ARTIFACTS))])
        tick()
    # update every 7th artifact, highest id first, one call each: update order differs from id order
    for aid in sorted(ids[::7], reverse=True):
        tick()
        s.put_artifacts([pb.Artifact(id=aid, uri=f"/updated/{aid}")])
    [ctx] = s.put_contexts([pb.Context(type_id=types.context, name="ctx")])
    [empty] = s.put_contexts([pb.Context(type_id=types.context, name="empty")])
    eids: list[int] = []
    for _ in range(0, N_EXECUTIONS, 13):
        batch = s.put_executions([pb.Execution(type_id=types.execution) for _ in range(13)])
        eids += batch
        s.put_attributions_and_associations([], [pb.Association(execution_id=e, context_id=ctx) for e in batch])
        tick()
    s.put_attributions_and_associations(
        [pb.Attribution(artifact_id=a, context_id=ctx) for a in ids[:150]], [])
    d = Data()
    d.store = s
    d.artifacts = s.get_artifacts_by_id(ids)
    d.executions = s.get_executions_by_id(eids)
    d.context_id = ctx
    d.empty_context_id = empty
    yield d
    close_store(s)


def _ids(nodes):
    return [n.id for n in nodes]


def _sorted_ids(nodes, field, asc):
    key = {
        "id": lambda n: (n.id,),
        "create": lambda n: (n.create_time_since_epoch, n.id),
        "update": lambda n: (n.last_update_time_since_epoch, n.id),
    }[field]
    return [n.id for n in sorted(nodes, key=key, reverse=not asc)]


def test_fixture_has_distinct_orders(data):
    # sanity: the three orders differ, so the ordering tests below can fail
    by_id = _sorted_ids(data.artifacts, "id", True)
    by_update = _sorted_ids(data.artifacts, "update", True)
    assert by_id != by_update
    assert len({a.create_time_since_epoch for a in data.artifacts}) >= N_ARTIFACTS // BATCH
    assert len(data.artifacts) == N_ARTIFACTS


# ---------------------------------------------------------------------------------------- client paging


@pytest.fixture(params=[100, metadata_store.IN_PROCESS_PAGE_SIZE], ids=["pages_of_100", "in_process_pages"])
def page_size(request, monkeypatch):
    """The in-process client's page size: MLMD's client's 100 (page boundaries fall inside the fixture's batches),
    and its own (all the fixture's rows in one page). Over gRPC the client pages by 100 either way."""
    monkeypatch.setattr(metadata_store, "IN_PROCESS_PAGE_SIZE", request.param)
    return request.param


def test_in_process_client_reads_a_listing_in_one_page(data, monkeypatch):
    """No RPC caps an in-process page at 101 rows, so a listing of 260 rows is one call (a filter query's page
    re-runs the query), with the rows MLMD's client reads 100 a call, as it does over gRPC."""
    calls = []
    backend_call = data.store._backend.call
    monkeypatch.setattr(data.store._backend, "call", lambda method, *a, **kw: (
        calls.append(method), backend_call(method, *a, **kw))[1])
    got = data.store.get_artifacts(ListOptions(filter_query="uri LIKE '/%'", order_by=OrderByField.UPDATE_TIME))
    assert _ids(got) == _sorted_ids(data.artifacts, "update", True)
    assert calls == ["GetArtifacts"] * (3 if GRPC else 1)


def test_no_options_returns_everything_in_id_order(data):
    assert _ids(data.store.get_artifacts()) == _sorted_ids(data.artifacts, "id", True)


def test_default_list_options_is_id_ascending(data):
    assert _ids(data.store.get_artifacts(ListOptions())) == _sorted_ids(data.artifacts, "id", True)


@pytest.mark.parametrize("order_by,field", [(OrderByField.ID, "id"), (OrderByField.CREATE_TIME, "create"),
                                            (OrderByField.UPDATE_TIME, "update")])
@pytest.mark.parametrize("is_asc", [True, False])
def test_order_over_several_pages(data, order_by, field, is_asc, page_size):
    got = data.store.get_artifacts(ListOptions(order_by=order_by, is_asc=is_asc))
    assert _ids(got) == _sorted_ids(data.artifacts, field, is_asc)
    assert len(got) == N_ARTIFACTS


@pytest.mark.parametrize("order_by,field", [(OrderByField.ID, "id"), (OrderByField.CREATE_TIME, "create"),
                                            (OrderByField.UPDATE_TIME, "update")])
@pytest.mark.parametrize("limit", [1, 7, 100, 101, 150, 250])
def test_limit(data, order_by, field, limit, page_size):
    got = data.store.get_artifacts(ListOptions(limit=limit, order_by=order_by, is_asc=False))
    assert _ids(got) == _sorted_ids(data.artifacts, field, False)[:limit]


def test_limit_larger_than_rows(data):
    got = data.store.get_artifacts(ListOptions(limit=10_000))
    assert _ids(got) == _sorted_ids(data.artifacts, "id", True)


def test_limit_zero_means_all(data):
    assert len(data.store.get_artifacts(ListOptions(limit=0))) == N_ARTIFACTS
    assert len(data.store.get_artifacts(ListOptions(limit=None))) == N_ARTIFACTS


@pytest.mark.parametrize("limit", [-1, -100])
def test_negative_limit_is_invalid_argument(data, limit):
    with pytest.raises(errors.InvalidArgumentError):
        data.store.get_artifacts(ListOptions(limit=limit))
    with pytest.raises(errors.InvalidArgumentError):
        data.store.get_executions_by_context(data.context_id, ListOptions(limit=limit))


def test_executions_and_contexts_page_too(data):
    got = data.store.get_executions(ListOptions(order_by=OrderByField.CREATE_TIME, is_asc=False, limit=120))
    assert _ids(got) == _sorted_ids(data.executions, "create", False)[:120]
    contexts = data.store.get_contexts(ListOptions(is_asc=False))
    assert _ids(contexts) == [data.empty_context_id, data.context_id]


def test_get_executions_by_context_defaults_to_newest_first(data):
    got = data.store.get_executions_by_context(data.context_id)
    assert len(got) == N_EXECUTIONS
    assert _ids(got) == _sorted_ids(data.executions, "create", False)
    # newest first is also id descending here: executions were created in id order
    assert _ids(got) == sorted(_ids(got), reverse=True)


def test_get_executions_by_context_with_options(data, page_size):
    s = data.store
    asc = s.get_executions_by_context(data.context_id, ListOptions(order_by=OrderByField.ID, is_asc=True))
    assert _ids(asc) == sorted(_ids(data.executions))
    limited = s.get_executions_by_context(data.context_id, ListOptions(limit=105, is_asc=False))
    assert _ids(limited) == sorted(_ids(data.executions), reverse=True)[:105]
    by_update = s.get_executions_by_context(data.context_id, ListOptions(order_by=OrderByField.UPDATE_TIME))
    assert _ids(by_update) == _sorted_ids(data.executions, "update", True)
    assert s.get_executions_by_context(data.empty_context_id) == []
    assert s.get_executions_by_context(987654) == []


def test_get_artifacts_by_context_with_options(data):
    s = data.store
    members = [a for a in data.artifacts if a.id in set(_ids(data.artifacts)[:150])]
    assert _ids(s.get_artifacts_by_context(data.context_id)) == sorted(_ids(members))
    got = s.get_artifacts_by_context(data.context_id, ListOptions(order_by=OrderByField.UPDATE_TIME, is_asc=False))
    assert _ids(got) == _sorted_ids(members, "update", False)
    got = s.get_artifacts_by_context(data.context_id, ListOptions(limit=120, is_asc=False))
    assert _ids(got) == sorted(_ids(members), reverse=True)[:120]
    assert s.get_artifacts_by_context(data.empty_context_id, ListOptions()) == []
    assert s.get_artifacts_by_context(987654) == []


# -------------------------------------------------------------------------------------- service level


def _request(**options):
    req = svc_pb.GetArtifactsRequest()
    req.options.SetInParent()
    for key, value in options.items():
        if key == "field":
            req.options.order_by_field.field = value
        elif key == "is_asc":
            req.options.order_by_field.is_asc = value
        else:
            setattr(req.options, key, value)
    return req


def _decode(token: str):
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    msg = pb.ListOperationNextPageToken()
    msg.ParseFromString(raw)
    return msg


def test_raw_no_options_returns_all_without_token(data):
    resp = raw_call(data.store, "GetArtifacts", svc_pb.GetArtifactsRequest())
    assert len(resp.artifacts) == N_ARTIFACTS
    assert not resp.HasField("next_page_token")


def test_raw_default_page_size_is_20(data):
    resp = raw_call(data.store, "GetArtifacts", _request())
    assert _ids(resp.artifacts) == sorted(_ids(data.artifacts))[:20]
    assert resp.next_page_token


def test_raw_page_size_over_100_gives_101_rows_and_no_token(data):
    resp = raw_call(data.store, "GetArtifacts", _request(max_result_size=1000))
    assert len(resp.artifacts) == 101
    assert _ids(resp.artifacts) == sorted(_ids(data.artifacts))[:101]
    assert not resp.next_page_token
    resp = raw_call(data.store, "GetArtifacts", _request(max_result_size=101))
    assert len(resp.artifacts) == 101 and not resp.next_page_token


def test_raw_page_size_100_gives_100_rows_and_a_token(data):
    resp = raw_call(data.store, "GetArtifacts", _request(max_result_size=100))
    assert len(resp.artifacts) == 100
    assert resp.next_page_token


@pytest.mark.parametrize("size", [0, -1])
def test_raw_non_positive_page_size_is_invalid_argument(data, size):
    with pytest.raises(errors.InvalidArgumentError):
        raw_call(data.store, "GetArtifacts", _request(max_result_size=size))


def test_raw_unspecified_order_field_is_invalid_argument(data):
    with pytest.raises(errors.InvalidArgumentError, match="Unsupported field"):
        raw_call(data.store, "GetArtifacts", _request(field=Field.FIELD_UNSPECIFIED))


def test_raw_last_page_has_no_token(data):
    req = svc_pb.GetExecutionsRequest()
    req.options.max_result_size = 100
    first = raw_call(data.store, "GetExecutions", req)
    assert len(first.executions) == 100 and first.next_page_token
    req.options.next_page_token = first.next_page_token
    last = raw_call(data.store, "GetExecutions", req)
    assert len(last.executions) == N_EXECUTIONS - 100
    assert not last.next_page_token
    assert _ids(first.executions) + _ids(last.executions) == sorted(_ids(data.executions))
    # a page that ends exactly at the last row has no token either
    req = svc_pb.GetExecutionsRequest()
    req.options.max_result_size = 10
    req.options.order_by_field.is_asc = False
    req.options.next_page_token = ""
    seen = 0
    while True:
        resp = raw_call(data.store, "GetExecutions", req)
        seen += len(resp.executions)
        if not resp.next_page_token:
            break
        req.options.next_page_token = resp.next_page_token
    assert seen == N_EXECUTIONS  # 130 = 13 full pages of 10: the 13th page carries no token


def test_raw_id_token_format(data):
    req = _request(max_result_size=7, field=Field.ID, is_asc=False)
    resp = raw_call(data.store, "GetArtifacts", req)
    token = resp.next_page_token
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token), token  # url-safe alphabet, no '=' padding
    decoded = _decode(token)
    last = resp.artifacts[-1]
    assert decoded.id_offset == last.id
    assert decoded.field_offset == last.id
    assert decoded.set_options == req.options
    assert not decoded.set_options.HasField("next_page_token")
    assert len(decoded.listed_ids) == 0
    # the exact bytes: web-safe base64, no padding, of the serialized token
    expected = base64.urlsafe_b64encode(decoded.SerializeToString()).rstrip(b"=").decode()
    assert token == expected


def test_raw_create_time_token_format(data):
    req = _request(max_result_size=45, field=Field.CREATE_TIME, is_asc=True)
    resp = raw_call(data.store, "GetArtifacts", req)
    decoded = _decode(resp.next_page_token)
    last = resp.artifacts[-1]
    assert decoded.field_offset == last.create_time_since_epoch
    assert decoded.id_offset == last.id
    assert decoded.set_options == req.options


def test_raw_update_time_token_format(data):
    req = _request(max_result_size=45, field=Field.LAST_UPDATE_TIME, is_asc=True)
    resp = raw_call(data.store, "GetArtifacts", req)
    decoded = _decode(resp.next_page_token)
    last = resp.artifacts[-1]
    assert decoded.field_offset == last.last_update_time_since_epoch
    sharing = [a.id for a in resp.artifacts if a.last_update_time_since_epoch == last.last_update_time_since_epoch]
    assert sorted(decoded.listed_ids) == sorted(sharing)
    assert decoded.set_options == req.options


@pytest.mark.parametrize("backend", STORE_BACKENDS)
def test_raw_update_time_page_ending_inside_a_long_run_of_equal_times(backend):
    """A page ends inside 90 artifacts updated at the same time: the next page leaves out the 70 ids the token
    lists (a long NOT IN list: on PostgreSQL it goes as an array)."""
    s = open_store(backend_config(backend))
    try:
        ids = s.put_artifacts([pb.Artifact(type_id=make_types(s).artifact, uri=f"/{i}") for i in range(90)])
        req = _request(max_result_size=70, field=Field.LAST_UPDATE_TIME, is_asc=True)
        first = raw_call(s, "GetArtifacts", req)
        assert len(_decode(first.next_page_token).listed_ids) == 70
        req.options.next_page_token = first.next_page_token
        second = raw_call(s, "GetArtifacts", req)
        assert _ids(first.artifacts) + _ids(second.artifacts) == ids
        assert not second.next_page_token
    finally:
        close_store(s)


@pytest.mark.parametrize("backend", STORE_BACKENDS)
def test_raw_update_time_page_after_more_listed_ids_than_a_statement_binds(backend):
    """33,000 artifacts written by one call share their update time, so a token past them lists all their ids
    (a page of 100 a call gets there on its 330th page): more values than SQLite binds in a statement (32,766;
    999 before 3.32), so there the list goes as one JSON array. The page leaves out exactly the listed ids."""
    s = open_store(backend_config(backend))
    try:
        type_id = make_types(s).artifact
        ids = s.put_artifacts([pb.Artifact(type_id=type_id, uri=f"/{i}") for i in range(33_050)])
        [first] = s.get_artifacts_by_id(ids[:1])
        assert len({a.last_update_time_since_epoch for a in s.get_artifacts_by_id(ids[-1:] + ids[:1])}) == 1
        req = _request(max_result_size=100, field=Field.LAST_UPDATE_TIME, is_asc=True)
        token = pb.ListOperationNextPageToken(field_offset=first.last_update_time_since_epoch,
                                              listed_ids=ids[:33_000], set_options=req.options)
        req.options.next_page_token = base64.urlsafe_b64encode(token.SerializeToString()).decode().rstrip("=")
        page = raw_call(s, "GetArtifacts", req)
        assert _ids(page.artifacts) == ids[33_000:]
        assert not page.next_page_token
    finally:
        close_store(s)


@pytest.mark.parametrize("field,key", [(Field.ID, "id"), (Field.CREATE_TIME, "create"),
                                       (Field.LAST_UPDATE_TIME, "update")])
@pytest.mark.parametrize("is_asc", [True, False])
def test_raw_following_tokens_lists_every_row_once(data, field, key, is_asc):
    req = _request(max_result_size=33, field=field, is_asc=is_asc)
    seen: list[int] = []
    pages = 0
    while True:
        resp = raw_call(data.store, "GetArtifacts", req)
        pages += 1
        seen += _ids(resp.artifacts)
        if not resp.next_page_token:
            break
        req.options.next_page_token = resp.next_page_token
        assert pages < 20
    assert seen == _sorted_ids(data.artifacts, key, is_asc)
    assert pages == -(-N_ARTIFACTS // 33)


def test_raw_page_size_may_change_between_pages(data):
    req = _request(max_result_size=10)
    first = raw_call(data.store, "GetArtifacts", req)
    req.options.next_page_token = first.next_page_token
    req.options.max_result_size = 15
    second = raw_call(data.store, "GetArtifacts", req)
    assert _ids(first.artifacts) + _ids(second.artifacts) == sorted(_ids(data.artifacts))[:25]


@pytest.mark.parametrize("change", ["is_asc", "field"])
def test_raw_order_mismatch_between_pages_is_invalid_argument(data, change):
    req = _request(max_result_size=10, field=Field.CREATE_TIME, is_asc=True)
    first = raw_call(data.store, "GetArtifacts", req)
    req.options.next_page_token = first.next_page_token
    if change == "is_asc":
        req.options.order_by_field.is_asc = False
    else:
        req.options.order_by_field.field = Field.ID
    with pytest.raises(errors.InvalidArgumentError, match="mismatch"):
        raw_call(data.store, "GetArtifacts", req)


@pytest.mark.parametrize("token", ["not a token!!", "%%%%", "AAAA_garbage_1"])
def test_raw_garbage_token_is_invalid_argument(data, token):
    req = _request(max_result_size=10)
    req.options.next_page_token = token
    with pytest.raises(errors.InvalidArgumentError):
        raw_call(data.store, "GetArtifacts", req)


def test_raw_by_type_accepts_options(data):
    req = svc_pb.GetArtifactsByTypeRequest(type_name="DataSet")
    req.options.max_result_size = 10
    resp = raw_call(data.store, "GetArtifactsByType", req)
    assert _ids(resp.artifacts) == sorted(_ids(data.artifacts))[:10]
    assert resp.next_page_token
    req.options.next_page_token = resp.next_page_token
    resp2 = raw_call(data.store, "GetArtifactsByType", req)
    assert _ids(resp2.artifacts) == sorted(_ids(data.artifacts))[10:20]


def test_raw_by_context_pages(data):
    req = svc_pb.GetExecutionsByContextRequest(context_id=data.context_id)
    req.options.max_result_size = 50
    req.options.order_by_field.field = Field.CREATE_TIME
    req.options.order_by_field.is_asc = False
    seen: list[int] = []
    while True:
        resp = raw_call(data.store, "GetExecutionsByContext", req)
        seen += _ids(resp.executions)
        if not resp.next_page_token:
            break
        req.options.next_page_token = resp.next_page_token
    assert seen == _sorted_ids(data.executions, "create", False)
