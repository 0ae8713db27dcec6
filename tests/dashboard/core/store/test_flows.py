"""Tests for dashboard.core.store.flows: what each entry counts, and odd entries as counted
reasons."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.entrygen import generate
from dashboard.core.store.flows import REASONS, NotAFlowError, Side, read_flow, side
from tests.dashboard.flowdata import (
    CART,
    CART_SERVICE,
    FRONTEND,
    NAMELESS,
    PAYMENTS,
    STRAY,
    STRIPE,
    T0,
    WORKER_1,
    dns,
    icmp,
    node,
    tcp,
    udp,
)

# event, partial -> starts, failed, bytes counted, duration counted
TCP_TABLE = [
    ("connect", False, 1, 0, False, False),
    ("ongoing", False, 0, 0, False, False),
    ("ongoing", True, 0, 0, False, False),
    ("close", False, 0, 0, True, True),
    ("close", True, 1, 0, True, True),
    ("reset", False, 0, 1, True, True),
    ("reset", True, 1, 1, True, True),
    ("refused", False, 1, 1, True, False),
    ("timeout", False, 1, 1, True, False),
    ("timeout", True, 1, 1, True, False),
    ("expired", False, 0, 0, True, True),
    ("expired", True, 1, 0, True, True),
]


@pytest.mark.parametrize(("event", "partial", "starts", "failed", "sized", "timed"), TCP_TABLE)
def test_tcp_events(
    event: str, partial: bool, starts: int, failed: int, sized: bool, timed: bool
) -> None:
    entry = tcp(FRONTEND, CART, event, elapsed=250, sent=100, received=2000, partial=partial)
    flow = read_flow(entry)
    assert flow.protocol == "tcp"
    assert (flow.starts, flow.failed) == (starts, failed)
    assert (flow.request_bytes, flow.response_bytes) == ((100, 2000) if sized else (0, 0))
    assert flow.duration_ms == (250 if timed else None)
    assert flow.last_seen == T0 + 250


def test_udp_flow_is_one_connection_with_its_bytes() -> None:
    flow = read_flow(udp(FRONTEND, CART, elapsed=30, sent=48, received=96))
    assert (flow.protocol, flow.starts, flow.failed) == ("udp", 1, 0)
    assert (flow.request_bytes, flow.response_bytes, flow.duration_ms) == (48, 96, 30)
    assert flow.client == Side("pod", "shop", "frontend", FRONTEND.pod)


def test_icmp_from_the_destination_fails_the_flow_from_its_sender() -> None:
    flow = read_flow(icmp(CART, FRONTEND, "udp", CART.ip))
    assert flow.client == Side("pod", "shop", "frontend", FRONTEND.pod)
    assert flow.server == Side("pod", "shop", "cart", CART.pod)
    assert (flow.protocol, flow.starts, flow.failed, flow.request_bytes) == ("icmp", 0, 1, 0)


def test_icmp_from_a_router_fails_the_flow_to_the_unreachable_address() -> None:
    flow = read_flow(icmp(WORKER_1, FRONTEND, "udp", "203.0.113.77"))
    assert flow.client == Side("pod", "shop", "frontend", FRONTEND.pod)
    assert flow.server == Side("unknown", "", "203.0.113.77", "203.0.113.77")
    assert (flow.protocol, flow.starts, flow.failed) == ("icmp", 0, 1)


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (icmp(CART, FRONTEND, "tcp", CART.ip), "icmp about tcp"),
        (dns(FRONTEND, CART_SERVICE, "api.stripe.com", STRIPE.ip), "dns answer"),
    ],
)
def test_ignored_entries(entry: dict[str, Any], reason: str) -> None:
    with pytest.raises(NotAFlowError) as caught:
        read_flow(entry)
    assert caught.value.reason == reason
    assert caught.value.ignored


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        (FRONTEND, Side("pod", "shop", "frontend", "frontend-7d4b9-x2x9q")),
        (CART_SERVICE, Side("service", "shop", "cart", "cart")),
        (PAYMENTS, Side("pod", "payments", "payments-api", "payments-api-0")),
        (STRIPE, Side("external", "", "api.stripe.com", "api.stripe.com")),
        (NAMELESS, Side("external", "", "203.0.113.45", "203.0.113.45")),
        (STRAY, Side("unknown", "", "10.244.9.9", "10.244.9.9")),
        (WORKER_1, Side("node", "", "worker-1", "worker-1")),
        (node("", "172.18.0.9"), Side("node", "", "172.18.0.9", "172.18.0.9")),
    ],
)
def test_sides(endpoint: Any, expected: Side) -> None:
    wire = tcp(endpoint, CART)["src"]
    assert side(wire, "bad src") == expected


def test_side_fallbacks_for_sparse_endpoints() -> None:
    naked = {"ip": "10.0.0.1", "kind": "pod", "namespace": "ns1", "name": "debug"}
    assert side(naked, "bad src") == Side("pod", "ns1", "debug", "debug")
    unnamed_service = {"ip": "10.96.0.1", "kind": "service", "namespace": "ns1", "name": "db.ns1"}
    assert side(unnamed_service, "bad src") == Side("service", "ns1", "db", "db")
    unknown_with_name = {"ip": "10.0.0.2", "kind": "unknown", "name": "ignored"}
    assert side(unknown_with_name, "bad src") == Side("unknown", "", "10.0.0.2", "10.0.0.2")


def _edit(entry: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    edited = copy.deepcopy(entry)
    *parents, last = path.split(".")
    target = edited
    for key in parents:
        target = target[key]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return edited


_DELETE = object()
_TCP = tcp(FRONTEND, CART, "close", sent=1, received=2)
_ICMP = icmp(CART, FRONTEND, "udp", CART.ip)

MALFORMED = [
    (_edit(_TCP, "protocol", _DELETE), "bad protocol"),
    (_edit(_TCP, "protocol", "tcp"), "bad protocol"),
    (_edit(_TCP, "protocol.name", "sctp"), "bad protocol"),
    (_edit(_TCP, "protocol.name", ["tcp"]), "bad protocol"),
    (_edit(_TCP, "timestamp", _DELETE), "bad timestamp"),
    (_edit(_TCP, "timestamp", "yesterday"), "bad timestamp"),
    (_edit(_TCP, "timestamp", True), "bad timestamp"),
    (_edit(_TCP, "timestamp", -1), "bad timestamp"),
    (_edit(_TCP, "elapsedTime", 1.5), "bad timestamp"),
    (_edit(_TCP, "requestSize", -5), "bad sizes"),
    (_edit(_TCP, "responseSize", None), "bad sizes"),
    (_edit(_TCP, "tcp", _DELETE), "bad tcp"),
    (_edit(_TCP, "tcp.event", "syn"), "bad tcp"),
    (_edit(_TCP, "tcp.event", 3), "bad tcp"),
    (_edit(_TCP, "tcp.event", {}), "bad tcp"),
    (_edit(_TCP, "tcp.partial", "yes"), "bad tcp"),
    (_edit(_TCP, "src", _DELETE), "bad src"),
    (_edit(_TCP, "src", "10.0.0.1"), "bad src"),
    (_edit(_TCP, "src.kind", "martian"), "bad src"),
    (_edit(_TCP, "src.kind", ["pod"]), "bad src"),
    (_edit(_TCP, "src.namespace", ""), "bad src"),
    (_edit(_TCP, "src.namespace", 7), "bad src"),
    (_edit(_TCP, "src.ip", None), "bad src"),
    (_edit(_TCP, "src.pod", ["x"]), "bad src"),
    (_edit(_TCP, "dst.kind", _DELETE), "bad dst"),
    (_edit(_TCP, "dst.name", 1), "bad dst"),
    (_edit(tcp(FRONTEND, NAMELESS), "dst.ip", ""), "bad dst"),
    (_edit(_ICMP, "icmp", _DELETE), "bad icmp"),
    (_edit(_ICMP, "icmp.about", _DELETE), "bad icmp"),
    (_edit(_ICMP, "icmp.about.dst", "x"), "bad icmp"),
    (_edit(_ICMP, "icmp.about.protocol", None), "bad icmp"),
    (_edit(_ICMP, "src", None), "bad src"),
    (_edit(_ICMP, "dst.kind", "?"), "bad dst"),
]


@pytest.mark.parametrize(("entry", "reason"), MALFORMED)
def test_malformed_entries_raise_a_known_reason(entry: dict[str, Any], reason: str) -> None:
    with pytest.raises(NotAFlowError) as caught:
        read_flow(entry)
    assert caught.value.reason == reason
    assert not caught.value.ignored
    assert reason in REASONS


@pytest.mark.parametrize("entry", [None, [], "tcp", 42])
def test_non_objects(entry: Any) -> None:
    with pytest.raises(NotAFlowError, match="not an object"):
        read_flow(entry)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children),
    max_leaves=10,
)
SAMPLES = generate(200, seed=3)


def _reason(entry: Any) -> str:
    """The reason ``entry`` is no flow, or "read" if it is one (any other error propagates)."""
    try:
        read_flow(entry)
    except NotAFlowError as exc:
        return exc.reason
    return "read"


def _paths(entry: dict[str, Any]) -> list[str]:
    """Every key and every key of a nested object in ``entry``, dotted."""
    paths = []
    for key, value in entry.items():
        paths.append(key)
        if isinstance(value, dict):
            paths.extend(f"{key}.{sub}" for sub in value)
    return paths


@given(st.data())
def test_any_edit_of_a_real_entry_reads_or_raises_a_known_reason(data: st.DataObject) -> None:
    entry = data.draw(st.sampled_from(SAMPLES))
    path = data.draw(st.sampled_from(_paths(entry)))
    value = data.draw(JSON_VALUES | st.just(_DELETE))
    assert _reason(_edit(entry, path, value)) in REASONS | {"read"}


@given(JSON_VALUES)
def test_arbitrary_values_never_raise_anything_else(value: Any) -> None:
    assert _reason(value) in REASONS | {"read"}


def test_equal_sides_are_one_shared_instance() -> None:
    endpoint = {"ip": "10.244.1.5", "name": "cart-1", "namespace": "shop", "kind": "pod"}
    first, second = side(dict(endpoint), "bad src"), side(dict(endpoint), "bad src")
    assert first == Side("pod", "shop", "cart-1", "cart-1")
    assert first is second


CART_VIA = Side("service", "shop", "cart", "cart")


@pytest.mark.parametrize(
    ("entry", "via"),
    [
        (tcp(FRONTEND, CART, "connect", dialed=CART_SERVICE), CART_VIA),
        (tcp(FRONTEND, CART, "refused", dialed=CART_SERVICE), CART_VIA),
        (udp(FRONTEND, CART, dialed=CART_SERVICE), CART_VIA),
        (tcp(FRONTEND, CART), None),  # the pod dialed itself
        (tcp(FRONTEND, CART_SERVICE, "refused"), None),  # no endpoints: the Service is the server
        (tcp(FRONTEND, STRIPE, dialed=CART_SERVICE), None),  # no pod behind: namespace unknown
    ],
)
def test_the_service_a_flow_went_through_is_its_pairs_via(
    entry: dict[str, Any], via: Side | None
) -> None:
    flow = read_flow(entry)
    assert flow.pair.via == via
    assert flow.pair.via is None or flow.pair.via is side(
        msgspec.to_builtins(CART_SERVICE), "bad dst"
    )  # shared


def test_a_dialed_address_the_hub_named_no_service_is_no_via() -> None:
    entry = tcp(FRONTEND, CART, dialed=CART_SERVICE)
    entry["dst"]["service"] = ""
    assert read_flow(entry).pair.via is None
    entry["nat"] = {"snat": {"ip": "172.18.0.2", "port": 31000}}  # masqueraded, not dialed
    entry["dst"]["service"] = "cart"
    assert read_flow(entry).pair.via is None


def test_a_flow_through_a_service_counts_as_the_same_flow_otherwise() -> None:
    through = read_flow(tcp(FRONTEND, CART, "close", sent=3, received=4, dialed=CART_SERVICE))
    direct = read_flow(tcp(FRONTEND, CART, "close", sent=3, received=4))
    assert (through.client, through.server) == (direct.client, direct.server)
    assert through.starts == direct.starts
    assert (through.request_bytes, through.response_bytes) == (3, 4)
