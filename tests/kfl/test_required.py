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
