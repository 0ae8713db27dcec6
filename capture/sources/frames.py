"""A captured frame as every packet source yields it, and the pcap link types (DLT) we decode.

Both the live sniffer and the pcap reader yield :class:`Frame` values; the pipeline's ``feed``
takes the same four fields. ``linktype`` is the pcap LINKTYPE/DLT number of the frame's first
header. Standard library only.
"""

from __future__ import annotations

from typing import NamedTuple

DLT_NULL = 0
"""BSD loopback: a 4-byte address family in host byte order, then the IP packet."""
DLT_EN10MB = 1
"""Ethernet II (with optional 802.1Q / QinQ VLAN tags)."""
DLT_RAW = 12
"""Raw IPv4/IPv6, no link header (the value most BSD/Linux libpcaps write)."""
DLT_RAW_OPENBSD = 14
"""Raw IPv4/IPv6, no link header (OpenBSD's DLT number)."""
LINKTYPE_RAW = 101
"""Raw IPv4/IPv6, no link header (the portable pcap LINKTYPE value)."""
DLT_LOOP = 108
"""OpenBSD loopback: a 4-byte address family in network byte order, then the IP packet."""
DLT_LINUX_SLL = 113
"""Linux cooked capture v1 (16-byte header), what ``tcpdump -i any`` wrote before libpcap 1.10."""
DLT_LINUX_SLL2 = 276
"""Linux cooked capture v2 (20-byte header, carries the interface index)."""

RAW_IP_LINKTYPES = frozenset({DLT_RAW, DLT_RAW_OPENBSD, LINKTYPE_RAW})
"""Link types whose frames start directly with an IPv4 or IPv6 header."""


class Frame(NamedTuple):
    """One captured frame: when it was seen, its bytes, its link type and the interface."""

    timestamp: float
    """Seconds since the epoch (from the kernel or the pcap record)."""
    data: bytes
    """The captured bytes, starting at the link-layer header named by ``linktype``."""
    linktype: int
    """The pcap DLT / LINKTYPE number of ``data``'s first header."""
    interface: str = ""
    """The interface the frame was captured on, ``""`` if unknown."""
