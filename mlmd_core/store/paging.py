"""ListOperationOptions: ordering, page size and MLMD's next_page_token, over any node query."""

from __future__ import annotations

import base64
import binascii
import operator
from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf.message import DecodeError
from sqlalchemy import and_, bindparam, or_

from mlmd_core import errors
from mlmd_core import filter as filter_query
from mlmd_core.proto import metadata_store_pb2 as pb
from mlmd_core.store import nodes
from mlmd_core.store.context import Call
from mlmd_core.store.kinds import NodeKind
from mlmd_core.store.sql import packed_rows

Field = pb.ListOperationOptions.OrderByField.Field
# Read once: each attribute of an enum wrapper is looked up by a Python __getattr__.
_ID, _CREATE_TIME, _LAST_UPDATE_TIME = Field.ID, Field.CREATE_TIME, Field.LAST_UPDATE_TIME
# The node column each order_by_field orders by.
_ORDER_COLUMNS = {_ID: "id", _CREATE_TIME: "create_time_since_epoch", _LAST_UPDATE_TIME: "last_update_time_since_epoch"}

# Builds the extra WHERE condition of a listing (e.g. "type_id = :type_id"), or None for all nodes.
Condition = Callable[[NodeKind], Any] | None


def encode_token(token: pb.ListOperationNextPageToken) -> str:
    """URL-safe base64 without padding, as absl's WebSafeBase64Escape writes it."""
    return base64.urlsafe_b64encode(token.SerializeToString()).rstrip(b"=").decode("ascii")


def decode_token(text: str) -> pb.ListOperationNextPageToken:
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        token = pb.ListOperationNextPageToken()
        token.ParseFromString(raw)
    except (ValueError, DecodeError, binascii.Error) as exc:
        raise errors.InvalidArgumentError("Failed to decode next page token string") from exc
    return token


def list_nodes(call: Call, kind: NodeKind, options: pb.ListOperationOptions | None, key: Any,
               condition: Condition, params: Mapping[str, Any] | None = None, into: Any = None
               ) -> tuple[list[Any], str | None]:
    """Nodes matching `condition` (cached under `key`), one page of them when options are given; built in
    `into` (a response's repeated field) when given.

    Returns (nodes, next_page_token or None)."""
    params = dict(params or {})
    t = kind.table

    query_text = options.filter_query.strip() if options is not None else ""
    query_shape = None
    if query_text:  # statements are cached per shape of the query; its values are parameters
        query_shape, filter_params = filter_query.parameters(query_text)
        params.update(filter_params)

    def where(query: Any, *extra: Any) -> Any:
        if condition is not None:
            query = query.where(condition(kind))
        if query_text:
            query = query.where(filter_query.condition(kind, query_text))
        return query.where(*extra) if extra else query

    if options is None:
        return nodes.load_all(call, kind, key, where, params, into), None

    if options.max_result_size <= 0:
        raise errors.InvalidArgumentError(
            f"max_result_size field value is required to be greater than 0. Set value: {options.max_result_size}"
        )
    order = options.order_by_field
    field, asc = order.field, order.is_asc
    if field not in _ORDER_COLUMNS:
        name = Field.Name(field) if field in Field.values() else field
        raise errors.InvalidArgumentError(f"Unsupported field: {name}")

    page = "first"
    previous = None
    if options.next_page_token:
        previous = decode_token(options.next_page_token)
        set_order = previous.set_options.order_by_field
        if set_order.field != field or set_order.is_asc != asc:
            raise errors.InvalidArgumentError(
                "ListOperationOptions mismatch between calls Initial Options: "
                f"{_short(previous.set_options)} Current Options: {_short(options)}"
            )
        page = "next"
        if field == _ID:
            params["id_offset"] = previous.id_offset
        elif field == _CREATE_TIME:
            params["field_offset"], params["id_offset"] = previous.field_offset, previous.id_offset
        else:
            params["field_offset"] = previous.field_offset
            params["listed"] = list(previous.listed_ids) or [0]

    def page_select() -> Any:
        id_col, column = t.c.id, t.c[_ORDER_COLUMNS[field]]
        extra: list[Any] = []
        if page == "next":
            after = (lambda a, b: a > b) if asc else (lambda a, b: a < b)
            if field == _ID:
                extra.append(after(id_col, bindparam("id_offset")))
            elif field == _CREATE_TIME:
                off = bindparam("field_offset")
                # Strictly after the last row in (create_time, id) order. MLMD's own SQL here skips rows
                # whose id is below the offset but whose time is later; ours does not.
                extra.append(or_(after(column, off), and_(column == off, after(id_col, bindparam("id_offset")))))
            else:
                off = bindparam("field_offset")
                extra.append(or_(after(column, off), and_(column == off, id_col.notin_(
                    bindparam("listed", expanding=True)))))
        direction = (lambda c: c.asc()) if asc else (lambda c: c.desc())
        ordering = [direction(id_col)] if field == _ID else [direction(column), direction(id_col)]
        return where(nodes.node_select(kind), *extra).order_by(*ordering).limit(bindparam("page_limit"))

    statement_key = ("list_page", kind.name, key, field, asc, page, query_shape)
    size = options.max_result_size
    params["page_limit"] = size + 1 if call.page_rows is None else min(size + 1, call.page_rows)
    props = None
    if nodes.joined_pages(call):
        rows, props = nodes.read_page_joined(call, kind, statement_key, page_select, params, _ORDER_KEYS[field],
                                             descending=not asc)
    else:
        rows = call.all(call.q(statement_key, lambda: packed_rows(
            page_select(), order=_ORDER_KEYS[field], descending=not asc, expected_rows=_page_limit)), params)
    token = None
    if len(rows) > size:
        rows = rows[:size]
        token = encode_token(_next_token(options, field, rows, previous))
    return nodes.build(call, kind, rows, into, props), token


def _page_limit(params: Mapping[str, Any]) -> int:
    return params["page_limit"]


# The order of a page's node_select rows by its field, then id, as a sort key of a row (packed_rows' order).
_ORDER_KEYS = {_ID: nodes.BY_ID, _CREATE_TIME: operator.itemgetter(4, 0),
               _LAST_UPDATE_TIME: operator.itemgetter(5, 0)}


def _next_token(options: pb.ListOperationOptions, field: int, rows: list[tuple],
                previous: pb.ListOperationNextPageToken | None) -> pb.ListOperationNextPageToken:
    token = pb.ListOperationNextPageToken()
    last = rows[-1]
    last_id, ctime, utime = last[0], last[4], last[5]  # node_select columns
    if field == _ID:
        token.field_offset = token.id_offset = last_id
    elif field == _CREATE_TIME:
        token.field_offset, token.id_offset = ctime, last_id
    else:
        token.field_offset = utime
        listed = [r[0] for r in rows if r[5] == utime]
        if previous is not None and previous.field_offset == utime:
            listed = list(previous.listed_ids) + listed
        token.listed_ids.extend(listed)
    token.set_options.CopyFrom(options)
    token.set_options.ClearField("next_page_token")
    return token


def _short(options: pb.ListOperationOptions) -> str:
    from google.protobuf import text_format

    return text_format.MessageToString(options, as_one_line=True)
