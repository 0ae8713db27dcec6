"""NAT join: a connection that the node's DNAT/SNAT rewrote is one connection, named right.

Each test feeds the copies a node's capture sees, in the order it sees them: a packet from the
client is captured as it arrives (before DNAT) and then as it leaves (after DNAT/SNAT); a packet
from the server is captured rewritten first and restored second.
"""

from __future__ import annotations

import pytest
from scapy.layers.dns import DNSRR
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

from capture.pipeline import Pipeline, PipelineConfig
from capture.sources.frames import DLT_EN10MB
from contract.schema import Address, Entry, NatInfo, Node
from kfl import compile_filter

from ..packets import Conversation, dns_answer, dns_query, frame

NODE = Node("node-a", "198.51.100.1")
POD = "10.244.1.10"
BACKEND = "10.244.1.11"
VIP = "10.96.0.20"
KUBE_DNS = "10.96.0.10"
COREDNS = "10.244.1.53"
OUTSIDE = "203.0.113.10"
NODE_IP = "198.51.100.1"
BRIDGE = "10.244.1.1"

Step = tuple[str, str, bytes]  # sender ("c" client, "s" server), flags, payload
EXCHANGE: list[Step] = [
    ("c", "S", b""),
    ("s", "SA", b""),
    ("c", "A", b""),
    ("c", "PA", b"q" * 100),
    ("s", "PA", b"r" * 2000),
    ("c", "FA", b""),
    ("s", "FA", b""),
    ("c", "A", b""),
]


def pipeline(mode: str = "connections", **settings: object) -> Pipeline:
    config = PipelineConfig(mode=mode, **settings)  # type: ignore[arg-type]
    return Pipeline(config, "worker-a", NODE)


def natted(
    original: Conversation, copy: Conversation, steps: list[Step]
) -> list[tuple[bytes, str]]:
    """The frames of ``steps`` as captured on a node that rewrites ``original`` into ``copy``:
    (frame, interface) pairs, client's packets original first, server's copy first."""
    frames = []
    for sender, flags, data in steps:
        if sender == "c":
            frames.append((original.c(flags, data), "veth-client"))
            frames.append((copy.c(flags, data), "veth-server"))
        else:
            frames.append((copy.s(flags, data), "veth-server"))
            frames.append((original.s(flags, data), "veth-client"))
    return frames


def feed(scope: Pipeline, frames: list[tuple[bytes, str]], start: float = 1000.0) -> list[Entry]:
    entries: list[Entry] = []
    for index, (raw, interface) in enumerate(frames):
        entries.extend(scope.feed(start + index * 0.0001, raw, DLT_EN10MB, interface))
    return entries


def pair(
    client: str, server: str, server_port: int, copy_client: str, copy_server: str,
    copy_server_port: int, client_port: int = 40000, copy_client_port: int = 40000,
) -> tuple[Conversation, Conversation]:  # fmt: skip
    """An original connection and its NAT copy: same ISNs, other addresses."""
    original = Conversation(client, server, client_port, server_port, isn=77_001, server_isn=91)
    copy = Conversation(copy_client, copy_server, copy_client_port, copy_server_port,
                        isn=77_001, server_isn=91)  # fmt: skip
    return original, copy


@pytest.mark.parametrize("mode", ["connections", "full"])
def test_cluster_ip_connection_is_one_connection_to_the_backend_via_the_vip(mode: str) -> None:
    scope = pipeline(mode)
    entries = feed(scope, natted(*pair(POD, VIP, 80, POD, BACKEND, 8080), EXCHANGE))
    assert [entry.tcp.event for entry in entries if entry.tcp] == ["connect", "close"]
    close = entries[1]
    assert (close.src.ip, close.src.port, close.dst.ip, close.dst.port) == (POD, 40000, BACKEND,
                                                                            8080)  # fmt: skip
    assert close.nat == NatInfo(dialed=Address(VIP, 80))
    assert (close.request_size, close.response_size) == (100, 2000)
    assert close.tcp is not None
    assert (close.tcp.isn, close.tcp.server_isn) == (77_001, 91)
    assert close.summary.startswith(f"{POD}:40000 -> {BACKEND}:8080 via {VIP}:80 close")
    assert Entry.from_json(close.to_json()) == close
    stats = scope.stats
    assert stats.nat_copies == len(EXCHANGE) if mode == "full" else stats.nat_copies > 0
    assert stats.packets == sum((stats.decoded, stats.malformed, stats.unsupported,
                                 stats.fragments, stats.filtered, stats.duplicates,
                                 stats.nat_copies))  # fmt: skip


@pytest.mark.parametrize("mode", ["connections", "full"])
def test_masqueraded_egress_is_the_pods_connection_with_the_snat_address(mode: str) -> None:
    scope = pipeline(mode)
    entries = feed(scope, natted(*pair(POD, OUTSIDE, 443, NODE_IP, OUTSIDE, 443), EXCHANGE))
    assert len(entries) == 2
    close = entries[1]
    assert (close.src.ip, close.dst.ip, close.dst.port) == (POD, OUTSIDE, 443)
    assert close.nat == NatInfo(snat=Address(NODE_IP, 40000))
    assert close.outgoing is False  # no local_cidrs given
    assert "as 198.51.100.1:40000" in close.summary


def test_snat_that_changes_the_port_is_joined_by_the_server_side() -> None:
    original, copy = pair(POD, OUTSIDE, 443, NODE_IP, OUTSIDE, 443, copy_client_port=61000)
    entries = feed(pipeline(), natted(original, copy, EXCHANGE))
    assert len(entries) == 2
    assert entries[1].nat == NatInfo(snat=Address(NODE_IP, 61000))


def test_node_port_with_cluster_policy_is_dnat_and_snat_at_once() -> None:
    original, copy = pair(OUTSIDE, NODE_IP, 30080, BRIDGE, BACKEND, 8080, client_port=50000,
                          copy_client_port=50000)  # fmt: skip
    entries = feed(pipeline(), natted(original, copy, EXCHANGE))
    assert len(entries) == 2
    close = entries[1]
    reached = (close.src.ip, close.src.port, close.dst.ip, close.dst.port)
    assert reached == (OUTSIDE, 50000, BACKEND, 8080)
    assert close.nat == NatInfo(dialed=Address(NODE_IP, 30080), snat=Address(BRIDGE, 50000))


def test_attempt_refused_by_the_backend_is_one_refused_entry() -> None:
    steps: list[Step] = [("c", "S", b""), ("s", "RA", b"")]
    entries = feed(pipeline(), natted(*pair(POD, VIP, 80, POD, BACKEND, 8080), steps))
    assert [(entry.tcp.event if entry.tcp else "", entry.dst.ip) for entry in entries] == [
        ("refused", BACKEND)
    ]
    assert entries[0].nat == NatInfo(dialed=Address(VIP, 80))


def test_attempt_that_times_out_behind_dnat_is_one_timeout() -> None:
    scope = pipeline(syn_timeout=1.0)
    syns = natted(*pair(POD, VIP, 80, POD, BACKEND, 8080), [("c", "S", b"")])
    entries = feed(scope, syns + syns)  # the SYN and its retransmission, each with its copy
    entries += scope.tick(1010.0)
    assert [(entry.tcp.event if entry.tcp else "", entry.dst.ip) for entry in entries] == [
        ("timeout", BACKEND)
    ]


def test_reject_of_a_service_without_endpoints_names_the_attempt() -> None:
    client = Conversation(POD, VIP, 40000, 80, isn=123_456)
    syn = client.c("S")
    reject = frame(
        IP(src=BRIDGE, dst=POD) / ICMP(type=3, code=3) / IP(src=POD, dst=VIP)
        / TCP(sport=40000, dport=80, flags="S", seq=123_456)
    )  # fmt: skip
    entries = feed(pipeline(), [(syn, "veth-client"), (reject, "veth-client")])
    assert [entry.protocol.name for entry in entries] == ["icmp", "tcp"]
    icmp, tcp = entries
    assert tcp.tcp is not None
    assert (tcp.tcp.event, tcp.dst.ip, tcp.dst.port, tcp.nat) == ("refused", VIP, 80, None)
    assert "ICMP port unreachable" in tcp.summary
    assert icmp.icmp is not None
    assert icmp.icmp.about is not None
    assert icmp.icmp.about.isn == tcp.tcp.isn == 123_456


def test_icmp_error_about_a_masqueraded_attempt_is_reported_once_about_the_pod() -> None:
    original, copy = pair(POD, "203.0.113.77", 443, NODE_IP, "203.0.113.77", 443)
    frames = natted(original, copy, [("c", "S", b"")])
    quoted = TCP(sport=40000, dport=443, flags="S", seq=77_001)
    router = "198.51.100.2"
    to_node = (
        IP(src=router, dst=NODE_IP) / ICMP(type=3, code=1) / IP(src=NODE_IP, dst="203.0.113.77")
    )
    to_pod = IP(src=router, dst=POD) / ICMP(type=3, code=1) / IP(src=POD, dst="203.0.113.77")
    frames += [(frame(to_node / quoted), "uplink"), (frame(to_pod / quoted), "veth-client")]
    scope = pipeline()
    entries = feed(scope, frames)
    assert [entry.protocol.name for entry in entries] == ["icmp", "tcp"]
    assert entries[0].dst.ip == POD
    assert entries[1].tcp is not None
    assert entries[1].tcp.event == "timeout"
    assert entries[1].nat == NatInfo(snat=Address(NODE_IP, 40000))


def test_dns_through_the_kube_dns_vip_is_one_answer_from_coredns() -> None:
    query = dns_query(POD, 5353, 7, "api.example.com")
    record = DNSRR(rrname="api.example.com", type="A", rdata=OUTSIDE, ttl=30)
    answer = dns_answer(POD, 5353, 7, "api.example.com", [record])

    def moved(raw: bytes, src: str, dst: str) -> bytes:
        packet = Ether(raw)
        packet[IP].src, packet[IP].dst = src, dst
        del packet[IP].chksum, packet[UDP].chksum
        return bytes(packet)

    vip_query = moved(query, POD, KUBE_DNS)
    frames = [
        (vip_query, "veth-client"),
        (moved(query, POD, COREDNS), "veth-dns"),
        (moved(answer, COREDNS, POD), "veth-dns"),
        (moved(answer, KUBE_DNS, POD), "veth-client"),
    ]
    entries = feed(pipeline(), frames)
    assert len(entries) == 1
    (dns,) = entries
    assert (dns.src.ip, dns.dst.ip, dns.dst.port) == (POD, COREDNS, 53)
    assert dns.nat == NatInfo(dialed=Address(KUBE_DNS, 53))
    assert dns.dns is not None
    assert dns.dns.answers == (OUTSIDE,)


def test_udp_flow_behind_dnat_is_one_flow_in_full_mode() -> None:
    frames = []
    for index in range(3):
        ident = 100 + index
        frames.append((frame(IP(src=POD, dst=VIP, id=ident) / UDP(sport=4000, dport=9000)
                             / Raw(b"ping %d" % index)), "veth-client"))  # fmt: skip
        frames.append((frame(IP(src=POD, dst=BACKEND, id=ident) / UDP(sport=4000, dport=9999)
                             / Raw(b"ping %d" % index)), "veth-server"))  # fmt: skip
    scope = pipeline("full")
    entries = feed(scope, frames)
    entries += scope.flush(2000.0)
    assert len(entries) == 1
    assert (entries[0].dst.ip, entries[0].dst.port, entries[0].packets) == (BACKEND, 9999, 3)
    assert entries[0].nat == NatInfo(dialed=Address(VIP, 9000))


def test_same_isn_after_the_window_is_another_connection() -> None:
    original, copy = pair(POD, VIP, 80, POD, BACKEND, 8080)
    frames = [(original.c("S"), "veth-client"), (copy.c("S"), "veth-server")]
    scope = pipeline(syn_timeout=5.0, nat_join_window=0.05)
    entries = scope.feed(1000.0, frames[0][0], DLT_EN10MB, frames[0][1])
    entries += scope.feed(1000.2, frames[1][0], DLT_EN10MB, frames[1][1])
    entries += scope.tick(1010.0)
    assert sorted(entry.dst.ip for entry in entries) == sorted([VIP, BACKEND])
    assert scope.stats.nat_copies == 0


def test_join_is_forgotten_after_its_connection_ended() -> None:
    scope = pipeline(tombstone_seconds=5.0)
    feed(scope, natted(*pair(POD, VIP, 80, POD, BACKEND, 8080), EXCHANGE))
    assert scope.stats.nat_joins == 1
    scope.tick(1004.0)
    assert scope.stats.nat_joins == 1  # the last ACK's copies may still come
    scope.tick(1006.0)
    assert scope.stats.nat_joins == 0


def test_joins_are_bounded() -> None:
    scope = pipeline(max_connections=4)
    for port in range(40000, 40010):
        original = Conversation(POD, VIP, port, 80, isn=port * 7)
        copy = Conversation(POD, BACKEND, port, 8080, isn=port * 7)
        feed(scope, [(original.c("S"), "veth-client"), (copy.c("S"), "veth-server")])
    assert scope.stats.nat_joins == 4
    assert scope.stats.nat_joins_evicted == 6


@pytest.mark.parametrize("mode", ["connections", "full"])
def test_vxlan_outer_packets_are_copies_of_the_tunnel_devices_packets(mode: str) -> None:
    conversation = Conversation(POD, "10.244.2.20", 40000, 8080)
    frames = []
    for sender, flags, data in EXCHANGE:
        raw = conversation.c(flags, data) if sender == "c" else conversation.s(flags, data)
        outer = frame(IP(src="192.168.50.1", dst="192.168.50.2") / UDP(sport=51000, dport=4789)
                      / VXLAN(vni=1) / Ether(raw))  # fmt: skip
        frames += [(raw, "vxlan0"), (outer, "eth0")]
    scope = pipeline(mode)
    entries = feed(scope, frames) + scope.flush(2000.0)
    assert [(entry.protocol.name, entry.dst.ip) for entry in entries] == [
        ("tcp", "10.244.2.20"),
        ("tcp", "10.244.2.20"),
    ]
    assert entries[1].request_size == 100


def test_kfl_filters_on_what_nat_rewrote() -> None:
    entries = feed(pipeline(), natted(*pair(POD, VIP, 80, POD, BACKEND, 8080), EXCHANGE))
    dialed = compile_filter(f'nat.dialed.ip == "{VIP}" and nat.dialed.port == 80')
    snat = compile_filter("nat.snat.ip")
    assert [dialed(entry.to_wire()) for entry in entries] == [True, True]
    assert [snat(entry.to_wire()) for entry in entries] == [False, False]


def test_node_port_with_random_fully_masquerade_is_joined_by_the_timestamp_option() -> None:
    original, copy = pair(OUTSIDE, NODE_IP, 30080, BRIDGE, BACKEND, 8080, client_port=50000,
                          copy_client_port=61234)  # fmt: skip
    original.c("S")
    copy.c("S")  # advance both past their SYNs, built here with a timestamp option
    stamped = [("Timestamp", (3_141_592, 0))]
    syns = [
        (frame(IP(src=OUTSIDE, dst=NODE_IP) / TCP(sport=50000, dport=30080, flags="S",
                                                  seq=77_001, options=stamped)), "uplink"),
        (frame(IP(src=BRIDGE, dst=BACKEND) / TCP(sport=61234, dport=8080, flags="S",
                                                 seq=77_001, options=stamped)), "veth-server"),
    ]  # fmt: skip
    entries = feed(pipeline(), syns + natted(original, copy, EXCHANGE[1:]))
    assert len(entries) == 2
    assert entries[1].nat == NatInfo(dialed=Address(NODE_IP, 30080), snat=Address(BRIDGE, 61234))
    assert (entries[1].src.ip, entries[1].dst.ip) == (OUTSIDE, BACKEND)


def test_a_lost_syn_copy_is_joined_by_the_backends_syn_ack() -> None:
    frames = natted(*pair(POD, VIP, 80, POD, BACKEND, 8080), EXCHANGE)
    del frames[1]  # the SYN after DNAT: dropped by the kernel before the capture read it
    entries = feed(pipeline(), frames)
    assert [(e.tcp.event if e.tcp else "", e.dst.ip, e.nat) for e in entries] == [
        ("connect", BACKEND, NatInfo(dialed=Address(VIP, 80))),
        ("close", BACKEND, NatInfo(dialed=Address(VIP, 80))),
    ]
    assert (entries[1].request_size, entries[1].response_size) == (100, 2000)
