"""filter_query's syntax tree, and the lark grammar that parses text into it."""

from __future__ import annotations

import functools
import re
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
            return lark.Token("NAME", token[1:-1], line=token.line, column=token.column)
        return token

    def __init__(self, slots: dict[int, int]):
        super().__init__()
        self.slots = slots

    def string(self, items: list) -> Node:
        return Literal(_literal_value(str(items[0]), True), self.slots[items[0].start_pos])

    def number(self, items: list) -> Node:
        return Literal(_literal_value(str(items[0]), False), self.slots[items[0].start_pos])

    def true(self, items: list) -> Node:
        return Literal(True)

    def false(self, items: list) -> Node:
        return Literal(False)

    def null(self, items: list) -> Node:
        return Literal(None)


for _rule, _op in _COMPARISONS.items():
    setattr(_ToAst, _rule, lambda self, items, op=_op: Compare(op, items[0], items[1]))


@functools.cache
def _parser() -> lark.Lark:
    grammar = (Path(__file__).parent / "grammar.lark").read_text()
    return lark.Lark(grammar, parser="lalr", maybe_placeholders=False)


def _literal_value(text: str, is_string: bool) -> Any:
    if is_string:
        raw = text[1:-1]
        return raw.encode("latin-1", "backslashreplace").decode("unicode_escape") if "\\" in raw else raw
    return float(text) if any(c in text for c in ".eE") else int(text)


# The tokens of the grammar, enough to tell literals from the rest (lark's own lexer is rebuilt per call).
_TOKENS = re.compile(r"""(?P<string>'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")|(?P<quoted>`[^`]*`)"""
                     r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                     r"|(?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|(?P<other>\S)")


_KEYWORDS = frozenset(("and", "or", "not", "in", "like", "is", "null", "true", "false", "between"))


def _literal_tokens(query: str) -> list[re.Match]:
    return [m for m in _TOKENS.finditer(query) if m.lastgroup in ("string", "number")]


def literals(query: str) -> tuple[tuple[Any, ...], list[Any]]:
    """(shape, values): the query with its string and number literals taken out, and those literals.

    Queries of one shape compile to the same SQL, with the literals as its parameters, so a query that
    differs from a cached one only in its values (the usual case) costs a tokenization, no compile."""
    shape: list[Any] = []
    values: list[Any] = []
    for m in _TOKENS.finditer(query):
        if m.lastgroup in ("string", "number"):
            value = _literal_value(m.group(), m.lastgroup == "string")
            values.append(value)
            shape.append(type(value).__name__)
        else:
            text = m.group()
            shape.append(text.lower() if text.lower() in _KEYWORDS else text)  # names are case-sensitive
    return tuple(shape), values


def parse(query: str) -> Node:
    """The syntax tree of a filter query; InvalidArgumentError naming the position on a syntax error."""
    try:
        tree = _parser().parse(query)
    except lark.exceptions.UnexpectedEOF:
        raise errors.InvalidArgumentError(
            "Invalid `filter_query`: Syntax error: Unexpected end of expression") from None
    except lark.exceptions.UnexpectedInput as exc:
        token = getattr(exc, "token", None)
        found = token if token is not None else query[exc.pos_in_stream:exc.pos_in_stream + 1]
        where = f"[at {exc.line}:{exc.column}]"
        if isinstance(found, lark.Token) and found.type == "$END":
            raise errors.InvalidArgumentError(
                f"Invalid `filter_query`: Syntax error: Unexpected end of expression {where}") from None
        raise errors.InvalidArgumentError(
            f"Invalid `filter_query`: Syntax error: Unexpected {str(found)!r} {where}") from None
    slots = {m.start(): i for i, m in enumerate(_literal_tokens(query))}
    try:
        return _ToAst(slots).transform(tree)
    except lark.exceptions.VisitError as exc:  # a literal the two tokenizers see differently
        raise errors.InvalidArgumentError(f"Invalid `filter_query`: cannot read a literal: {exc.orig_exc}") from None
