"""Header decoding on the hot path: a raw frame to a :class:`Packet` with plain ``struct``.

Link layers: Ethernet (802.1Q / QinQ VLAN tags), Linux cooked capture v1 and v2, raw IP and the
BSD loopback headers. Network layers: IPv4 (options, fragments) and IPv6 (extension headers).
Transport: TCP (data offset, options on SYNs: read up to the first malformed one, which ends
them without spoiling the segment, as the options are not needed to track it), UDP, ICMP and
ICMPv6. A VXLAN datagram (UDP port 4789, the overlay between nodes) is decoded as the packet it
carries: the same packet is seen again, unwrapped, on the node's VXLAN device, and counted once
as a copy of it. No scapy objects are built here: scapy costs tens of microseconds per packet,
this module about one.

Exception hierarchy (``decode`` raises nothing else for any input)::

    ValueError
     └── DecodeError           the frame cannot be turned into a Packet
          ├── MalformedError    truncated or inconsistent headers (IHL, data offset, lengths)
          ├── UnsupportedError  a link type, ethertype or IP protocol we do not track
          └── FragmentError     a non-first IP fragment: its transport header is elsewhere

A first fragment is decoded when its transport header is complete; its payload length is that of
the fragment alone.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from capture.errors import FragmentError, MalformedError, UnsupportedError
from capture.sources.frames import (
    DLT_EN10MB,
    DLT_LINUX_SLL,
    DLT_LINUX_SLL2,
    DLT_LOOP,
    DLT_NULL,
    RAW_IP_LINKTYPES,
)

IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58

FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10
URG = 0x20
ECE = 0x40
CWR = 0x80
TCP_FLAG_NAMES = ((FIN, "FIN"), (SYN, "SYN"), (RST, "RST"), (PSH, "PSH"), (ACK, "ACK"),
                  (URG, "URG"), (ECE, "ECE"), (CWR, "CWR"))  # fmt: skip
"""Each TCP flag bit and its conventional name, in header bit order."""

ETH_IPV4 = 0x0800
"""The ethertype of IPv4."""
_ETH_IPV6 = 0x86DD
_ETH_VLAN_TAGS = frozenset({0x8100, 0x88A8, 0x9100})
_BSD_AF_INET = frozenset({2})
_BSD_AF_INET6 = frozenset({10, 24, 28, 30})  # Linux, NetBSD/OpenBSD, FreeBSD, Darwin
_IPV6_SKIPPABLE = frozenset({0, 43, 60})  # hop-by-hop, routing, destination options
_IPV6_FRAGMENT = 44
_IPV6_AUTH = 51
_IPV6_EXTENSIONS = _IPV6_SKIPPABLE | {_IPV6_FRAGMENT, _IPV6_AUTH}
_TRANSPORTS = frozenset({IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6})
VXLAN_PORT = 4789
"""The IANA VXLAN port: UDP datagrams to it are unwrapped (flannel, Calico VXLAN mode)."""
_VXLAN_VNI_VALID = 0x08

_TCP_HEADER = struct.Struct("!HHIIBB")
_UDP_HEADER = struct.Struct("!HHH")
_U16 = struct.Struct("!H")
_PORTS = struct.Struct("!HH")
ETH_IPV4_TCP = struct.Struct("!HBxH2xHxB10xHHIIBB")
"""The common case, an untagged Ethernet frame carrying unfragmented TCP in IPv4 without options,
read in one go from byte 12 (the ethertype) to 48: ethertype, version/IHL, total length,
fragment field, protocol, source port, destination port, sequence number, acknowledgement
number, data offset byte, flags. The frame is of that case (and :func:`tcp_packet` applies) when
it has at least 54 bytes, the ethertype is 0x0800, version/IHL 0x45, the protocol 6, the
fragment offset and MF bit 0, and the payload starts (34 + 4 * data offset) between bytes 54
and the captured end of the IP packet. :func:`decode` and the pipeline's fast path check this."""
_U32_LE = struct.Struct("<I")
# MSS, SACK permitted, timestamps, NOP, window scale: kind/length, value, ... of each.
_LINUX_SYN_OPTIONS = struct.Struct("!HHHHIIHBB")
_U32_BE = struct.Struct("!I")


class TcpOptions(NamedTuple):
    """The TCP options of a SYN or SYN-ACK (``None`` / ``False`` when absent)."""

    mss: int | None = None
    window_scale: int | None = None
    sack_permitted: bool = False
    timestamp: tuple[int, int] | None = None


class Packet(NamedTuple):
    """A decoded IP packet: what the trackers need, addresses kept as raw bytes.

    ``key`` is the direction's flow key: source address, destination address, source port,
    destination port, as raw bytes (12 for IPv4, 36 for IPv6); the reverse direction's key swaps
    the halves (:func:`reverse_key`). ``payload_len`` is the transport payload length on the wire
    (from the IP/UDP lengths), which may exceed what was captured: the captured payload is
    ``data[payload_start:captured_end]``. For ICMP, ``payload_start`` is the ICMP header itself.
    """

    proto: int
    key: bytes
    sport: int
    dport: int
    flags: int
    seq: int
    ack: int
    data: bytes
    payload_start: int
    payload_len: int
    captured_end: int
    options: TcpOptions | None
    l3_start: int

    @property
    def src(self) -> bytes:
        """Source address, 4 or 16 raw bytes."""
        return self.key[: (len(self.key) - 4) // 2]

    @property
    def dst(self) -> bytes:
        """Destination address, 4 or 16 raw bytes."""
        half = (len(self.key) - 4) // 2
        return self.key[half : 2 * half]

    @property
    def payload(self) -> bytes:
        """The captured part of the transport payload."""
        return self.data[self.payload_start : self.captured_end]


_new_packet = tuple.__new__  # builds a Packet without NamedTuple.__new__'s Python frame


class InnerTuple(NamedTuple):
    """The 5-tuple of the packet quoted inside an ICMP error (ports 0 when not TCP/UDP).

    ``seq`` is the quoted TCP segment's sequence number (the ISN when it quotes a SYN), None when
    the quote is not TCP or too short to hold it.
    """

    proto: int
    src: bytes
    dst: bytes
    sport: int
    dport: int
    seq: int | None = None

    @property
    def key(self) -> bytes:
        """The quoted packet's flow key (see :class:`Packet`)."""
        return self.src + self.dst + self.sport.to_bytes(2) + self.dport.to_bytes(2)


def reverse_key(key: bytes) -> bytes:
    """The flow key of the opposite direction."""
    half = (len(key) - 4) // 2
    return key[half : 2 * half] + key[:half] + key[-2:] + key[-4:-2]


def split_key(key: bytes) -> tuple[bytes, bytes, int, int]:
    """Source address, destination address, source port, destination port of a flow key."""
    half = (len(key) - 4) // 2
    sport, dport = _PORTS.unpack_from(key, 2 * half)
    return key[:half], key[half : 2 * half], sport, dport


def sll2_ifindex(data: bytes) -> int:
    """The interface index in a Linux cooked v2 header (0 if the frame is too short)."""
    return _U32_BE.unpack_from(data, 4)[0] if len(data) >= 8 else 0


CommonTcpHeader = tuple[int, int, int, int, int, int, int, int]
"""(sport, dport, seq, ack, flags, payload start, IP end, captured end) of a common frame."""


def common_tcp_header(data: bytes) -> CommonTcpHeader | None:
    """The TCP fields of an Ethernet frame in the common case, read in one unpack.

    The common case is untagged Ethernet, IPv4 without options, unfragmented TCP with a sane data
    offset; any other frame gives None and goes through the general decoder.
    """
    if len(data) < 54:
        return None
    (ethertype, version_ihl, total, fragment, proto, sport, dport, seq, ack, offset_byte,
     flags) = ETH_IPV4_TCP.unpack_from(data, 12)  # fmt: skip
    end = 14 + total
    payload_start = 34 + (offset_byte >> 4) * 4
    captured_end = min(end, len(data))
    if (
        ethertype == ETH_IPV4
        and version_ihl == 0x45
        and proto == IPPROTO_TCP
        and not fragment & 0x3FFF
        and 54 <= payload_start <= captured_end
    ):
        return sport, dport, seq, ack, flags, payload_start, end, captured_end
    return None


def decode(data: bytes, linktype: int) -> Packet:
    """Decode one frame of pcap link type ``linktype``; raise a DecodeError if it is not usable."""
    if linktype == DLT_EN10MB:
        header = common_tcp_header(data)
        if header is not None:
            return tcp_packet(data, *header)
    return decode_general(data, linktype)


def tcp_packet(  # noqa: PLR0917 (per packet: positional arguments are the cheapest)
    data: bytes,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    payload_start: int,
    end: int,
    captured_end: int,
) -> Packet:
    """The Packet of a frame of the common case (ETH_IPV4_TCP's checks passed), from its fields.

    ``end`` is where the IP packet ends (14 + its total length), ``captured_end`` where the
    captured bytes of it end.
    """
    options = tcp_options(data, 54, payload_start) if flags & SYN else None
    return _new_packet(Packet, (IPPROTO_TCP, data[26:38], sport, dport, flags, seq, ack, data,
                       payload_start, end - payload_start, captured_end, options, 14))  # fmt: skip


def decode_general(data: bytes, linktype: int) -> Packet:
    """Decode any frame layer by layer (no fast path); raise a DecodeError if it is not usable."""
    size = len(data)
    if linktype == DLT_EN10MB:
        if size < 14:
            raise MalformedError("ethernet header truncated")
        ethertype = (data[12] << 8) | data[13]
        offset = 14
    elif linktype == DLT_LINUX_SLL:
        if size < 16:
            raise MalformedError("linux cooked header truncated")
        ethertype = (data[14] << 8) | data[15]
        offset = 16
    elif linktype == DLT_LINUX_SLL2:
        if size < 20:
            raise MalformedError("linux cooked v2 header truncated")
        ethertype = (data[0] << 8) | data[1]
        offset = 20
    elif linktype in RAW_IP_LINKTYPES:
        return _decode_ip(data, 0)
    elif linktype in (DLT_NULL, DLT_LOOP):
        return _decode_ip(data, _loopback_offset(data, linktype))
    else:
        raise UnsupportedError(f"link type {linktype}")
    while ethertype in _ETH_VLAN_TAGS:
        if size < offset + 4:
            raise MalformedError("VLAN tag truncated")
        ethertype = (data[offset + 2] << 8) | data[offset + 3]
        offset += 4
    if ethertype == ETH_IPV4:
        return _decode_ipv4(data, offset)
    if ethertype == _ETH_IPV6:
        return _decode_ipv6(data, offset)
    raise UnsupportedError(f"ethertype 0x{ethertype:04x}")


def _loopback_offset(data: bytes, linktype: int) -> int:
    if len(data) < 4:
        raise MalformedError("loopback header truncated")
    if linktype == DLT_LOOP:
        families = {_U32_BE.unpack_from(data)[0]}
    else:  # host byte order of the machine that wrote the file: accept either
        families = {_U32_LE.unpack_from(data)[0], _U32_BE.unpack_from(data)[0]}
    if families & (_BSD_AF_INET | _BSD_AF_INET6):
        return 4
    raise UnsupportedError(f"loopback address family {min(families)}")


def _decode_ip(data: bytes, offset: int) -> Packet:
    if len(data) <= offset:
        raise MalformedError("empty IP packet")
    version = data[offset] >> 4
    if version == 4:
        return _decode_ipv4(data, offset)
    if version == 6:
        return _decode_ipv6(data, offset)
    raise MalformedError(f"IP version {version}")


def _decode_ipv4(data: bytes, start: int, *, outer: bool = True) -> Packet:
    size = len(data)
    if size < start + 20:
        raise MalformedError("IPv4 header truncated")
    first = data[start]
    header_len = (first & 0x0F) * 4
    if first >> 4 != 4 or header_len < 20:
        raise MalformedError("bad IPv4 version or header length")
    total = (data[start + 2] << 8) | data[start + 3]
    if total < header_len:
        raise MalformedError("IPv4 total length shorter than its header")
    if size < start + header_len:
        raise MalformedError("IPv4 options truncated")
    if ((data[start + 6] & 0x1F) << 8) | data[start + 7]:
        raise FragmentError("IPv4 fragment")
    first_fragment = bool(data[start + 6] & 0x20)
    return _decode_transport(
        data,
        start,
        data[start + 9],
        start + header_len,
        start + total,
        first_fragment=first_fragment,
        outer=outer,
    )


def _decode_ipv6(data: bytes, start: int, *, outer: bool = True) -> Packet:
    size = len(data)
    if size < start + 40:
        raise MalformedError("IPv6 header truncated")
    if data[start] >> 4 != 6:
        raise MalformedError("bad IPv6 version")
    end = start + 40 + ((data[start + 4] << 8) | data[start + 5])
    next_header = data[start + 6]
    l4 = start + 40
    first_fragment = False
    while next_header not in _TRANSPORTS:
        if next_header not in _IPV6_EXTENSIONS:
            raise UnsupportedError(f"IPv6 next header {next_header}")
        if size < l4 + 8 or l4 + 8 > end:
            raise MalformedError("IPv6 extension header truncated")
        if next_header in _IPV6_SKIPPABLE:
            length = (data[l4 + 1] + 1) * 8
        elif next_header == _IPV6_FRAGMENT:
            if ((data[l4 + 2] << 8) | data[l4 + 3]) >> 3:
                raise FragmentError("IPv6 fragment")
            first_fragment = bool(data[l4 + 3] & 1)
            length = 8
        else:  # authentication header
            length = (data[l4 + 1] + 2) * 4
        next_header = data[l4]
        l4 += length
    return _decode_transport(
        data, start, next_header, l4, end, first_fragment=first_fragment, outer=outer
    )


def _decode_transport(
    data: bytes, l3: int, proto: int, l4: int, end: int, *, first_fragment: bool, outer: bool
) -> Packet:
    captured_end = min(end, len(data))
    addresses = data[l3 + 12 : l3 + 20] if data[l3] >> 4 == 4 else data[l3 + 8 : l3 + 40]
    if proto == IPPROTO_TCP:
        if captured_end < l4 + 20:
            raise MalformedError("TCP header truncated")
        sport, dport, seq, ack, offset_byte, flags = _TCP_HEADER.unpack_from(data, l4)
        payload_start = l4 + (offset_byte >> 4) * 4
        if payload_start < l4 + 20 or payload_start > captured_end:
            raise MalformedError("bad TCP data offset")
        options = tcp_options(data, l4 + 20, payload_start) if flags & SYN else None
        key = addresses + data[l4 : l4 + 4]
        return Packet(proto, key, sport, dport, flags, seq, ack, data, payload_start,
                      end - payload_start, captured_end, options, l3)  # fmt: skip
    if proto == IPPROTO_UDP:
        if captured_end < l4 + 8:
            raise MalformedError("UDP header truncated")
        sport, dport, length = _UDP_HEADER.unpack_from(data, l4)
        if first_fragment:  # the UDP length covers the whole datagram, not this fragment
            length = end - l4
        if length < 8 or l4 + length > end:
            raise MalformedError("bad UDP length")
        if dport == VXLAN_PORT and outer and not first_fragment:
            return _decapsulate(data[l4 + 8 : min(captured_end, l4 + length)])
        key = addresses + data[l4 : l4 + 4]
        return Packet(proto, key, sport, dport, 0, 0, 0, data, l4 + 8, length - 8,
                      min(captured_end, l4 + length), None, l3)  # fmt: skip
    if proto in (IPPROTO_ICMP, IPPROTO_ICMPV6):
        if captured_end < l4 + 8:
            raise MalformedError("ICMP header truncated")
        key = addresses + b"\0\0\0\0"
        return Packet(proto, key, 0, 0, 0, 0, 0, data, l4, end - l4, captured_end, None, l3)
    raise UnsupportedError(f"IP protocol {proto}")


def _decapsulate(vxlan: bytes) -> Packet:
    """The packet inside a VXLAN datagram's payload (8-byte VXLAN header, then Ethernet)."""
    if len(vxlan) < 8 + 14 or not vxlan[0] & _VXLAN_VNI_VALID:
        raise MalformedError("VXLAN header truncated or without a VNI")
    inner = vxlan[8:]
    ethertype = (inner[12] << 8) | inner[13]
    if ethertype == ETH_IPV4:
        return _decode_ipv4(inner, 14, outer=False)
    if ethertype == _ETH_IPV6:
        return _decode_ipv6(inner, 14, outer=False)
    raise UnsupportedError(f"VXLAN carrying ethertype 0x{ethertype:04x}")


def tcp_options(data: bytes, start: int, end: int) -> TcpOptions:
    """Parse the TCP options in ``data[start:end]``, up to the first malformed one (a bad length
    or one that overruns the header): the ones before it are kept, the rest ignored."""
    if end - start == 20:  # the options of most SYNs (Linux's), read in one go
        mss_head, mss, sack, stamps, tsval, tsecr, nop_scale, scale_len, scale = (
            _LINUX_SYN_OPTIONS.unpack_from(data, start)
        )
        if (mss_head, sack, stamps, nop_scale, scale_len) == (0x0204, 0x0402, 0x080A, 0x0103, 3):
            return TcpOptions(mss, scale, True, (tsval, tsecr))
    mss = window_scale = None
    sack_permitted = False
    timestamp = None
    position = start
    while position < end:
        kind = data[position]
        if kind == 0:  # end of option list
            break
        if kind == 1:  # no-operation
            position += 1
            continue
        if position + 2 > end or data[position + 1] < 2 or position + data[position + 1] > end:
            break
        length = data[position + 1]
        if kind == 2 and length == 4:
            mss = _U16.unpack_from(data, position + 2)[0]
        elif kind == 3 and length == 3:
            window_scale = data[position + 2]
        elif kind == 4 and length == 2:
            sack_permitted = True
        elif kind == 8 and length == 10:
            timestamp = struct.unpack_from("!II", data, position + 2)
        position += length
    return TcpOptions(mss, window_scale, sack_permitted, timestamp)


def decode_inner(data: bytes, start: int, end: int) -> InnerTuple:
    """Decode the IP header + first 8 transport bytes quoted by an ICMP error in data[start:end].

    Raise MalformedError if the quoted IP header is incomplete. Ports are 0 when the quoted
    transport header is missing or is not TCP/UDP.
    """
    end = min(end, len(data))
    if end < start + 1:
        raise MalformedError("ICMP error quotes no packet")
    version = data[start] >> 4
    if version == 4:
        header_len = (data[start] & 0x0F) * 4
        if header_len < 20 or end < start + header_len:
            raise MalformedError("quoted IPv4 header truncated")
        proto = data[start + 9]
        src, dst = data[start + 12 : start + 16], data[start + 16 : start + 20]
        l4 = start + header_len
    elif version == 6:
        if end < start + 40:
            raise MalformedError("quoted IPv6 header truncated")
        proto = data[start + 6]
        src, dst = data[start + 8 : start + 24], data[start + 24 : start + 40]
        l4 = start + 40
        while proto in _IPV6_SKIPPABLE and end >= l4 + 8:
            proto, l4 = data[l4], l4 + (data[l4 + 1] + 1) * 8
    else:
        raise MalformedError(f"quoted IP version {version}")
    sport = dport = 0
    seq = None
    if proto in (IPPROTO_TCP, IPPROTO_UDP) and end >= l4 + 4:
        sport, dport = _PORTS.unpack_from(data, l4)
        if proto == IPPROTO_TCP and end >= l4 + 8:
            seq = _U32_BE.unpack_from(data, l4 + 4)[0]
    return InnerTuple(proto, src, dst, sport, dport, seq)


def flag_names(flags: int) -> tuple[str, ...]:
    """The names of the TCP flag bits set in ``flags`` (``("SYN", "ACK")``)."""
    return tuple(name for bit, name in TCP_FLAG_NAMES if flags & bit)
