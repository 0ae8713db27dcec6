"""Field access on wire entries, specialised per path shape for speed.

A path of one or two string keys compiles to direct subscripts inside ``try`` (free in
CPython when nothing is raised); a missing key, or a non-object on the way, gives MISSING.
``fused_test`` goes one step further and applies a C-level test to the value in the same
closure, so ``dst.namespace == "shop"`` costs one Python call per entry, and
``fused_conjunction`` and ``fused_disjunction`` do the same for ``and`` and ``or`` of two or
three such tests. The C-level test
runs only on a value of the field's schema type, where Python's answer is KFL's; any other
value (a boolean in a port, a list in a name) goes to the test's ``fallback``, which applies
kfl.values' rules, so a fused test and the general one never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kfl.values import MISSING

Entry = Any
Getter = Callable[[Entry], object]
Predicate = Callable[[Entry], bool]
BinaryTest = Callable[[Any, Any], bool]
LOOKUP_ERRORS = (KeyError, IndexError, TypeError)


def getter(keys: tuple[str | int, ...]) -> Getter:
    """A function returning the value at ``keys`` in an entry, or MISSING."""
    if all(isinstance(key, str) for key in keys):
        if len(keys) == 1:
            return _get_one(keys[0])
        if len(keys) == 2:
            return _get_two(keys[0], keys[1])
    return _get_any(keys)


def _get_one(first: str | int) -> Getter:
    def get(entry: Entry) -> object:
        try:
            return entry[first]
        except LOOKUP_ERRORS:
            return MISSING

    return get


def _get_two(first: str | int, second: str | int) -> Getter:
    def get(entry: Entry) -> object:
        try:
            return entry[first][second]
        except LOOKUP_ERRORS:
            return MISSING

    return get


def _get_any(keys: tuple[str | int, ...]) -> Getter:
    def get(entry: Entry) -> object:
        value = entry
        for key in keys:
            if type(key) is int:
                if (type(value) is not list and type(value) is not tuple) or key >= len(value):
                    return MISSING
                value = value[key]
            elif type(value) is dict:
                value = value.get(key, MISSING)
                if value is MISSING:
                    return MISSING
            else:
                return MISSING
        return value

    return get


@dataclass(frozen=True, slots=True)
class FieldTest:
    """``test(value at keys, argument)``: a C-level test of one field reached by string keys.

    ``test`` (``operator.eq``, ``str.endswith``...) is applied only to a value whose class is
    ``exact_type`` (the field's schema type); ``fallback(value)`` decides for any other present
    value. A missing field makes the test false.
    """

    keys: tuple[str, ...]
    test: BinaryTest
    argument: object
    exact_type: type
    fallback: Callable[[object], bool]


def fused_test(field_test: FieldTest) -> Predicate:
    """One closure that reads the field and applies the test."""
    keys, test, argument = field_test.keys, field_test.test, field_test.argument
    exact, fallback = field_test.exact_type, field_test.fallback
    if len(keys) == 1:
        (first,) = keys

        def test_one(entry: Entry) -> bool:
            try:
                value = entry[first]
            except LOOKUP_ERRORS:
                return False
            return test(value, argument) if value.__class__ is exact else fallback(value)

        return test_one
    if len(keys) == 2:
        first, second = keys

        def test_two(entry: Entry) -> bool:
            try:
                value = entry[first][second]
            except LOOKUP_ERRORS:
                return False
            return test(value, argument) if value.__class__ is exact else fallback(value)

        return test_two
    get = _get_any(keys)

    def test_any(entry: Entry) -> bool:
        value = get(entry)
        if value is MISSING:
            return False
        return test(value, argument) if value.__class__ is exact else fallback(value)

    return test_any


def fused_conjunction(tests: Sequence[FieldTest]) -> Predicate | None:
    """One closure for ``a and b [and c]`` of tests on two-key fields; None for other shapes.

    A missing field makes its own test false, hence the whole conjunction.
    """
    if not 2 <= len(tests) <= 3 or any(len(test.keys) != 2 for test in tests):
        return None
    (a1, a2), test_a, argument_a = tests[0].keys, tests[0].test, tests[0].argument
    (b1, b2), test_b, argument_b = tests[1].keys, tests[1].test, tests[1].argument
    type_a, fallback_a = tests[0].exact_type, tests[0].fallback
    type_b, fallback_b = tests[1].exact_type, tests[1].fallback
    if len(tests) == 2:

        def both(entry: Entry) -> bool:
            try:
                a = entry[a1][a2]
                b = entry[b1][b2]
            except LOOKUP_ERRORS:
                return False
            return (test_a(a, argument_a) if a.__class__ is type_a else fallback_a(a)) and (
                test_b(b, argument_b) if b.__class__ is type_b else fallback_b(b)
            )

        return both
    (c1, c2), test_c, argument_c = tests[2].keys, tests[2].test, tests[2].argument
    type_c, fallback_c = tests[2].exact_type, tests[2].fallback

    def all_three(entry: Entry) -> bool:
        try:
            a = entry[a1][a2]
            b = entry[b1][b2]
            c = entry[c1][c2]
        except LOOKUP_ERRORS:
            return False
        return (
            (test_a(a, argument_a) if a.__class__ is type_a else fallback_a(a))
            and (test_b(b, argument_b) if b.__class__ is type_b else fallback_b(b))
            and (test_c(c, argument_c) if c.__class__ is type_c else fallback_c(c))
        )

    return all_three


def fused_disjunction(tests: Sequence[FieldTest]) -> Predicate | None:
    """One closure for ``a or b [or c]`` of tests on two-key fields; None for other shapes.

    A missing field makes only its own test false.
    """
    if not 2 <= len(tests) <= 3 or any(len(test.keys) != 2 for test in tests):
        return None
    (a1, a2), test_a, argument_a = tests[0].keys, tests[0].test, tests[0].argument
    (b1, b2), test_b, argument_b = tests[1].keys, tests[1].test, tests[1].argument
    type_a, fallback_a = tests[0].exact_type, tests[0].fallback
    type_b, fallback_b = tests[1].exact_type, tests[1].fallback
    third = fused_test(tests[2]) if len(tests) == 3 else None

    def either(entry: Entry) -> bool:
        try:
            a = entry[a1][a2]
        except LOOKUP_ERRORS:
            pass
        else:
            if test_a(a, argument_a) if a.__class__ is type_a else fallback_a(a):
                return True
        try:
            b = entry[b1][b2]
        except LOOKUP_ERRORS:
            pass
        else:
            if test_b(b, argument_b) if b.__class__ is type_b else fallback_b(b):
                return True
        return third is not None and third(entry)

    return either
