"""filter_query's syntax tree, and the lark grammar that parses text into it."""

from __future__ import annotations

import functools
import os
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import lark

from mlmd_core import errors


@dataclass(frozen=True)
class Ref:
    """A dotted name: `uri`, `contexts_a.name`, ``properties.`my prop`.int_value`` or an enum literal."""

    parts: tuple[str, ...]
    line: int
    column: int

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Literal:
    value: Any  # str, int, float, bool or None (NULL)
    slot: int | None = None  # for string and number literals: their place among the query's literals


@dataclass(frozen=True)
class Arith:
    op: str  # + - * /
    left: Node
    right: Node


@dataclass(frozen=True)
class Neg:
    operand: Node


@dataclass(frozen=True)
class Call:
    function: str  # upper-case name
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Compare:
    op: str  # = != < <= > >=
    left: Node
    right: Node


@dataclass(frozen=True)
class Like:
    operand: Node
    pattern: Node
    negated: bool


@dataclass(frozen=True)
class In:
    operand: Node
    items: tuple[Node, ...]
    negated: bool


@dataclass(frozen=True)
class IsNull:
    operand: Node
    negated: bool


@dataclass(frozen=True)
class Between:
    operand: Node
    low: Node
    high: Node
    negated: bool


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND / OR
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    operand: Node


Node = Union[Ref, Literal, Arith, Neg, Call, Compare, Like, In, IsNull, Between, BoolOp, Not]

_COMPARISONS = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _flatten(op: str, items: list) -> BoolOp:
    flat: list[Node] = []
    for item in items:
        flat.extend(item.items if isinstance(item, BoolOp) and item.op == op else (item,))
    return BoolOp(op, tuple(flat))


class _ToAst(lark.Transformer):
    def or_(self, items: list) -> Node:
        return _flatten("OR", items)

    def and_(self, items: list) -> Node:
        return _flatten("AND", items)

    def not_(self, items: list) -> Node:
        return Not(items[0])

    def like(self, items: list) -> Node:
        return Like(items[0], items[1], False)

    def not_like(self, items: list) -> Node:
        return Like(items[0], items[1], True)

    def in_(self, items: list) -> Node:
        return In(items[0], tuple(items[1:]), False)

    def not_in(self, items: list) -> Node:
        return In(items[0], tuple(items[1:]), True)

    def is_null(self, items: list) -> Node:
        return IsNull(items[0], False)

    def is_not_null(self, items: list) -> Node:
        return IsNull(items[0], True)

    def between(self, items: list) -> Node:
        return Between(items[0], items[1], items[2], False)

    def not_between(self, items: list) -> Node:
        return Between(items[0], items[1], items[2], True)

    def arith(self, items: list) -> Node:
        return Arith(str(items[1]), items[0], items[2])

    def neg(self, items: list) -> Node:
        return Neg(items[1])

    def call(self, items: list) -> Node:
        return Call(str(items[0]).upper(), tuple(items[1:]))

    def ref(self, items: list) -> Node:
        first = items[0]
        return Ref(tuple(str(p) for p in items), first.line, first.column)

    def name(self, items: list) -> lark.Token:
        token = items[0]
        if token.type == "QUOTED_NAME":
            if len(token) == 2:
                raise errors.InvalidArgumentError(
                    f"Invalid `filter_query`: Syntax error: empty identifier [at {token.line}:{token.column}]")
            return lark.Token("NAME", token[1:-1], line=token.line, column=token.column)
        return token

    def string(self, items: list) -> Node:
        return Literal(_literal_value(str(items[0]), True), _SLOTS.by_position[items[0].start_pos])

    def number(self, items: list) -> Node:
        return Literal(_literal_value(str(items[0]), False), _SLOTS.by_position[items[0].start_pos])

    def true(self, items: list) -> Node:
        return Literal(True)

    def false(self, items: list) -> Node:
        return Literal(False)

    def null(self, items: list) -> Node:
        return Literal(None)


for _rule, _op in _COMPARISONS.items():
    setattr(_ToAst, _rule, lambda self, items, op=_op: Compare(op, items[0], items[1]))


# Deeper queries are refused: the compiler, SQLAlchemy and the database all recurse per level.
MAX_DEPTH = 100


class _Slots(threading.local):
    """Where each literal of the query being parsed goes among the statement's parameters (per thread)."""

    by_position: dict[int, int]


_SLOTS = _Slots()


def _parser_cache() -> str | bool:
    """Where lark keeps the analysed grammar between processes: building the LALR tables costs ~30 ms in
    every new process (a CLI call, an Airflow task), loading them ~3 ms. Lark checks the grammar's hash
    stored in the file, so a changed grammar is rebuilt. Per user, never a shared temp dir (it is a pickle)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "mlmd_core")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return False
    if not os.access(folder, os.W_OK):
        return False
    return os.path.join(folder, f"filter-lalr-lark{lark.__version__}-py{sys.version_info[0]}{sys.version_info[1]}")


@functools.cache
def _parser() -> lark.Lark:
    """LALR with the tree built while parsing: no recursion, so deep nesting cannot overflow Python's stack."""
    grammar = (Path(__file__).parent / "grammar.lark").read_text()
    return lark.Lark(grammar, parser="lalr", maybe_placeholders=False, transformer=_ToAst(), cache=_parser_cache())


def children(node: Node) -> list[Node]:
    found: list[Node] = []
    for value in vars(node).values():
        if isinstance(value, tuple):
            found.extend(v for v in value if not isinstance(v, str))
        elif value is not None and not isinstance(value, (str, int, float, bool)):
            found.append(value)
    return found


def depth(node: Node) -> int:
    """How deep the tree nests (a chain of ANDs or ORs counts once), without recursing."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        current, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children(current))
    return deepest


_INT64_MAX = 2**63 - 1
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
            "?": "?", '"': '"', "'": "'", "`": "`"}
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", re.S)


def _unescape(match: re.Match) -> str:
    code = match.group(1)
    if code in _ESCAPES:
        return _ESCAPES[code]
    if code[0] in "xuU" and len(code) > 1:
        return chr(int(code[1:], 16))
    if len(code) == 3 and code.isdigit():
        return chr(int(code, 8))
    raise errors.InvalidArgumentError(f"Invalid `filter_query`: Illegal escape sequence: \\{code}")


def _literal_value(text: str, is_string: bool) -> Any:
    if is_string:
        raw = text[1:-1]
        return _ESCAPE.sub(_unescape, raw) if "\\" in raw else raw
    if text[:2] in ("0x", "0X"):
        return int(text, 16)
    return float(text) if any(c in text for c in ".eE") else int(text)


# The tokens of the grammar, enough to tell literals from the rest (lark's own lexer is rebuilt per call).
_TOKENS = re.compile(
    r"(?P<comment>--[^\n]*|\#[^\n]*|/\*(?:.|\n)*?\*/)"
    r"""|(?P<string>'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")|(?P<quoted>`[^`]*`)"""
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<number>0[xX][0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<operator><=|>=|!=|<>)|(?P<other>\S)")


_KEYWORDS = frozenset(("and", "or", "not", "in", "like", "is", "null", "true", "false", "between"))


def _literal_tokens(query: str) -> list[re.Match]:
    return [m for m in _TOKENS.finditer(query) if m.lastgroup in ("string", "number")]


def _literal_shape(value: Any) -> str:
    """The literal's part of the query shape: its type, and for integers whether int64 holds it, since that
    decides validity (9223372036854775808 is valid only negated, as int64's minimum)."""
    if isinstance(value, int) and value > _INT64_MAX:
        return "int64_min_magnitude" if value == _INT64_MAX + 1 else "too_large_int"
    return type(value).__name__


def literals(query: str) -> tuple[tuple[Any, ...], list[Any]]:
    """(shape, values): the query with its string and number literals taken out, and those literals.

    Queries of one shape compile to the same SQL, with the literals as its parameters, so a query that
    differs from a cached one only in its values (the usual case) costs a tokenization, no compile."""
    shape: list[Any] = []
    values: list[Any] = []
    for m in _TOKENS.finditer(query):
        if m.lastgroup == "comment":
            continue
        if m.lastgroup in ("string", "number"):
            value = _literal_value(m.group(), m.lastgroup == "string")
            values.append(value)
            # int64's minimum is written as -9223372036854775808, whose literal alone does not fit
            shape.append(_literal_shape(value))
        else:
            text = m.group()
            shape.append(text.lower() if text.lower() in _KEYWORDS else text)  # names are case-sensitive
    return tuple(shape), values


def _end(query: str) -> str:
    """The [at line:column] just after the last character, where a truncated query needed more."""
    lines = query.rstrip().split("\n")
    return f"[at {len(lines)}:{len(lines[-1]) + 1}]"


def parse(query: str) -> Node:
    """The syntax tree of a filter query; InvalidArgumentError naming the position on a syntax error."""
    _SLOTS.by_position = {m.start(): i for i, m in enumerate(_literal_tokens(query))}
    try:
        tree = _parser().parse(query)
    except lark.exceptions.UnexpectedEOF:
        raise errors.InvalidArgumentError(
            f"Invalid `filter_query`: Syntax error: Unexpected end of expression {_end(query)}") from None
    except lark.exceptions.UnexpectedInput as exc:
        token = getattr(exc, "token", None)
        found = token if token is not None else query[exc.pos_in_stream:exc.pos_in_stream + 1]
        where = f"[at {exc.line}:{exc.column}]"
        if isinstance(found, lark.Token) and found.type == "$END":
            raise errors.InvalidArgumentError(
                f"Invalid `filter_query`: Syntax error: Unexpected end of expression {_end(query)}") from None
        raise errors.InvalidArgumentError(
            f"Invalid `filter_query`: Syntax error: Unexpected {str(found)!r} {where}") from None
    except (ValueError, OverflowError) as exc:  # an escape naming no character, say
        raise errors.InvalidArgumentError(f"Invalid `filter_query`: cannot read a literal: {exc}") from None
    if (levels := depth(tree)) > MAX_DEPTH:
        raise errors.InvalidArgumentError(
            f"Invalid `filter_query`: nested {levels} levels deep; at most {MAX_DEPTH} are allowed")
    return tree
