"""Equalities on plain fields, merged into one set lookup per ``and``/``or`` of them.

``(src.namespace=="ns1" and dst.namespace=="ns2") or (src.namespace=="ns2" and
dst.namespace=="ns1")`` becomes ``(src.namespace, dst.namespace) in {("ns1", "ns2"), ("ns2",
"ns1")}`` and ``dst.port == 80 or dst.port == 443`` becomes ``dst.port in {80, 443}``: one
closure and one hash lookup per entry instead of one call per comparison. Only fields whose
schema type (string or number) makes Python equality and hashing agree with KFL's ``==`` are
merged; a missing field, or an unhashable value in a malformed entry, makes the lookup false.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from kfl.access import LOOKUP_ERRORS, Entry, Predicate, getter

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


def _one_field(keys: FieldKeys, values: frozenset[Hashable]) -> Predicate:
    if len(keys) == 2:
        first, second = keys

        def in_values(entry: Entry) -> bool:
            try:
                return entry[first][second] in values
            except LOOKUP_ERRORS:
                return False

        return in_values
    get = getter(keys)

    def value_in_values(entry: Entry) -> bool:
        try:
            return get(entry) in values
        except TypeError:
            return False

    return value_in_values


def _two_fields(
    a1: str, a2: str, b1: str, b2: str, table: frozenset[tuple[Hashable, ...]]
) -> Predicate:
    def pair_in_table(entry: Entry) -> bool:
        try:
            return (entry[a1][a2], entry[b1][b2]) in table
        except LOOKUP_ERRORS:
            return False

    return pair_in_table
