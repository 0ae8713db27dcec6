"""What a KFL name can refer to: entry fields (checked against the schema), KFL2 variables
(kfl.variables) and aliases.

Aliases live in one registration table, :func:`register_alias`. At import, this module
registers one per protocol of the schema (:data:`contract.schema.PROTOCOLS`): the bare word
``tcp`` in a query means ``protocol.name == "tcp"`` (while ``tcp.event`` stays a field path).
A new protocol added to the schema gets its alias from that loop; any other alias is one
``register_alias(name, path, value, description)`` call.
"""

from __future__ import annotations

import difflib
import keyword
from dataclasses import dataclass

from contract.schema import PROTOCOLS, field_paths
from kfl.errors import LocatedError
from kfl.helpers import FUNCTION_NAMES, METHOD_NAMES
from kfl.nodes import Path, Scalar
from kfl.variables import VARIABLES, unavailable

SCHEMA_TYPES = field_paths()
TIME_FIELDS = frozenset({"timestamp"})
MICROSECOND_FIELDS = frozenset({"elapsed_time"})  # a duration compared with them is in µs
RESERVED_WORDS = frozenset({"and", "or", "not", "true", "false", "null", "nil"})
TYPE_NAMES = {
    "str": "a string",
    "int": "a number",
    "float": "a number",
    "bool": "a boolean",
    "list[str]": "a list of strings",
    "map[str]": "a map of strings",
}


@dataclass(frozen=True, slots=True)
class Alias:
    """A bare word standing for ``path == value``: ``tcp`` is ``protocol.name == "tcp"``."""

    name: str
    path: str
    value: Scalar
    description: str


_ALIASES: dict[str, Alias] = {}


def register_alias(name: str, path: str, value: Scalar, description: str = "") -> None:
    """Make the bare word ``name`` mean ``path == value``; raise ValueError if it cannot."""
    if not name.isidentifier() or not name.isascii() or keyword.iskeyword(name):
        raise ValueError(f"alias {name!r} is not a plain identifier")
    if name in RESERVED_WORDS or name in FUNCTION_NAMES:
        raise ValueError(f"alias {name!r} is a reserved word or a helper name")
    if name in _ALIASES:
        raise ValueError(f"alias {name!r} is already registered")
    if path not in SCHEMA_TYPES:
        raise ValueError(f"alias {name!r} refers to {path!r}, which is not an entry field")
    _ALIASES[name] = Alias(name, path, value, description or f'{path} == "{value}"')


def alias(name: str) -> Alias | None:
    """The alias registered under ``name``, if any."""
    return _ALIASES.get(name)


def aliases() -> list[Alias]:
    """Every registered alias, by name."""
    return sorted(_ALIASES.values(), key=lambda registered: registered.name)


def is_time_field(path: Path) -> bool:
    """Whether a field holds a time in ms since the epoch (``seconds(-30)`` then means a time)."""
    return path.dotted in TIME_FIELDS


def is_microsecond_field(path: Path) -> bool:
    """Whether a field holds a duration in µs (a duration compared with it is converted)."""
    return path.dotted in MICROSECOND_FIELDS


def resolve(path: Path) -> str:
    """The schema type of a field path (``str``, ``int``, ``list[str]``, ``object``...).

    Raise LocatedError, located at the first bad segment, for a field the schema does not define.
    """
    return resolve_segments(path, "", "object")


def resolve_segments(path: Path, dotted: str, kind: str, first: int = 0) -> str:
    """The type of ``path``'s segments from ``first`` on, read from a ``kind`` value at the
    field ``dotted``; raise LocatedError at the first segment that does not exist."""
    for segment in path.segments[first:]:
        if kind == "any":  # a value whose type is known only when the filter runs
            return kind
        if kind.startswith("map["):
            if isinstance(segment.key, int):
                message = f'{dotted} is {TYPE_NAMES[kind]}: write {dotted}["key"]'
                raise LocatedError(message, segment.start, segment.end)
            dotted, kind = f"{dotted}[{segment.key!r}]", kind[len("map[") : -1]
            continue
        if isinstance(segment.key, int):
            if not kind.startswith("list["):
                raise LocatedError(
                    f"{dotted} is not a list, it cannot be indexed", segment.start, segment.end
                )
            kind = kind[len("list[") : -1]
            continue
        if kind != "object":
            what = TYPE_NAMES.get(kind, kind)
            message = f"{dotted} is {what}, it has no field {segment.key!r}"
            raise LocatedError(message, segment.start, segment.end)
        dotted = f"{dotted}.{segment.key}" if dotted else segment.key
        if dotted not in SCHEMA_TYPES:
            raise LocatedError(_unknown_field(dotted), segment.start, segment.end)
        kind = SCHEMA_TYPES[dotted]
    return kind


def _unknown_field(dotted: str) -> str:
    reason = unavailable(dotted.split(".", 1)[0])
    if reason is not None:
        return f"unknown field {dotted!r}: {reason}"
    parent, _, _ = dotted.rpartition(".")
    names = [*SCHEMA_TYPES, *VARIABLES]
    siblings = [name for name in names if name.rpartition(".")[0] == parent]
    if not parent:
        siblings += list(_ALIASES)
    close = difflib.get_close_matches(dotted, siblings, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown field {dotted!r}{hint}"


def completions() -> list[str]:
    """Every name a query can use, for autocomplete: field paths, KFL2 variables, aliases and
    helpers."""
    names = set(SCHEMA_TYPES) | set(VARIABLES) | set(_ALIASES)
    names |= set(FUNCTION_NAMES) | set(METHOD_NAMES)
    return sorted(names, key=lambda name: (name.lower(), name))


for _protocol in PROTOCOLS:
    register_alias(_protocol, "protocol.name", _protocol, f"{PROTOCOLS[_protocol]} entries")
