"""The KFL syntax tree: frozen nodes built by the parser, each with its span in the query.

``start``/``end`` are character offsets into the query (end exclusive); ``depth`` is how deeply
the node nests (1 for a leaf), checked by the parser against the nesting limit.
"""

from __future__ import annotations

from dataclasses import dataclass

Scalar = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Node:
    """Base of every syntax node: where it is in the query and how deeply it nests."""

    start: int
    end: int
    depth: int


@dataclass(frozen=True, slots=True)
class Segment:
    """One step of a field path: a key (``a.b``, ``a["b"]``) or a list index (``a[0]``)."""

    key: str | int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Path(Node):
    """A field path such as ``dst.namespace`` or ``tcp.flags[0]``."""

    segments: tuple[Segment, ...]

    @property
    def dotted(self) -> str:
        """The path as text, e.g. ``tcp.flags[0]``."""
        text = ""
        for segment in self.segments:
            if isinstance(segment.key, int):
                text += f"[{segment.key}]"
            else:
                text += f".{segment.key}" if text else segment.key
        return text


@dataclass(frozen=True, slots=True)
class Literal(Node):
    """A string, number, ``true``/``false`` or ``null`` literal."""

    value: Scalar


@dataclass(frozen=True, slots=True)
class RegexLiteral(Node):
    """A regex literal ``r"..."``; ``pattern`` is its text between the quotes, verbatim."""

    pattern: str


@dataclass(frozen=True, slots=True)
class Call(Node):
    """A helper function call such as ``seconds(30)`` or ``limit(100)``."""

    name: str
    name_end: int
    arguments: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Method(Node):
    """A method call on a value, such as ``dst.name.endsWith(".com")`` or a list macro
    ``dns_answers.exists(a, a.startsWith("54."))``."""

    target: Node
    name: str
    name_start: int
    name_end: int
    arguments: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not(Node):
    """``!x`` / ``not x``."""

    operand: Node


@dataclass(frozen=True, slots=True)
class AllOf(Node):
    """``a and b and ...`` (two or more items)."""

    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class AnyOf(Node):
    """``a or b or ...`` (two or more items)."""

    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Compare(Node):
    """``left OP right`` with OP one of ``== != < <= > >=``; ``op_start`` locates OP."""

    op: str
    op_start: int
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Arithmetic(Node):
    """``left OP right`` with OP one of ``+ - * / %``."""

    op: str
    op_start: int
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Minus(Node):
    """``-x``: the unary minus of a value."""

    operand: Node


@dataclass(frozen=True, slots=True)
class Membership(Node):
    """``item in container``: an element of a list or a key of a map.

    ``x in [a, b]`` never becomes one: the parser writes it as ``x == a || x == b``.
    """

    item: Node
    container: Node
    op_start: int


@dataclass(frozen=True, slots=True)
class Conditional(Node):
    """``condition ? when_true : when_false``."""

    condition: Node
    when_true: Node
    when_false: Node


@dataclass(frozen=True, slots=True)
class ListLiteral(Node):
    """``[a, b, ...]``."""

    items: tuple[Node, ...]
