"""KFL's helpers: functions evaluated once at compile time and string methods on fields.

Functions: ``now()``, ``seconds(n)``, ``minutes(n)``, ``hours(n)``, ``days(n)``, ``weeks(n)``,
``months(n)`` (30 days), ``years(n)`` (365 days), ``datetime("...")``, KFL2's
``timestamp("RFC 3339")`` and ``duration("1h30m")``, ``cidr("...")`` and ``limit(n)`` (handled
by the compiler, it is not a value). Methods: ``.startsWith(s)``, ``.endsWith(s)``,
``.contains(s)``, ``.matches(re)``. ``size(x)``, ``map_get(m, k, d)`` and the list macros read
the entry, so the compiler builds them (kfl.macros); their names are listed here.
"""

from __future__ import annotations

import difflib
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kfl.constants import (
    Constant,
    Regex,
    compile_regex,
    duration,
    parse_cidr,
    parse_datetime,
    parse_duration,
    parse_timestamp,
)
from kfl.errors import LocatedError
from kfl.nodes import Call, Method, Node
from kfl.values import ValueTest, text_of

MS_PER_DAY = 86_400_000
MS_PER_UNIT = {
    "seconds": 1000,
    "minutes": 60_000,
    "hours": 3_600_000,
    "days": MS_PER_DAY,
    "weeks": 7 * MS_PER_DAY,
    "months": 30 * MS_PER_DAY,
    "years": 365 * MS_PER_DAY,
}
ENTRY_FUNCTIONS = ("size", "map_get")  # built by the compiler: they read the entry
FUNCTION_NAMES = (
    "now",
    *MS_PER_UNIT,
    "datetime",
    "timestamp",
    "duration",
    "cidr",
    "limit",
    *ENTRY_FUNCTIONS,
)
STRING_METHODS = ("startsWith", "endsWith", "contains", "matches")
ENTRY_METHODS = ("size", "exists", "all", "exists_one", "filter")  # built by the compiler
METHOD_NAMES = (*STRING_METHODS, *ENTRY_METHODS)
MAX_LIMIT = 10_000_000


@dataclass(frozen=True, slots=True)
class Argument:
    """A helper argument: its compile-time value and the node it came from (for errors)."""

    value: Constant
    node: Node


@dataclass(frozen=True, slots=True)
class MethodTest:
    """A method compiled against its argument.

    ``string_test(value, argument)`` is a C-level test valid when the field is a string (the
    compiler fuses it into the field access); ``test(value)`` handles any single value.
    """

    string_test: Callable[[Any, Any], bool] | None
    argument: object
    test: ValueTest


def check_known(node: Call | Method) -> None:
    """Raise LocatedError for a helper name that does not exist (before its arguments are
    compiled, so that the name is what the error is about)."""
    if isinstance(node, Call) and node.name not in FUNCTION_NAMES:
        raise LocatedError(_unknown_function(node.name), node.start, node.name_end)
    if isinstance(node, Method) and node.name not in METHOD_NAMES:
        raise LocatedError(_unknown_method(node.name), node.name_start, node.name_end)


def call_function(call: Call, arguments: list[Argument], now_ms: int) -> Constant:
    """Evaluate a helper function call at compile time; raise LocatedError if it is invalid."""
    name = call.name
    if name == "now":
        _arity(call, arguments, 0)
        return now_ms
    if name in MS_PER_UNIT:
        (count,) = _arity(call, arguments, 1)
        number = _number(count, f"{name}() takes a number")
        return duration(number * MS_PER_UNIT[name], call.start, call.end)
    if name in PARSERS:
        (text,) = _arity(call, arguments, 1)
        literal = _string(text, f"{name}() takes a string")
        return PARSERS[name](literal, text.node.start, text.node.end)
    if name == "limit":
        message = "limit(n) is not a value: join it to the whole query with 'and'"
        raise LocatedError(message, call.start, call.end)
    raise LocatedError(_unknown_function(name), call.start, call.name_end)


PARSERS: dict[str, Callable[[str, int, int], Constant]] = {
    "datetime": parse_datetime,
    "timestamp": parse_timestamp,
    "duration": parse_duration,
    "cidr": parse_cidr,
}


def limit_count(call: Call, arguments: list[Argument]) -> int:
    """The n of ``limit(n)``: a whole number from 1 to MAX_LIMIT."""
    (count,) = _arity(call, arguments, 1)
    value = count.value
    if type(value) is not int or not 1 <= value <= MAX_LIMIT:
        message = f"limit() takes a whole number from 1 to {MAX_LIMIT}"
        raise LocatedError(message, count.node.start, count.node.end)
    return value


def method_test(method: Method, arguments: list[Argument]) -> MethodTest:
    """Compile a helper method against its (constant) argument; raise LocatedError if invalid."""
    name = method.name
    if name not in STRING_METHODS:
        raise LocatedError(_unknown_method(name), method.name_start, method.name_end)
    (argument,) = _arity(method, arguments, 1)
    if name == "matches":
        regex = _regex(argument)
        return MethodTest(None, regex, lambda value: _searches(regex, value))
    text = _string(argument, f"{name}() takes a string")
    if name == "startsWith":
        return MethodTest(
            str.startswith, text, lambda value: _text_test(value, str.startswith, text)
        )
    if name == "endsWith":
        return MethodTest(str.endswith, text, lambda value: _text_test(value, str.endswith, text))
    return MethodTest(
        operator.contains, text, lambda value: _text_test(value, operator.contains, text)
    )


def _text_test(value: object, test: Callable[[str, str], bool], argument: str) -> bool:
    text = text_of(value)
    return text is not None and test(text, argument)


def _searches(regex: Regex, value: object) -> bool:
    text = text_of(value)
    return text is not None and regex.search(text)


def _arity(node: Call | Method, arguments: list[Argument], count: int) -> list[Argument]:
    """``arguments`` if there are ``count`` of them; else raise LocatedError."""
    if len(arguments) != count:
        plural = "argument" if count == 1 else "arguments"
        message = f"{node.name}() takes {count} {plural}, got {len(arguments)}"
        raise LocatedError(message, node.start, node.end)
    return arguments


def _number(argument: Argument, message: str) -> int | float:
    value = argument.value
    if type(value) is not int and type(value) is not float:
        raise LocatedError(message, argument.node.start, argument.node.end)
    return value


def _string(argument: Argument, message: str) -> str:
    value = argument.value
    if not isinstance(value, str):
        raise LocatedError(message, argument.node.start, argument.node.end)
    return value


def _regex(argument: Argument) -> Regex:
    value = argument.value
    if isinstance(value, Regex):
        return value
    if isinstance(value, str):
        return compile_regex(value, argument.node.start, argument.node.end)
    raise LocatedError(
        "matches() takes a regex or a string", argument.node.start, argument.node.end
    )


def _unknown_function(name: str) -> str:
    if name in METHOD_NAMES:
        return f"{name}() is a method: write field.{name}(...)"
    return f"unknown helper {name}(){_suggestion(name, FUNCTION_NAMES)}"


def _unknown_method(name: str) -> str:
    if name in FUNCTION_NAMES:
        return f"{name}() is a function, not a method of a field"
    return f"unknown helper .{name}(){_suggestion(name, METHOD_NAMES)}"


def _suggestion(name: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}()?" if close else f"; known: {', '.join(known)}"
