"""Statements compiled once per dialect and run on the DB-API cursor.

SQLAlchemy builds every statement (and owns dialects, pooling and DDL); this module only skips the
per-call compile/bind layer, which costs more than the SQLite work itself on the hot paths. Lists bound
with ``bindparam(name, expanding=True)`` are expanded here, per list length (on PostgreSQL, past
PG_ARRAY_ABOVE values, a list goes as one array; on SQLite, past SQLITE_MAX_PARAMETERS, as one JSON array).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import String, text
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

_EXPANDING = re.compile(r"__\[POSTCOMPILE_(\w+)\]")
_IN_LIST = re.compile(r"(NOT )?IN \(__\[POSTCOMPILE_\w+\]\)")
# psycopg parses a statement's text (%s -> $n) once and keeps it only up to 50 parameters; a longer list is
# parsed anew on every call (1 ms for 300), so on PostgreSQL longer lists go as arrays, one parameter each.
PG_ARRAY_ABOVE = 50


class Statement:
    """One statement for one dialect: its SQL text and the order of its (positional) parameters."""

    __slots__ = ("sql", "names", "expanding", "defaults", "_by_lengths", "_placeholder", "multi_row", "suffix",
                 "_array_sql", "_json_sql", "_unnest", "_update", "_quote", "pack", "_inline_parts", "last_rows",
                 "_sole_list", "rows_per_statement")

    def __init__(self, element: Any, dialect: Dialect):
        self.pack: packed_rows | None = None  # a packed_rows SELECT on MySQL
        self.last_rows: int | None = None  # how many rows it read last time (packed_rows without an estimate)
        if isinstance(element, packed_rows):
            if dialect.name == "mysql" and dialect.driver == "pymysql":
                self.pack = element
            element = element.element
        compiled = element.compile(dialect=dialect)
        if not compiled.positional:
            raise ValueError(f"the {dialect.name} engine must use a positional paramstyle")
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup)
        self.expanding = frozenset(_EXPANDING.findall(self.sql))
        # PostgreSQL, lists longer than PG_ARRAY_ABOVE: `= ANY(%s)` with an array, one text whatever the length.
        self._array_sql = (self._lists_as_one_value(lambda negated: "<> ALL(%s)" if negated else "= ANY(%s)")
                           if dialect.name == "postgresql" else None)
        # SQLite, more values than a statement may bind (a listing's page by update time excludes the ids listed
        # before it, all the rows sharing a time): each list as one JSON array.
        self._json_sql = (self._lists_as_one_value(
            lambda negated: f"{'NOT ' if negated else ''}IN (SELECT value FROM json_each(?))")
            if dialect.name == "sqlite" else None)
        # Values the statement carries itself (literals in WHERE clauses become bound parameters).
        self.defaults = {k: v for k, v in compiled.params.items() if v is not None}
        self._by_lengths: dict[tuple[int, ...], str] = {}
        # A statement whose one parameter is a list, on SQLite (ids IN (...): the point reads): bound by
        # its length alone, without bind()'s general path.
        self._sole_list = (self.names[0] if dialect.name == "sqlite" and len(self.names) == 1 and self.expanding
                           and not self.defaults else None)
        # MySQL: integer lists are written into the text (see _inlined); the text around each list.
        self._inline_parts = _EXPANDING.split(self.sql)[::2] if dialect.name == "mysql" and self.expanding else None
        self._placeholder = "?" if dialect.paramstyle == "qmark" else "%s"
        # An INSERT ... VALUES (...) of insert_values: servers send many rows as one multi-row statement
        # (PostgreSQL, past PG_ARRAY_ABOVE values: one array of each column's values, the same text for any count).
        self.multi_row = isinstance(element, insert_values)
        # SQLite too: one statement of n rows costs half what executemany of them does (its per-row reset and
        # step), 0.5 µs a row more while the statement text is not yet prepared.
        self.rows_per_statement = (max(1, SQLITE_MAX_PARAMETERS // max(1, len(self.names)))
                                   if dialect.name == "sqlite" else ROWS_PER_STATEMENT)
        self.suffix = element.suffix(dialect.identifier_preparer) if self.multi_row else ""
        self._unnest = element.unnest_text(dialect) if self.multi_row and dialect.name == "postgresql" else None
        # An update_by_id on MySQL: pymysql's executemany sends one UPDATE per row; rows_sql sends one in all.
        self._update = element if isinstance(element, update_by_id) and dialect.name == "mysql" else None
        self._quote = dialect.identifier_preparer

    def packing(self, params: Mapping[str, Any]) -> packed_rows | None:
        """How to pack this execution's rows (MySQL, when packed_rows finds it worth it), or None: plain rows."""
        if self.pack is None or not self.pack.worth_it(params, self.expanding, self.last_rows):
            return None
        return self.pack

    @property
    def batches_rows(self) -> bool:
        """Whether rows_sql sends many rows as one statement (insert_values; update_by_id on MySQL)."""
        return self.multi_row or self._update is not None

    def rows_params(self, rows: Sequence[tuple]) -> list[Any]:
        """The parameters of rows_sql(len(rows)) for these row tuples."""
        if self._update is not None:
            return self._update.rows_params(rows)
        if self._unnest is not None and self._unnests(len(rows)):
            return [list(column) for column in zip(*rows)]
        return [v for row in rows for v in row]

    def _unnests(self, count: int) -> bool:
        return self._unnest is not None and count * len(self.names) > PG_ARRAY_ABOVE

    def rows_sql(self, count: int, returning: bool) -> str:
        """The statement for `count` row tuples at once (an INSERT with RETURNING id if asked)."""
        key = (-count, returning)
        sql = self._by_lengths.get(key)  # type: ignore[call-overload]
        if sql is None:
            if self._unnests(count):
                sql = self._unnest + (" RETURNING id" if returning else "")  # type: ignore[operator]
            elif self._update is not None:
                sql = self._update.rows_text(self._quote, count)
            else:
                head, sep, values = self.sql.removesuffix(self.suffix).rpartition(" VALUES ")
                sql = head + sep + ", ".join([values] * count) + self.suffix + (" RETURNING id" if returning else "")
            self._by_lengths[key] = sql  # type: ignore[index]
        return sql

    def bind(self, params: Mapping[str, Any]) -> tuple[str, Any]:
        """SQL text and parameters for one execution; list parameters are expanded in place."""
        if self._sole_list is not None:
            values = params[self._sole_list]
            if not isinstance(values, (list, tuple)):  # the driver binds a sequence
                values = list(values)
            if len(values) > SQLITE_MAX_PARAMETERS:
                return self._json_sql, [json.dumps(list(values))]  # type: ignore[return-value]
            key = (len(values),)
            sql = self._by_lengths.get(key)
            if sql is None:
                sql = self._by_lengths[key] = self._expanded(key)
            return sql, values
        if self.defaults:
            params = {**self.defaults, **params}
        if not self.expanding:
            return self.sql, tuple(params[n] for n in self.names)
        if self._inline_parts is not None and (inlined := self._inlined(params)) is not None:
            return inlined
        if self._array_sql is not None and self._bound_values(params) > PG_ARRAY_ABOVE:
            return self._array_sql, tuple(list(params[n]) if n in self.expanding else params[n] for n in self.names)
        if self._json_sql is not None and self._bound_values(params) > SQLITE_MAX_PARAMETERS:
            return self._json_sql, tuple(json.dumps(list(params[n])) if n in self.expanding else params[n]
                                         for n in self.names)
        values: list[Any] = []
        lengths: list[int] = []
        for name in self.names:
            value = params[name]
            if name in self.expanding:
                values.extend(value)
                lengths.append(len(value))
            else:
                values.append(value)
        key = tuple(lengths)
        sql = self._by_lengths.get(key)
        if sql is None:
            sql = self._by_lengths[key] = self._expanded(key)
        return sql, values

    def _lists_as_one_value(self, written: Callable[[bool], str]) -> str | None:
        """The SQL text with each `[NOT] IN (list)` replaced by `written(negated)`, which binds the list as one
        value; None without lists. A list anywhere else is refused (ValueError)."""
        if not self.expanding:
            return None
        sql = _IN_LIST.sub(lambda m: written(bool(m.group(1))), self.sql)
        if _EXPANDING.search(sql):
            raise ValueError(f"a list parameter outside [NOT] IN (...): {self.sql}")
        return sql

    def _bound_values(self, params: Mapping[str, Any]) -> int:
        """How many values an execution binds with its lists expanded."""
        return len(self.names) - len(self.expanding) + sum(len(params[n]) for n in self.expanding)

    def _expanded(self, lengths: tuple[int, ...]) -> str:
        """The SQL text with its lists expanded to these lengths."""
        counts = iter(lengths)
        return _EXPANDING.sub(lambda _: ", ".join([self._placeholder] * next(counts)) or "NULL", self.sql)

    def _inlined(self, params: Mapping[str, Any]) -> tuple[str, list[Any]] | None:
        """MySQL: the statement with its integer lists written into the text, as pymysql would write them
        (it sends no parameters, only text), but without escaping each value in Python (≈ 1 µs a value: a
        lineage query binds 600 ids). None when a list holds anything but ints (True/False go as 1/0, as
        pymysql writes them)."""
        values: list[Any] = []
        lists: list[str] = []
        try:
            for name in self.names:
                value = params[name]
                if name in self.expanding:
                    lists.append(", ".join(map(int.__repr__, value)) or "NULL")
                else:
                    values.append(value)
        except TypeError:
            return None
        parts = self._inline_parts
        return "".join([part + inlined for part, inlined in zip(parts, lists)]) + parts[-1], values


# How a many-row INSERT learns its new ids (Database.insert_strategy):
#   "sqlite"      multi-row INSERTs under the write lock, then last_insert_rowid(): the ids are consecutive;
#   "returning"   one multi-row INSERT ... RETURNING id (PostgreSQL, MariaDB >= 10.5); a statement assigns
#                 autoincrement/sequence values in row order, so the sorted ids are the rows' ids, even when
#                 concurrent inserts interleave;
#   "consecutive" one multi-row INSERT and its first id (MySQL with innodb_autoinc_lock_mode 0 or 1, which
#                 gives a simple multi-row insert consecutive ids: each the last plus auto_increment_increment,
#                 Statements.id_step, which is None where they may interleave);
#   "per_row"     one INSERT per row (MySQL with interleaved autoincrement locking: the only safe way).
INSERT_STRATEGIES = ("sqlite", "returning", "consecutive", "per_row")
# Rows per multi-row statement: PostgreSQL binds at most 65535 parameters, our rows have at most 10.
ROWS_PER_STATEMENT = 1000
# SQLite builds before 3.32 bind at most 999 parameters in a statement (32766 since).
SQLITE_MAX_PARAMETERS = 999
# Deferred writes on MySQL go in queries of about this size, well under max_allowed_packet (16 MiB by default).
_MULTI_STATEMENT_BYTES = 1 << 20


# SQLite statements, shared by every SQLite store of the process: with no server there is nothing per database in
# them (a server's depend on its settings, e.g. MySQL's text character set), so each is compiled once per process
# (the everyday ones when the process opens its first SQLite store, mlmd_core.warm_up), and not at all by a process
# forked from one that compiled it (Airflow's task processes: mlmd_airflow's listener warms them when the plugin
# loads).
_SQLITE_STATEMENTS: dict[Any, Statement] = {}
# A statement cache (the shared one, a server store's own) starts afresh past this many statements: a filter
# query's shape is part of its statements' keys, and a long-lived process (the gRPC server) may meet ever new
# ones. Everyday calls use far fewer (mlmd_bench.py's workloads: 57; the filter and paging tests: about 1,500).
STATEMENTS_KEPT = 4096


class Statements:
    """The compiled statements of one dialect, built on first use from a key and a builder."""

    def __init__(self, dialect: Dialect, insert_strategy: str | None = None, id_step: int | None = None):
        self.dialect = dialect
        self.insert_strategy = insert_strategy or ("sqlite" if dialect.name == "sqlite" else "returning")
        self.id_step = id_step
        self._cache: dict[Any, Statement] = {}
        self._shared = _SQLITE_STATEMENTS if dialect.name == "sqlite" else None

    def get(self, key: Any, build: Callable[[], ClauseElement]) -> Statement:
        stmt = self._cache.get(key)
        if stmt is None:
            if self._shared is None:
                stmt = Statement(build(), self.dialect)
            else:  # what the compiled text depends on besides the key
                dialect = self.dialect
                shared_key = (dialect.driver, dialect.paramstyle, dialect.server_version_info, key)
                stmt = self._shared.get(shared_key)
                if stmt is None:
                    _make_room(self._shared)
                    stmt = self._shared[shared_key] = Statement(build(), dialect)
            _make_room(self._cache)
            self._cache[key] = stmt
        return stmt


def _make_room(cache: dict[Any, Statement]) -> None:
    """Empties a full statement cache (see STATEMENTS_KEPT): statements in use stay valid, the ones still needed
    are compiled again."""
    if len(cache) >= STATEMENTS_KEPT:
        cache.clear()


def _multi_statements(parts: Sequence[bytes]) -> list[bytes]:
    """MySQL statements (with their values in) joined into multi-statement queries of about
    _MULTI_STATEMENT_BYTES each, well under the server's max_allowed_packet; a longer statement goes alone."""
    groups: list[list[bytes]] = []
    size = 0
    for part in parts:
        if not groups or size + len(part) > _MULTI_STATEMENT_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(part)
        size += len(part) + 2
    return [b";\n".join(group) for group in groups]


def _multi_row(stmt: Statement, rows: Sequence[tuple], returning: bool = False) -> list[tuple[str, Any]]:
    """(SQL, parameters) of the multi-row statements that write `rows`, stmt.rows_per_statement a piece
    (INSERTs returning their new ids if asked)."""
    size = stmt.rows_per_statement
    chunks = [rows[start : start + size] for start in range(0, len(rows), size)] if len(rows) > size else [rows]
    return [(stmt.rows_sql(len(chunk), returning), stmt.rows_params(chunk)) for chunk in chunks]


class Cursor:
    """A DB-API connection inside one transaction, running compiled statements."""

    __slots__ = ("raw", "statements", "dialect_name", "_cursor", "_deferred")

    def __init__(self, raw: Any, statements: Statements, cursor: Any = None):
        self.raw = raw
        self.statements = statements
        self.dialect_name: str = statements.dialect.name
        self._cursor = raw.cursor() if cursor is None else cursor  # the connection's kept one (Database.acquire)
        self._deferred: list[tuple[str, Any]] = []  # (sql, parameters) of defer(), sent by send_deferred()

    def stmt(self, key: Any, build: Callable[[], ClauseElement]) -> Statement:
        return self.statements.get(key, build)

    def run(self, stmt: Statement, params: Mapping[str, Any] | None = None) -> Any:
        sql, values = stmt.bind(params or {})
        self._cursor.execute(sql, values)
        return self._cursor

    def all(self, stmt: Statement, params: Mapping[str, Any] | None = None) -> Sequence[tuple]:
        params = params or {}
        if stmt.pack is None:
            sql, values = stmt.bind(params)
            cursor = self._cursor
            cursor.execute(sql, values)
            return cursor.fetchall()
        pack = stmt.packing(params)
        sql, values = stmt.bind(params)
        self._cursor.execute(sql if pack is None else pack.before + sql + pack.after, values)
        return self._packable_rows(stmt, pack, self._cursor.fetchall(), (sql, values))

    def _packable_rows(self, stmt: Statement, pack: packed_rows | None, result: Sequence[tuple],
                       bound: tuple[str, Any]) -> Sequence[tuple]:
        """The rows of a packed_rows statement from its `result` (one packed row when `pack`), read again
        unpacked (`bound`) when they did not fit; the statement keeps their count for its next size estimate."""
        rows = result if pack is None else pack.rows(result[0])
        if rows is None:
            self._cursor.execute(*bound)
            rows = self._cursor.fetchall()
        stmt.last_rows = len(rows)
        return rows

    def all_each(self, items: Sequence[tuple[Statement, Mapping[str, Any]]]) -> list[Sequence[tuple]]:
        """The rows of several statements that do not depend on each other, in one round trip on a server:
        one multi-statement query on MySQL (a round trip costs about what a small statement does), a pipeline
        on PostgreSQL; one after the other on SQLite, where a statement costs no round trip."""
        if self.dialect_name == "sqlite":
            return [self.all(stmt, params) for stmt, params in items]
        return self.all_each_and_insert(items, ())[0]

    def all_each_and_insert(self, items: Sequence[tuple[Statement, Mapping[str, Any]]],
                            inserts: Sequence[tuple[Statement, Sequence[tuple]]]
                            ) -> tuple[list[Sequence[tuple]], list[list[int]]]:
        """all_each, and the new ids of many-row INSERTs (as insert_ids) that neither depend on those reads nor
        on each other, all in one round trip where the INSERTs return their ids (INSERT ... RETURNING)."""
        dialect = self.dialect_name
        returning = self.statements.insert_strategy == "returning"
        if dialect == "sqlite" or (inserts and not returning) or (not inserts and len(items) < 2):
            return [self.all(stmt, params) for stmt, params in items], [self.insert_ids(s, r) for s, r in inserts]
        bound = [stmt.bind(params) for stmt, params in items]
        packs = [stmt.packing(params) for stmt, params in items] if dialect == "mysql" else [None] * len(items)
        sent = [(sql if pack is None else pack.before + sql + pack.after, values)
                for (sql, values), pack in zip(bound, packs)]
        chunks_of_inserts = []  # how many statements each insert takes (ROWS_PER_STATEMENT rows a statement)
        for stmt, rows in inserts:
            statements = _multi_row(stmt, rows, returning=True)
            sent.extend(statements)
            chunks_of_inserts.append(len(statements))
        cursor = self._cursor
        if dialect == "mysql":
            results = []
            for query in _multi_statements(self._mogrified(sent)):
                cursor.execute(query)
                results.append(cursor.fetchall())
                while cursor.nextset():
                    results.append(cursor.fetchall())
        elif len(sent) == 1:
            cursor.execute(*sent[0])
            results = [cursor.fetchall()]
        else:
            cursors = []
            with self.raw.pipeline():
                for sql, values in sent:
                    each = self.raw.cursor()
                    each.execute(sql, values)
                    cursors.append(each)
            results = [each.fetchall() for each in cursors]
        rows = [result if stmt.pack is None else self._packable_rows(stmt, pack, result, each)
                for (stmt, _), pack, result, each in zip(items, packs, results, bound)]
        ids: list[list[int]] = []
        at = len(items)
        for count in chunks_of_inserts:
            # a statement assigns its ids in row order (see INSERT_STRATEGIES): sorted, they are the rows'
            ids.append([i for result in results[at : at + count] for i in sorted(int(r[0]) for r in result)])
            at += count
        return rows, ids

    def defer(self, stmt: Statement, rows: Sequence[tuple]) -> None:
        """many_tuples for a write whose outcome nothing later in the call reads (property rows, links, event
        paths, updates of nodes already read): on a server it waits for send_deferred(), which SqlService.run
        calls when the handler is done and which sends all such writes in one round trip (on MySQL together
        with the COMMIT); SQLite, with no round trips, runs it now.
        Its errors are raised there, before the commit, so the call is still all-or-nothing."""
        if not rows:
            return
        if self.dialect_name == "sqlite":
            self.many_tuples(stmt, rows)
        elif stmt.batches_rows and len(rows) > 1:
            self._deferred.extend(_multi_row(stmt, rows))
        else:
            self._deferred.extend((stmt.sql, row) for row in rows)

    def send_deferred(self, commit: bool) -> bool:
        """Sends the deferred writes, followed by COMMIT when `commit` (then True is returned: the transaction
        is committed): on MySQL as multi-statement queries of up to about a megabyte, on PostgreSQL in one
        pipeline."""
        if not self._deferred:
            return False
        deferred, self._deferred = self._deferred, []
        cursor = self._cursor
        if self.dialect_name != "mysql":
            with self.raw.pipeline():
                for sql, values in deferred:
                    cursor.execute(sql, values)
                if commit:
                    cursor.execute("COMMIT")
            return commit
        for query in _multi_statements(self._mogrified(deferred) + ([b"COMMIT"] if commit else [])):
            cursor.execute(query)
            while cursor.nextset():  # a statement's error is raised when its result is read
                pass
        return commit

    def _mogrified(self, bound: Sequence[tuple[str, Any]]) -> list[bytes]:
        """Statements with their values in, for one MySQL multi-statement query (the connection has
        CLIENT.MULTI_STATEMENTS), each as the driver's execute would send it (engine._mysql_cursor_class)."""
        query_bytes = self._cursor.query_bytes
        return [query_bytes(sql, values) for sql, values in bound]

    def one(self, stmt: Statement, params: Mapping[str, Any] | None = None) -> tuple | None:
        return self.run(stmt, params).fetchone()

    def many_tuples(self, stmt: Statement, rows: Sequence[tuple]) -> None:
        """Writes rows given as tuples in the order of the statement's parameters (for insert_values: the
        column order given there). The fast path for bulk inserts: an insert_values batch goes as multi-row
        INSERTs (on a server one round trip per ROWS_PER_STATEMENT rows), other statements by executemany."""
        if not rows:
            return
        if len(rows) == 1:
            self._cursor.execute(stmt.sql, rows[0])
        elif stmt.batches_rows:
            for sql, params in _multi_row(stmt, rows):
                self._cursor.execute(sql, params)
        else:
            self._cursor.executemany(stmt.sql, rows)

    def all_after_type_lock(self, stmt: Statement, params: Mapping[str, Any]) -> Sequence[tuple] | None:
        """On servers: waits for (and then blocks) other calls creating types until this transaction ends, so
        processes racing to create the same type create it once (Type.name is not unique in MLMD's schema),
        then reads `stmt` — one round trip for both. None on SQLite, whose writers are serialized already
        (BEGIN IMMEDIATE): there is nothing to look at again."""
        if self.dialect_name == "sqlite":
            return None
        lock = self.statements.get("type_write_lock", lambda: text("SELECT schema_version FROM MLMDEnv FOR UPDATE"))
        return self.all_each([(lock, {}), (stmt, params)])[1]

    def chunked(self, values: Iterable[Any], size: int = 500) -> list[list[Any]]:
        """Splits a long IN-list so no statement exceeds a backend's parameter limit."""
        values = values if isinstance(values, list) else list(values)
        if len(values) <= size:
            return [values] if values else []
        return [values[start : start + size] for start in range(0, len(values), size)]

    def zip_chunks(self, lists: Sequence[list[Any]], size: int = 500) -> list[tuple[list[Any], ...]]:
        """chunked() for a statement with several IN-lists: their chunks side by side (empty past a list's end)."""
        count = max((-(-len(v) // size) for v in lists), default=0)
        return [tuple(v[i * size:(i + 1) * size] for v in lists) for i in range(count)]

    def insert_ids(self, stmt: Statement, rows: Sequence[tuple]) -> list[int]:
        """Runs a many-row INSERT (tuples as for many_tuples) and returns the new ids in row order.

        How depends on the backend (see INSERT_STRATEGIES); on SQLite the call holds the database's write
        lock (BEGIN IMMEDIATE), so the ids of its INSERTs are consecutive and end at the last insert id."""
        if not rows:
            return []
        strategy = self.statements.insert_strategy
        cursor = self._cursor
        if strategy == "sqlite":
            if len(rows) == 1:
                cursor.execute(stmt.sql, rows[0])
                return [int(cursor.lastrowid)]
            self.many_tuples(stmt, rows)  # multi-row INSERTs (insert_values), each setting lastrowid
            last = int(cursor.lastrowid)
            return list(range(last - len(rows) + 1, last + 1))
        if strategy == "returning":
            return self.all_each_and_insert((), [(stmt, rows)])[1][0]
        ids: list[int] = []
        if strategy == "per_row":
            for row in rows:
                cursor.execute(stmt.sql, row)
                ids.append(int(cursor.lastrowid))
            return ids
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            cursor.execute(stmt.rows_sql(len(chunk), False), stmt.rows_params(chunk))
            first, step = int(cursor.lastrowid), self.statements.id_step or 1  # never None with this strategy
            ids.extend(range(first, first + len(chunk) * step, step))
        return ids


PACK_FROM_VALUES = 400  # see packed_rows.worth_it


class packed_rows:  # noqa: N801 - used like a statement constructor
    """A SELECT of many rows that MySQL sends as one JSON text, which json.loads parses in C: pymysql parses
    every value of every row in Python, most of the time of a read of hundreds of rows (a lineage query's
    850 rows: 11 ms of 16 on MariaDB). JSON carries integers, text and doubles exactly (as MySQL's own text
    does: both give -0.0 as 0); `binary` columns go as hex. MySQL may drop an ORDER BY in the derived table the
    rows are read from, so `order` (a sort key of a row; `descending`) puts them in the SELECT's order again;
    without it they come in no particular order. Other backends and drivers run the SELECT as it is (SQLite has
    no wire; psycopg and MySQL's mysqlclient parse in C)."""

    def __init__(self, element: Any, columns: int | None = None, order: Callable[[tuple], Any] | None = None,
                 descending: bool = False, binary: Sequence[int] = (),
                 expected_rows: Callable[[Mapping[str, Any]], int] | None = None):
        self.element = element
        self.order, self.descending, self.binary = order, descending, tuple(binary)
        self.columns = len(element.selected_columns) if columns is None else columns
        self.expected_rows = expected_rows
        names = [f"c{i}" for i in range(self.columns)]
        values = ", ".join(f"HEX({name})" if i in self.binary else name for i, name in enumerate(names))
        # The row count tells an empty result from one too large for a packet (MySQL makes that NULL, with a
        # warning); sessions set group_concat_max_len high enough (engine.py) for max_allowed_packet to be the
        # only limit. The text is sent as the session's latin1 would send it (the UTF-8 that ml-metadata's
        # client wrote, see engine.py) but as binary, which pymysql passes on undecoded (a text cut short
        # may end inside a character).
        self.before = f"WITH packed({', '.join(names)}) AS ("
        self.after = (f") SELECT COUNT(*), CONVERT(CONVERT(CONCAT('[', GROUP_CONCAT(JSON_ARRAY({values}) SEPARATOR "
                      f"','), ']') USING latin1) USING binary) FROM packed")

    def worth_it(self, params: Mapping[str, Any], lists: Iterable[str], last_rows: int | None) -> bool:
        """Whether to pack this time: packing costs the server ≈ 0.2 ms a statement (MariaDB 10.11) and some
        more a row, and saves pymysql ≈ 1 µs a value (one artifact by id: 359 -> 534 µs packed; a hundred:
        1,254 -> 993 µs), so a result of fewer than PACK_FROM_VALUES values (a point read) goes plain. The rows
        expected: `expected_rows`, else as many as the list parameters hold values, else as many as the
        statement read last time (`last_rows`: the nodes of a context, of a type; plain the first time)."""
        if self.expected_rows is not None:
            rows = self.expected_rows(params)
        elif lists:
            rows = sum(len(params[name]) for name in lists)
        elif last_rows is not None:
            rows = last_rows
        else:
            return False
        return rows * self.columns >= PACK_FROM_VALUES

    def rows(self, result: Sequence[Any]) -> list[tuple] | None:
        """The rows of a packed result; None when they did not fit (the caller runs the SELECT unpacked)."""
        count, document = result
        if not count:
            return []
        if document is None:
            return None
        try:
            rows = json.loads(document)
        except ValueError:  # cut short at group_concat_max_len (UnicodeDecodeError is a ValueError too)
            return None
        if len(rows) != count:
            return None
        for row in rows if self.binary else ():
            for i in self.binary:
                if row[i] is not None:
                    row[i] = bytes.fromhex(row[i])
        rows = list(map(tuple, rows))
        if self.order is not None:
            rows.sort(key=self.order, reverse=self.descending)
        return rows


class _TextStatement:
    """A statement written as text with parameters named like columns, in the order given (SQLAlchemy's
    insert()/update() order them by table column), so rows can be passed as tuples."""

    def __init__(self, table: Any, names: tuple[str, ...]):
        self.table = table
        self.names = names

    def text(self, quote: Any) -> str:
        raise NotImplementedError

    def compile(self, dialect: Dialect) -> Any:
        """The text with the dialect's positional placeholders, as SQLAlchemy would compile it, but without its
        compiler (≈ 0.2 ms a statement, on the first call that needs it)."""
        written = self.text(dialect.identifier_preparer)
        placeholder = _PLACEHOLDERS.get(dialect.paramstyle)
        if placeholder is None:
            raise ValueError(f"the {dialect.name} engine must use a positional paramstyle (qmark or format)")
        if placeholder == "%s":
            written = written.replace("%", "%%")
        return _Compiled(_TEXT_PARAMETER.sub(placeholder, written), tuple(_TEXT_PARAMETER.findall(written)))


# Positional placeholders by DB-API paramstyle, and a `:name` parameter of a _TextStatement's text (not `::type`).
_PLACEHOLDERS = {"qmark": "?", "format": "%s"}
_TEXT_PARAMETER = re.compile(r"(?<!:):(\w+)")


class _Compiled:
    """What Statement reads of a compiled statement."""

    positional = True

    def __init__(self, string: str, positiontup: tuple[str, ...]):
        self.string = string
        self.positiontup = positiontup
        self.params: dict[str, Any] = {}


class insert_values(_TextStatement):  # noqa: N801 - used like a statement constructor
    """INSERT INTO table (names...) VALUES (:names...); with `skip_duplicates`, rows that would break a unique
    key are left out (INSERT OR IGNORE / INSERT IGNORE / ON CONFLICT DO NOTHING), in the same statement.
    `expressions` gives some columns an SQL expression of their parameter instead (e.g. `LAST_INSERT_ID() +
    :event_id`)."""

    def __init__(self, table: Any, *names: str, skip_duplicates: bool = False,
                 expressions: Mapping[str, str] | None = None):
        super().__init__(table, names)
        self.skip_duplicates = skip_duplicates
        self.expressions = dict(expressions or {})

    def text(self, quote: Any) -> str:
        columns = ", ".join(quote.quote(n) for n in self.names)
        params = ", ".join(self.expressions.get(n, f":{n}") for n in self.names)
        verb = "INSERT"
        if self.skip_duplicates:
            verb = {"sqlite": "INSERT OR IGNORE", "mysql": "INSERT IGNORE"}.get(quote.dialect.name, verb)
        return f"{verb} INTO {quote.format_table(self.table)} ({columns}) VALUES ({params}){self.suffix(quote)}"

    def suffix(self, quote: Any) -> str:
        """What follows the VALUES tuples (a multi-row statement repeats the tuple, not this)."""
        return " ON CONFLICT DO NOTHING" if self.skip_duplicates and quote.dialect.name == "postgresql" else ""

    def unnest_text(self, dialect: Dialect) -> str:
        """PostgreSQL: the rows as one array parameter per column, in row order (the order ids are given in).
        Text arrays are TEXT[]: a cast to VARCHAR(255) would cut a longer value silently, where the insert into
        the column refuses it."""
        quote = dialect.identifier_preparer
        columns = ", ".join(quote.quote(n) for n in self.names)
        types = ("TEXT" if isinstance(self.table.c[n].type, String) else self.table.c[n].type.compile(dialect)
                 for n in self.names)
        arrays = ", ".join(f"%s::{t}[]" for t in types)
        table = quote.format_table(self.table)
        return f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays}){self.suffix(quote)}"


class update_by_id(_TextStatement):  # noqa: N801 - used like a statement constructor
    """UPDATE table SET name = :name, ... WHERE id = :row_id (the id comes last in a row tuple)."""

    def __init__(self, table: Any, *names: str):
        super().__init__(table, names)

    def text(self, quote: Any) -> str:
        sets = ", ".join(f"{quote.quote(n)} = :{n}" for n in self.names)
        return f"UPDATE {quote.format_table(self.table)} SET {sets} WHERE {quote.quote('id')} = :row_id"

    def rows_text(self, quote: Any, count: int) -> str:
        """MySQL: `count` rows (with distinct ids) in one statement, each column set by a CASE on the id (the
        WHERE id IN (...) keeps it a primary-key lookup; a join to a derived table of the rows scans the table)."""
        cases = " ".join(["WHEN %s THEN %s"] * count)
        sets = ", ".join(f"{quote.quote(n)} = CASE {quote.quote('id')} {cases} END" for n in self.names)
        ids = ", ".join(["%s"] * count)
        return f"UPDATE {quote.format_table(self.table)} SET {sets} WHERE {quote.quote('id')} IN ({ids})"

    def rows_params(self, rows: Sequence[tuple]) -> list[Any]:
        """rows_text's parameters for row tuples (values..., id): (id, value) pairs column by column, then the ids."""
        params = [v for column in range(len(self.names)) for row in rows for v in (row[-1], row[column])]
        params.extend(row[-1] for row in rows)
        return params
