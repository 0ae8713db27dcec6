"""Header decoding: every link type, VLANs, IPv4 options and fragments, IPv6 extension headers."""

from __future__ import annotations

import socket
import struct

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_RR, fragment
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
)
from scapy.layers.l2 import ARP, CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether, Loopback
from scapy.packet import Raw

from capture.decode.packets import (
    ACK,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    SYN,
    TcpOptions,
    decode,
    decode_inner,
    flag_names,
    reverse_key,
    split_key,
)
from capture.errors import FragmentError, MalformedError, UnsupportedError
from capture.sources import frames
from tests.capture.packets import frame

V4_TCP = IP(src="10.0.1.5", dst="10.0.2.7") / TCP(sport=43122, dport=8080, flags="PA", seq=7, ack=9)


def v4(text: str) -> bytes:
    return socket.inet_aton(text)


def v6(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, text)


def test_ethernet_ipv4_tcp_fields() -> None:
    packet = decode(frame(V4_TCP / Raw(b"hello")), frames.DLT_EN10MB)
    assert packet.proto == IPPROTO_TCP
    assert (packet.src, packet.dst) == (v4("10.0.1.5"), v4("10.0.2.7"))
    assert (packet.sport, packet.dport, packet.seq, packet.ack) == (43122, 8080, 7, 9)
    assert packet.flags == 0x18
    assert packet.payload_len == 5
    assert packet.payload == b"hello"
    assert packet.options is None
    assert split_key(packet.key) == (v4("10.0.1.5"), v4("10.0.2.7"), 43122, 8080)
    assert split_key(reverse_key(packet.key)) == (v4("10.0.2.7"), v4("10.0.1.5"), 8080, 43122)


def test_syn_options_are_parsed() -> None:
    options = [
        ("MSS", 1460),
        ("SAckOK", b""),
        ("Timestamp", (11, 22)),
        ("NOP", None),
        ("WScale", 7),
    ]
    syn = IP(src="10.0.0.1", dst="10.0.0.2") / TCP(flags="S", options=options)
    packet = decode(frame(syn), frames.DLT_EN10MB)
    assert packet.options == TcpOptions(mss=1460, window_scale=7, sack_permitted=True,
                                        timestamp=(11, 22))  # fmt: skip
    assert packet.flags & SYN
    assert packet.payload_len == 0


def test_syn_with_an_overrunning_option_still_decodes() -> None:
    raw = bytearray(frame(IP() / TCP(flags="S", options=[("SAckOK", b""), ("MSS", 1460)])))
    raw[14 + 20 + 23] = 40  # the MSS option claims 40 bytes in a 24-byte header
    packet = decode(bytes(raw), frames.DLT_EN10MB)
    assert packet.options == TcpOptions(sack_permitted=True)  # the options before the bad one
    assert packet.flags == SYN


@pytest.mark.parametrize(
    ("raw", "linktype"),
    [
        (bytes(Ether() / Dot1Q(vlan=5) / V4_TCP), frames.DLT_EN10MB),
        (bytes(Ether() / Dot1AD(vlan=5) / Dot1Q(vlan=6) / V4_TCP), frames.DLT_EN10MB),
        (bytes(CookedLinux(proto=0x0800) / V4_TCP), frames.DLT_LINUX_SLL),
        (bytes(CookedLinuxV2(proto=0x0800, ifindex=3) / V4_TCP), frames.DLT_LINUX_SLL2),
        (bytes(V4_TCP), frames.LINKTYPE_RAW),
        (bytes(V4_TCP), frames.DLT_RAW),
        (bytes(V4_TCP), frames.DLT_RAW_OPENBSD),
        (bytes(Loopback(type=2) / V4_TCP), frames.DLT_NULL),
        (struct.pack("!I", 2) + bytes(V4_TCP), frames.DLT_LOOP),
    ],
    ids=["vlan", "qinq", "sll", "sll2", "raw101", "raw12", "raw14", "null", "loop"],
)
def test_every_link_type_reaches_the_same_tcp_segment(raw: bytes, linktype: int) -> None:
    packet = decode(raw, linktype)
    assert split_key(packet.key) == (v4("10.0.1.5"), v4("10.0.2.7"), 43122, 8080)
    assert (packet.seq, packet.ack) == (7, 9)


def test_ipv4_options_shift_the_transport_header() -> None:
    packet = decode(frame(IP(options=[IPOption_RR()]) / TCP(sport=1, dport=2) / Raw(b"xy")), 1)
    assert (packet.sport, packet.dport, packet.payload) == (1, 2, b"xy")


def test_ethernet_padding_is_not_payload() -> None:
    raw = frame(IP() / TCP(flags="A"))
    packet = decode(raw + b"\0" * (60 - len(raw)), frames.DLT_EN10MB)
    assert packet.payload_len == 0


def test_capture_cut_by_snaplen_keeps_the_wire_payload_length() -> None:
    raw = frame(V4_TCP / Raw(b"x" * 1000))
    packet = decode(raw[:96], frames.DLT_EN10MB)
    assert packet.payload_len == 1000
    assert len(packet.payload) == 96 - 54


def test_first_fragment_is_decoded_and_later_ones_are_not() -> None:
    datagram = IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5000, dport=53) / Raw(b"x" * 3000)
    first, *rest = fragment(datagram, fragsize=1000)  # type: ignore[no-untyped-call]
    packet = decode(frame(first), frames.DLT_EN10MB)
    assert (packet.proto, packet.sport, packet.dport) == (IPPROTO_UDP, 5000, 53)
    assert packet.payload_len == 1000 - 8
    for later in rest:
        with pytest.raises(FragmentError):
            decode(frame(later), frames.DLT_EN10MB)


def test_ipv6_extension_headers_are_walked() -> None:
    packet6 = (
        IPv6(src="fd00::1", dst="fd00::2")
        / IPv6ExtHdrHopByHop()
        / IPv6ExtHdrDestOpt()
        / TCP(sport=1234, dport=443, flags="S", seq=99)
    )
    packet = decode(frame(packet6), frames.DLT_EN10MB)
    assert split_key(packet.key) == (v6("fd00::1"), v6("fd00::2"), 1234, 443)
    assert packet.seq == 99


def test_ipv6_fragments() -> None:
    first = IPv6() / IPv6ExtHdrFragment(offset=0, m=1) / UDP(sport=1, dport=53) / Raw(b"x" * 100)
    later = IPv6() / IPv6ExtHdrFragment(offset=20, m=0) / Raw(b"x" * 100)
    assert decode(frame(first), frames.DLT_EN10MB).dport == 53
    with pytest.raises(FragmentError):
        decode(frame(later), frames.DLT_EN10MB)


def test_icmp_and_icmpv6() -> None:
    packet = decode(frame(IP() / ICMP(type=3, code=3) / IP() / UDP()), frames.DLT_EN10MB)
    assert packet.proto == IPPROTO_ICMP
    assert packet.data[packet.payload_start] == 3
    packet = decode(frame(IPv6() / ICMPv6DestUnreach(code=4) / IPv6() / UDP()), 1)
    assert packet.proto == IPPROTO_ICMPV6


def test_decode_inner_reads_the_quoted_five_tuple() -> None:
    quoted = bytes(IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=4000, dport=9999))[:28]
    inner = decode_inner(quoted, 0, len(quoted))
    assert (inner.proto, inner.sport, inner.dport) == (IPPROTO_UDP, 4000, 9999)
    assert (inner.src, inner.dst) == (v4("10.0.0.1"), v4("10.0.0.2"))
    with pytest.raises(MalformedError):
        decode_inner(quoted, 0, 10)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        bytes(Ether())[:10],
        bytes(Ether() / Dot1Q())[:16],
        frame(IP())[:30],
        frame(IP(ihl=4) / TCP()),
        frame(IP(len=10) / TCP()),
        frame(IP() / TCP(dataofs=3)),
        frame(IP() / TCP(dataofs=15)),
        frame(IP() / TCP())[:40],
        frame(IP() / UDP(len=4)),
        frame(IP() / UDP(len=400)),
        frame(IP() / ICMP())[:38],
        frame(IPv6() / TCP())[:50],
        frame(IPv6(nh=0) / Raw(b"\x06\x09"))[:60],
        bytes(Ether(type=0x0800) / Raw(b"\x75" + bytes(40))),
    ],
)
def test_malformed_frames_raise_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedError):
        decode(raw, frames.DLT_EN10MB)


@pytest.mark.parametrize(
    ("raw", "linktype"),
    [
        (bytes(Ether() / ARP()), frames.DLT_EN10MB),
        (frame(IP(proto=47) / Raw(b"x" * 20)), frames.DLT_EN10MB),
        (frame(IPv6(nh=59)), frames.DLT_EN10MB),
        (bytes(V4_TCP), 9999),
        (struct.pack("<I", 7) + bytes(V4_TCP), frames.DLT_NULL),
    ],
    ids=["arp", "gre", "ipv6-no-next", "linktype", "loopback-family"],
)
def test_unsupported_frames_raise_unsupported(raw: bytes, linktype: int) -> None:
    with pytest.raises(UnsupportedError):
        decode(raw, linktype)


def test_flag_names_in_header_order() -> None:
    assert flag_names(SYN | ACK) == ("SYN", "ACK")
    assert flag_names(0) == ()
