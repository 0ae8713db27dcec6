"""ICMP and ICMPv6 errors: type, code, message and the quoted 5-tuple."""

from __future__ import annotations

import socket

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6DestUnreach, ICMPv6EchoRequest, ICMPv6PacketTooBig, IPv6
from scapy.packet import Packet as ScapyPacket

from capture.decode.icmp import is_error, parse_error
from capture.decode.packets import IPPROTO_TCP, IPPROTO_UDP
from capture.errors import MalformedError
from tests.capture.packets import decoded, frame

QUOTED_UDP = IP(src="10.0.1.5", dst="10.0.2.7") / UDP(sport=4000, dport=9999)
QUOTED_TCP = IP(src="10.0.1.5", dst="10.0.2.7") / TCP(sport=43122, dport=8080, flags="S")


@pytest.mark.parametrize(
    ("error", "message", "ends"),
    [
        (ICMP(type=3, code=3) / QUOTED_UDP, "port unreachable", True),
        (ICMP(type=3, code=1) / QUOTED_TCP, "host unreachable", True),
        (ICMP(type=3, code=4) / QUOTED_TCP, "packet too big (fragmentation needed)", False),
        (ICMP(type=11, code=0) / QUOTED_TCP, "TTL exceeded in transit", True),
        (ICMP(type=3, code=15) / QUOTED_TCP, "destination unreachable (code 15)", True),
    ],
)
def test_ipv4_errors(error: ScapyPacket, message: str, ends: bool) -> None:
    packet = decoded(frame(IP(src="10.0.2.7", dst="10.0.1.5") / error))
    assert is_error(packet)
    event = parse_error(5.0, packet)
    assert event is not None
    assert event.message == message
    assert event.ends_attempt is ends
    assert event.sender == socket.inet_aton("10.0.2.7")
    assert event.receiver == socket.inet_aton("10.0.1.5")
    assert event.about.src == socket.inet_aton("10.0.1.5")
    assert event.about.dport in (9999, 8080)
    assert event.about.proto in (IPPROTO_UDP, IPPROTO_TCP)


def test_ipv6_errors() -> None:
    quoted = IPv6(src="fd00::1", dst="fd00::2") / UDP(sport=5, dport=6)
    unreachable = decoded(
        frame(IPv6(src="fd00::2", dst="fd00::1") / ICMPv6DestUnreach(code=4) / quoted)
    )
    event = parse_error(1.0, unreachable)
    assert event is not None
    assert (event.type, event.code, event.message) == (1, 4, "port unreachable")
    assert (event.about.sport, event.about.dport) == (5, 6)
    too_big = decoded(
        frame(IPv6(src="fd00::9", dst="fd00::1") / ICMPv6PacketTooBig(mtu=1280) / quoted)
    )
    event = parse_error(1.0, too_big)
    assert event is not None
    assert (event.message, event.ends_attempt) == ("packet too big", False)


def test_echo_is_not_an_error() -> None:
    assert parse_error(1.0, decoded(frame(IP() / ICMP(type=8)))) is None
    assert not is_error(decoded(frame(IPv6() / ICMPv6EchoRequest())))


def test_error_quoting_garbage_is_malformed() -> None:
    packet = decoded(frame(IP() / ICMP(type=3, code=3) / b"\x99\x00"))
    with pytest.raises(MalformedError):
        parse_error(1.0, packet)
