"""Traffic for the two-node cluster lab (:mod:`lab.cluster`): what the demo shows a new user.

One :meth:`ClusterTraffic.round` does:

- ``shop/frontend`` (node 1) resolves ``api.example.com`` through the kube-dns Service VIP and
  connects to it on port 443: DNS via a Service, then egress masqueraded to node 1's address;
- ``shop/frontend`` -> the ``payments/api`` ClusterIP: kube-proxy picks one of its two
  endpoints, on node 1 or across the VXLAN tunnel on node 2;
- ``shop/frontend`` -> ``shop/cart`` on node 2: pod to pod across the tunnel;
- ``shop/frontend`` -> ``shop/empty``, a Service without endpoints: REJECTed (refused);
- the outside world -> the ``shop/web`` NodePort on node 1: DNAT and SNAT to the web pod on
  node 2;
- ``shop/cart`` -> the hostNetwork pod ``monitoring/node-exporter`` on node 2.

The servers run while the context is open.
"""

from __future__ import annotations

from typing import Self

from lab.cluster import (
    API_PORT,
    API_VIP,
    DNS_VIP,
    EMPTY_VIP,
    EXTERNAL_NAME,
    EXTERNAL_SERVER,
    HOST_NETWORK_PORT,
    NODE_PORT,
    WEB_PORT,
    ClusterLab,
)
from lab.demo import TrafficRounds
from lab.servers import DnsServer, TcpServer, connect_refused, resolve, tcp_exchange

CART_PORT = 8080
EXTERNAL_PORT = 443


class ClusterTraffic(TrafficRounds):
    """The cluster lab's servers plus rounds of client traffic (see the module docstring)."""

    def __init__(self, lab: ClusterLab) -> None:
        super().__init__()
        self.lab = lab

    def __enter__(self) -> Self:
        lab, stack = self.lab, self._stack
        for app, node, port in (("api", 1, API_PORT), ("api", 2, API_PORT),
                                ("cart", 2, CART_PORT), ("web", 2, WEB_PORT)):  # fmt: skip
            pod = lab.pod(app, node)
            stack.enter_context(TcpServer(pod.netns, pod.ip, port, 4_000))
        exporter = lab.pod("node-exporter")
        stack.enter_context(TcpServer(exporter.netns, exporter.ip, HOST_NETWORK_PORT, 9_000))
        stack.enter_context(TcpServer(lab.ext_ns, EXTERNAL_SERVER, EXTERNAL_PORT, 8_000))
        coredns = lab.pod("coredns")
        stack.enter_context(DnsServer(coredns.netns, coredns.ip, {EXTERNAL_NAME: EXTERNAL_SERVER}))
        return self

    def round(self) -> None:
        """One round of traffic (see the module docstring)."""
        lab = self.lab
        frontend, cart = lab.pod("frontend"), lab.pod("cart")
        _, addresses = resolve(frontend.netns, DNS_VIP, EXTERNAL_NAME)
        for address in addresses:
            tcp_exchange(frontend.netns, address, EXTERNAL_PORT, 1_200)
        tcp_exchange(frontend.netns, API_VIP, 80, 700)
        tcp_exchange(frontend.netns, cart.ip, CART_PORT, 500)
        connect_refused(frontend.netns, EMPTY_VIP, 80)
        tcp_exchange(lab.ext_ns, lab.node(1).ip, NODE_PORT, 300)
        tcp_exchange(cart.netns, lab.node(2).ip, HOST_NETWORK_PORT, 100)
        self.rounds += 1
