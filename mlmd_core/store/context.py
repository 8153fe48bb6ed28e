"""What one call carries through the engine: its cursor, its clock and the store-wide caches."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.sql import ClauseElement

from mlmd_core.store.sql import Cursor, Statement, Statements


class TypeInfo:
    """A stored type as validation needs it: kind, name and declared property types."""

    __slots__ = ("id", "kind", "name", "properties")

    def __init__(self, type_id: int, kind: int, name: str, properties: dict[str, int]):
        self.id = type_id
        self.kind = kind
        self.name = name
        self.properties = properties


class TypeCache(dict):
    """The store's types by id (dict[int, TypeInfo]), and the (kind, name) of each: put_type asks whether it
    has met a name without scanning every type."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[tuple[int, str]] = set()

    def add_all(self, infos: dict[int, TypeInfo]) -> None:
        self.update(infos)
        self.names.update((info.kind, info.name) for info in infos.values())

    def clear(self) -> None:
        super().clear()
        self.names.clear()


# The most rows a page of a listing holds over RPC, as in MLMD's server: its SQL LIMIT is capped at 101 (issue #201
# there), so a larger max_result_size gets 101 rows and no next_page_token.
RPC_PAGE_ROWS = 101


class Call(Cursor):
    """A cursor in the transaction of one service call. `page_rows`: the most rows a listing's page holds
    (RPC_PAGE_ROWS; None for the in-process client, whose pages are as large as it asks)."""

    __slots__ = ("type_cache", "page_rows", "_now", "_staged_types")

    def __init__(self, raw: Any, statements: Statements, type_cache: TypeCache, cursor: Any = None,
                 page_rows: int | None = RPC_PAGE_ROWS):
        super().__init__(raw, statements, cursor)
        self.type_cache = type_cache
        self.page_rows = page_rows
        self._now: int | None = None
        self._staged_types: dict[int, TypeInfo] = {}

    def now_ms(self) -> int:
        """One timestamp per call, so everything a call writes carries the same time."""
        if self._now is None:
            self._now = int(time.time() * 1000)
        return self._now

    def cached_type(self, type_id: int) -> TypeInfo | None:
        return self._staged_types.get(type_id) or self.type_cache.get(type_id)

    def stage_type(self, info: TypeInfo) -> None:
        """Types read or written in this call join the shared cache only if the call commits."""
        self._staged_types[info.id] = info

    def commit_caches(self) -> None:
        if self._staged_types:
            self.type_cache.add_all(self._staged_types)

    def q(self, key: Any, build: Callable[[], ClauseElement]) -> Statement:
        return self.statements.get(key, build)
