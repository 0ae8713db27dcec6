"""Equalities on plain fields, merged into one set lookup per ``and``/``or`` of them.

``(src.namespace=="ns1" and dst.namespace=="ns2") or (src.namespace=="ns2" and
dst.namespace=="ns1")`` becomes ``(src.namespace, dst.namespace) in {("ns1", "ns2"), ("ns2",
"ns1")}`` and ``dst.port == 80 or dst.port == 443`` becomes ``dst.port in {80, 443}``: one
closure and one hash lookup per entry instead of one call per comparison. Only fields whose
schema type (string or number) makes Python equality and hashing agree with KFL's ``==`` are
merged. The hash lookup runs on values of the field's schema type (where Python equality is
KFL's); any other present value (a list, a boolean, a numeric string) is compared with each
required value by kfl.values' rules, and a missing field makes the lookup false.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

from kfl.access import LOOKUP_ERRORS, Entry, Predicate, getter
from kfl.values import MISSING, equal, holds

FieldKeys = tuple[str, ...]
Equalities = dict[FieldKeys, Hashable]


def merged(parts: Sequence[Equalities]) -> Equalities | None:
    """The equalities of ``a and b and ...``, or None if two of them test the same field."""
    result: Equalities = {}
    for part in parts:
        if result.keys() & part.keys():
            return None
        result.update(part)
    return result


def lookup(rows: Sequence[Equalities]) -> Predicate | None:
    """One predicate for ``row or row or ...``, or None where separate tests are as fast.

    Every row must test the same one field, or the same two fields of two keys each.
    """
    fields = list(rows[0])
    if any(row.keys() != rows[0].keys() for row in rows):
        return None
    if len(fields) == 1:
        return _one_field(fields[0], frozenset(row[fields[0]] for row in rows))
    if len(fields) == 2 and all(len(field) == 2 for field in fields):
        (a1, a2), (b1, b2) = fields
        return _two_fields(
            a1, a2, b1, b2, frozenset((row[fields[0]], row[fields[1]]) for row in rows)
        )
    return None


def _exact_type(values: frozenset[Hashable]) -> type:
    """The class of entry value for which ``value in values`` is KFL's equality: strings for
    string values, ints for numbers (an int and a float hash alike when they are equal)."""
    return str if all(type(value) is str for value in values) else int


def _one_field(keys: FieldKeys, values: frozenset[Hashable]) -> Predicate:
    exact = _exact_type(values)

    def fallback(value: object) -> bool:
        return holds(lambda item: _equals_any(item, values), value)

    if len(keys) == 2:
        first, second = keys

        def in_values(entry: Entry) -> bool:
            try:
                value = entry[first][second]
            except LOOKUP_ERRORS:
                return False
            return value in values if value.__class__ is exact else fallback(value)

        return in_values
    get = getter(keys)

    def value_in_values(entry: Entry) -> bool:
        value = get(entry)
        if value is MISSING:
            return False
        return value in values if value.__class__ is exact else fallback(value)

    return value_in_values


def _two_fields(
    a1: str, a2: str, b1: str, b2: str, table: frozenset[tuple[Hashable, ...]]
) -> Predicate:
    type_a = _exact_type(frozenset(row[0] for row in table))
    type_b = _exact_type(frozenset(row[1] for row in table))

    def fallback(a: object, b: object) -> bool:
        return any(_holds_equal(a, x) and _holds_equal(b, y) for x, y in table)

    def pair_in_table(entry: Entry) -> bool:
        try:
            a = entry[a1][a2]
            b = entry[b1][b2]
        except LOOKUP_ERRORS:
            return False
        if a.__class__ is type_a and b.__class__ is type_b:
            return (a, b) in table
        return fallback(a, b)

    return pair_in_table


def _holds_equal(value: object, wanted: Hashable) -> bool:
    """``value`` (or, for a list, one of its elements) equals ``wanted`` by KFL's rules."""
    return holds(lambda item: equal(item, wanted), value)


def _equals_any(item: object, wanted: Iterable[Hashable]) -> bool:
    return any(equal(item, value) for value in wanted)
