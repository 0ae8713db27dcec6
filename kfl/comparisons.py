"""Build the predicate of one comparison, choosing the fastest closure that keeps KFL semantics.

A field of a known schema type compared with a constant of the same type becomes a C-level
FieldTest (fused into the field access by kfl.access) and, for ``==``, an equality that
kfl.lookup can merge into a set lookup; everything else goes through kfl.values, which handles
lists (any element), missing fields (false), numeric strings and type mismatches.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kfl.access import Entry, FieldTest, Getter, Predicate
from kfl.constants import Constant, Network, Regex
from kfl.lookup import Equalities
from kfl.values import MISSING, ValueTest, as_number, compare, equal, holds, ordered, text_of

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
MIRRORED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
NUMBER_KINDS = frozenset({"int", "float"})
HASHABLE_KINDS = frozenset({"str", "int", "float"})
NOT_NATIVE = object()
EXACT_TYPES: dict[str | None, type] = {"str": str, "int": int, "float": float, "bool": bool}


@dataclass(frozen=True, slots=True)
class Field:
    """The entry side of a comparison: its getter and, for a plain field, its keys and type."""

    get: Getter
    keys: tuple[str, ...] | None
    kind: str | None


def against_constant(op: str, field: Field, value: Constant) -> Predicate:
    """``field OP value`` for a constant value (durations resolved), with full KFL semantics."""
    get = field.get
    test = value_test(op, value)
    if op == "!=":
        return lambda entry: _differs(test, get(entry))
    return lambda entry: holds(test, get(entry))


def between_fields(op: str, left: Getter, right: Getter) -> Predicate:
    """``left OP right`` where both sides depend on the entry."""

    def test(entry: Entry) -> bool:
        right_value = right(entry)
        if right_value is MISSING:
            return False
        if op == "!=":
            return _differs(lambda value: equal(value, right_value), left(entry))
        return holds(lambda value: compare(op, value, right_value), left(entry))

    return test


def value_test(op: str, value: Constant) -> ValueTest:
    """The test one present (non-list) value must pass; for ``!=`` the test of ``==``."""
    if isinstance(value, Regex):
        return lambda candidate: _searched(value, candidate)
    if isinstance(value, Network):
        return lambda candidate: type(candidate) is str and value.holds(candidate)
    if op in {"==", "!="}:
        return lambda candidate: equal(candidate, value)
    return lambda candidate: ordered(op, candidate, value)


def constant_result(op: str, left: Constant, right: Constant) -> bool:
    """Compare two constants at compile time, with the same semantics as at run time."""
    test = value_test(op, right)
    return not test(left) if op == "!=" else test(left)


def _differs(test: ValueTest, value: object) -> bool:
    return value is not MISSING and not holds(test, value)


def _searched(regex: Regex, value: object) -> bool:
    text = text_of(value)
    return text is not None and regex.search(text)


def field_test(op: str, field: Field, value: Constant) -> FieldTest | None:
    """``field OP value`` as a C-level test, when the schema type makes Python's exact."""
    comparand = _native(field, value)
    if field.keys is None or comparand is NOT_NATIVE:
        return None
    exact, fallback = EXACT_TYPES[field.kind], value_fallback(op, value)
    if field.kind != "bool":
        return FieldTest(field.keys, OPERATORS[op], comparand, exact, fallback)
    if op in {"==", "!="}:
        test = operator.is_ if op == "==" else operator.is_not
        return FieldTest(field.keys, test, comparand, exact, fallback)
    return None


def computed_test(op: str, field: Field, value: Constant) -> Predicate | None:
    """``field OP value`` for a computed field of a scalar type (a KFL2 variable such as
    ``elapsed_time``): a C-level test on a value of that type, the value rules on any other,
    false on MISSING. None where it does not apply."""
    comparand = _native(field, value)
    if field.keys is not None or comparand is NOT_NATIVE or field.kind not in EXACT_TYPES:
        return None
    if field.kind == "bool" and op not in {"==", "!="}:
        return None
    if field.kind == "bool":
        test = operator.is_ if op == "==" else operator.is_not
    else:
        test = OPERATORS[op]
    exact, fallback, get = EXACT_TYPES[field.kind], value_fallback(op, value), field.get

    def computed(entry: Entry) -> bool:
        found = get(entry)
        if found.__class__ is exact:
            return test(found, comparand)
        return found is not MISSING and fallback(found)

    return computed


def value_fallback(op: str, value: Constant) -> ValueTest:
    """``present value OP value`` with full KFL semantics: what a FieldTest falls back to."""
    test = value_test(op, value)
    if op == "!=":
        return lambda candidate: not holds(test, candidate)
    return lambda candidate: holds(test, candidate)


def equality(op: str, field: Field, value: Constant) -> Equalities | None:
    """``{keys: comparand}`` when ``field OP value`` is a plain-field equality a set can test."""
    if op != "==" or field.keys is None or field.kind not in HASHABLE_KINDS:
        return None
    comparand = _native(field, value)
    return None if comparand is NOT_NATIVE else {field.keys: comparand}


def _native(field: Field, value: Constant) -> object:
    """The constant as a Python value that compares exactly with the field's schema type."""
    kind = field.kind
    if kind == "str" and type(value) is str:
        return value
    if kind in NUMBER_KINDS and type(value) is not bool:
        number = as_number(value)
        return NOT_NATIVE if number is None else number
    if kind == "bool" and type(value) is bool:
        return value
    return NOT_NATIVE
