"""Tests for the alias registration table, schema field checks and autocomplete names."""

from __future__ import annotations

import pytest

from contract.schema import field_paths
from kfl import KflError, compile_filter, fields


@pytest.fixture
def isolated_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a test register aliases without leaking them into other tests."""
    monkeypatch.setattr(fields, "_ALIASES", dict(fields._ALIASES))


def test_protocol_aliases_are_registered() -> None:
    registered = {alias.name: (alias.path, alias.value) for alias in fields.aliases()}
    assert registered == {
        "dns": ("protocol.name", "dns"),
        "icmp": ("protocol.name", "icmp"),
        "tcp": ("protocol.name", "tcp"),
        "udp": ("protocol.name", "udp"),
    }


@pytest.mark.usefixtures("isolated_aliases")
def test_a_dissector_registers_its_own_alias() -> None:
    with pytest.raises(KflError, match="unknown field 'reset'"):
        compile_filter("reset")
    fields.register_alias("reset", "tcp.event", "reset", "TCP connections reset by a peer")
    is_reset = compile_filter("reset")
    assert is_reset({"tcp": {"event": "reset"}})
    assert not is_reset({"tcp": {"event": "close"}})
    assert "reset" in fields.completions()


@pytest.mark.usefixtures("isolated_aliases")
@pytest.mark.parametrize(
    ("name", "path", "reason"),
    [
        ("tcp", "protocol.name", "already registered"),
        ("nil", "protocol.name", "reserved word"),
        ("seconds", "protocol.name", "reserved word or a helper name"),
        ("two words", "protocol.name", "not a plain identifier"),
        ("class", "protocol.name", "not a plain identifier"),
        ("http", "request.path", "not an entry field"),
    ],
)
def test_bad_alias_registrations_are_refused(name: str, path: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        fields.register_alias(name, path, "x")


def test_every_schema_field_path_is_a_valid_query() -> None:
    for path in field_paths():
        compile_filter(path)


def test_completions_hold_fields_aliases_and_helpers() -> None:
    names = fields.completions()
    assert set(field_paths()) <= set(names)
    assert {"tcp", "udp", "dns", "icmp"} <= set(names)
    assert {"now", "seconds", "datetime", "cidr", "limit", "startsWith", "matches"} <= set(names)
    assert names == sorted(names, key=lambda name: (name.lower(), name))
    assert len(names) == len(set(names))
