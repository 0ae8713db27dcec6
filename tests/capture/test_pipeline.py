"""The pipeline end to end: frames in, valid entries out, modes, names, dedupe and stats."""

from __future__ import annotations

import pytest
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, CookedLinuxV2, Ether
from scapy.packet import Raw

from capture.pipeline import Pipeline, PipelineConfig, PipelineStats
from capture.sources.frames import DLT_EN10MB, DLT_LINUX_SLL2
from contract.schema import Entry, Node

from .packets import (
    CLIENT,
    CLIENT_PORT,
    SERVER,
    Conversation,
    dns_answer,
    dns_query,
    feed_all,
    frame,
    ip,
)

NODE = Node("node-a", "192.168.1.10")
EXTERNAL = "93.184.216.34"


def pipeline(**settings: object) -> Pipeline:
    return Pipeline(PipelineConfig(**settings), "worker-a", NODE)  # type: ignore[arg-type]


def stats_add_up(stats: PipelineStats) -> bool:
    parts = (stats.decoded, stats.malformed, stats.unsupported, stats.fragments, stats.filtered,
             stats.duplicates, stats.nat_copies)  # fmt: skip
    return stats.packets == sum(parts)


def exchange(conversation: Conversation, request: bytes = b"q" * 100) -> list[bytes]:
    return [
        *conversation.handshake(),
        conversation.c("PA", request),
        conversation.s("PA", b"r" * 2000),
        conversation.c("FA"),
        conversation.s("FA"),
        conversation.c("A"),
    ]


@pytest.mark.parametrize("mode", ["connections", "full"])
def test_entries_are_valid_wire_entries_with_sequential_ids(mode: str) -> None:
    scope = pipeline(mode=mode)
    entries = feed_all(scope, exchange(Conversation()))
    assert [entry.id for entry in entries] == ["worker-a/1", "worker-a/2"]
    for entry in entries:
        assert Entry.from_json(entry.to_json()) == entry
        assert entry.worker == "worker-a"
        assert entry.node == NODE
    close = entries[1]
    assert close.tcp is not None
    assert close.tcp.event == "close"
    assert (close.src.ip, close.src.port, close.dst.ip) == (CLIENT, CLIENT_PORT, SERVER)
    assert (close.request_size, close.response_size) == (100, 2000)
    assert close.timestamp == 1_000_000
    assert close.elapsed_time == 6  # SYN at frame 0 to the last FIN at frame 6, 1 ms apart
    assert close.summary == "10.0.1.5:43122 -> 10.0.2.7:8080 close 100 B / 2.0 KB 6 ms"
    assert (close.packets is not None) == (mode == "full")
    if close.packets is not None:  # the client's and the server's, on the wire each way
        assert (close.request_packets, close.response_packets) == (close.packets - 3, 3)
        assert close.to_wire()["responsePackets"] == 3
    else:
        assert (close.request_packets, close.response_packets) == (None, None)
    assert (close.payload is not None) == (mode == "full")
    assert stats_add_up(scope.stats)


def test_connections_mode_filters_like_the_kernel_filter() -> None:
    scope = pipeline(mode="connections")
    feed_all(scope, exchange(Conversation()))
    stats = scope.stats
    assert (stats.packets, stats.decoded, stats.filtered) == (8, 4, 4)
    assert stats_add_up(stats)


def test_dns_answer_names_later_connections_of_that_client() -> None:
    scope = pipeline(mode="connections")
    record = DNSRR(rrname="www.example.com", type="A", rdata=EXTERNAL, ttl=30)
    frames = [
        dns_query(CLIENT, 5353, 9, "www.example.com"),
        dns_answer(CLIENT, 5353, 9, "www.example.com", [record]),
    ]
    to_external = Conversation(server=EXTERNAL, server_port=443)
    from_other = Conversation(client="10.0.1.6", server=EXTERNAL, server_port=443, isn=7000)
    frames += exchange(to_external) + exchange(from_other)
    entries = feed_all(scope, frames)
    dns = entries[0]
    assert dns.dns is not None
    assert (dns.dns.query, dns.dns.answers, dns.dns.rcode) == ("www.example.com", (EXTERNAL,),
                                                               "NOERROR")  # fmt: skip
    assert dns.dns.latency == pytest.approx(1.0)
    assert (dns.src.ip, dns.dst.port) == (CLIENT, 53)
    named = [entry for entry in entries[1:] if entry.src.ip == CLIENT]
    assert {entry.dst.name for entry in named} == {"www.example.com"}
    assert {entry.dst.kind for entry in named} == {"external"}
    others = [entry for entry in entries[1:] if entry.src.ip == "10.0.1.6"]
    assert {entry.dst.name for entry in others} == {""}


def test_nxdomain_is_an_entry() -> None:
    entries = feed_all(pipeline(), [dns_answer(CLIENT, 5353, 1, "nope.example.com", rcode=3)])
    assert entries[0].dns is not None
    assert entries[0].dns.rcode == "NXDOMAIN"
    assert "NXDOMAIN" in entries[0].summary


def test_dns_over_tcp_in_full_mode() -> None:
    message = bytes(DNS(id=3, qr=1, qd=[DNSQR(qname="tcp.example.com")],
                        an=[DNSRR(rrname="tcp.example.com", rdata="10.1.1.1")]))  # fmt: skip
    conversation = Conversation(server="10.96.0.10", server_port=53)
    wire = len(message).to_bytes(2, "big") + message
    frames = [*conversation.handshake(), conversation.s("PA", wire[:20]),
              conversation.s("PA", wire[20:])]  # fmt: skip
    entries = feed_all(pipeline(mode="full"), frames)
    dns = [entry for entry in entries if entry.dns is not None]
    assert len(dns) == 1
    assert dns[0].dns is not None
    assert dns[0].dns.answers == ("10.1.1.1",)


def test_outgoing_follows_local_cidrs() -> None:
    entries = feed_all(pipeline(local_cidrs=("10.0.1.0/24",)), exchange(Conversation()))
    assert all(entry.outgoing for entry in entries)
    entries = feed_all(pipeline(local_cidrs=("10.0.2.0/24",)), exchange(Conversation()))
    assert not any(entry.outgoing for entry in entries)


def test_disabled_protocols_are_not_emitted() -> None:
    scope = pipeline(mode="full", protocols=frozenset({"dns"}))
    frames = [*exchange(Conversation()), dns_answer(CLIENT, 5353, 1, "a.example.com")]
    entries = feed_all(scope, frames)
    assert [entry.protocol.name for entry in entries] == ["dns"]
    assert scope.stats.filtered == 8
    assert stats_add_up(scope.stats)


def test_udp_flows_only_in_full_mode() -> None:
    datagrams = [frame(ip(CLIENT, SERVER) / UDP(sport=4000, dport=9000) / Raw(b"x" * 10))] * 3
    full = pipeline(mode="full", udp_idle_timeout=5.0)
    assert feed_all(full, datagrams) == []
    (flow,) = full.tick(1010.0)
    assert (flow.protocol.name, flow.packets, flow.request_size) == ("udp", 3, 30)
    assert Entry.from_json(flow.to_json()) == flow
    connections = pipeline(mode="connections")
    feed_all(connections, datagrams)
    assert connections.stats.filtered == 3
    assert connections.flush(2000.0) == []


def test_icmp_error_entry_and_it_ends_the_syn() -> None:
    scope = pipeline()
    syn = Conversation(server="10.0.9.9").c("S")
    quoted = IP(src=CLIENT, dst="10.0.9.9") / TCP(
        sport=CLIENT_PORT, dport=8080, flags="S", seq=1000
    )
    unreachable = frame(IP(src="10.0.0.1", dst=CLIENT) / ICMP(type=3, code=1) / quoted)
    icmp, tcp = feed_all(scope, [syn, unreachable])
    assert icmp.icmp is not None
    assert icmp.icmp.about is not None
    assert (icmp.icmp.type, icmp.icmp.code, icmp.icmp.message) == (3, 1, "host unreachable")
    assert (icmp.src.ip, icmp.dst.ip) == ("10.0.0.1", CLIENT)
    assert (icmp.icmp.about.protocol, icmp.icmp.about.dst.port) == ("tcp", 8080)
    assert tcp.tcp is not None
    assert tcp.tcp.event == "timeout"
    assert "host unreachable" in tcp.summary
    assert Entry.from_json(icmp.to_json()) == icmp
    # the row reads as the flow that failed, then who reported it
    assert (
        icmp.summary
        == "tcp 10.0.1.5:43122 -> 10.0.9.9:8080 host unreachable (reported by 10.0.0.1)"
    )
    assert icmp.conn_id is None
    assert "connId" not in icmp.to_wire()


def test_reports_of_one_tcp_connection_share_a_connection_id() -> None:
    scope = pipeline()
    first = feed_all(scope, exchange(Conversation()))
    second = feed_all(scope, exchange(Conversation(client_port=43123, isn=9000)))
    assert [entry.conn_id for entry in first] == [
        "worker-a/1000000/10.0.1.5:43122-10.0.2.7:8080"
    ] * 2
    assert first[0].to_wire()["connId"] == first[0].conn_id
    assert {entry.conn_id for entry in second} != {entry.conn_id for entry in first}
    assert len({entry.conn_id for entry in second}) == 1


def test_same_packet_on_two_interfaces_is_counted_once() -> None:
    scope = pipeline(mode="full")
    entries = []
    for index, raw in enumerate(exchange(Conversation())):
        at = 1000.0 + index * 0.01
        entries += scope.feed(at, raw, DLT_EN10MB, "veth1")
        entries += scope.feed(at + 0.0001, raw, DLT_EN10MB, "cni0")
    assert [entry.tcp.event for entry in entries if entry.tcp] == ["connect", "close"]
    assert entries[1].packets == 7
    assert entries[1].tcp is not None
    assert entries[1].tcp.retransmits == 0
    assert scope.stats.duplicates == 8
    assert stats_add_up(scope.stats)


def test_retransmission_on_the_same_interface_is_not_a_duplicate() -> None:
    scope = pipeline(mode="full")
    conversation = Conversation()
    frames = [*conversation.handshake(), conversation.c("PA", b"x" * 10)]
    for index, raw in enumerate([*frames, frames[-1]]):
        scope.feed(1000.0 + index * 0.001, raw, DLT_EN10MB, "eth0")
    assert scope.stats.duplicates == 0


def test_sll2_frames_are_deduplicated_by_interface_index() -> None:
    scope = pipeline(mode="full")
    segment = IP(src=CLIENT, dst=SERVER) / TCP(sport=1234, dport=80, flags="S")
    for ifindex in (3, 4):
        scope.feed(
            1.0, bytes(CookedLinuxV2(proto=0x0800, ifindex=ifindex) / segment), DLT_LINUX_SLL2
        )
    assert scope.stats.duplicates == 1


def test_bad_frames_are_counted_and_stats_add_up() -> None:
    scope = pipeline(mode="full")
    scope.feed(1.0, b"\x00" * 5, DLT_EN10MB)
    scope.feed(1.0, bytes(Ether() / ARP()), DLT_EN10MB)
    scope.feed(1.0, b"garbage", 4242)
    scope.feed(1.0, frame(IP(flags="MF", frag=100) / Raw(b"x" * 40)), DLT_EN10MB)
    scope.feed(1.0, frame(IP() / ICMP(type=3, code=3) / b"\x99"), DLT_EN10MB)
    scope.feed(1.0, memoryview(frame(IP() / TCP(flags="S"))), DLT_EN10MB)
    stats = scope.stats
    assert (stats.malformed, stats.unsupported, stats.fragments, stats.decoded) == (2, 2, 1, 1)
    assert stats_add_up(stats)
    assert set(stats.to_dict()) >= {"packets", "decoded", "malformed", "duplicates",
                                    "unsupported", "connectionsOpen", "udpFlowsOpen",
                                    "entries"}  # fmt: skip


def test_timers_run_on_packet_time() -> None:
    scope = pipeline(syn_timeout=2.0)
    entries = feed_all(scope, [Conversation().c("S")])
    entries += scope.feed(1003.0, dns_query(CLIENT, 1, 1, "x.example.com"), DLT_EN10MB)
    assert [entry.tcp.event for entry in entries if entry.tcp] == ["timeout"]
    assert scope.stats.entries == 1


def test_flush_reports_open_connections() -> None:
    scope = pipeline()
    feed_all(scope, Conversation().handshake())
    (entry,) = scope.flush(1001.0)
    assert entry.tcp is not None
    assert entry.tcp.event == "ongoing"
    assert scope.stats.entries == 2


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"mode": "fast"}, "mode"),
        ({"protocols": frozenset({"http"})}, "unknown protocols"),
        ({"syn_timeout": 0}, "syn_timeout"),
        ({"local_cidrs": ("10.0.0.0/33",)}, "local_cidrs"),
        ({"payload_bytes": 10**6}, "payload_bytes"),
    ],
)
def test_bad_config_is_a_clear_error(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PipelineConfig(**settings)  # type: ignore[arg-type]
