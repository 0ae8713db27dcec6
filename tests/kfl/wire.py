"""Wire entries for KFL tests: one canonical TCP entry and dotted-path edits of it."""

from __future__ import annotations

import copy
from typing import Any

from contract.schema import (
    DnsInfo,
    Endpoint,
    Entry,
    Node,
    TcpInfo,
    protocol,
)

TIMESTAMP = 1_678_675_066_172

DELETE = object()  # an edit value that removes the key


def tcp_wire() -> dict[str, Any]:
    """A shop frontend pod resetting a connection to api.stripe.com, in wire form."""
    return Entry(
        id="worker-1/17",
        worker="worker-1",
        node=Node(name="worker-1", ip="172.18.0.2"),
        timestamp=TIMESTAMP,
        elapsed_time=120,
        protocol=protocol("tcp"),
        src=Endpoint(
            ip="10.244.1.5",
            port=8080,
            name="frontend-7d4b9c8f6d-x2x9q",
            namespace="shop",
            pod="frontend-7d4b9c8f6d-x2x9q",
            service="frontend",
            workload="frontend",
            kind="pod",
        ),
        dst=Endpoint(ip="54.187.174.169", port=443, name="api.stripe.com", kind="external"),
        outgoing=True,
        request_size=517,
        response_size=4_096,
        tcp=TcpInfo(
            event="reset", state="CLOSED", flags=("SYN", "ACK", "RST"), rtt=1.5, reset_by="server"
        ),
        summary="shop/frontend → api.stripe.com:443 reset",
    ).to_wire()


def dns_wire() -> dict[str, Any]:
    """A DNS answer for api.stripe.com, in wire form."""
    return Entry(
        id="worker-1/18",
        worker="worker-1",
        node=Node(name="worker-1", ip="172.18.0.2"),
        timestamp=TIMESTAMP + 5,
        protocol=protocol("dns"),
        src=Endpoint(ip="10.244.1.5", port=40000, namespace="shop", kind="pod"),
        dst=Endpoint(ip="10.96.0.10", port=53, namespace="kube-system", kind="service"),
        dns=DnsInfo(query="api.stripe.com", answers=("54.187.174.169", "54.187.174.170")),
    ).to_wire()


def edited(wire: dict[str, Any], **edits: Any) -> dict[str, Any]:
    """A copy of ``wire`` with dotted paths (``src__port`` for ``src.port``) set, or deleted."""
    result = copy.deepcopy(wire)
    for dunder_path, value in edits.items():
        *parents, last = dunder_path.split("__")
        target = result
        for key in parents:
            target = target[key]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return result
