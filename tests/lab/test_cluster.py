"""Integration (root, Redis): two nodes that rewrite packets, a worker on each, a hub process.

For both pod-network shapes and both capture modes, each kind of traffic is run once and the
exact entries of each worker are checked (one connection, the clients' own byte counts, src the
original client, dst the endpoint reached, what NAT rewrote). Both workers publish to Redis as
the DaemonSet's do, and a ``manage.py podscope serve`` hub reads the stream, named from the
lab's cluster snapshot: each connection is one entry there, the client's node's report (with the
Service dialed), and its map, export and metrics count each connection once, as a hub fed the
client's node alone does.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from capture.pipeline import Pipeline, PipelineConfig
from capture.sinks.publish import Publisher, PublisherStats
from capture.sources.live import Sniffer
from capture.worker import FilterSpec, Worker, WorkerSettings
from contract.schema import Address, Entry, NatInfo, Node
from dashboard.core.config import HubConfig
from dashboard.core.hub import Hub
from dashboard.core.ingest.merge import Merger
from dashboard.core.ingest.sources import RawEntry
from dashboard.core.naming.index import ClusterIndex
from dashboard.core.outputs.graph import LEVELS
from kfl import compile_filter
from lab.cluster import (
    API_PORT,
    API_VIP,
    CLUSTER_CIDR,
    DNS_VIP,
    EMPTY_VIP,
    EXTERNAL_NAME,
    EXTERNAL_SERVER,
    HOST_NETWORK_PORT,
    NODE_PORT,
    ROUTER,
    WEB_PORT,
    ClusterLab,
    ClusterNode,
)
from lab.kubeproxy import chain_name
from lab.servers import DnsServer, Exchange, TcpServer, connect_refused, resolve, tcp_exchange
from lab.topology import LAB_PREFIX
from tests.capture.livecapture import ListSink, LiveCapture, require_lab
from tests.dashboard.servedhub import ServedHub, get_json, redis_hub
from tests.redisprefix import private_prefix

pytestmark = [pytest.mark.root, pytest.mark.redis]

REDIS_URL = "redis://127.0.0.1:6379/9"

CART_PORT, EXTERNAL_PORT = 8080, 443
REQUEST, RESPONSE = 1_234, 5_678


class PublishingSink:
    """A worker's sink that keeps every entry (what the test checks of one worker) and
    publishes it to Redis (what the hub reads), as the DaemonSet's worker does."""

    def __init__(self, publisher: Publisher) -> None:
        self.kept = ListSink()
        self.publisher = publisher

    def submit(self, entries: Iterable[Entry]) -> None:
        batch = list(entries)
        self.kept.submit(batch)
        self.publisher.submit(batch)

    @property
    def stats(self) -> PublisherStats:
        return self.publisher.stats

    def drain(self, timeout: float) -> bool:
        return self.publisher.drain(timeout)

    def close(self) -> None:
        self.publisher.close()


@contextmanager
def node_capture(
    lab: ClusterLab, node: ClusterNode, mode: str, prefix: str
) -> Iterator[LiveCapture]:
    """A worker capturing on ``any`` inside ``node``'s namespace, publishing to Redis under
    ``prefix``, until the block ends."""
    spec = FilterSpec(mode=mode)
    with lab.inside(node.netns):
        sniffer = Sniffer(("any",), spec.expression()).open()
    config = PipelineConfig(mode=mode, syn_timeout=1.0, local_cidrs=(node.pod_cidr,))  # type: ignore[arg-type]
    identity = Node(node.name, node.ip)
    sink = PublishingSink(Publisher(REDIS_URL, prefix=prefix).start())
    worker = Worker(
        Pipeline(config, node.name, identity),
        sink,
        WorkerSettings(node.name, identity, spec, stats_interval=0.5),
        report=sink.publisher.publish_stats,
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_live, args=(sniffer, stop), daemon=True)
    thread.start()
    try:
        yield LiveCapture(worker, sniffer, sink.kept, stop, thread)
    finally:
        stop.set()
        thread.join(timeout=10)
        sniffer.close()
        sink.close()


@pytest.fixture
def prefix() -> Iterator[str]:
    """A Redis key prefix of this test alone."""
    with private_prefix("test-cluster") as name:
        yield name


@contextmanager
def cluster_hub(lab: ClusterLab, prefix: str, directory: Path) -> Iterator[ServedHub]:
    """A hub process reading ``prefix``'s stream, naming from the lab's cluster snapshot."""
    snapshot = directory / "cluster.json"
    snapshot.write_text(json.dumps(lab.snapshot()))
    with redis_hub(REDIS_URL, prefix, args=("--cluster-snapshot", str(snapshot))) as hub:
        yield hub


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Return once ``condition()`` holds; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def hub_took_everything(hub: ServedHub, captures: list[LiveCapture]) -> bool:
    """True once the hub has read, and merged or stored, every entry both workers published
    (none still held for the client's node)."""
    published = sum(capture.worker.snapshot()["publisher"]["published"] for capture in captures)
    stats = get_json(hub.port, "/api/stats")
    merge = stats["merge"]
    read = (
        stats["accepted"] + merge["merged"] + merge["redelivered"] + sum(stats["invalid"].values())
    )
    return bool(read == published and merge["held"] == 0)


def ask(hub: ServedHub, path: str, **query: str) -> Any:
    """The hub's JSON answer to ``GET path?query``."""
    return get_json(hub.port, f"{path}?{urllib.parse.urlencode(query)}")


def connections_counted(hub: ServedHub) -> float:
    """The sum of the hub's ``podscope_connections_total`` series."""
    url = f"http://127.0.0.1:{hub.port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    lines = text.splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines
               if line.startswith("podscope_connections_total{"))  # fmt: skip


def finals(entries: list[Entry], client_port: int) -> list[Entry]:
    """The entries that end a connection (or answer a query) of ``client_port``."""
    return [
        entry
        for entry in entries
        if entry.src.port == client_port
        and (entry.dns is not None or (entry.tcp is not None and entry.tcp.event != "connect"))
    ]


def ended(entries: list[Entry]) -> int:
    """How many entries end a TCP connection or attempt."""
    return sum(1 for e in entries if e.tcp is not None and e.tcp.event in ("close", "refused"))


def shape(entry: Entry) -> tuple[object, ...]:
    """What a test checks of an entry: addresses, sizes and what NAT rewrote."""
    event = entry.tcp.event if entry.tcp else entry.protocol.name
    return (event, entry.src.ip, entry.dst.ip, entry.dst.port, entry.nat,
            entry.request_size, entry.response_size)  # fmt: skip


@pytest.mark.parametrize("mode", ["connections", "full"])
@pytest.mark.parametrize("pod_network", ["bridge", "routed"])
def test_every_kind_of_traffic_is_one_connection_named_right(
    pod_network: str, mode: str, prefix: str, tmp_path: Path
) -> None:
    require_lab()
    with ClusterLab(pod_network) as lab, ExitStack() as stack:
        hub = stack.enter_context(cluster_hub(lab, prefix, tmp_path))
        node1, node2 = lab.nodes
        frontend, cart, web = lab.pod("frontend"), lab.pod("cart"), lab.pod("web")
        api1, api2, coredns = lab.pod("api", 1), lab.pod("api", 2), lab.pod("coredns")
        for pod, port in ((api1, API_PORT), (api2, API_PORT), (cart, CART_PORT), (web, WEB_PORT)):
            stack.enter_context(TcpServer(pod.netns, pod.ip, port, RESPONSE))
        stack.enter_context(TcpServer(lab.ext_ns, EXTERNAL_SERVER, EXTERNAL_PORT, RESPONSE))
        stack.enter_context(TcpServer(node2.netns, node2.ip, HOST_NETWORK_PORT, RESPONSE))
        stack.enter_context(DnsServer(coredns.netns, coredns.ip, {EXTERNAL_NAME: EXTERNAL_SERVER}))
        one = stack.enter_context(node_capture(lab, node1, mode, prefix))
        two = stack.enter_context(node_capture(lab, node2, mode, prefix))
        wait_until(lambda: len(get_json(hub.port, "/api/stats")["workers"]) == 2, "both workers")

        def exchange(netns: str, ip: str, port: int) -> int:
            done: Exchange = tcp_exchange(netns, ip, port, REQUEST)
            assert (done.sent, done.received) == (REQUEST, RESPONSE)
            return done.local_port

        via_vip = [exchange(frontend.netns, API_VIP, 80) for _ in range(6)]
        ports = {
            "same node": exchange(frontend.netns, api1.ip, API_PORT),
            "node port": exchange(lab.ext_ns, node1.ip, NODE_PORT),
            "egress": exchange(frontend.netns, EXTERNAL_SERVER, EXTERNAL_PORT),
            "no endpoints": connect_refused(frontend.netns, EMPTY_VIP, 80),
            "cross node": exchange(frontend.netns, cart.ip, CART_PORT),
            "host network": exchange(frontend.netns, node2.ip, HOST_NETWORK_PORT),
        }
        assert resolve(frontend.netns, DNS_VIP, EXTERNAL_NAME) == ("NOERROR", [EXTERNAL_SERVER])
        one.wait_for(lambda entries: any(e.dns for e in entries) and ended(entries) >= 12)
        on_node2 = {api2.ip, cart.ip, web.ip, node2.ip}  # what node 2 serves, seen by node 1
        node2_closes = sum(1 for e in one.sink.snapshot() if e.tcp and e.tcp.event == "close"
                     and e.dst.ip in on_node2)  # fmt: skip
        two.wait_for(lambda entries: ended(entries) >= node2_closes)
        wait_until(lambda: hub_took_everything(hub, [one, two]), "the hub to read both workers")
        first, second = one.sink.snapshot(), two.sink.snapshot()
        on_hub = ask(hub, "/api/entries", limit="1000")["entries"]
        hub_views = [ask(hub, "/api/map", level=level) for level in LEVELS]
        hub_views.append(ask(hub, "/api/export", format="json"))
        hub_connections = connections_counted(hub)

    sizes = (REQUEST, RESPONSE)
    assert [shape(e) for e in finals(first, ports["same node"])] == [
        ("close", frontend.ip, api1.ip, API_PORT, None, *sizes)
    ]
    assert finals(second, ports["same node"]) == []
    backends = set()
    for port in via_vip:
        found = finals(first, port)
        assert len(found) == 1, [shape(e) for e in found]  # one connection, however rewritten
        (seen,) = found
        backends.add(seen.dst.ip)
        assert shape(seen) == ("close", frontend.ip, seen.dst.ip, API_PORT,
                               NatInfo(dialed=Address(API_VIP, 80)), *sizes)  # fmt: skip
        remote = [shape(e) for e in finals(second, port)]
        expected_remote = [("close", frontend.ip, api2.ip, API_PORT, None, *sizes)]
        assert remote == (expected_remote if seen.dst.ip == api2.ip else [])
    assert backends <= {api1.ip, api2.ip}

    (node_port,) = finals(first, ports["node port"])
    assert node_port.nat is not None
    assert node_port.nat.dialed == Address(node1.ip, NODE_PORT)
    assert node_port.nat.snat is not None
    assert node_port.nat.snat.ip == node1.tunnel_ip  # the SNAT address leaving through vxlan0
    assert shape(node_port)[:4] == ("close", ROUTER, web.ip, WEB_PORT)
    (served,) = [e for e in second if e.src.port == node_port.nat.snat.port and e.tcp
                 and e.tcp.event == "close"]  # fmt: skip
    assert shape(served) == ("close", node1.tunnel_ip, web.ip, WEB_PORT, None, *sizes)

    (egress,) = finals(first, ports["egress"])
    assert egress.nat is not None
    assert egress.nat.dialed is None
    assert egress.nat.snat is not None
    assert egress.nat.snat.ip == node1.ip
    assert shape(egress)[:4] == ("close", frontend.ip, EXTERNAL_SERVER, EXTERNAL_PORT)

    (rejected,) = finals(first, ports["no endpoints"])
    assert shape(rejected)[:5] == ("refused", frontend.ip, EMPTY_VIP, 80, None)
    assert rejected.tcp is not None
    errors = [e for e in first if e.icmp is not None]
    assert errors  # one per SYN: a REJECT racing connect() is ignored and the SYN sent again
    for error in errors:
        assert error.icmp is not None
        assert error.icmp.about is not None
        assert (error.icmp.about.isn, error.dst.ip) == (rejected.tcp.isn, frontend.ip)

    cross = [("close", frontend.ip, cart.ip, CART_PORT, None, *sizes)]
    assert [shape(e) for e in finals(first, ports["cross node"])] == cross
    assert [shape(e) for e in finals(second, ports["cross node"])] == cross

    (host,) = finals(first, ports["host network"])
    assert host.nat is not None
    assert host.nat.snat is not None
    assert shape(host)[:4] == ("close", frontend.ip, node2.ip, HOST_NETWORK_PORT)
    (host_served,) = [e for e in second if e.src.port == host.nat.snat.port and e.tcp
                      and e.tcp.event == "close"]  # fmt: skip
    assert (host_served.src.ip, host_served.dst.ip) == (node1.ip, node2.ip)

    (dns,) = [e for e in first if e.dns is not None]
    assert (dns.src.ip, dns.dst.ip, dns.dst.port) == (frontend.ip, coredns.ip, 53)
    assert dns.nat == NatInfo(dialed=Address(DNS_VIP, 53))
    assert [e for e in second if e.dns is not None] == []

    assert one.worker.snapshot()["pipeline"]["natCopies"] > 0
    assert not [e for e in first + second if e.protocol.name == "udp" and e.dst.port == 4789]

    merger = Merger()
    merged = [e for e in sorted(first + second, key=lambda e: e.timestamp)
              if not merger.is_duplicate(e)]  # fmt: skip
    closes = [e for e in merged if e.tcp and e.tcp.event == "close"]
    assert len(closes) == 11  # same node, 6 via the VIP, node port, egress, cross node, host
    assert sorted(e.tcp.isn or 0 for e in closes if e.tcp) == sorted(
        {e.tcp.isn or 0 for e in first + second if e.tcp and e.tcp.event == "close"}
    )

    # the hub process: one entry per connection, the client's node's report, named
    client_side = hub_of(lab, first)
    *graphs, exported = asyncio.run(graph_and_export(client_side))
    assert hub_views == [*json.loads(json.dumps(graphs)), json.loads(str(exported))]
    assert hub_connections == client_side.connections
    hub_finals = [w for w in on_hub if w.get("tcp", {}).get("event") in ("close", "refused")]
    assert sorted(w["tcp"]["isn"] for w in hub_finals) == sorted(
        e.tcp.isn or 0 for e in merged if e.tcp and e.tcp.event in ("close", "refused")
    )
    for wire in hub_finals:
        assert wire["node"]["name"] == node1.name  # every client here is on (or enters by) node 1
        if wire["tcp"]["event"] == "close":  # the client's own byte counts
            assert (wire["requestSize"], wire["responseSize"]) == sizes
    for port in via_vip:
        (wire,) = [w for w in hub_finals if w["src"]["port"] == port]
        assert wire["nat"]["dialed"] == {"ip": API_VIP, "port": 80}
        assert (wire["src"]["pod"], wire["dst"]["service"]) == (frontend.name, "api")
        assert wire["dst"]["pod"] in (api1.name, api2.name)
        assert f"via service api.payments ({API_VIP}:80)" in wire["summary"]
    (refused,) = [w for w in hub_finals if w["tcp"]["event"] == "refused"]
    assert (refused["dst"]["name"], refused["dst"]["kind"]) == ("empty.shop", "service")
    (from_outside,) = [w for w in hub_finals if w["src"]["ip"] == ROUTER]
    assert (from_outside["dst"]["pod"], from_outside["nat"]["dialed"]["port"]) == (
        web.name, NODE_PORT)  # fmt: skip
    (outbound,) = [w for w in hub_finals if w["dst"]["ip"] == EXTERNAL_SERVER]
    assert (outbound["src"]["pod"], outbound["dst"]["kind"]) == (frontend.name, "external")
    (answer,) = [w for w in on_hub if w["protocol"]["name"] == "dns"]
    assert (answer["dst"]["pod"], answer["dst"]["service"]) == (coredns.name, "kube-dns")
    assert (answer["src"]["pod"], answer["nat"]["dialed"]["ip"]) == (frontend.name, DNS_VIP)


def timestamp_of(entry: Entry) -> int:
    """When an entry's connection started (ms)."""
    return entry.timestamp


def hub_of(lab: ClusterLab, entries: list[Entry]) -> Hub:
    """A hub that knows the lab's objects and accepted ``entries`` in time order."""
    index = ClusterIndex(cluster_cidrs=[CLUSTER_CIDR])
    items = lab.snapshot()["items"]
    for kind in ("Node", "Service", "Pod", "EndpointSlice"):
        index.replace(kind, [item for item in items if item["kind"] == kind])
    hub = Hub(HubConfig(), index)
    in_time_order = sorted(entries, key=timestamp_of)
    ordered: list[RawEntry] = list(in_time_order)
    hub.accept(ordered)
    return hub


async def graph_and_export(hub: Hub) -> tuple[object, ...]:
    """What the map (each level, Services shown as the API does by default) and the export
    show: they count each connection once."""
    everything = compile_filter("")
    graphs = [await hub.graph(everything, level, services=True) for level in LEVELS]
    return (*graphs, await hub.export(everything, "json"))


def test_kube_proxy_chains_are_loaded_and_the_lab_leaves_nothing() -> None:
    require_lab()
    with ClusterLab("routed") as lab:
        names = set(lab.nodes[0].netns.split())
        saved = subprocess.run(lab.command(lab.nodes[0].netns, ["iptables-save"]),
                               capture_output=True, text=True, check=True).stdout  # fmt: skip
    for chain in ("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ",
                  chain_name("KUBE-SVC-", "payments/api:http", "tcp")):  # fmt: skip
        assert f":{chain} " in saved
    assert "--mode random --probability 0.5000000000" in saved
    assert '"shop/empty:http has no endpoints"' in saved
    assert f"! -s {CLUSTER_CIDR}" in saved
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    assert not names & {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}
    assert all(name.startswith(LAB_PREFIX) for name in names)
