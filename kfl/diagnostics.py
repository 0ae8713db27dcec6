"""Turn Lark's syntax errors into short human messages located in the query.

Lark reports the offending character or token and, for parser errors, the parser's stack; the
stack's top tells what came just before (``==`` wants a value, ``and`` wants a condition) and
any ``(`` still on it is one that was never closed.
"""

from __future__ import annotations

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from kfl.errors import LocatedError

CONNECTIVES = frozenset({"and", "&&", "or", "||"})
NEGATIONS = frozenset({"BANG", "NOT"})
INCOMPLETE = frozenset(
    {"COMPARATOR", "ADDITIVE", "MULTIPLICATIVE", "IN", "QUESTION", "COLON", "BANG", "NOT", "LPAR"}
    | {"LSQB"}
)
OPERAND_ENDS = frozenset(
    {"NAME", "STRING", "REGEX", "NUMBER", "TRUE", "FALSE", "NULL", "NIL", "RPAR", "RSQB"}
)
CHARACTER_HINTS = {
    "=": "use '==' to compare",
    "&": "use '&&' or 'and'",
    "|": "use '||' or 'or'",
}


def describe_syntax_error(query: str, error: UnexpectedInput) -> LocatedError:
    """A LocatedError with a human message for one of Lark's syntax errors."""
    if isinstance(error, UnexpectedCharacters):
        return _unexpected_character(query, error.pos_in_stream or 0)
    if isinstance(error, UnexpectedToken):
        return _unexpected_token(query, error)
    position = error.pos_in_stream or 0
    return LocatedError("invalid query", position, position + 1)


def _unexpected_character(query: str, position: int) -> LocatedError:
    char = query[position]
    line_end = query.find("\n", position)
    line_end = len(query) if line_end == -1 else line_end
    if char in "\"'":
        is_regex = (
            position > 0 and query[position - 1] == "r" and not _word_before(query, position - 1)
        )
        start = position - 1 if is_regex else position
        return LocatedError("unclosed regex" if is_regex else "unclosed string", start, line_end)
    hint = CHARACTER_HINTS.get(char)
    message = f"unexpected character {char!r}" + (f": {hint}" if hint else "")
    return LocatedError(message, position, position + 1)


def _word_before(query: str, position: int) -> bool:
    return position > 0 and (query[position - 1].isalnum() or query[position - 1] == "_")


def _unexpected_token(query: str, error: UnexpectedToken) -> LocatedError:
    token: Token = error.token
    stack = list(error.state.value_stack) if error.state is not None else []
    at_end = token.type == "$END"
    start = len(query.rstrip()) if at_end else token.start_pos or 0
    end = start + 1 if at_end else token.end_pos or start + 1
    unclosed = _unclosed(stack)
    if at_end and unclosed is not None and not _wants_more(stack):
        return LocatedError(_never_closed(unclosed), *_span(unclosed))
    if token.type == "RPAR" and (unclosed is None or unclosed.type != "LPAR"):
        return LocatedError("unbalanced parenthesis: ')' has no matching '('", start, end)
    if token.type == "RSQB" and (unclosed is None or unclosed.type != "LSQB"):
        return LocatedError("unbalanced bracket: ']' has no matching '['", start, end)
    found = "the end of the query" if at_end else _quoted(token)
    return LocatedError(_expectation(stack, token, found), start, end)


def _expectation(stack: list[object], token: Token, found: str) -> str:
    previous = stack[-1] if stack else None
    if not isinstance(previous, Token):
        if previous is None:
            return f"expected a condition, found {found}"
        if token.type == "COMPARATOR" and _comparing(stack):
            return "comparisons cannot be chained: join them with 'and'"
        return f"expected an operator such as '==', 'and' or 'or' before {found}"
    if previous.type == "COMPARATOR":
        return f"expected a value after {_quoted(previous)}, found {found}"
    if str(previous) in CONNECTIVES and previous.type != "NAME":
        return f"expected a condition after {_quoted(previous)}, found {found}"
    if previous.type in NEGATIONS:
        return f"expected a condition after {_quoted(previous)}, found {found}"
    if previous.type in {"ADDITIVE", "MULTIPLICATIVE"}:
        return f"expected a number after {_quoted(previous)}, found {found}"
    if previous.type == "IN":
        return f"expected a list or a map after 'in', found {found}"
    if previous.type in {"QUESTION", "COLON"}:
        return f"expected a value after {_quoted(previous)}, found {found}"
    if previous.type == "LSQB":
        return f"expected a string key or a list index after '[', found {found}"
    if previous.type == "LPAR":
        return f"expected a condition or a value after '(', found {found}"
    if str(previous) in {".", ","}:
        what = "a field or helper name" if str(previous) == "." else "an argument"
        return f"expected {what} after {_quoted(previous)}, found {found}"
    if previous.type in OPERAND_ENDS:
        unclosed = _unclosed(stack)
        if unclosed is not None and unclosed.type == "LSQB":
            return f"expected ']' to close '[', found {found}"
        return f"expected an operator such as '==', 'and' or 'or' before {found}"
    return f"unexpected {found} after {_quoted(previous)}"


def _wants_more(stack: list[object]) -> bool:
    """Whether the last thing read is an operator or opener that still needs what follows it."""
    previous = stack[-1] if stack else None
    if not isinstance(previous, Token):
        return False
    if previous.type == "NAME":
        return False
    return previous.type in INCOMPLETE or str(previous) in CONNECTIVES or str(previous) in ".,"


def _comparing(stack: list[object]) -> bool:
    return len(stack) >= 2 and isinstance(stack[-2], Token) and stack[-2].type == "COMPARATOR"


def _unclosed(stack: list[object]) -> Token | None:
    """The innermost ``(`` or ``[`` still open on the parser stack, if any."""
    for value in reversed(stack):
        if isinstance(value, Token) and value.type in {"LPAR", "LSQB"}:
            return value
    return None


def _never_closed(opening: Token) -> str:
    if opening.type == "LPAR":
        return "unbalanced parenthesis: this '(' is never closed"
    return "unbalanced bracket: this '[' is never closed"


def _span(token: Token) -> tuple[int, int]:
    start = token.start_pos or 0
    return start, token.end_pos or start + 1


def _quoted(token: Token) -> str:
    text = str(token)
    return repr(text) if "'" not in text else f'"{text}"'
