"""Tests for dashboard.core.outputs.graph: nodes and edges at each level, counting rules, exact
removal."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.entrygen import generate
from dashboard.core.outputs.graph import LEVELS, NOT_ADDED, ConnectivityGraph, Level
from tests.dashboard.flowdata import (
    CART,
    CART_SERVICE,
    FRONTEND,
    FRONTEND_2,
    NAMELESS,
    PAYMENTS,
    STRAY,
    STRIPE,
    STRIPE_2,
    T0,
    WORKER_1,
    dns,
    icmp,
    pod,
    tcp,
    through_services,
    udp,
)


def build(
    level: Level, entries: list[dict[str, Any]], *, services: bool = False
) -> ConnectivityGraph:
    graph = ConnectivityGraph(level, services=services)
    for entry in entries:
        graph.add(entry)
    return graph


def edge(graph: ConnectivityGraph, source: str, target: str) -> dict[str, Any]:
    pair = (source, target)
    found: list[dict[str, Any]] = [
        e for e in graph.to_dict()["edges"] if (e["source"], e["target"]) == pair
    ]
    assert len(found) == 1
    return found[0]


def node(graph: ConnectivityGraph, node_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(n for n in graph.to_dict()["nodes"] if n["id"] == node_id)
    return found


def counts(item: dict[str, Any]) -> tuple[int, int, int, int]:
    """(connections, failed, request bytes, response bytes) of a node or edge."""
    return item["connections"], item["failed"], item["requestBytes"], item["responseBytes"]


def nodes(graph: ConnectivityGraph) -> dict[str, tuple[str, str, str]]:
    return {n["id"]: (n["kind"], n["namespace"], n["label"]) for n in graph.to_dict()["nodes"]}


MIXED = [
    tcp(FRONTEND, CART_SERVICE, "connect"),
    tcp(FRONTEND_2, CART, "close", sent=10, received=20),
    tcp(CART, PAYMENTS, "refused"),
    tcp(FRONTEND, STRIPE, "close", sent=1, received=2),
    tcp(FRONTEND, NAMELESS, "timeout"),
    tcp(PAYMENTS, STRAY, "connect"),
    tcp(WORKER_1, CART, "connect"),
]

NODES_BY_LEVEL: dict[str, dict[str, tuple[str, str, str]]] = {
    "namespace": {
        "namespace:shop": ("namespace", "shop", "shop"),
        "namespace:payments": ("namespace", "payments", "payments"),
        "external:api.stripe.com": ("external", "", "api.stripe.com"),
        "external:203.0.113.45": ("external", "", "203.0.113.45"),
        "unknown:10.244.9.9": ("unknown", "", "10.244.9.9"),
        "node:worker-1": ("node", "", "worker-1"),
    },
    "workload": {
        "workload:shop/frontend": ("workload", "shop", "frontend"),
        "workload:shop/cart": ("workload", "shop", "cart"),
        "workload:payments/payments-api": ("workload", "payments", "payments-api"),
        "external:api.stripe.com": ("external", "", "api.stripe.com"),
        "external:203.0.113.45": ("external", "", "203.0.113.45"),
        "unknown:10.244.9.9": ("unknown", "", "10.244.9.9"),
        "node:worker-1": ("node", "", "worker-1"),
    },
    "pod": {
        "pod:shop/frontend-7d4b9-x2x9q": ("pod", "shop", "frontend-7d4b9-x2x9q"),
        "pod:shop/frontend-7d4b9-k8m2p": ("pod", "shop", "frontend-7d4b9-k8m2p"),
        "pod:shop/cart-5c9f8-abcde": ("pod", "shop", "cart-5c9f8-abcde"),
        "workload:shop/cart": ("workload", "shop", "cart"),  # the Service: pods unknown
        "pod:payments/payments-api-0": ("pod", "payments", "payments-api-0"),
        "external:api.stripe.com": ("external", "", "api.stripe.com"),
        "external:203.0.113.45": ("external", "", "203.0.113.45"),
        "unknown:10.244.9.9": ("unknown", "", "10.244.9.9"),
        "node:worker-1": ("node", "", "worker-1"),
    },
}


@pytest.mark.parametrize("level", LEVELS)
def test_node_kinds_at_each_level(level: Level) -> None:
    assert nodes(build(level, MIXED)) == NODES_BY_LEVEL[level]


def test_workload_level_merges_pods_and_the_service_of_the_same_name() -> None:
    graph = build("workload", MIXED)
    frontend_to_cart = edge(graph, "workload:shop/frontend", "workload:shop/cart")
    assert frontend_to_cart["connections"] == 1  # the connect; the close is no start
    assert frontend_to_cart["requestBytes"] == 10
    assert frontend_to_cart["id"] == "workload:shop/frontend->workload:shop/cart"


def test_namespace_level_keeps_traffic_inside_a_namespace_as_a_self_loop() -> None:
    graph = build("namespace", MIXED)
    inside = edge(graph, "namespace:shop", "namespace:shop")
    assert (inside["connections"], inside["requestBytes"], inside["responseBytes"]) == (1, 10, 20)
    shop = next(n for n in graph.to_dict()["nodes"] if n["id"] == "namespace:shop")
    # shop's own loop once, plus shop->payments (refused), stripe, nameless, and worker-1->shop
    assert shop["connections"] == 1 + 1 + 0 + 1 + 1
    assert shop["failed"] == 2
    assert (shop["requestBytes"], shop["responseBytes"]) == (11, 22)


def test_one_connection_reported_three_times_counts_once_with_its_final_bytes() -> None:
    reports = [
        tcp(FRONTEND, CART, "connect", timestamp=T0),
        tcp(FRONTEND, CART, "ongoing", timestamp=T0, elapsed=30_000, sent=500, received=9_000),
        tcp(FRONTEND, CART, "close", timestamp=T0, elapsed=45_000, sent=800, received=12_000),
    ]
    found = edge(build("pod", reports), f"pod:shop/{FRONTEND.pod}", f"pod:shop/{CART.pod}")
    assert found["connections"] == 1
    assert found["failed"] == 0
    assert (found["requestBytes"], found["responseBytes"]) == (800, 12_000)
    assert found["lastSeen"] == T0 + 45_000
    assert found["protocols"] == ["tcp"]


def test_partial_connections_count_at_their_end_and_failures_are_counted() -> None:
    reports = [
        tcp(FRONTEND, CART, "ongoing", partial=True),
        tcp(FRONTEND, CART, "close", partial=True, sent=5, received=6),
        tcp(FRONTEND, CART, "refused"),
        tcp(FRONTEND, CART, "timeout"),
        tcp(FRONTEND, CART, "connect"),
        tcp(FRONTEND, CART, "reset", sent=7, received=8),
    ]
    found = edge(build("workload", reports), "workload:shop/frontend", "workload:shop/cart")
    assert (found["connections"], found["failed"]) == (4, 3)
    assert (found["requestBytes"], found["responseBytes"]) == (12, 14)


def test_external_destinations_are_nodes_by_dns_name_else_by_ip() -> None:
    graph = build("workload", [tcp(FRONTEND, STRIPE), tcp(FRONTEND, STRIPE_2), tcp(CART, NAMELESS)])
    ids = set(nodes(graph))
    assert "external:api.stripe.com" in ids  # both IPs: one node
    assert "external:203.0.113.45" in ids
    assert len(ids) == 4


def test_udp_icmp_and_dns() -> None:
    entries = [
        udp(FRONTEND, CART, sent=48, received=48),
        icmp(CART, FRONTEND, "udp", CART.ip, timestamp=T0 + 5),
        icmp(CART, FRONTEND, "tcp", CART.ip),
        icmp(WORKER_1, FRONTEND, "udp", CART.ip),
        dns(FRONTEND, CART_SERVICE, "api.stripe.com", STRIPE.ip),
    ]
    graph = build("workload", entries)
    found = edge(graph, "workload:shop/frontend", "workload:shop/cart")
    assert (found["connections"], found["failed"], found["requestBytes"]) == (1, 1, 48)
    assert found["protocols"] == ["icmp", "udp"]
    assert found["lastSeen"] == T0 + 5
    # the router's error is a failed edge to the address it could not reach
    routed = edge(graph, "workload:shop/frontend", f"unknown:{CART.ip}")
    assert (routed["connections"], routed["failed"]) == (0, 1)
    assert len(graph) == 2
    assert graph.skipped == {"icmp about tcp": 1, "dns answer": 1}


def test_odd_entries_are_skipped_and_counted_never_raised() -> None:
    good = tcp(FRONTEND, CART)
    odd: list[Any] = [None, {}, {**good, "src": "x"}, {**good, "timestamp": "now"}, [1, 2]]
    graph = build("pod", [*odd, good])
    assert len(graph) == 1
    assert graph.skipped == {
        "not an object": 2,
        "bad src": 1,
        "bad timestamp": 1,
        "bad protocol": 1,
    }
    for entry in odd:
        graph.remove(entry)
    assert len(graph) == 1


def test_remove_of_an_entry_never_added_changes_nothing_and_is_counted() -> None:
    graph = build("pod", [tcp(FRONTEND, CART, timestamp=T0)])
    before, version = graph.to_dict(), graph.version
    graph.remove(tcp(FRONTEND, CART, timestamp=T0 + 1))  # same pair, another time
    graph.remove(udp(FRONTEND, CART, timestamp=T0))  # same pair and time, another protocol
    graph.remove(tcp(FRONTEND, PAYMENTS))
    assert graph.to_dict() == before
    assert graph.version == version
    assert graph.skipped[NOT_ADDED] == 3


def test_last_seen_falls_back_when_the_newest_entry_is_removed() -> None:
    old, new = tcp(FRONTEND, CART, timestamp=T0), tcp(FRONTEND, CART, timestamp=T0 + 9)
    graph = build("pod", [old, new, new])
    graph.remove(new)
    assert graph.to_dict()["edges"][0]["lastSeen"] == T0 + 9
    graph.remove(new)
    assert graph.to_dict()["edges"][0]["lastSeen"] == T0


def test_version_changes_with_every_change() -> None:
    graph = ConnectivityGraph("namespace")
    seen = {graph.version}
    entry = tcp(FRONTEND, CART)
    for step in (graph.add, graph.add, graph.remove, graph.remove):
        step(entry)
        seen.add(graph.version)
    assert len(seen) == 5
    assert graph.to_dict() == {"level": "namespace", "services": False, "nodes": [], "edges": []}


def test_to_dict_is_built_once_per_version() -> None:
    graph = build("workload", MIXED)
    first = graph.to_dict()
    assert graph.to_dict() is first
    graph.add(tcp(FRONTEND, PAYMENTS, "connect"))
    second = graph.to_dict()
    assert second is not first
    assert len(second["edges"]) == len(first["edges"]) + 1
    assert second == build("workload", [*MIXED, tcp(FRONTEND, PAYMENTS, "connect")]).to_dict()


def test_node_totals_follow_edges_changed_and_deleted_between_renders() -> None:
    """Nodes take their totals from the edges when rendered: check every way an edge changes."""
    to_cart = tcp(FRONTEND, CART, "close", sent=10, received=20, partial=True)  # counts a start
    to_payments = tcp(FRONTEND, PAYMENTS, "close", sent=1, received=2, partial=True)
    graph = build("pod", [to_cart, to_cart, to_payments])
    frontend = f"pod:shop/{FRONTEND.pod}"

    def frontend_totals() -> tuple[int, int, int]:
        node = next(n for n in graph.to_dict()["nodes"] if n["id"] == frontend)
        return node["connections"], node["requestBytes"], node["responseBytes"]

    assert frontend_totals() == (3, 21, 42)
    graph.remove(to_cart)  # the edge shrinks
    assert frontend_totals() == (2, 11, 22)
    graph.remove(to_cart)  # the edge is deleted after it was rendered
    assert frontend_totals() == (1, 1, 2)
    graph.add(to_cart)  # a new edge for the same pair, then deleted before any render
    graph.remove(to_cart)
    assert frontend_totals() == (1, 1, 2)
    graph.add(to_cart)
    assert frontend_totals() == (2, 11, 22)
    assert graph.to_dict() == build("pod", [to_payments, to_cart]).to_dict()


def test_unknown_level() -> None:
    with pytest.raises(ValueError, match="unknown map level 'service'"):
        ConnectivityGraph("service")  # type: ignore[arg-type]


REALISTIC = generate(3_000, seed=4)


def test_every_level_is_json() -> None:
    for level in LEVELS:
        json.dumps(build(level, REALISTIC).to_dict())


def test_map_totals_add_up_to_the_entries() -> None:
    data = build("pod", REALISTIC).to_dict()
    edges = data["edges"]
    tcp_final = [
        e for e in REALISTIC if e["protocol"]["name"] == "tcp" and e["tcp"]["event"] != "ongoing"
    ]
    final = [e for e in tcp_final if e["tcp"]["event"] != "connect"]
    udps = [e for e in REALISTIC if e["protocol"]["name"] == "udp"]
    assert sum(e["requestBytes"] for e in edges) == sum(e["requestSize"] for e in final + udps)
    assert sum(e["responseBytes"] for e in edges) == sum(e["responseSize"] for e in final + udps)
    node_ids = {n["id"] for n in data["nodes"]}
    assert {e["source"] for e in edges} | {e["target"] for e in edges} == node_ids
    assert [n["id"] for n in data["nodes"]] == sorted(node_ids)


ODD: list[Any] = [None, {"protocol": {"name": "tcp"}}, {**REALISTIC[0], "dst": {"kind": "pod"}}]


@given(
    seed=st.integers(0, 10_000),
    count=st.integers(0, 120),
    level=st.sampled_from(LEVELS),
    services=st.booleans(),
    data=st.data(),
)
def test_remove_exactly_undoes_add(
    seed: int, count: int, level: Level, services: bool, data: Any
) -> None:
    entries = [*through_services(generate(count, seed=seed)), *ODD]
    order = data.draw(st.permutations(range(len(entries))))
    removed = data.draw(st.sets(st.sampled_from(range(len(entries))))) if entries else set()
    render_every = data.draw(st.integers(1, 50))  # renders in between exercise the caches
    graph = ConnectivityGraph(level, services=services)
    for step, index in enumerate(order):
        graph.add(entries[index])
        if step % render_every == 0:
            graph.to_dict()
    for step, index in enumerate(sorted(removed, reverse=True)):
        graph.remove(entries[index])
        if step % render_every == 0:
            graph.to_dict()
    rest = build(level, [e for i, e in enumerate(entries) if i not in removed], services=services)
    assert graph.to_dict() == rest.to_dict()
    assert graph.skipped[NOT_ADDED] == 0


# --- Services between callers and backends --------------------------------------------------

THROUGH_CART = [
    tcp(FRONTEND, CART, "connect", dialed=CART_SERVICE),
    tcp(FRONTEND, CART, "close", sent=10, received=20, dialed=CART_SERVICE),
    tcp(FRONTEND_2, CART, "refused", dialed=CART_SERVICE),
    udp(FRONTEND, CART, sent=5, received=6, dialed=CART_SERVICE),
]
SERVICE_NODE = "service:shop/cart"


def test_a_service_is_a_node_between_caller_and_backend_each_hop_counting_once() -> None:
    graph = build("workload", THROUGH_CART, services=True)
    assert nodes(graph) == {
        "workload:shop/frontend": ("workload", "shop", "frontend"),
        SERVICE_NODE: ("service", "shop", "cart"),
        "workload:shop/cart": ("workload", "shop", "cart"),
    }
    to_service = edge(graph, "workload:shop/frontend", SERVICE_NODE)
    to_backend = edge(graph, SERVICE_NODE, "workload:shop/cart")
    assert counts(to_service) == counts(to_backend) == (3, 1, 15, 26)
    assert to_service["protocols"] == to_backend["protocols"] == ["tcp", "udp"]
    assert len(graph) == 2  # no frontend -> cart edge besides
    # every node counts each connection once: the Service on its way in
    for node_id in ("workload:shop/frontend", SERVICE_NODE, "workload:shop/cart"):
        assert counts(node(graph, node_id)) == (3, 1, 15, 26)
    assert graph.to_dict()["services"] is True


def test_a_map_without_services_draws_caller_to_backend_as_before() -> None:
    plain = [
        tcp(FRONTEND, CART, "connect"),
        tcp(FRONTEND, CART, "close", sent=10, received=20),
        tcp(FRONTEND_2, CART, "refused"),
        udp(FRONTEND, CART, sent=5, received=6),
    ]
    for level in LEVELS:
        assert build(level, THROUGH_CART).to_dict() == build(level, plain).to_dict()
    # the namespace level has no Service nodes, even when asked for them
    namespaces = build("namespace", THROUGH_CART, services=True)
    assert namespaces.services is False
    assert namespaces.to_dict() == build("namespace", plain).to_dict()


def test_at_pod_level_the_service_sits_between_the_pods() -> None:
    graph = build("pod", THROUGH_CART, services=True)
    front, front_2, cart = (f"pod:shop/{e.pod}" for e in (FRONTEND, FRONTEND_2, CART))
    assert counts(edge(graph, front, SERVICE_NODE)) == (2, 0, 15, 26)
    assert counts(edge(graph, front_2, SERVICE_NODE)) == (1, 1, 0, 0)
    assert counts(edge(graph, SERVICE_NODE, cart)) == (3, 1, 15, 26)


def test_a_rejected_connection_to_a_service_without_endpoints_is_a_failed_edge_to_it() -> None:
    graph = build("workload", [tcp(FRONTEND, CART_SERVICE, "refused")], services=True)
    refused = edge(graph, "workload:shop/frontend", SERVICE_NODE)
    assert counts(refused) == (1, 1, 0, 0)
    assert nodes(graph)[SERVICE_NODE] == ("service", "shop", "cart")
    assert len(graph) == 1
    assert counts(node(graph, SERVICE_NODE)) == (1, 1, 0, 0)


def test_a_workload_calling_itself_through_its_service_counts_the_connection_once() -> None:
    cart_peer = pod("shop", "cart", "cart-5c9f8-zzzzz", "10.244.2.9")
    entries = [tcp(cart_peer, CART, "close", sent=3, received=4, partial=True, dialed=CART_SERVICE)]
    graph = build("workload", entries, services=True)
    assert counts(edge(graph, "workload:shop/cart", SERVICE_NODE)) == (1, 0, 3, 4)
    assert counts(edge(graph, SERVICE_NODE, "workload:shop/cart")) == (1, 0, 3, 4)
    assert counts(node(graph, "workload:shop/cart")) == (1, 0, 3, 4)
    assert counts(node(graph, SERVICE_NODE)) == (1, 0, 3, 4)
    graph.remove(entries[0])
    assert graph.to_dict()["nodes"] == graph.to_dict()["edges"] == []


@pytest.mark.parametrize("level", ["workload", "pod"])
def test_nodes_count_the_same_connections_with_and_without_services(level: Level) -> None:
    """Showing Services adds their nodes and hops; every other node's totals stay the same."""
    # a Service reached itself (no pod behind it) is merged with its workload on a plain map
    server = {"icmp": "src"}  # an ICMP error's sender is the server of the flow it is about
    entries = [
        e
        for e in through_services(generate(2_000, seed=9), every=3)
        if e[server.get(e["protocol"]["name"], "dst")]["kind"] != "service"
    ]
    plain = {n["id"]: counts(n) for n in build(level, entries).to_dict()["nodes"]}
    shown = build(level, entries, services=True).to_dict()
    services = {n["id"] for n in shown["nodes"] if n["kind"] == "service"}
    assert services
    assert {n["id"]: counts(n) for n in shown["nodes"] if n["id"] not in services} == plain
    # a hop into a Service and the hops out of it count the same connections
    into = [counts(e) for e in shown["edges"] if e["target"] in services]
    out = [counts(e) for e in shown["edges"] if e["source"] in services]
    assert [sum(column) for column in zip(*into, strict=True)] == [
        sum(column) for column in zip(*out, strict=True)
    ]
