"""Varied traffic in the capture lab (:mod:`lab.topology`) for the demo and integration tests.

One :meth:`LabTraffic.round` does, from the lab's pods:

- ``shop/frontend`` -> ``shop/cart:8080``: a TCP exchange (in-cluster, same namespace);
- ``shop/frontend`` resolves ``api.example.com`` at ``kube-system/coredns`` and connects to it
  on port 443 (leaves the cluster, named by the DNS answer);
- ``payments/api`` -> ``shop/cart:8080``: a TCP exchange (across namespaces);
- ``monitoring/prom`` -> ``payments/api:9999``: refused (nothing listens);
- every ``slow_every`` rounds, ``payments/api`` -> ``blackhole.example.com``: a timeout, and a
  UDP datagram to ``unreachable.example.com`` that draws an ICMP error.

The servers (cart, the external API, the DNS server) run while the context is open.
:func:`lab_objects` describes the lab as the Kubernetes API would, for the naming index.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Any, Protocol, Self

from lab.errors import LabError
from lab.servers import (
    DnsServer,
    TcpServer,
    connect_refused,
    connect_unanswered,
    resolve,
    tcp_exchange,
)
from lab.topology import (
    BLACKHOLE,
    DNS_SERVER,
    EXTERNAL_SERVER,
    LAB_NAMES,
    NODE_IP,
    NODE_NAME,
    POD_CIDR,
    UNREACHABLE,
    Lab,
    enter_netns,
)


class ObjectSink(Protocol):
    """Where the lab's objects go: the hub's naming index takes whole lists of one kind."""

    def replace(self, kind: str, objects: list[dict[str, Any]]) -> object:
        """Replace every object of ``kind`` with ``objects``."""


CART_PORT = 8080
EXTERNAL_PORT = 443
CLOSED_PORT = 9999
UDP_PORT = 5353

log = logging.getLogger(__name__)


class TrafficRounds(ABC):
    """Servers started on entering, then rounds of client traffic, optionally from a background
    thread; a failed round is counted (``errors``) and logged, and the next one runs."""

    def __init__(self) -> None:
        self.rounds = 0
        self.errors = 0
        self._stack = contextlib.ExitStack()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def __enter__(self) -> Self:
        """Start the servers."""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        self._stack.close()

    @abstractmethod
    def round(self) -> None:
        """One round of client traffic."""

    def start(self, interval: float = 1.0) -> None:
        """Run rounds every ``interval`` seconds in a background thread until :meth:`stop`."""
        self._thread = threading.Thread(
            target=self._loop, args=(interval,), name="lab-traffic", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the background rounds."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                self.round()
            except (OSError, LabError) as exc:
                self.errors += 1
                log.warning("lab traffic round failed: %s", exc)
            self._stop.wait(interval)


class LabTraffic(TrafficRounds):
    """The one-node lab's servers plus rounds of client traffic (see the module docstring)."""

    def __init__(self, lab: Lab, slow_every: int = 5) -> None:
        super().__init__()
        self.lab = lab
        self._slow_every = slow_every

    def __enter__(self) -> Self:
        lab = self.lab
        cart, dns = lab.pod("shop/cart"), lab.pod("kube-system/coredns")
        self._stack.enter_context(TcpServer(cart.netns, cart.ip, CART_PORT, 2_000))
        self._stack.enter_context(TcpServer(lab.ext_ns, EXTERNAL_SERVER, EXTERNAL_PORT, 8_000))
        self._stack.enter_context(DnsServer(dns.netns, DNS_SERVER, LAB_NAMES))
        return self

    def round(self) -> None:
        """One round of traffic (see the module docstring)."""
        lab = self.lab
        frontend, cart = lab.pod("shop/frontend"), lab.pod("shop/cart")
        api, prom = lab.pod("payments/api"), lab.pod("monitoring/prom")
        tcp_exchange(frontend.netns, cart.ip, CART_PORT, 500)
        _, addresses = resolve(frontend.netns, DNS_SERVER, "api.example.com")
        for address in addresses:
            tcp_exchange(frontend.netns, address, EXTERNAL_PORT, 1_200)
        tcp_exchange(api.netns, cart.ip, CART_PORT, 300)
        connect_refused(prom.netns, api.ip, CLOSED_PORT)
        if self.rounds % self._slow_every == 0:
            resolve(api.netns, DNS_SERVER, "blackhole.example.com")
            connect_unanswered(api.netns, BLACKHOLE, EXTERNAL_PORT, wait=1.0)
            with enter_netns(api.netns):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            with sock:
                sock.sendto(b"ping", (UNREACHABLE, UDP_PORT))
        self.rounds += 1


def lab_objects(lab: Lab) -> list[dict[str, Any]]:
    """The lab's pods (``Lab.snapshot``) plus their ReplicaSets and node, as the API has them."""
    pods: list[dict[str, Any]] = lab.snapshot()["items"]
    objects: list[dict[str, Any]] = list(pods)
    for pod in pods:
        meta = pod["metadata"]
        replica_set = meta["ownerReferences"][0]["name"]
        deployment = meta["labels"]["app"]
        objects.append(
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": replica_set,
                    "namespace": meta["namespace"],
                    "uid": f"{meta['uid']}-rs",
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
        )
    objects.append(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": NODE_NAME, "uid": f"lab-{lab.run_id}-node"},
            "spec": {"podCIDR": POD_CIDR},
            "status": {"addresses": [{"type": "InternalIP", "address": NODE_IP}]},
        }
    )
    return objects


def load_objects(index: ObjectSink, objects: list[dict[str, Any]]) -> None:
    """Put ReplicaSets, Nodes and Pods into ``index`` (owners first)."""
    for kind in ("ReplicaSet", "Node", "Pod"):
        index.replace(kind, [obj for obj in objects if obj["kind"] == kind])
