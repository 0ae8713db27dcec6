"""Tests for KFL's value semantics on single values (kfl.values)."""

from __future__ import annotations

import pytest

from kfl.values import MISSING, as_number, compare, equal, holds, ordered, text_of, truthy


@pytest.mark.parametrize(
    ("value", "number"),
    [
        (8080, 8080),
        (1.5, 1.5),
        ("8080", 8080),
        ("-30", -30),
        ("1.25", 1.25),
        ("1e3", 1000.0),
        ("00080", 80),
        ("9007199254740993", 9007199254740993),
        ("", None),
        ("-", None),
        ("+5", None),
        (" 5", None),
        ("1_000", None),
        ("0x50", None),
        ("nan", None),
        ("inf", None),
        ("1e999", None),
        ("5-3", None),
        ("\N{ARABIC-INDIC DIGIT ONE}", None),
        ("9" * 5000, None),
        (True, None),
        (None, None),
        ([1], None),
    ],
)
def test_as_number(value: object, number: object) -> None:
    assert as_number(value) == number
    assert type(as_number(value)) is type(number)


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (8080, "8080", True),
        ("8080", 8080.0, True),
        ("8080", "8080.0", False),
        (True, 1, False),
        (1, True, False),
        (True, True, True),
        (None, None, True),
        (None, "", False),
        (0, None, False),
        ({"a": 1}, {"a": 1}, False),
        (2**63 + 1, float(2**63 + 1), False),
    ],
)
def test_equal(left: object, right: object, expected: bool) -> None:
    assert equal(left, right) is expected
    assert equal(right, left) is expected
    assert compare("!=", left, right) is (not expected)


@pytest.mark.parametrize(
    ("op", "left", "right", "expected"),
    [
        ("<", 1, 2, True),
        ("<", "1", 2, True),
        ("<", "10", "9", True),
        (">=", "b", "a", True),
        ("<", True, 2, False),
        ("<", None, 2, False),
        ("<", "abc", 2, False),
        (">", [3], 2, False),
        ("<=", 2**70, 2**70 + 1, True),
    ],
)
def test_ordered(op: str, left: object, right: object, expected: bool) -> None:
    assert ordered(op, left, right) is expected
    assert compare(op, left, right) is expected


def test_missing_and_truthiness() -> None:
    assert not truthy(MISSING)
    assert not truthy(0)
    assert not truthy([])
    assert truthy("x")
    assert not holds(lambda value: True, MISSING)
    assert holds(lambda value: value == 2, [1, 2])
    assert not holds(lambda value: True, [])
    assert repr(MISSING) == "MISSING"


def test_text_of() -> None:
    assert text_of("a") == "a"
    assert text_of(80) == "80"
    assert text_of(1.5) == "1.5"
    assert text_of(True) is None
    assert text_of(None) is None
