"""DNS names by asking pod: a dual-stack pod that resolves over one family and connects over the
other still gets ``dst.name`` (the hub knows all of a pod's addresses)."""

from __future__ import annotations

import pytest

from contract.schema import DnsInfo, Endpoint, Entry, Node, TcpInfo, protocol
from dashboard.core.naming.clientnames import ClientNames, client_key
from dashboard.core.naming.index import ClusterIndex
from tests.dashboard import objects as k8s
from tests.dashboard.objects import T0_MS

POD_V4, POD_V6 = "10.244.1.77", "fd00:10:244:1::77"
RESOLVER = "10.96.0.10"
SITE_V4, SITE_V6 = "93.184.216.34", "2606:2800:220:1::1"


def dns_answer(asker: str, answers: tuple[str, ...], at: int = T0_MS) -> Entry:
    return Entry(
        id="w/1",
        worker="w",
        node=Node("node-1", "172.18.0.2"),
        timestamp=at,
        protocol=protocol("dns"),
        src=Endpoint(ip=asker, port=40000),
        dst=Endpoint(ip=RESOLVER, port=53),
        dns=DnsInfo(query="www.example.com", answers=answers),
    )


def connection(src: str, dst: str, at: int = T0_MS + 1000) -> Entry:
    return Entry(
        id="w/2",
        worker="w",
        node=Node("node-1", "172.18.0.2"),
        timestamp=at,
        protocol=protocol("tcp"),
        src=Endpoint(ip=src, port=43512),
        dst=Endpoint(ip=dst, port=443),
        tcp=TcpInfo(event="connect"),
    )


@pytest.fixture
def index() -> ClusterIndex:
    index = ClusterIndex(clock=lambda: T0_MS + 10_000)
    index.replace("Node", [k8s.node("node-1", "172.18.0.2", "10.244.1.0/24")])
    index.apply("ADDED", k8s.pod("dual", "shop", POD_V4, extra_ips=(POD_V6,)))
    return index


@pytest.mark.parametrize(
    ("asked_from", "connected_from", "site"),
    [
        (POD_V4, POD_V6, SITE_V6),  # resolved AAAA over IPv4, connects over IPv6
        (POD_V6, POD_V4, SITE_V4),  # and the reverse
        (POD_V4, POD_V4, SITE_V4),
    ],
)
def test_a_pod_is_named_on_any_of_its_addresses(
    index: ClusterIndex, asked_from: str, connected_from: str, site: str
) -> None:
    index.name_entry(dns_answer(asked_from, ("edge.example.net", SITE_V4, SITE_V6)))
    named = index.name_entry(connection(connected_from, site))
    assert named.src.pod == "dual"
    assert named.dst.name == "www.example.com"
    wire = connection(connected_from, site).to_wire()
    assert index.name_wire(wire) == named.to_wire()


def test_another_pod_does_not_get_the_name(index: ClusterIndex) -> None:
    index.apply("ADDED", k8s.pod("other", "shop", "10.244.1.78"))
    index.name_entry(dns_answer(POD_V4, (SITE_V4,)))
    assert index.name_entry(connection("10.244.1.78", SITE_V4)).dst.name == ""


def test_the_workers_name_wins(index: ClusterIndex) -> None:
    index.name_entry(dns_answer(POD_V4, (SITE_V4,)))
    entry = connection(POD_V6, SITE_V4)
    entry = Entry.from_wire({**entry.to_wire(), "dst": {"ip": SITE_V4, "port": 443, "name": "x"}})
    assert index.name_entry(entry).dst.name == "x"


def test_names_expire_and_are_bounded() -> None:
    names = ClientNames(ttl_ms=1000, max_names=2)
    pod = client_key("pod", "shop", "dual", POD_V4)
    names.learn(pod, "a.example", ["a.example.net", "192.0.2.1", "2001:db8:0::1"], 0)
    assert names.lookup(pod, "2001:db8::1", 1000) == "a.example"  # compared canonically
    assert names.lookup(pod, "192.0.2.1", 1001) == ""
    names.learn(pod, "b.example", ["192.0.2.2", "192.0.2.3", "192.0.2.4"], 0)
    assert len(names) == 2
    assert names.lookup(pod, "192.0.2.2", 0) == ""  # the oldest went first
    assert names.lookup(client_key("ip", "", "", "192.0.2.9"), "192.0.2.4", 0) == ""
