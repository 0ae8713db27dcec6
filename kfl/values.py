"""KFL's value semantics on JSON-decoded entry values: equality, ordering, truthiness, numbers.

- A missing field is ``MISSING``; every comparison on it is false.
- Numbers compare as numbers, exactly (ints are never rounded); a number and a numeric string
  are compared as numbers (``8080 == "8080"``). Booleans are not numbers.
- Strings compare with strings; any other mix of types is simply unequal and unordered.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any, Final

ValueTest = Callable[[object], bool]
NUMBER_CHARACTERS = frozenset("0123456789+-.eE")
ORDERINGS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class Missing:
    """The type of MISSING, the value of a field that an entry does not have."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = Missing()


def as_number(value: object) -> int | float | None:
    """The number a value stands for (an int, float or numeric string), else None."""
    value_type = type(value)
    if value_type is int or value_type is float:
        return value  # type: ignore[return-value]
    if value_type is str:
        return _parse_number(value)  # type: ignore[arg-type]
    return None


def _parse_number(text: str) -> int | float | None:
    if not text or not NUMBER_CHARACTERS.issuperset(text) or not text.lstrip("-")[:1].isdigit():
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def equal(left: object, right: object) -> bool:
    """KFL equality of two present scalar values."""
    left_type, right_type = type(left), type(right)
    if left_type is bool or right_type is bool or left is None or right is None:
        return left_type is right_type and left == right
    if left_type is str and right_type is str:
        return left == right
    left_number, right_number = as_number(left), as_number(right)
    if left_number is None or right_number is None:
        return False
    return left_number == right_number


def ordered(op: str, left: object, right: object) -> bool:
    """KFL ordering (``<``, ``<=``, ``>``, ``>=``) of two present scalar values."""
    compare = ORDERINGS[op]
    if type(left) is str and type(right) is str:
        return compare(left, right)
    if type(left) is bool or type(right) is bool:
        return False
    left_number, right_number = as_number(left), as_number(right)
    if left_number is None or right_number is None:
        return False
    return compare(left_number, right_number)


def compare(op: str, left: object, right: object) -> bool:
    """``left OP right`` on two present scalars, ``!=`` being the negation of ``==``."""
    if op == "==":
        return equal(left, right)
    if op == "!=":
        return not equal(left, right)
    return ordered(op, left, right)


def truthy(value: object) -> bool:
    """Whether a field used alone as a condition holds: present and not false, 0, "" or empty."""
    return value is not MISSING and bool(value)


def holds(test: ValueTest, value: object) -> bool:
    """Apply a test to a field value: false if missing, any element for a list."""
    if value is MISSING:
        return False
    if type(value) is list or type(value) is tuple:  # a JSON array, as decoded or as stored
        return any(map(test, value))
    return test(value)


def text_of(value: object) -> str | None:
    """The text a regex or string helper sees: a string as is, a number in decimal, else None."""
    value_type = type(value)
    if value_type is str:
        return value  # type: ignore[return-value]
    if value_type is int or value_type is float:
        return str(value)
    return None
