"""Field access on wire entries, specialised per path shape for speed.

A path of one to three string keys compiles to direct subscripts inside ``try`` (free in
CPython when nothing is raised); a missing key, or a non-object on the way, gives MISSING.
``fused_test`` goes one step further and applies a C-level test to the value in the same
closure, so ``dst.namespace == "shop"`` costs one Python call per entry.
"""

from __future__ import annotations

from collections.abc import Callable
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
                if type(value) is not list or key >= len(value):
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


def fused_test(keys: tuple[str, ...], test: BinaryTest, argument: object) -> Predicate:
    """A predicate ``test(value_at_keys, argument)``: false when the field is missing.

    ``test`` must be a C-level function (``operator.eq``, ``str.endswith``...) that raises
    TypeError on a value of the wrong type rather than returning a wrong answer.
    """
    if len(keys) == 1:
        (first,) = keys

        def test_one(entry: Entry) -> bool:
            try:
                return test(entry[first], argument)
            except LOOKUP_ERRORS:
                return False

        return test_one
    if len(keys) == 2:
        first, second = keys

        def test_two(entry: Entry) -> bool:
            try:
                return test(entry[first][second], argument)
            except LOOKUP_ERRORS:
                return False

        return test_two
    get = _get_any(keys)

    def test_any(entry: Entry) -> bool:
        value = get(entry)
        if value is MISSING:
            return False
        try:
            return test(value, argument)
        except TypeError:
            return False

    return test_any
