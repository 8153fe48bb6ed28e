"""A reference evaluator of ml-metadata's filter_query, for the property-based tests.

It works on its own syntax tree (built by the tests, rendered to query text with `render`) and on an
in-Python model of the store (`Node`), and implements MLMD's semantics directly:

* every neighbour alias (`contexts_a`, `events_0`, ...) and every property (`properties.p`,
  `custom_properties.p`) mentioned anywhere in the query must be bound to one joined row; a node matches
  iff some assignment of rows to all of them makes the expression TRUE (so they act as existential
  filters even under OR and NOT, and the same alias is the same row everywhere in the query);
* SQL three-valued logic (NULL for missing values);
* enum `!=` and `NOT IN` also match NULL;
* SQLite string semantics: `=` and `<` compare code points (UTF-8 bytes), LIKE is case-insensitive for
  ASCII letters only, LOWER/UPPER change ASCII letters only.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

ARTIFACT_STATES = {"UNKNOWN": 0, "PENDING": 1, "LIVE": 2, "MARKED_FOR_DELETION": 3, "DELETED": 4}
EXECUTION_STATES = {"UNKNOWN": 0, "NEW": 1, "RUNNING": 2, "COMPLETE": 3, "FAILED": 4, "CACHED": 5, "CANCELED": 6}
EVENT_TYPES = {"DECLARED_OUTPUT": 1, "DECLARED_INPUT": 2, "INPUT": 3, "OUTPUT": 4, "INTERNAL_INPUT": 5,
               "INTERNAL_OUTPUT": 6}
ENUMS = {"state": ARTIFACT_STATES, "last_known_state": EXECUTION_STATES, "event_type": EVENT_TYPES}


_FIELD_TYPES = {"int_value": "INT", "double_value": "DOUBLE", "string_value": "STRING", "bool_value": "BOOL"}

# ------------------------------------------------------------------------------------------ the model


@dataclass
class Node:
    """One artifact, execution or context as the filter sees it."""

    id: int
    attrs: dict[str, Any]  # attribute name -> value (None for NULL); enums as numbers
    props: dict[tuple[bool, str], dict[str, Any]] = field(default_factory=dict)  # (custom, name) -> fields
    links: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # prefix -> neighbour rows


# ------------------------------------------------------------------------------------- the syntax tree


@dataclass(frozen=True)
class Attr:
    name: str
    type: str  # INT DOUBLE STRING BOOL or an ENUMS key


@dataclass(frozen=True)
class Prop:
    custom: bool
    name: str
    field: str  # int_value double_value string_value bool_value

    @property
    def type(self) -> str:
        return _FIELD_TYPES[self.field]


@dataclass(frozen=True)
class Neighbour:
    prefix: str  # contexts_ parent_contexts_ child_contexts_ artifacts_ executions_ events_
    alias: str
    field: str
    type: str


@dataclass(frozen=True)
class Lit:
    value: Any  # int, float, str or bool
    quote: str = "'"


@dataclass(frozen=True)
class EnumLit:
    name: str


@dataclass(frozen=True)
class Arith:
    op: str  # + -
    left: Any
    right: Any


@dataclass(frozen=True)
class Func:
    name: str  # LOWER UPPER
    arg: Any


@dataclass(frozen=True)
class Cmp:
    op: str  # = != <> < <= > >=
    left: Any
    right: Any


@dataclass(frozen=True)
class Like:
    operand: Any
    pattern: Any
    negated: bool


@dataclass(frozen=True)
class In:
    operand: Any
    items: tuple
    negated: bool


@dataclass(frozen=True)
class IsNull:
    operand: Any
    negated: bool


@dataclass(frozen=True)
class Between:
    operand: Any
    low: Any
    high: Any


@dataclass(frozen=True)
class BoolCol:
    """A BOOL value used as a predicate: `properties.b.bool_value`."""

    operand: Any


@dataclass(frozen=True)
class Const:
    value: bool  # TRUE / FALSE


@dataclass(frozen=True)
class Not:
    operand: Any


@dataclass(frozen=True)
class And:
    left: Any
    right: Any


@dataclass(frozen=True)
class Or:
    left: Any
    right: Any


# ------------------------------------------------------------------------------------------- rendering


def quote_name(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else f"`{name}`"


def string_literal(value: str, quote: str = "'") -> str:
    return quote + value.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote


_PREC = {Or: 1, And: 2, Not: 3}


def render(node: Any, keyword=str.upper, parens: bool = True) -> str:
    """Query text. `keyword` spells the keywords (e.g. str.lower); with parens=False only the
    parentheses that precedence needs are written."""

    def kw(word: str) -> str:
        return keyword(word)

    def sub(child: Any, parent: Any) -> str:
        text = go(child)
        need = type(child) in _PREC and (parens or _PREC[type(child)] < _PREC[type(parent)])
        return f"({text})" if need else text

    def go(n: Any) -> str:
        if isinstance(n, Attr):
            return n.name
        if isinstance(n, Prop):
            return f"{'custom_properties' if n.custom else 'properties'}.{quote_name(n.name)}.{n.field}"
        if isinstance(n, Neighbour):
            return f"{n.prefix}{n.alias}.{n.field}"
        if isinstance(n, Lit):
            v = n.value
            if isinstance(v, bool):
                return kw("true" if v else "false")
            if isinstance(v, str):
                return string_literal(v, n.quote)
            if isinstance(v, float):
                return repr(v) if v >= 0 else f"-{-v!r}"
            return str(v)
        if isinstance(n, EnumLit):
            return n.name
        if isinstance(n, Arith):
            return f"({go(n.left)} {n.op} {go(n.right)})"
        if isinstance(n, Func):
            return f"{n.name}({go(n.arg)})"
        if isinstance(n, Cmp):
            return f"{go(n.left)} {n.op} {go(n.right)}"
        if isinstance(n, Like):
            return f"{go(n.operand)} {kw('not ') if n.negated else ''}{kw('like')} {go(n.pattern)}"
        if isinstance(n, In):
            items = ", ".join(go(i) for i in n.items)
            return f"{go(n.operand)} {kw('not ') if n.negated else ''}{kw('in')} ({items})"
        if isinstance(n, IsNull):
            return f"{go(n.operand)} {kw('is')} {kw('not ') if n.negated else ''}{kw('null')}"
        if isinstance(n, Between):
            return f"{go(n.operand)} {kw('between')} {go(n.low)} {kw('and')} {go(n.high)}"
        if isinstance(n, BoolCol):
            return go(n.operand)
        if isinstance(n, Const):
            return kw("true" if n.value else "false")
        if isinstance(n, Not):
            return f"{kw('not')} {sub(n.operand, n)}"
        if isinstance(n, And):
            return f"{sub(n.left, n)} {kw('and')} {sub(n.right, n)}"
        if isinstance(n, Or):
            return f"{sub(n.left, n)} {kw('or')} {sub(n.right, n)}"
        raise TypeError(n)

    return go(node)


# ------------------------------------------------------------------------------------------ evaluation


def _children(n: Any) -> list:
    if isinstance(n, (Arith, Cmp, And, Or)):
        return [n.left, n.right]
    if isinstance(n, Like):
        return [n.operand, n.pattern]
    if isinstance(n, In):
        return [n.operand, *n.items]
    if isinstance(n, Between):
        return [n.operand, n.low, n.high]
    if isinstance(n, (IsNull, BoolCol, Not)):
        return [n.operand]
    if isinstance(n, Func):
        return [n.arg]
    return []


def join_keys(n: Any) -> list[tuple]:
    """The joined rows a query needs, in order of first mention."""
    keys: list[tuple] = []

    def walk(x: Any) -> None:
        key = None
        if isinstance(x, Prop):
            key = ("prop", x.custom, x.name)
        elif isinstance(x, Neighbour):
            key = (x.prefix, x.alias)
        if key is not None and key not in keys:
            keys.append(key)
        for c in _children(x):
            walk(c)

    walk(n)
    return keys


def _not(a):
    return None if a is None else not a


def _and(a, b):
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def _or(a, b):
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def sqlite_like(value: str, pattern: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern.translate(_ASCII_LOWER))
    return re.fullmatch(regex, value.translate(_ASCII_LOWER), re.DOTALL) is not None


def _compare(op: str, a: Any, b: Any):
    if a is None or b is None:
        return None
    if op == "=":
        return a == b
    if op in ("!=", "<>"):
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b


def _enum_of(n: Any) -> dict | None:
    t = getattr(n, "type", None)
    return ENUMS.get(t) if isinstance(t, str) else None


class _Env:
    def __init__(self, node: Node, rows: dict[tuple, dict]):
        self.node = node
        self.rows = rows

    def value(self, n: Any) -> Any:
        if isinstance(n, Attr):
            return self.node.attrs[n.name]
        if isinstance(n, Prop):
            return self.rows[("prop", n.custom, n.name)].get(n.field)
        if isinstance(n, Neighbour):
            return self.rows[(n.prefix, n.alias)][n.field]
        if isinstance(n, Lit):
            return n.value
        if isinstance(n, Arith):
            a, b = self.value(n.left), self.value(n.right)
            if a is None or b is None:
                return None
            return a + b if n.op == "+" else a - b
        if isinstance(n, Func):
            a = self.value(n.arg)
            if a is None:
                return None
            return a.translate(_ASCII_LOWER if n.name == "LOWER" else _ASCII_UPPER)
        return self.truth(n)

    def truth(self, n: Any) -> bool | None:
        if isinstance(n, Const):
            return n.value
        if isinstance(n, BoolCol):
            v = self.value(n.operand)
            return None if v is None else bool(v)
        if isinstance(n, Not):
            return _not(self.truth(n.operand))
        if isinstance(n, And):
            return _and(self.truth(n.left), self.truth(n.right))
        if isinstance(n, Or):
            return _or(self.truth(n.left), self.truth(n.right))
        if isinstance(n, Cmp):
            enum = _enum_of(n.left)
            if enum is not None and isinstance(n.right, EnumLit):
                v = self.value(n.left)
                if n.op in ("!=", "<>"):
                    return True if v is None else v != enum[n.right.name]
                return _compare(n.op, v, enum[n.right.name])
            return _compare(n.op, self.value(n.left), self.value(n.right))
        if isinstance(n, Like):
            v, p = self.value(n.operand), self.value(n.pattern)
            if v is None or p is None:
                return None
            result = sqlite_like(v, p)
            return not result if n.negated else result
        if isinstance(n, In):
            v = self.value(n.operand)
            enum = _enum_of(n.operand)
            if enum is not None:
                items = [enum[i.name] for i in n.items]
                if v is None:
                    return True if n.negated else None
                return (v not in items) if n.negated else (v in items)
            if v is None:
                return None
            found = any(v == self.value(i) for i in n.items)
            return not found if n.negated else found
        if isinstance(n, IsNull):
            v = self.value(n.operand)
            return (v is not None) if n.negated else (v is None)
        if isinstance(n, Between):
            v = self.value(n.operand)
            return _and(_compare(">=", v, self.value(n.low)), _compare("<=", v, self.value(n.high)))
        raise TypeError(n)


def candidates(node: Node, key: tuple) -> list[dict]:
    if key[0] == "prop":
        row = node.props.get((key[1], key[2]))
        return [row] if row is not None else []
    return node.links.get(key[0], [])


def matches(node: Node, query: Any) -> bool:
    """Whether `node` is in the result of `query` (existential join semantics, three-valued logic)."""
    keys = join_keys(query)
    choices = [candidates(node, key) for key in keys]
    for combo in itertools.product(*choices):
        if _Env(node, dict(zip(keys, combo))).truth(query) is True:
            return True
    return False


def select(nodes: list[Node], query: Any) -> list[int]:
    """The ids of the matching nodes, ascending."""
    return sorted(n.id for n in nodes if matches(n, query))
