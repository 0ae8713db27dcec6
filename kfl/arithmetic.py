"""Arithmetic on entry values: ``+ - * / %`` and unary minus, never raising.

Operands are numbers as :func:`kfl.values.as_number` reads them (ints, floats, numeric strings;
never booleans). Integers stay exact; ``/`` of two integers truncates toward zero and ``%``
keeps the dividend's sign, as in CEL. A result that cannot be computed (an operand that is not
a number, division by zero, an integer too large to mix with a float, an integer result
outside the 64-bit range, an infinite or NaN result) is MISSING, so the comparison holding it
is false.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from kfl.values import MISSING, as_number

Number = int | float
INT64 = range(-(2**63), 2**63)
Operation = Callable[[Number, Number], Number]


def _divide(left: Number, right: Number) -> Number:
    if type(left) is int and type(right) is int:
        quotient = abs(left) // abs(right)
        return quotient if (left < 0) == (right < 0) else -quotient
    return left / right


def _remainder(left: Number, right: Number) -> Number:
    if type(left) is int and type(right) is int:
        return left - right * _divide(left, right)
    return math.fmod(left, right)


OPERATIONS: dict[str, Operation] = {
    "+": lambda left, right: left + right,
    "-": lambda left, right: left - right,
    "*": lambda left, right: left * right,
    "/": _divide,
    "%": _remainder,
}


def calculate(op: str, left: object, right: object) -> object:
    """``left OP right`` on two values, or MISSING when it has no numeric result."""
    left_number, right_number = as_number(left), as_number(right)
    if left_number is None or right_number is None:
        return MISSING
    return _checked(OPERATIONS[op], left_number, right_number)


def negated(value: object) -> object:
    """``-value``, or MISSING when value is not a number."""
    number = as_number(value)
    return MISSING if number is None else _checked(OPERATIONS["-"], 0, number)


def fold(op: str, left: Number, right: Number) -> Number | None:
    """``left OP right`` of two constants at compile time; None when it has no result."""
    result = _checked(OPERATIONS[op], left, right)
    return None if result is MISSING else result  # type: ignore[return-value]


def _checked(operation: Operation, left: Number, right: Number) -> object:
    try:
        result = operation(left, right)
    except (ZeroDivisionError, OverflowError):
        return MISSING
    if type(result) is float:
        return result if math.isfinite(result) else MISSING
    return result if result in INT64 else MISSING
