"""filter_query syntax tree -> the SQLAlchemy SELECT of the matching node ids.

MLMD's semantics: every neighbour alias and every property reference is an INNER JOIN (so it filters
the whole expression, also under OR and NOT), one join per distinct alias or property, and enum
comparisons with `!=` / `NOT IN` also match unset (NULL) values. Literal values always become bound
parameters; no text of the query reaches the SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, and_, bindparam, false, func, literal, not_, null, or_, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import visitors
from sqlalchemy.sql.expression import BindParameter, ColumnClause, ColumnElement

from mlmd_core import errors
from mlmd_core.filter import ast
from mlmd_core.proto import metadata_store_pb2 as pb
from mlmd_core.store import schema
from mlmd_core.store.engine import MYSQL_TEXT_CHARSET
from mlmd_core.store.kinds import ARTIFACT, CONTEXT, EXECUTION, NodeKind


# The filter language's string semantics are SQLite's (ml-metadata's reference backend): `=`, `<`, IN are
# case-sensitive, LIKE is not. MySQL's default collations compare case-insensitively and PostgreSQL's LIKE
# is case-sensitive, so both sides of a string comparison are BINARY on MySQL and LIKE is ILIKE on PostgreSQL.
class _Exact(ColumnElement):
    """A string operand compared byte for byte (BINARY on MySQL; unchanged elsewhere)."""

    inherit_cache = True

    def __init__(self, operand: Any):
        self.operand = operand
        self.type = getattr(operand, "type", None)


@compiles(_Exact)
def _exact_default(element: _Exact, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.operand, **kw)


@compiles(_Exact, "mysql")
def _exact_mysql(element: _Exact, compiler: Any, **kw: Any) -> str:
    """A value in the session's character set (latin1, ml-metadata's: backends.md) goes into the text columns'
    first, or its bytes would differ from theirs whenever it is not ASCII."""
    operand = compiler.process(element.operand, **kw)
    if isinstance(element.operand, BindParameter):
        charset = getattr(compiler.dialect, MYSQL_TEXT_CHARSET, None) or "utf8mb4"
        if not charset.isidentifier():
            raise errors.InternalError(f"Unexpected character set of the MySQL text columns: {charset!r}")
        return f"BINARY CONVERT({operand} USING {charset})"
    return f"BINARY {operand}"


class _IndexedMatch(ColumnElement):
    """An exact string `=` or `IN` that an index on the column can answer. BINARY (MySQL) hides the column
    from its indexes, so there the same comparison in the column's collation, true for every exact match,
    comes first for the index to use."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a condition as it is, not `(...) = 1`, which no index answers

    def __init__(self, plain: Any, exact: Any):
        self.plain, self.exact = plain, exact


@compiles(_IndexedMatch)
def _indexed_match_default(element: _IndexedMatch, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.exact, **kw)


@compiles(_IndexedMatch, "mysql")
def _indexed_match_mysql(element: _IndexedMatch, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.plain, **kw)} AND {compiler.process(element.exact, **kw)})"


class _Like(ColumnElement):
    """operand LIKE pattern, case-insensitive everywhere (ILIKE on PostgreSQL)."""

    inherit_cache = True
    type = Boolean()

    def __init__(self, operand: Any, pattern: Any):
        self.operand, self.pattern = operand, pattern


@compiles(_Like)
def _like_default(element: _Like, compiler: Any, **kw: Any) -> str:
    return f"{compiler.process(element.operand, **kw)} LIKE {compiler.process(element.pattern, **kw)}"


@compiles(_Like, "postgresql")
def _like_postgresql(element: _Like, compiler: Any, **kw: Any) -> str:
    return f"{compiler.process(element.operand, **kw)} ILIKE {compiler.process(element.pattern, **kw)}"


@dataclass(frozen=True)
class Enum:
    """An enum-typed column: the names a query may use, and their numbers."""

    name: str
    values: dict[str, int]


ARTIFACT_STATE = Enum("Artifact.State", {n: pb.Artifact.State.Value(n) for n in (
    "UNKNOWN", "PENDING", "LIVE", "MARKED_FOR_DELETION", "DELETED")})
EXECUTION_STATE = Enum("Execution.State", dict(pb.Execution.State.items()))
EVENT_TYPE = Enum("Event.Type", {n: pb.Event.Type.Value(n) for n in (
    "INPUT", "OUTPUT", "DECLARED_INPUT", "DECLARED_OUTPUT", "INTERNAL_INPUT", "INTERNAL_OUTPUT")})
ALL_ENUM_NAMES = set(pb.Artifact.State.keys()) | set(pb.Execution.State.keys()) | set(pb.Event.Type.keys())

INT, DOUBLE, STRING, BOOL = "INT64", "DOUBLE", "STRING", "BOOL"
NUMERIC = (INT, DOUBLE)
Type = Any  # one of the strings above, or an Enum


@dataclass(frozen=True)
class Value:
    sql: Any
    type: Type
    named: tuple[Any, NodeKind] | None = None  # (node table or alias, its kind) when this is the node's name


_COMMON = {"id": INT, "type_id": INT, "name": STRING, "external_id": STRING, "type": STRING,
           "create_time_since_epoch": INT, "last_update_time_since_epoch": INT}
ATTRIBUTES: dict[str, dict[str, Type]] = {
    "artifact": {**_COMMON, "uri": STRING, "state": ARTIFACT_STATE},
    "execution": {**_COMMON, "last_known_state": EXECUTION_STATE},
    "context": dict(_COMMON),
}
_NODE_FIELDS = ("id", "name", "type", "create_time_since_epoch", "last_update_time_since_epoch")
# prefix -> (kinds it may be used on, the neighbour's kind, the fields it exposes). ml-metadata fails on
# the time fields of parent/child contexts and on external_id of artifacts_/executions_; those work here.
NEIGHBOURS: dict[str, tuple[tuple[str, ...], NodeKind | None, tuple[str, ...]]] = {
    "contexts_": (("artifact", "execution"), CONTEXT, _NODE_FIELDS),
    "parent_contexts_": (("context",), CONTEXT, _NODE_FIELDS),
    "child_contexts_": (("context",), CONTEXT, _NODE_FIELDS),
    "artifacts_": (("context",), ARTIFACT, (*_NODE_FIELDS, "external_id", "uri", "state")),
    "executions_": (("context",), EXECUTION, (*_NODE_FIELDS, "external_id", "last_known_state")),
    "events_": (("artifact", "execution"), None, ("type", "milliseconds_since_epoch")),
}
PROPERTY_FIELDS = {"int_value": INT, "double_value": DOUBLE, "string_value": STRING, "bool_value": BOOL}


def _invalid(message: str) -> errors.StatusError:
    return errors.InvalidArgumentError(f"Invalid `filter_query`: {message}")


def _type_name(t: Type) -> str:
    return t.name if isinstance(t, Enum) else t


class _Compiler:
    """Compiles against the node table itself; every join is an alias plus its ON condition."""

    def __init__(self, kind: NodeKind, conjuncts: tuple[ast.Node, ...] = ()):
        self.kind = kind
        self.root = kind.table
        self.joined: dict[Any, Any] = {}
        self.on: list[Any] = []
        # The comparisons every match must satisfy (the condition's top-level AND), and for each node whose
        # name one of them looks up: `type_id IN (its kind's types)`. No index starts with the name; the
        # unique index (type_id, name) answers the lookup once type_id is bounded too, instead of a scan of
        # every node (a few types against thousands of nodes: one index probe per type). Always true, it is
        # ANDed to the condition; not under OR or NOT, where no index is used and it would only cost.
        self.conjuncts = {id(item) for item in conjuncts}
        self.name_leads: dict[Any, Any] = {}

    def _join(self, key: Any, table: Any, on: Any) -> Any:
        """The alias joined under `key` (joined once, so the same alias means the same row)."""
        alias = self.joined.get(key)
        if alias is None:
            alias = table.alias(f"table_{len(self.joined) + 1}")
            self.on.append(on(alias))
            self.joined[key] = alias
        return alias

    def _type_name(self, key: Any, node: Any, kind: NodeKind) -> Any:
        t = self._join(("type", key), schema.type_table,
                       lambda a: and_(a.c.id == node.c.type_id, a.c.type_kind == kind.type_kind))
        return t.c.name

    # ---------------------------------------------------------------------------------------- names

    def ref(self, ref: ast.Ref) -> Value:
        # Column and field names are case-insensitive (as in ZetaSQL); property names and aliases are not.
        parts = ref.parts
        head = written = parts[0]
        lowered = head.lower()
        if lowered in ("properties", "custom_properties"):
            head = lowered
            parts = (head, *parts[1:2], *(p.lower() for p in parts[2:]))
            object.__setattr__(ref, "parts", parts)
        else:
            prefix = next((p for p in NEIGHBOURS if lowered.startswith(p)), None)
            if prefix is not None:
                head = prefix + head[len(prefix):]
                parts = (head, *(p.lower() for p in parts[1:]))
            else:
                head = lowered
                parts = (head, *parts[1:])
            object.__setattr__(ref, "parts", parts)
        if head in ("properties", "custom_properties"):
            return self._property(ref)
        prefix = next((p for p in NEIGHBOURS if head.startswith(p) and len(head) > len(p)), None)
        if prefix is not None and head[len(prefix):].replace("_", "a").isalnum():
            return self._neighbour(ref, prefix, head[len(prefix):])
        attributes = ATTRIBUTES[self.kind.name]
        if head not in attributes:
            raise _invalid(f"Unrecognized name: {written} [at {ref.line}:{ref.column}]")
        if len(parts) > 1:
            raise _invalid(f"Cannot access field {parts[1]} on a value of type {_type_name(attributes[head])} "
                           f"[at {ref.line}:{ref.column}]")
        if head == "type":
            return Value(self._type_name("root", self.root, self.kind), STRING)
        if head == "name":
            return Value(self.root.c.name, STRING, (self.root, self.kind))
        return Value(self.root.c[head], attributes[head])

    def _property(self, ref: ast.Ref) -> Value:
        parts = ref.parts
        if len(parts) != 3:
            raise _invalid(f"Unrecognized name: {ref.text} [at {ref.line}:{ref.column}]")
        custom = parts[0] == "custom_properties"
        field_type = PROPERTY_FIELDS.get(parts[2])
        if field_type is None:
            raise _invalid(f"Field name {parts[2]} does not exist in {parts[0]}.{parts[1]} "
                           f"[at {ref.line}:{ref.column}]")
        kind, root = self.kind, self.root
        props = self._join(("property", custom, parts[1]), kind.props, lambda a: and_(
            a.c[kind.fk.name] == root.c.id, a.c.name == parts[1], a.c.is_custom_property == bool(custom)))
        return Value(props.c[parts[2]], field_type)

    def _neighbour(self, ref: ast.Ref, prefix: str, alias: str) -> Value:
        allowed_on, neighbour_kind, fields = NEIGHBOURS[prefix]
        head = ref.parts[0]
        if self.kind.name not in allowed_on:
            raise _invalid(f"Unrecognized name: {head} [at {ref.line}:{ref.column}]")
        if len(ref.parts) != 2:
            raise _invalid(f"Unrecognized name: {ref.text} [at {ref.line}:{ref.column}]")
        field = ref.parts[1]
        if prefix == "events_":
            fields = (*fields, "execution_id" if self.kind is ARTIFACT else "artifact_id")
        if field not in fields:
            raise _invalid(f"Field name {field} does not exist in {head} [at {ref.line}:{ref.column}]")
        root, key = self.root, (prefix, alias)
        if prefix == "events_":
            own = "artifact_id" if self.kind is ARTIFACT else "execution_id"
            event = self._join(key, schema.event, lambda a: a.c[own] == root.c.id)
            return Value(event.c[field], EVENT_TYPE if field == "type" else INT)
        link, mine, theirs = self._link(prefix)
        through = self._join((*key, "link"), link, lambda a: a.c[mine] == root.c.id)
        if field == "id":  # the link row has it: no need to join the neighbour itself
            return Value(through.c[theirs], INT)
        assert neighbour_kind is not None
        node = self._join(key, neighbour_kind.table, lambda a: a.c.id == through.c[theirs])
        if field == "type":
            return Value(self._type_name(key, node, neighbour_kind), STRING)
        if field == "name":
            return Value(node.c.name, STRING, (node, neighbour_kind))
        return Value(node.c[field], ATTRIBUTES[neighbour_kind.name][field])

    def _link(self, prefix: str) -> tuple[Any, str, str]:
        """(link table, its column pointing at the filtered node, its column pointing at the neighbour)."""
        if prefix == "contexts_":
            if self.kind is ARTIFACT:
                return schema.attribution, "artifact_id", "context_id"
            return schema.association, "execution_id", "context_id"
        if prefix == "parent_contexts_":
            return schema.parent_context, "context_id", "parent_context_id"
        if prefix == "child_contexts_":
            return schema.parent_context, "parent_context_id", "context_id"
        if prefix == "artifacts_":
            return schema.attribution, "context_id", "artifact_id"
        return schema.association, "context_id", "execution_id"

    # ----------------------------------------------------------------------------------- expressions

    def value(self, node: ast.Node) -> Value:
        if isinstance(node, ast.Ref):
            return self.ref(node)
        if isinstance(node, ast.Literal):
            v = node.value
            if v is None:
                return Value(None, None)
            if isinstance(v, bool):
                return Value(literal(v), BOOL)
            if isinstance(v, int) and not -(2**63) <= v < 2**63:
                raise _invalid(f"Invalid integer literal: {v}")
            sql = bindparam(f"filter_{node.slot}", v)  # bound per call from ast.literals()
            return Value(sql, INT if isinstance(v, int) else DOUBLE if isinstance(v, float) else STRING)
        if isinstance(node, ast.Arith):
            left, right = self.value(node.left), self.value(node.right)
            if left.type not in NUMERIC or right.type not in NUMERIC:
                raise _invalid(f"No matching signature for operator {node.op} for argument types: "
                               f"{_type_name(left.type)}, {_type_name(right.type)}")
            result = DOUBLE if DOUBLE in (left.type, right.type) or node.op == "/" else INT
            ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
                   "/": lambda a, b: a * 1.0 / b}
            return Value(ops[node.op](left.sql, right.sql), result)
        if isinstance(node, ast.Neg):
            if isinstance(node.operand, ast.Literal) and node.operand.value == 2**63:
                return Value(literal(-(2**63)), INT)  # int64's minimum (its shape is told apart: "bigint")
            operand = self.value(node.operand)
            if operand.type not in NUMERIC:
                raise _invalid(f"No matching signature for operator - for argument types: {_type_name(operand.type)}")
            return Value(-operand.sql, operand.type)
        if isinstance(node, ast.Call):
            if node.function not in ("LOWER", "UPPER") or len(node.args) != 1:
                raise _invalid(f"Function not found: {node.function}")
            arg = self.value(node.args[0])
            if arg.type != STRING:
                raise _invalid(f"No matching signature for function {node.function} for argument types: "
                               f"{_type_name(arg.type)}")
            return Value((func.lower if node.function == "LOWER" else func.upper)(arg.sql), STRING)
        return Value(self.predicate(node), BOOL)

    def _enum_value(self, enum: Enum, node: ast.Node, op: str = "=") -> int:
        if isinstance(node, ast.Literal) and isinstance(node.value, str):
            raise _invalid(f"No matching signature for operator {op} for argument types: {enum.name}, STRING")
        if isinstance(node, ast.Ref) and len(node.parts) == 1:
            name = node.parts[0]
            if name in enum.values:
                return enum.values[name]
            if name in ALL_ENUM_NAMES or name.upper() == name:
                raise _invalid(f"Unsupported enum value specified in the query: {name}")
        shown = node.value if isinstance(node, ast.Literal) else getattr(node, "text", type(node).__name__)
        raise _invalid(f"Unsupported enum value specified in the query: {shown}")

    def _operands(self, op: str, left: ast.Node, right: ast.Node) -> tuple[Value, Value, Enum | None]:
        """Both sides of a comparison, type-checked; enum literals become their numbers, strings are
        compared exactly."""
        for side in (left, right):
            if isinstance(side, ast.Literal) and side.value is None:
                raise _invalid(f"Operands of {op} cannot be literal NULL")
        if isinstance(left, ast.Ref):  # enum literals only on the right, as ml-metadata rewrites them
            column = self.ref(left)
            if isinstance(column.type, Enum):
                if op not in ("=", "!="):
                    raise _invalid(f"Operator {op} is not supported on {column.type.name}: use =, !=, IN or NOT IN")
                return column, Value(literal(self._enum_value(column.type, right, op)), column.type), column.type
        lv, rv = self.value(left), self.value(right)
        if not (lv.type == rv.type or (lv.type in NUMERIC and rv.type in NUMERIC)):
            raise _invalid(f"No matching signature for operator {op} for argument types: "
                           f"{_type_name(lv.type)}, {_type_name(rv.type)}")
        if lv.type == STRING:
            return Value(_Exact(lv.sql), STRING, lv.named), Value(_Exact(rv.sql), STRING, rv.named), None
        return lv, rv, None

    def _indexed(self, comparison: ast.Node, column: Value, exact: Any, plain: Any) -> Any:
        """An exact match of a string column against literals (`exact`; `plain`: the same in the column's
        collation), in the form the column's index can answer."""
        if column.named is not None and id(comparison) in self.conjuncts:
            node, kind = column.named
            if node not in self.name_leads:
                t = schema.type_table
                self.name_leads[node] = node.c.type_id.in_(select(t.c.id).where(t.c.type_kind == kind.type_kind))
        return _IndexedMatch(plain, exact)

    def predicate(self, node: ast.Node) -> Any:
        if isinstance(node, ast.BoolOp):
            parts = [self.predicate(item) for item in node.items]
            return and_(*parts) if node.op == "AND" else or_(*parts)
        if isinstance(node, ast.Not):
            return not_(self.predicate(node.operand))
        if isinstance(node, ast.Compare):
            lv, rv, enum = self._operands(node.op, node.left, node.right)
            left, right = lv.sql, rv.sql
            ops = {"=": left == right, "!=": left != right, "<": left < right, "<=": left <= right,
                   ">": left > right, ">=": left >= right}
            clause = ops[node.op]
            if enum is not None and node.op == "!=":
                clause = or_(clause, left.is_(None))
            if node.op == "=" and lv.type == STRING:
                for column, other in ((lv, node.right), (rv, node.left)):
                    if isinstance(other, ast.Literal):
                        return self._indexed(node, column, clause, left.operand == right.operand)
            return clause
        if isinstance(node, ast.Like):
            operand, pattern = self.value(node.operand), self.value(node.pattern)
            if operand.type != STRING or pattern.type != STRING:
                raise _invalid(f"No matching signature for operator LIKE for argument types: "
                               f"{_type_name(operand.type)}, {_type_name(pattern.type)}")
            clause = _Like(operand.sql, pattern.sql)
            return not_(clause) if node.negated else clause
        if isinstance(node, ast.In):
            operand = self.value(node.operand)
            if isinstance(operand.type, Enum):
                values = [literal(self._enum_value(operand.type, item)) for item in node.items]
                if node.negated:
                    return or_(operand.sql.notin_(values), operand.sql.is_(None))
                return operand.sql.in_(values)
            values = []
            for item in node.items:
                v = self.value(item)
                if v.type is None:  # NULL in a list: matches nothing, and makes NOT IN match nothing
                    values.append(null())
                    continue
                if not (v.type == operand.type or (v.type in NUMERIC and operand.type in NUMERIC)):
                    raise _invalid(f"No matching signature for operator IN for argument types: "
                                   f"{_type_name(operand.type)}, {_type_name(v.type)}")
                values.append(_Exact(v.sql) if operand.type == STRING else v.sql)
            column = _Exact(operand.sql) if operand.type == STRING else operand.sql
            if node.negated:
                return column.notin_(values)
            if operand.type == STRING and all(isinstance(item, ast.Literal) for item in node.items):
                plain = [v.operand if isinstance(v, _Exact) else v for v in values]
                return self._indexed(node, operand, column.in_(values), operand.sql.in_(plain))
            return column.in_(values)
        if isinstance(node, ast.IsNull):
            operand = self.value(node.operand)
            if operand.type is None:
                return false() if node.negated else true()
            return operand.sql.isnot(None) if node.negated else operand.sql.is_(None)
        if isinstance(node, ast.Between):
            if isinstance(node.operand, ast.Ref) and isinstance(self.ref(node.operand).type, Enum):
                raise _invalid("BETWEEN is not supported on enum fields: use =, !=, IN or NOT IN")
            low = self.predicate(ast.Compare(">=", node.operand, node.low))
            high = self.predicate(ast.Compare("<=", node.operand, node.high))
            clause = and_(low, high)
            return not_(clause) if node.negated else clause
        value = self.value(node)
        if value.type != BOOL:
            raise _invalid("Given query string is not a valid boolean expression")
        if isinstance(node, ast.Literal):
            return true() if node.value else false()
        return value.sql == literal(True)


def parameters(query: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """(shape of the query, its literal values as the parameters of condition()'s SQL)."""
    shape, values = ast.literals(query)
    return shape, {f"filter_{i}": v for i, v in enumerate(values)}


def _aliases(node: ast.Node) -> set[tuple[str, str]]:
    """The neighbour aliases (prefix, name) and properties ("properties", name) the expression refers to."""
    found, stack = set(), [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Ref):
            head = current.parts[0]
            prefix = next((p for p in NEIGHBOURS if head.lower().startswith(p) and len(head) > len(p)), None)
            if prefix is not None:
                found.add((prefix, head[len(prefix):]))
            elif head.lower() in ("properties", "custom_properties") and len(current.parts) > 1:
                found.add((head.lower(), current.parts[1]))
        else:
            stack.extend(ast.children(current))
    return found


def _is_name_lookup(node: ast.Node) -> bool:
    """`name = "..."` or `name IN ("...", ...)` on the filtered node."""
    def is_name(side: ast.Node) -> bool:
        return isinstance(side, ast.Ref) and len(side.parts) == 1 and side.parts[0].lower() == "name"

    if isinstance(node, ast.Compare) and node.op == "=":
        return ((is_name(node.left) and isinstance(node.right, ast.Literal))
                or (is_name(node.right) and isinstance(node.left, ast.Literal)))
    return (isinstance(node, ast.In) and not node.negated and is_name(node.operand)
            and all(isinstance(item, ast.Literal) for item in node.items))


def _independent_parts(tree: ast.Node) -> list[ast.Node]:
    """A top-level AND split into parts that share no neighbour alias or property.

    Each alias is existentially quantified, so `EXISTS a, b: P(a) AND Q(b)` equals
    `(EXISTS a: P(a)) AND (EXISTS b: Q(b))`; one subquery per part avoids the product of the aliases'
    rows, which grows exponentially with the number of aliases. (A property has at most one row per
    node, so splitting on properties changes nothing but the plan: see _part_condition.)"""
    if not (isinstance(tree, ast.BoolOp) and tree.op == "AND"):
        return [tree]
    groups: list[tuple[set, list[int]]] = []
    for index, item in enumerate(tree.items):
        # lookups of the node's own name join nothing: a part of their own, a condition on the node table
        # that its index answers (with the others, it would be in their subquery, tested node by node)
        aliases, members = _aliases(item) or ({("name",)} if _is_name_lookup(item) else set()), [index]
        kept = []
        for group_aliases, group_members in groups:
            if group_aliases & aliases or not (group_aliases or aliases):
                aliases |= group_aliases
                members += group_members
            else:
                kept.append((group_aliases, group_members))
        groups = [*kept, (aliases, members)]
    parts = []
    for _, members in sorted(groups, key=lambda group: min(group[1])):
        items = tuple(tree.items[i] for i in sorted(members))
        parts.append(items[0] if len(items) == 1 else ast.BoolOp("AND", items))
    return parts


def condition(kind: NodeKind, query: str) -> Any:
    """The WHERE condition on kind.table that keeps the nodes matching the filter query
    (InvalidArgumentError if the query is invalid)."""
    parts = [_part_condition(kind, part) for part in _independent_parts(ast.parse(query))]
    return parts[0] if len(parts) == 1 else and_(*parts)


def _uses_root(clause: Any, root: Any) -> bool:
    """Whether the clause reads a column of the node table other than its id."""
    return any(isinstance(e, ColumnClause) and e.table is root and e is not root.c.id
               for e in visitors.iterate(clause))


def _part_condition(kind: NodeKind, tree: ast.Node) -> Any:
    """The condition of one part whose aliases are joined together.

    The joins of a query hold together (one assignment of rows to all aliases must satisfy it), so they
    go into one subquery. It is a correlated EXISTS, which lets a page stop scanning once it is full,
    when every join can be probed by the node's id through an index; links to contexts
    (Attribution/Association) are indexed by context first, so those queries use `id IN (SELECT ...)`,
    which the database evaluates starting from the context side."""
    compiler = _Compiler(kind, tree.items if isinstance(tree, ast.BoolOp) and tree.op == "AND" else (tree,))
    where = compiler.predicate(tree)
    if compiler.name_leads:
        where = and_(*compiler.name_leads.values(), where)
    if not compiler.on:
        return where
    root, root_id = kind.table, kind.table.c.id
    [first_key, *others] = compiler.joined
    selective = (isinstance(tree, ast.Compare) and tree.op == "=") or (isinstance(tree, ast.In) and not tree.negated)
    if first_key[0] == "property" and not others and selective and not _uses_root(where, root):
        # An equality on one property (a cache key, a run id): `id IN (the property rows that match)`,
        # which the property index (name, is_custom_property, value) answers, instead of probing every node
        # in turn. Ranges keep the EXISTS form: they match many rows, and a page stops scanning once full.
        _, custom, name = first_key
        props = compiler.joined[first_key]
        return root_id.in_(select(props.c[kind.fk.name]).where(
            props.c.name == name, props.c.is_custom_property == bool(custom), where))
    link_key = next((key for key in compiler.joined if key[0] == "contexts_" and key[-1] == "link"), None)
    if link_key is None:
        return select(literal(1)).where(*compiler.on, where).exists()
    clauses = [*compiler.on, where]
    if any(_uses_root(clause, root) for clause in clauses):
        return root_id.in_(select(root_id).where(*clauses).correlate(None))
    # Only the node id is needed: take it from the link row, leaving the node table out of the subquery
    # (with it, SQLite scans the whole link table instead of starting from the matching contexts).
    node_id = compiler.joined[link_key].c["artifact_id" if kind is ARTIFACT else "execution_id"]
    del clauses[list(compiler.joined).index(link_key)]  # the link's own "node_id = root.id"
    clauses = [visitors.replacement_traverse(c, {}, lambda e: node_id if e is root_id else None) for c in clauses]
    return root_id.in_(select(node_id).where(*clauses))
