"""Kernel filters: what each mode passes and drops, scope combination, and clear errors."""

from __future__ import annotations

import pytest
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6EchoRequest,
    ICMPv6ND_NS,
    ICMPv6PacketTooBig,
    ICMPv6TimeExceeded,
    IPv6,
)
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

from capture.errors import BpfError
from capture.sources.bpf import build_filter, compile_filter, mode_filter
from capture.sources.frames import DLT_EN10MB, LINKTYPE_RAW

ALL = {"tcp", "udp", "dns", "icmp"}
V4 = IP(src="10.244.1.10", dst="10.244.1.11")
V6 = IPv6(src="fd00::10", dst="fd00::11")
ETHER = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")  # no ARP/ND lookups

PASSED_IN_CONNECTIONS = {
    "syn v4": V4 / TCP(flags="S"),
    "syn-ack v4": V4 / TCP(flags="SA"),
    "fin v4": V4 / TCP(flags="FA") / Raw(b"x" * 10),
    "rst v4": V4 / TCP(flags="R"),
    "syn v6": V6 / TCP(flags="S"),
    "fin v6": V6 / TCP(flags="FA"),
    "rst v6": V6 / TCP(flags="RA"),
    "dns query": V4 / UDP(sport=40000, dport=53) / DNS(qd=DNSQR(qname="a.example")),
    "dns answer": V4 / UDP(sport=53, dport=40000) / DNS(qr=1),
    "dns v6": V6 / UDP(sport=40000, dport=53) / DNS(qd=DNSQR(qname="a.example")),
    "icmp unreachable": V4 / ICMP(type=3, code=1) / IP(src="10.244.1.11") / TCP(flags="S"),
    "icmp time exceeded": V4 / ICMP(type=11) / IP() / UDP(),
    "icmp6 unreachable": V6 / ICMPv6DestUnreach() / IPv6() / TCP(),
    "icmp6 too big": V6 / ICMPv6PacketTooBig() / IPv6() / TCP(),
    "icmp6 time exceeded": V6 / ICMPv6TimeExceeded() / IPv6() / UDP(),
}
DROPPED_IN_CONNECTIONS = {
    "ack v4": V4 / TCP(flags="A"),
    "data v4": V4 / TCP(flags="PA") / Raw(b"x" * 100),
    "ack v6": V6 / TCP(flags="A"),
    "data v6": V6 / TCP(flags="PA") / Raw(b"y" * 100),
    "udp": V4 / UDP(sport=4000, dport=5000) / Raw(b"z"),
    "ping": V4 / ICMP(type=8),
    "icmp6 echo": V6 / ICMPv6EchoRequest(),
    "icmp6 neighbor solicitation": V6 / ICMPv6ND_NS(tgt="fd00::1"),
}


def frame(packet: Packet, linktype: int) -> bytes:
    return bytes(ETHER / packet) if linktype == DLT_EN10MB else bytes(packet)


@pytest.mark.parametrize("linktype", [DLT_EN10MB, LINKTYPE_RAW])
@pytest.mark.parametrize("name", sorted(PASSED_IN_CONNECTIONS))
def test_connections_mode_passes_control_packets(name: str, linktype: int) -> None:
    program = compile_filter(mode_filter("connections", ALL), linktype)
    assert program.matches(frame(PASSED_IN_CONNECTIONS[name], linktype))


@pytest.mark.parametrize("linktype", [DLT_EN10MB, LINKTYPE_RAW])
@pytest.mark.parametrize("name", sorted(DROPPED_IN_CONNECTIONS))
def test_connections_mode_drops_everything_else(name: str, linktype: int) -> None:
    program = compile_filter(mode_filter("connections", ALL), linktype)
    assert not program.matches(frame(DROPPED_IN_CONNECTIONS[name], linktype))


def test_full_mode_passes_every_packet_of_enabled_protocols() -> None:
    program = compile_filter(mode_filter("full", ALL), LINKTYPE_RAW)
    packets = list(PASSED_IN_CONNECTIONS.values()) + list(DROPPED_IN_CONNECTIONS.values())
    assert all(program.matches(bytes(packet)) for packet in packets)


@pytest.mark.parametrize(
    ("protocols", "packet", "expected"),
    [
        ({"tcp"}, V4 / UDP(dport=53), False),
        ({"tcp"}, V4 / TCP(flags="A"), True),
        ({"dns"}, V4 / UDP(dport=53), True),
        ({"dns"}, V4 / UDP(sport=40000, dport=5353), False),
        ({"udp"}, V4 / UDP(sport=40000, dport=5353), True),
        ({"icmp"}, V4 / ICMP(type=8), True),
        ({"icmp"}, V4 / TCP(), False),
    ],
)
def test_full_mode_follows_the_protocol_set(
    protocols: set[str], packet: Packet, expected: bool
) -> None:
    program = compile_filter(mode_filter("full", protocols), LINKTYPE_RAW)
    assert program.matches(bytes(packet)) is expected


def test_connections_mode_without_tcp_drops_syns() -> None:
    program = compile_filter(mode_filter("connections", {"dns", "icmp"}), LINKTYPE_RAW)
    assert not program.matches(bytes(V4 / TCP(flags="S")))
    assert program.matches(bytes(V4 / UDP(dport=53)))


def test_scope_and_user_expression_narrow_the_mode_filter() -> None:
    expression = build_filter("connections", ALL, scope="host 10.244.1.10", user="port 80")
    program = compile_filter(expression, LINKTYPE_RAW)
    assert program.matches(bytes(V4 / TCP(sport=40000, dport=80, flags="S")))
    assert not program.matches(bytes(V4 / TCP(sport=40000, dport=81, flags="S")))
    other = IP(src="10.244.1.12", dst="10.244.1.13") / TCP(dport=80, flags="S")
    assert not program.matches(bytes(other))
    assert not program.matches(bytes(V4 / TCP(dport=80, flags="A")))


def test_empty_scope_leaves_the_mode_filter_alone() -> None:
    assert build_filter("full", {"tcp"}, scope="  ") == mode_filter("full", {"tcp"})


def test_sock_filter_bytes_are_eight_bytes_per_instruction() -> None:
    program = compile_filter("tcp", DLT_EN10MB)
    assert len(program.sock_filter_bytes()) == 8 * len(program.instructions) > 0


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("host 999.1.1.1", "invalid"),
        ("tcp and (", "syntax error"),
        ("port 70000", "port"),
        ("foo bar", "foo"),
    ],
)
def test_bad_expressions_raise_bpf_error_with_libpcap_reason(expression: str, reason: str) -> None:
    with pytest.raises(BpfError, match="bad capture filter") as info:
        compile_filter(expression, DLT_EN10MB)
    assert reason in str(info.value)


def test_nul_in_expression_is_rejected() -> None:
    with pytest.raises(BpfError, match="NUL"):
        compile_filter("tcp\x00", DLT_EN10MB)


def test_bad_scope_is_reported_when_compiled() -> None:
    expression = build_filter("connections", ALL, scope="host nonsense..")
    with pytest.raises(BpfError):
        compile_filter(expression, LINKTYPE_RAW)


@pytest.mark.parametrize(
    ("mode", "protocols", "message"),
    [
        ("connections", {"udp"}, "would capture nothing"),
        ("connections", set(), "would capture nothing"),
        ("sideways", {"tcp"}, "unknown capture mode"),
        ("full", {"tcp", "http"}, "unknown protocol"),
    ],
)
def test_unusable_mode_and_protocols(mode: str, protocols: set[str], message: str) -> None:
    with pytest.raises(BpfError, match=message):
        mode_filter(mode, protocols)
