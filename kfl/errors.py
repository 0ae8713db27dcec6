"""KFL's errors: every invalid query becomes one KflError that names the bad span of the query.

Exception hierarchy::

    ValueError
     └── KflError     an invalid query (syntax, unknown field or helper, bad regex, limits);
                      carries 1-based line/column of the bad span and a caret context
    Exception
     └── LocatedError internal: raised while parsing or compiling with character offsets only;
                      compile_filter turns it into a KflError once it knows the query text

Columns count UTF-16 code units, as the browser indexes the text of the filter box (a character
outside the Basic Multilingual Plane, such as an emoji, counts 2); ``end_line``/``end_column``
point one past the last bad character, so ``column == 3, end_column == 5`` underlines the 3rd and
4th code units.
"""

from __future__ import annotations

from typing import TypedDict

CONTEXT_RADIUS = 40


class KflErrorDict(TypedDict):
    """The JSON form of a KflError, as sent to the browser."""

    message: str
    line: int
    column: int
    endLine: int
    endColumn: int
    context: str


class LocatedError(Exception):
    """A query problem located by character offsets: ``start`` inclusive, ``end`` exclusive."""

    def __init__(self, message: str, start: int, end: int) -> None:
        self.message = message
        self.start = start
        self.end = max(end, start + 1)
        super().__init__(message)


class KflError(ValueError):
    """An invalid KFL query: a short human message and the span of the query it is about."""

    def __init__(self, message: str, query: str, start: int, end: int) -> None:
        self.message = message
        self.query = query
        self.line, self.column = _line_column(query, start)
        self.end_line, self.end_column = _line_column(query, max(end, start + 1))
        self.context = _caret_context(query, start, max(end, start + 1))
        super().__init__(f"line {self.line}, column {self.column}: {message}")

    @classmethod
    def from_problem(cls, query: str, problem: LocatedError) -> KflError:
        """Locate an internal LocatedError in the query text."""
        return cls(problem.message, query, problem.start, problem.end)

    def to_dict(self) -> KflErrorDict:
        """The error as a JSON-ready dict with camelCase keys."""
        return {
            "message": self.message,
            "line": self.line,
            "column": self.column,
            "endLine": self.end_line,
            "endColumn": self.end_column,
            "context": self.context,
        }


def _line_column(query: str, offset: int) -> tuple[int, int]:
    """1-based line and UTF-16 column of a code point offset (which may be one past the end)."""
    line_start = query.rfind("\n", 0, offset) + 1
    past_end = max(0, offset - len(query))
    return query.count("\n", 0, offset) + 1, _utf16_length(query[line_start:offset]) + past_end + 1


def _utf16_length(text: str) -> int:
    """How many UTF-16 code units ``text`` takes: 2 for each character above U+FFFF."""
    return len(text) + sum(1 for char in text if char > "\uffff")


def _caret_context(query: str, start: int, end: int) -> str:
    """The line holding ``start``, trimmed around it, and a caret line under the bad span."""
    line_start = query.rfind("\n", 0, start) + 1
    line_end = query.find("\n", start)
    if line_end == -1:
        line_end = len(query)
    end = min(end, line_end, start + CONTEXT_RADIUS)
    window_start = max(line_start, start - CONTEXT_RADIUS)
    window_end = min(line_end, end + CONTEXT_RADIUS)
    prefix = "…" if window_start > line_start else ""
    suffix = "…" if window_end < line_end else ""
    text = "".join(_printable(ch) for ch in query[window_start:window_end])
    caret_start = len(prefix) + start - window_start
    caret_width = max(1, end - start)
    return f"{prefix}{text}{suffix}\n{' ' * caret_start}{'^' * caret_width}"


def _printable(char: str) -> str:
    """One display character for one query character, so that the caret stays aligned."""
    if char == "\t":
        return " "
    if char < " " or char == "\x7f":
        return "\N{REPLACEMENT CHARACTER}"
    return char
