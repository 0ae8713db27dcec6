"""Run-time pieces of KFL2's collection operations: list macros, ``size``, ``map_get``, ``in``.

The list macros (``exists``, ``all``, ``exists_one``, ``filter``) bind a variable to each
element of a list (each key of a map) and run a compiled body. The bound values live in one
context variable, a tuple with one slot per enclosing macro, so nested macros and filters run
from several threads or tasks never see each other's elements. A macro over a value that is not
a list or a map is false (``filter`` gives MISSING), like any comparison on a missing field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextvars import ContextVar

from kfl.access import Entry, Getter, Predicate
from kfl.values import MISSING, equal

_BOUND: ContextVar[tuple[object, ...]] = ContextVar("kfl_bound", default=())

MacroBuilder = Callable[[Getter, Predicate], Getter]


def bound(slot: int) -> Getter:
    """A getter for the element bound by the macro at nesting ``slot``."""

    def get(_entry: Entry) -> object:
        values = _BOUND.get()
        return values[slot] if slot < len(values) else MISSING

    return get


def _elements(value: object) -> Iterable[object] | None:
    if type(value) is list or type(value) is tuple:
        return value
    if type(value) is dict:
        return tuple(value)
    return None


def _run(elements: Iterable[object], body: Predicate, entry: Entry) -> list[bool]:
    outer = _BOUND.get()
    results = []
    for element in elements:
        token = _BOUND.set((*outer, element))
        try:
            results.append(body(entry) is True)
        finally:
            _BOUND.reset(token)
    return results


def exists(target: Getter, body: Predicate) -> Getter:
    """``list.exists(x, body)``: some element satisfies body."""

    def test(entry: Entry) -> object:
        elements = _elements(target(entry))
        return elements is not None and any(_run(elements, body, entry))

    return test


def every(target: Getter, body: Predicate) -> Getter:
    """``list.all(x, body)``: every element satisfies body (true for an empty list)."""

    def test(entry: Entry) -> object:
        elements = _elements(target(entry))
        return elements is not None and all(_run(elements, body, entry))

    return test


def exists_one(target: Getter, body: Predicate) -> Getter:
    """``list.exists_one(x, body)``: exactly one element satisfies body."""

    def test(entry: Entry) -> object:
        elements = _elements(target(entry))
        return elements is not None and sum(_run(elements, body, entry)) == 1

    return test


def keep(target: Getter, body: Predicate) -> Getter:
    """``list.filter(x, body)``: the elements that satisfy body, as a tuple."""

    def get(entry: Entry) -> object:
        elements = _elements(target(entry))
        if elements is None:
            return MISSING
        elements = tuple(elements)
        return tuple(e for e, ok in zip(elements, _run(elements, body, entry), strict=True) if ok)

    return get


MACROS: dict[str, MacroBuilder] = {
    "exists": exists,
    "all": every,
    "exists_one": exists_one,
    "filter": keep,
}
CONDITION_MACROS = frozenset({"exists", "all", "exists_one"})


def size(value: object) -> object:
    """CEL's ``size``: characters of a string, elements of a list, keys of a map."""
    if type(value) is str or type(value) is list or type(value) is tuple or type(value) is dict:
        return len(value)
    return MISSING


def map_get(mapping: object, key: object, default: object) -> object:
    """``map_get(m, key, default)``: ``m[key]``, else default (also when m is not a map)."""
    if type(mapping) is not dict:
        return default
    try:
        return mapping.get(key, default)
    except TypeError:  # an unhashable key (a list, or a tuple holding one) is in no map
        return default


def contains(container: object, item: object) -> bool:
    """``item in container``: an element of a list equal to item, or a key of a map."""
    if item is MISSING:
        return False
    elements = _elements(container)
    return elements is not None and any(equal(element, item) for element in elements)
