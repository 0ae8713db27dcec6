"""Parse a KFL query into a syntax tree (kfl.nodes) with the LALR grammar in grammar.lark.

The grammar is loaded once at import. Nodes are built while parsing (Lark calls the transformer
on each reduction), so there is no recursion over the tree and a deeply nested query cannot
raise RecursionError: the nesting limit is checked as each node is built.
"""

from __future__ import annotations

import math
import re
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
SIMPLE_ESCAPES = {
    "\\": "\\",
    "'": "'",
    '"': '"',
    "`": "`",
    "?": "?",
    "/": "/",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}
ESCAPE = re.compile(
    r"\\(?:(?P<simple>[\\'\"`?/abfnrtv])|x(?P<hex>[0-9a-fA-F]{2})|u(?P<u4>[0-9a-fA-F]{4})"
    r"|U(?P<u8>[0-9a-fA-F]{8})|(?P<octal>[0-3][0-7]{2})|(?P<bad>.?))",
    re.DOTALL,
)
SURROGATE_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")


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

    def conditional(
        self,
        condition: nodes.Node,
        _q: Token,
        when_true: nodes.Node,
        _c: Token,
        when_false: nodes.Node,
    ) -> nodes.Node:
        depth = _depth(condition, when_true, when_false)
        node = nodes.Conditional(
            condition.start, when_false.end, depth, condition, when_true, when_false
        )
        return _nest(node)

    def membership(self, item: nodes.Node, op: Token, container: nodes.Node) -> nodes.Node:
        """``x in [a, b]`` as ``x == a || x == b``; any other container as a Membership."""
        if not isinstance(container, nodes.ListLiteral) or not container.items:
            depth = _depth(item, container)
            return _nest(
                nodes.Membership(item.start, container.end, depth, item, container, _pos(op))
            )
        start, end = item.start, container.end
        compares = tuple(
            nodes.Compare(start, end, _depth(item, element), "==", _pos(op), item, element)
            for element in container.items
        )
        if len(compares) == 1:
            return _nest(compares[0])
        return _nest(nodes.AnyOf(start, end, _depth(*compares), compares))

    def minus(self, sign: Token, operand: nodes.Node) -> nodes.Node:
        if str(sign) == "+":
            raise LocatedError("unary '+' is not supported: drop it", _pos(sign), _end(sign))
        return _nest(nodes.Minus(_pos(sign), operand.end, _depth(operand), operand))

    def list_literal(self, lsqb: Token, items: list[nodes.Node] | None, rsqb: Token) -> nodes.Node:
        elements = _arguments(items)
        depth = _depth(*elements) if elements else 1
        return _nest(nodes.ListLiteral(_pos(lsqb), _end(rsqb), depth, elements))

    def method(
        self,
        target: nodes.Node,
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
        return nodes.RegexLiteral(_pos(text), _end(text), 1, str(text)[2:-1])  # r"…" or r'…'

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
    """Decode a string literal in double or single quotes, with CEL's escapes (a superset of
    JSON's): ``\\n \\t \\" \\' \\\\ \\xHH \\uHHHH \\UHHHHHHHH \\ooo``; a ``\\u`` surrogate pair
    becomes one character."""
    text = str(token)
    start = _pos(token) + 1

    def replace(match: re.Match[str]) -> str:
        if match["simple"] is not None:
            return SIMPLE_ESCAPES[match["simple"]]
        if match["octal"] is not None:
            return chr(int(match["octal"], 8))
        digits = match["hex"] or match["u4"] or match["u8"]
        if digits is None or int(digits, 16) > 0x10FFFF:
            at = start + match.start()
            raise LocatedError("invalid escape in string", at, at + 2)
        return chr(int(digits, 16))

    value = ESCAPE.sub(replace, text[1:-1])
    return SURROGATE_PAIR.sub(_joined_pair, value)


def _joined_pair(match: re.Match[str]) -> str:
    return match.group().encode("utf-16-le", "surrogatepass").decode("utf-16-le")


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
