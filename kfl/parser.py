"""Parse a KFL query into a syntax tree (kfl.nodes) with the LALR grammar in grammar.lark.

The grammar is loaded once at import. Nodes are built while parsing (Lark calls the transformer
on each reduction), so there is no recursion over the tree and a deeply nested query cannot
raise RecursionError: the nesting limit is checked as each node is built.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path as FilePath
from typing import cast

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedInput

from kfl import nodes
from kfl.diagnostics import describe_syntax_error
from kfl.errors import LocatedError

MAX_QUERY_BYTES = 4096
MAX_DEPTH = 64
INT_RANGE = range(-(2**63), 2**63)
ALLOWED_CONTROLS = frozenset("\t\n\r")


def parse(query: str) -> nodes.Node | None:
    """Parse a query into its syntax tree (None if empty); raise LocatedError if it is invalid."""
    _check_size(query)
    _check_characters(query)
    if not query.strip():
        return None
    try:
        tree = cast(nodes.Node, _LARK.parse(query))
    except UnexpectedInput as error:
        raise describe_syntax_error(query, error) from None
    return tree


def _check_size(query: str) -> None:
    size = len(query.encode("utf-8", "surrogatepass"))
    if size > MAX_QUERY_BYTES:
        cut = len(
            query.encode("utf-8", "surrogatepass")[:MAX_QUERY_BYTES].decode("utf-8", "ignore")
        )
        message = f"query is {size} bytes long, over the {MAX_QUERY_BYTES}-byte limit"
        raise LocatedError(message, cut, len(query))


def _check_characters(query: str) -> None:
    if query.isprintable():
        return
    for offset, char in enumerate(query):
        if (char < " " or char == "\x7f") and char not in ALLOWED_CONTROLS:
            raise LocatedError(f"control character {char!r} is not allowed", offset, offset + 1)


def _nest(node: nodes.Node) -> nodes.Node:
    if node.depth > MAX_DEPTH:
        raise LocatedError(
            f"query nests deeper than {MAX_DEPTH} levels", node.start, node.start + 1
        )
    return node


def _depth(*children: nodes.Node) -> int:
    return 1 + max(child.depth for child in children)


def _arguments(arguments: list[nodes.Node] | None) -> tuple[nodes.Node, ...]:
    return tuple(arguments or ())


@v_args(inline=True)
class _Builder(Transformer[Token, nodes.Node]):
    """Build one kfl.nodes node per grammar alternative."""

    def any_of(self, *items: nodes.Node) -> nodes.Node:
        return _nest(nodes.AnyOf(items[0].start, items[-1].end, _depth(*items), items))

    def all_of(self, *items: nodes.Node) -> nodes.Node:
        return _nest(nodes.AllOf(items[0].start, items[-1].end, _depth(*items), items))

    def compare(self, left: nodes.Node, op: Token, right: nodes.Node) -> nodes.Node:
        depth = _depth(left, right)
        return _nest(nodes.Compare(left.start, right.end, depth, str(op), _pos(op), left, right))

    def arithmetic(self, left: nodes.Node, op: Token, right: nodes.Node) -> nodes.Node:
        depth = _depth(left, right)
        return _nest(nodes.Arithmetic(left.start, right.end, depth, str(op), _pos(op), left, right))

    def negate(self, bang: Token, operand: nodes.Node) -> nodes.Node:
        return _nest(nodes.Not(_pos(bang), operand.end, _depth(operand), operand))

    def group(self, lpar: Token, inner: nodes.Node, rpar: Token) -> nodes.Node:
        return _nest(replace(inner, start=_pos(lpar), end=_end(rpar), depth=inner.depth + 1))

    def call(
        self, name: Token, _lpar: Token, arguments: list[nodes.Node] | None, rpar: Token
    ) -> nodes.Node:
        args = _arguments(arguments)
        depth = _depth(*args) if args else 1
        return _nest(nodes.Call(_pos(name), _end(rpar), depth, str(name), _end(name), args))

    def method(
        self,
        target: nodes.Path,
        name: Token,
        _lpar: Token,
        arguments: list[nodes.Node] | None,
        rpar: Token,
    ) -> nodes.Node:
        args = _arguments(arguments)
        depth = _depth(target, *args)
        node = nodes.Method(
            target.start, _end(rpar), depth, target, str(name), _pos(name), _end(name), args
        )
        return _nest(node)

    def arguments(self, *items: nodes.Node) -> list[nodes.Node]:
        return list(items)

    def field(self, name: Token) -> nodes.Path:
        segment = nodes.Segment(str(name), _pos(name), _end(name))
        return nodes.Path(segment.start, segment.end, 1, (segment,))

    def member(self, path: nodes.Path, name: Token) -> nodes.Path:
        return _extend(path, nodes.Segment(str(name), _pos(name), _end(name)))

    def key(self, path: nodes.Path, _lsqb: Token, text: Token, rsqb: Token) -> nodes.Path:
        return _extend(path, nodes.Segment(_string(text), _pos(text), _end(text)), _end(rsqb))

    def index(self, path: nodes.Path, _lsqb: Token, number: Token, rsqb: Token) -> nodes.Path:
        value = _number(number)
        if not isinstance(value, int) or value < 0:
            raise LocatedError(
                "a list index must be a whole number, 0 or more", _pos(number), _end(number)
            )
        return _extend(path, nodes.Segment(value, _pos(number), _end(number)), _end(rsqb))

    def string(self, text: Token) -> nodes.Node:
        return nodes.Literal(_pos(text), _end(text), 1, _string(text))

    def regex(self, text: Token) -> nodes.Node:
        return nodes.RegexLiteral(_pos(text), _end(text), 1, str(text)[2:-1])

    def number(self, text: Token) -> nodes.Node:
        return nodes.Literal(_pos(text), _end(text), 1, _number(text))

    def true(self, word: Token) -> nodes.Node:
        return nodes.Literal(_pos(word), _end(word), 1, True)

    def false(self, word: Token) -> nodes.Node:
        return nodes.Literal(_pos(word), _end(word), 1, False)

    def null(self, word: Token) -> nodes.Node:
        return nodes.Literal(_pos(word), _end(word), 1, None)


def _extend(path: nodes.Path, segment: nodes.Segment, end: int | None = None) -> nodes.Path:
    """``path`` one segment longer; ``end`` is where the path ends if not with the segment."""
    return nodes.Path(path.start, end or segment.end, 1, (*path.segments, segment))


def _pos(token: Token) -> int:
    return token.start_pos or 0


def _end(token: Token) -> int:
    return token.end_pos or 0


def _string(token: Token) -> str:
    """Decode a double-quoted string literal (JSON escapes: \\n, \\", \\\\, \\uXXXX ...)."""
    try:
        value: str = json.loads(str(token), strict=False)
    except json.JSONDecodeError as error:
        at = _pos(token) + error.pos
        raise LocatedError("invalid escape in string", at, at + 2) from None
    return value


def _number(token: Token) -> int | float:
    text = str(token)
    if "." in text or "e" in text or "E" in text:
        value = float(text)
        if not math.isfinite(value):
            raise LocatedError("number is too large", _pos(token), _end(token))
        return value
    number = int(text)
    if number not in INT_RANGE:
        raise LocatedError("number is outside the 64-bit integer range", _pos(token), _end(token))
    return number


_LARK = Lark(
    (FilePath(__file__).parent / "grammar.lark").read_text(encoding="utf-8"),
    parser="lalr",
    transformer=_Builder(),
    maybe_placeholders=True,
)
