"""The lab's standard traffic: one run of every case podscope must report, with what to expect.

From ``shop/frontend``: three connections to ``payments/api`` with known byte counts each way,
a refused port, a SYN to the blackholed address (a ``timeout``), a SYN to the unreachable
address (an ICMP error), a DNS lookup of ``api.example.com`` followed by a connection to it
(its entry should be named after the DNS answer), and an NXDOMAIN lookup. Used by the live
integration test and reusable by a demo (run it in a loop while a worker captures).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

from lab.servers import (
    DnsServer,
    Exchange,
    TcpServer,
    connect_refused,
    connect_unanswered,
    resolve,
    tcp_exchange,
)
from lab.topology import BLACKHOLE, DNS_SERVER, EXTERNAL_SERVER, LAB_NAMES, UNREACHABLE, Lab

POD_EXCHANGES = ((1_000, 3_000), (5_000, 100_000), (70_000, 1))
"""(request bytes, response bytes) of the frontend -> payments/api connections."""
EXTERNAL_EXCHANGE = (777, 4_321)
"""(request bytes, response bytes) of the frontend -> api.example.com connection."""
API_PORT = 8000
EXTERNAL_PORT = 443
REFUSED_PORT = 9
FOUND_NAME = "api.example.com"
MISSING_NAME = "nothing.example.com"


@dataclass(frozen=True, slots=True)
class ScenarioRun:
    """What one run did: client ports (to find the entries) and what the servers saw."""

    pod_exchanges: tuple[Exchange, ...]
    external: Exchange
    refused_port: int
    blackhole_port: int
    unreachable_port: int
    unreachable_errno: int
    lookups: dict[str, tuple[str, list[str]]]
    """name -> (rcode, addresses) as the client saw them."""
    server_requests: tuple[list[int], ...]
    """Bytes each payments/api server received per connection."""
    dns_queries: tuple[str, ...]


def run_scenario(lab: Lab, blackhole_wait: float = 0.3) -> ScenarioRun:
    """Start the servers, run every case once from ``shop/frontend``, stop the servers."""
    frontend, api = lab.pod("shop/frontend"), lab.pod("payments/api")
    coredns = lab.pod("kube-system/coredns")
    with ExitStack() as stack:
        servers = [
            stack.enter_context(TcpServer(api.netns, api.ip, API_PORT + index, response))
            for index, (_, response) in enumerate(POD_EXCHANGES)
        ]
        stack.enter_context(
            TcpServer(lab.ext_ns, EXTERNAL_SERVER, EXTERNAL_PORT, EXTERNAL_EXCHANGE[1])
        )
        dns = stack.enter_context(DnsServer(coredns.netns, coredns.ip, LAB_NAMES))
        exchanges = tuple(
            tcp_exchange(frontend.netns, api.ip, API_PORT + index, request)
            for index, (request, _) in enumerate(POD_EXCHANGES)
        )
        refused_port = connect_refused(frontend.netns, api.ip, REFUSED_PORT)
        blackhole_port, _ = connect_unanswered(frontend.netns, BLACKHOLE, 80, blackhole_wait)
        unreachable_port, unreachable_errno = connect_unanswered(
            frontend.netns, UNREACHABLE, 80, 2.0
        )
        lookups = {FOUND_NAME: resolve(frontend.netns, DNS_SERVER, FOUND_NAME)}
        external = tcp_exchange(
            frontend.netns, EXTERNAL_SERVER, EXTERNAL_PORT, EXTERNAL_EXCHANGE[0]
        )
        lookups[MISSING_NAME] = resolve(frontend.netns, DNS_SERVER, MISSING_NAME)
    return ScenarioRun(
        pod_exchanges=exchanges,
        external=external,
        refused_port=refused_port,
        blackhole_port=blackhole_port,
        unreachable_port=unreachable_port,
        unreachable_errno=unreachable_errno,
        lookups=lookups,
        server_requests=tuple(list(server.requests) for server in servers),
        dns_queries=tuple(dns.queries),
    )
