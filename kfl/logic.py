"""Boolean combinators of predicates: constants, not, and, or.

``and``/``or`` of two to four predicates get their own closure (no loop), the common case; a
longer one is split in halves, so it costs a call per level, not a generator per entry.
"""

from __future__ import annotations

from kfl.access import Predicate


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
    if len(predicates) == 4:
        first, second, third, fourth = predicates
        return lambda entry: first(entry) and second(entry) and third(entry) and fourth(entry)
    half = len(predicates) // 2
    return all_of([all_of(predicates[:half]), all_of(predicates[half:])])


def any_of(predicates: list[Predicate]) -> Predicate:
    """``a or b or ...`` (two or more), short-circuiting."""
    if len(predicates) == 2:
        first, second = predicates
        return lambda entry: first(entry) or second(entry)
    if len(predicates) == 3:
        first, second, third = predicates
        return lambda entry: first(entry) or second(entry) or third(entry)
    if len(predicates) == 4:
        first, second, third, fourth = predicates
        return lambda entry: first(entry) or second(entry) or third(entry) or fourth(entry)
    half = len(predicates) // 2
    return any_of([any_of(predicates[:half]), any_of(predicates[half:])])
