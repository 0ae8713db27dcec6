"""Tests for the entry schema v1: round trips, strict validation, field paths."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.errors import SchemaError
from contract.schema import (
    MAX_LIST_ITEMS,
    MAX_STRING_CHARS,
    MAX_WIRE_BYTES,
    AboutTuple,
    Address,
    DnsInfo,
    Endpoint,
    Entry,
    IcmpInfo,
    Node,
    Payload,
    TcpInfo,
    camel,
    field_paths,
    protocol,
)


def tcp_entry() -> Entry:
    return Entry(
        id="node-a/17",
        worker="node-a",
        node=Node(name="node-a", ip="192.0.2.10"),
        timestamp=1_678_675_066_172,
        elapsed_time=120,
        protocol=protocol("tcp"),
        src=Endpoint(ip="10.244.1.5", port=43122, name="cart-7d9f", namespace="shop", kind="pod"),
        dst=Endpoint(ip="203.0.113.7", port=443, name="api.stripe.com", kind="external"),
        outgoing=True,
        request_size=1200,
        response_size=34000,
        tcp=TcpInfo(event="close", state="CLOSED", flags=("SYN", "ACK", "FIN"), rtt=0.8),
        summary="10.244.1.5:43122 -> 203.0.113.7:443 close",
    )


def dns_entry() -> Entry:
    return Entry(
        id="node-a/18",
        worker="node-a",
        node=Node(name="node-a"),
        timestamp=1,
        protocol=protocol("dns"),
        src=Endpoint(ip="10.96.0.10", port=53),
        dst=Endpoint(ip="10.244.1.5", port=5353),
        dns=DnsInfo(query="api.stripe.com", answers=("203.0.113.7",), latency=1.5),
    )


def icmp_entry() -> Entry:
    about = AboutTuple(
        protocol="tcp", src=Address("10.244.1.5", 40000), dst=Address("203.0.113.9", 80)
    )
    return Entry(
        id="node-a/19",
        worker="node-a",
        node=Node(),
        timestamp=2,
        protocol=protocol("icmp"),
        src=Endpoint(ip="203.0.113.1"),
        dst=Endpoint(ip="10.244.1.5"),
        icmp=IcmpInfo(type=3, code=1, message="host unreachable", about=about),
        payload=Payload(request="R0VUIC8=", response=""),
    )


@pytest.mark.parametrize("entry", [tcp_entry(), dns_entry(), icmp_entry()])
def test_round_trip_through_wire_and_json(entry: Entry) -> None:
    assert Entry.from_wire(entry.to_wire()) == entry
    assert Entry.from_json(entry.to_json()) == entry
    assert Entry.from_json(entry.to_json().encode()) == entry


def test_wire_form_uses_kubeshark_names_and_omits_absent_sections() -> None:
    wire = tcp_entry().to_wire()
    assert wire["v"] == 1
    assert wire["elapsedTime"] == 120
    assert wire["requestSize"] == 1200
    assert wire["responseSize"] == 34000
    assert wire["protocol"] == {"name": "tcp", "abbr": "TCP"}
    assert wire["tcp"]["flags"] == ["SYN", "ACK", "FIN"]
    assert wire["tcp"]["resetBy"] == ""
    assert "retransmits" not in wire["tcp"]
    assert "dns" not in wire
    assert "packets" not in wire
    assert json.loads(tcp_entry().to_json()) == wire


def _mutated(change: dict[str, Any]) -> dict[str, Any]:
    wire = copy.deepcopy(tcp_entry().to_wire())
    for dotted, value in change.items():
        *parents, leaf = dotted.split(".")
        target = wire
        for key in parents:
            target = target[key]
        if value is KeyError:
            del target[leaf]
        else:
            target[leaf] = value
    return wire


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"id": KeyError}, "id", "required field is missing"),
        ({"src.ip": KeyError}, "src.ip", "required field is missing"),
        ({"v": 2}, "v", "unknown schema version 2"),
        ({"timestamp": "1"}, "timestamp", "expected an integer, got str"),
        ({"timestamp": True}, "timestamp", "expected an integer, got boolean"),
        ({"timestamp": 1.5}, "timestamp", "expected an integer, got float"),
        ({"timestamp": 2**64}, "timestamp", "out of the 64-bit range"),
        ({"timestamp": -1}, "timestamp", "must not be negative"),
        ({"outgoing": 1}, "outgoing", "expected true or false"),
        ({"src.port": 70000}, "src.port", "out of range"),
        ({"src.kind": "planet"}, "src.kind", "unknown endpoint kind"),
        ({"src": "10.0.0.1"}, "src", "expected an object, got str"),
        ({"protocol.name": "sctp"}, "protocol.name", "unknown protocol"),
        ({"protocol.abbr": "UDP"}, "protocol.abbr", "does not match"),
        ({"tcp.event": "explode"}, "tcp.event", "unknown TCP event"),
        ({"tcp.resetBy": "both"}, "tcp.resetBy", "expected client or server"),
        ({"tcp.flags": "SYN"}, "tcp.flags", "expected a list"),
        ({"tcp.flags": [1]}, "tcp.flags[0]", "expected a string"),
        ({"tcp.flags": ["A"] * (MAX_LIST_ITEMS + 1)}, "tcp.flags", "over the"),
        ({"tcp.rtt": float("nan")}, "tcp.rtt", "finite"),
        ({"summary": "x" * (MAX_STRING_CHARS + 1)}, "summary", "over the"),
        ({"color": "red"}, "color", "unknown field"),
        ({"src.colour": "red"}, "src.colour", "unknown field"),
        ({"requestSize": -5}, "requestSize", "must not be negative"),
        ({"id": ""}, "id", "must not be empty"),
    ],
)
def test_malformed_wire_entries_raise_schema_error(
    change: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(SchemaError) as caught:
        Entry.from_wire(_mutated(change))
    assert caught.value.path == path
    assert message in caught.value.message


@pytest.mark.parametrize(
    "text",
    ["", "{", "[1, 2]", "null", '"entry"', b"\xff\xfe", "x" * (MAX_WIRE_BYTES + 1)],
)
def test_from_json_rejects_garbage_with_schema_error(text: str | bytes) -> None:
    with pytest.raises(SchemaError):
        Entry.from_json(text)


def test_payload_may_be_longer_than_ordinary_strings() -> None:
    preview = "A" * (MAX_STRING_CHARS * 5)
    entry = Entry.from_wire({**icmp_entry().to_wire(), "payload": {"request": preview}})
    assert entry.payload is not None
    assert entry.payload.request == preview


def test_integers_are_accepted_for_float_fields() -> None:
    entry = Entry.from_wire(_mutated({"tcp.rtt": 3}))
    assert entry.tcp is not None
    assert entry.tcp.rtt == 3.0


def test_field_paths_cover_nested_sections() -> None:
    paths = field_paths()
    assert paths["dst.namespace"] == "str"
    assert paths["src.port"] == "int"
    assert paths["tcp.flags"] == "list[str]"
    assert paths["tcp.rtt"] == "float"
    assert paths["icmp.about.dst.port"] == "int"
    assert paths["dns"] == "object"
    assert paths["elapsedTime"] == "int"
    assert "elapsed_time" not in paths


def test_camel_case_conversion() -> None:
    assert camel("elapsed_time") == "elapsedTime"
    assert camel("reset_by") == "resetBy"
    assert camel("ip") == "ip"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from(sorted(tcp_entry().to_wire())), json_values))
def test_random_overrides_either_validate_or_raise_schema_error(override: dict[str, Any]) -> None:
    wire = {**tcp_entry().to_wire(), **override}
    try:
        entry = Entry.from_wire(wire)
    except SchemaError:
        return
    assert Entry.from_wire(entry.to_wire()) == entry
