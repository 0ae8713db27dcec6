"""Named wire entries for map, export and metrics tests, built through the schema (always valid)."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import msgspec

from contract.schema import (
    AboutTuple,
    Address,
    DnsInfo,
    Endpoint,
    Entry,
    IcmpInfo,
    NatInfo,
    Node,
    TcpInfo,
    protocol,
)

T0 = 1_767_225_600_000
_ids = itertools.count(1)


def pod(namespace: str, workload: str, name: str, ip: str, port: int = 0) -> Endpoint:
    """A named pod endpoint."""
    return Endpoint(ip, port, name, namespace, name, "", workload, "pod")


def service(namespace: str, name: str, ip: str, port: int = 80) -> Endpoint:
    """A named Service endpoint (its name is ``name.namespace``)."""
    return Endpoint(ip, port, f"{name}.{namespace}", namespace, "", name, "", "service")


def external(ip: str, dns_name: str = "", port: int = 443) -> Endpoint:
    """An address outside the cluster, named by the DNS name a client resolved (if any)."""
    return Endpoint(ip, port, dns_name, kind="external")


def unknown(ip: str, port: int = 0) -> Endpoint:
    """An in-cluster address no object holds."""
    return Endpoint(ip, port, kind="unknown")


def node(name: str, ip: str, port: int = 0) -> Endpoint:
    """A Kubernetes node's address."""
    return Endpoint(ip, port, name, kind="node")


def _entry(
    proto: str, src: Endpoint, dst: Endpoint, dialed: Endpoint | None = None, **fields: Any
) -> dict[str, Any]:
    fields.setdefault("timestamp", T0)
    if dialed is not None:  # DNAT sent the client from the Service to dst; the hub named it
        fields["nat"] = NatInfo(dialed=Address(dialed.ip, dialed.port))
        dst = msgspec.structs.replace(dst, service=dialed.service)
    return Entry(
        id=f"worker-1/{next(_ids)}",
        worker="worker-1",
        node=Node("worker-1", "172.18.0.2"),
        protocol=protocol(proto),
        src=src,
        dst=dst,
        **fields,
    ).to_wire()


def tcp(
    src: Endpoint,
    dst: Endpoint,
    event: str = "close",
    *,
    timestamp: int = T0,
    elapsed: int = 0,
    sent: int = 0,
    received: int = 0,
    partial: bool = False,
    dialed: Endpoint | None = None,
) -> dict[str, Any]:
    """A TCP report of ``event`` for the connection src -> dst (through the Service ``dialed``
    when given)."""
    return _entry(
        "tcp",
        src,
        dst,
        dialed,
        timestamp=timestamp,
        elapsed_time=elapsed,
        request_size=sent,
        response_size=received,
        tcp=TcpInfo(event=event, partial=partial),
    )


def udp(
    src: Endpoint,
    dst: Endpoint,
    *,
    timestamp: int = T0,
    elapsed: int = 0,
    sent: int = 0,
    received: int = 0,
    dialed: Endpoint | None = None,
) -> dict[str, Any]:
    """A finished UDP flow src -> dst (through the Service ``dialed`` when given)."""
    return _entry(
        "udp",
        src,
        dst,
        dialed,
        timestamp=timestamp,
        elapsed_time=elapsed,
        request_size=sent,
        response_size=received,
    )


def icmp(
    sender: Endpoint, receiver: Endpoint, about: str, target_ip: str, *, timestamp: int = T0
) -> dict[str, Any]:
    """An ICMP port unreachable from ``sender`` to ``receiver`` about its flow to target_ip."""
    quoted = AboutTuple(about, Address(receiver.ip, 40000), Address(target_ip, 53))
    return _entry(
        "icmp",
        sender,
        receiver,
        timestamp=timestamp,
        icmp=IcmpInfo(3, 3, "port unreachable", quoted),
    )


def dns(client: Endpoint, server: Endpoint, query: str, answer: str) -> dict[str, Any]:
    """A DNS answer to ``client``."""
    return _entry("dns", client, server, dns=DnsInfo(query, (answer,)))


FRONTEND = pod("shop", "frontend", "frontend-7d4b9-x2x9q", "10.244.1.5")
FRONTEND_2 = pod("shop", "frontend", "frontend-7d4b9-k8m2p", "10.244.2.7")
CART = pod("shop", "cart", "cart-5c9f8-abcde", "10.244.1.9", 7070)
CART_SERVICE = service("shop", "cart", "10.96.0.20", 7070)
PAYMENTS = pod("payments", "payments-api", "payments-api-0", "10.244.3.4", 8443)
STRIPE = external("54.187.174.169", "api.stripe.com")
STRIPE_2 = external("54.187.174.170", "api.stripe.com")
NAMELESS = external("203.0.113.45")
STRAY = unknown("10.244.9.9", 8080)
WORKER_1 = node("worker-1", "172.18.0.2", 10250)


def through_services(entries: list[dict[str, Any]], every: int = 2) -> list[dict[str, Any]]:
    """Copies of ``entries`` where every ``every``-th TCP or UDP flow to a pod was dialed through
    the Service of the pod's workload (some of them from the workload itself)."""
    routed = copy.deepcopy(entries)
    for index, entry in enumerate(routed):
        dst = entry["dst"]
        if index % every or dst["kind"] != "pod" or entry["protocol"]["name"] == "dns":
            continue
        dst["service"] = dst["workload"]
        entry["nat"] = {"dialed": {"ip": "10.96.7.7", "port": 80}}
        if index % (3 * every) == 0 and entry["src"]["kind"] == "pod":
            entry["src"] = {**dst, "port": 40000}  # the workload calls itself
    return routed
