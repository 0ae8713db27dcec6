"""Boolean combinators of predicates: constants, not, and, or.

``and``/``or`` of two or three predicates get their own closure (no loop), the common case.
"""

from __future__ import annotations

from kfl.access import Entry, Predicate


def always(result: bool) -> Predicate:
    """A predicate that ignores the entry."""
    return lambda _entry: result


def negation(predicate: Predicate) -> Predicate:
    """``!predicate``."""
    return lambda entry: not predicate(entry)


def all_of(predicates: list[Predicate]) -> Predicate:
    """``a and b and ...`` (two or more), short-circuiting."""
    if len(predicates) == 2:
        first, second = predicates
        return lambda entry: first(entry) and second(entry)
    if len(predicates) == 3:
        first, second, third = predicates
        return lambda entry: first(entry) and second(entry) and third(entry)

    def every(entry: Entry) -> bool:
        return all(predicate(entry) for predicate in predicates)

    return every


def any_of(predicates: list[Predicate]) -> Predicate:
    """``a or b or ...`` (two or more), short-circuiting."""
    if len(predicates) == 2:
        first, second = predicates
        return lambda entry: first(entry) or second(entry)
    if len(predicates) == 3:
        first, second, third = predicates
        return lambda entry: first(entry) or second(entry) or third(entry)

    def some(entry: Entry) -> bool:
        return any(predicate(entry) for predicate in predicates)

    return some
