"""Filter.required: the field values a query cannot match without (for indexing filters)."""

from __future__ import annotations

from collections.abc import Hashable

import pytest

from kfl import compile_filter

NS, DST_NS = ("src", "namespace"), ("dst", "namespace")
PROTO, PORT = ("protocol", "name"), ("dst", "port")


@pytest.mark.parametrize(
    ("query", "required"),
    [
        ("", {}),
        ("tcp", {PROTO: {"tcp"}}),
        ("!tcp", {}),
        ('src.namespace == "a" and tcp', {NS: {"a"}, PROTO: {"tcp"}}),
        ('dst.namespace == ""', {DST_NS: {""}}),
        (
            '(src.namespace=="a" and dst.namespace=="b") or (src.namespace=="b" and '
            'dst.namespace=="a")',
            {NS: {"a", "b"}, DST_NS: {"a", "b"}},
        ),
        ('src.namespace == "a" or dns', {}),
        ('dst.port == 80 or dst.port == "443"', {PORT: {80, 443}}),
        ('src.namespace == "a" and src.namespace == "b"', {NS: set()}),
        ("tcp and limit(5)", {PROTO: {"tcp"}}),
        ('tcp.flags == "SYN"', {}),  # a list matches if any element does: no single value
        ('src.namespace != "a"', {}),
        ('src.namespace.startsWith("a")', {}),
    ],
)
def test_required_values(query: str, required: dict[tuple[str, ...], set[Hashable]]) -> None:
    assert {keys: set(values) for keys, values in compile_filter(query).required.items()} == (
        required
    )


@pytest.mark.parametrize(
    ("query", "exact"),
    [
        ("tcp", True),
        ('dst.namespace == ""', True),
        ('dst.port == 80 or dst.port == "443"', True),
        ("tcp and limit(5)", True),  # the limit bounds a backfill, not what matches
        ("", False),
        ("!tcp", False),
        ('src.namespace == "a" and tcp', False),
        ('src.namespace == "a" or dst.namespace == "a"', False),
        ('(src.namespace=="a" and dst.namespace=="b") or src.namespace=="b"', False),
        ('src.namespace == "a" and src.namespace == "b"', False),
        ('tcp.flags == "SYN"', False),
        ('src.namespace.startsWith("a")', False),
    ],
)
def test_exact_filters_are_one_field_equalities(query: str, exact: bool) -> None:
    assert compile_filter(query).exact is exact
