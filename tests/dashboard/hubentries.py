"""Test helpers: small schema v1 entries for the hub's tests."""

from __future__ import annotations

from typing import Any

from contract.schema import DnsInfo, Endpoint, Entry, Node, TcpInfo, protocol
from dashboard.core.naming.index import ClusterIndex
from dashboard.core.naming.resources import POD, REPLICA_SET

T0 = 1_767_225_600_000


def tcp_entry(
    number: int,
    *,
    worker: str = "w1",
    src: tuple[str, int] = ("10.244.1.10", 40000),
    dst: tuple[str, int] = ("10.244.1.11", 8080),
    event: str = "close",
    timestamp: int = T0,
    sizes: tuple[int, int] = (100, 200),
    dst_name: str = "",
) -> Entry:
    """A TCP entry with id ``{worker}/{number}``."""
    return Entry(
        id=f"{worker}/{number}",
        worker=worker,
        node=Node("node-1", "172.18.0.2"),
        timestamp=timestamp,
        protocol=protocol("tcp"),
        src=Endpoint(src[0], src[1]),
        dst=Endpoint(dst[0], dst[1], name=dst_name),
        elapsed_time=5,
        request_size=sizes[0],
        response_size=sizes[1],
        tcp=TcpInfo(event=event),
        summary=f"{src[0]} -> {dst[0]}",
    )


def dns_entry(number: int, query: str, answer: str, *, worker: str = "w1") -> Entry:
    """A DNS answer entry from a pod to the cluster DNS server."""
    return Entry(
        id=f"{worker}/{number}",
        worker=worker,
        node=Node("node-1", "172.18.0.2"),
        timestamp=T0,
        protocol=protocol("dns"),
        src=Endpoint("10.244.1.10", 53000),
        dst=Endpoint("10.96.0.10", 53),
        dns=DnsInfo(query=query, answers=(answer,)),
    )


def wire(entry: Entry) -> dict[str, Any]:
    """The wire dict of an entry."""
    return entry.to_wire()


def pod(namespace: str, deployment: str, ip: str, node: str = "node-1") -> dict[str, Any]:
    """A running Deployment pod as the API server returns it."""
    name = f"{deployment}-5d9c7b-x2x4q"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{namespace}-{name}",
            "labels": {"app": deployment, "pod-template-hash": "5d9c7b"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{deployment}-5d9c7b",
                    "controller": True,
                }
            ],
        },
        "spec": {"nodeName": node, "hostNetwork": False},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]},
    }


def replica_set(namespace: str, deployment: str) -> dict[str, Any]:
    """The ReplicaSet of a Deployment, so pods resolve to the Deployment as their workload."""
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{deployment}-5d9c7b",
            "namespace": namespace,
            "uid": f"uid-rs-{namespace}-{deployment}",
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": deployment,
                    "controller": True,
                }
            ],
        },
    }


LAYOUT = (
    ("shop", "frontend", "10.244.1.10"),
    ("shop", "cart", "10.244.1.11"),
    ("payments", "api", "10.244.1.12"),
)


def cluster_index() -> ClusterIndex:
    """An index with shop/frontend (10.244.1.10), shop/cart (.11) and payments/api (.12)."""
    index = ClusterIndex(cluster_cidrs=["10.244.0.0/16"])
    index.replace(REPLICA_SET, [replica_set(ns, name) for ns, name, _ in LAYOUT])
    index.replace(POD, [pod(ns, name, ip) for ns, name, ip in LAYOUT])
    return index
