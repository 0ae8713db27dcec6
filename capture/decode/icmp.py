"""ICMP and ICMPv6 errors (destination unreachable, time exceeded, packet too big) as events.

An error quotes the start of the packet it is about; :func:`parse_error` reads that quoted
packet's 5-tuple so the entry can say which flow failed and why.
"""

from __future__ import annotations

from dataclasses import dataclass

from capture.decode.packets import IPPROTO_ICMP, InnerTuple, Packet, decode_inner

_V4_UNREACHABLE = 3
_V4_TIME_EXCEEDED = 11
_V4_FRAGMENTATION_NEEDED = 4  # the IPv4 "packet too big": a code of destination unreachable
_V6_UNREACHABLE = 1
_V6_TOO_BIG = 2
_V6_TIME_EXCEEDED = 3

_MESSAGES_V4 = {
    _V4_UNREACHABLE: {0: "network unreachable", 1: "host unreachable",
                      2: "protocol unreachable", 3: "port unreachable",
                      4: "packet too big (fragmentation needed)", 5: "source route failed",
                      6: "destination network unknown", 7: "destination host unknown",
                      9: "network administratively prohibited",
                      10: "host administratively prohibited",
                      13: "communication administratively prohibited"},
    _V4_TIME_EXCEEDED: {0: "TTL exceeded in transit", 1: "fragment reassembly time exceeded"},
}  # fmt: skip
_MESSAGES_V6 = {
    _V6_UNREACHABLE: {0: "no route to destination",
                      1: "communication administratively prohibited",
                      2: "beyond scope of source address", 3: "address unreachable",
                      4: "port unreachable", 5: "source address failed policy",
                      6: "reject route to destination"},
    _V6_TOO_BIG: {0: "packet too big"},
    _V6_TIME_EXCEEDED: {0: "hop limit exceeded in transit",
                        1: "fragment reassembly time exceeded"},
}  # fmt: skip
_GENERIC_V4 = {_V4_UNREACHABLE: "destination unreachable", _V4_TIME_EXCEEDED: "time exceeded"}
_GENERIC_V6 = {
    _V6_UNREACHABLE: "destination unreachable",
    _V6_TOO_BIG: "packet too big",
    _V6_TIME_EXCEEDED: "time exceeded",
}
_ENDS_ATTEMPT_V4 = frozenset({_V4_UNREACHABLE, _V4_TIME_EXCEEDED})
_ENDS_ATTEMPT_V6 = frozenset({_V6_UNREACHABLE, _V6_TIME_EXCEEDED})


@dataclass(frozen=True, slots=True)
class IcmpEvent:
    """An ICMP error: who sent it, to whom, what it says and the flow it is about."""

    sender: bytes
    receiver: bytes
    ts: float
    type: int
    code: int
    message: str
    about: InnerTuple
    ends_attempt: bool
    """Whether the quoted packet cannot arrive (unreachable, time exceeded; not too big)."""
    refuses: bool = False
    """Whether the error is a port unreachable: what a REJECT sends, a refusal to the client."""


def is_error(packet: Packet) -> bool:
    """Whether an ICMP/ICMPv6 packet is one of the errors podscope reports."""
    kind = packet.data[packet.payload_start]
    table = _GENERIC_V4 if packet.proto == IPPROTO_ICMP else _GENERIC_V6
    return kind in table


def parse_error(ts: float, packet: Packet) -> IcmpEvent | None:
    """The IcmpEvent of an ICMP error packet, ``None`` for other ICMP messages.

    Raise :class:`capture.decode.packets.MalformedError` if the quoted packet is unreadable.
    """
    start = packet.payload_start
    kind, code = packet.data[start], packet.data[start + 1]
    v4 = packet.proto == IPPROTO_ICMP
    generic = (_GENERIC_V4 if v4 else _GENERIC_V6).get(kind)
    if generic is None:
        return None
    about = decode_inner(packet.data, start + 8, packet.captured_end)
    message = (_MESSAGES_V4 if v4 else _MESSAGES_V6)[kind].get(code, f"{generic} (code {code})")
    return IcmpEvent(
        sender=packet.src,
        receiver=packet.dst,
        ts=ts,
        type=kind,
        code=code,
        message=message,
        about=about,
        ends_attempt=kind in (_ENDS_ATTEMPT_V4 if v4 else _ENDS_ATTEMPT_V6)
        and not (v4 and code == _V4_FRAGMENTATION_NEEDED),
        refuses=(kind, code) == ((_V4_UNREACHABLE, 3) if v4 else (_V6_UNREACHABLE, 4)),
    )
