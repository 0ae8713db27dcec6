"""The network namespace's interfaces from rtnetlink: names, bridges and bridge ports.

:class:`LinkTable` asks the kernel for every link (an ``RTM_GETLINK`` dump on a netlink socket
opened in the capture's namespace, so later refreshes see that namespace whatever thread asks)
and keeps, per interface index, its name, whether it is a Linux bridge and whether it is a port
of one. The sniffer uses it to name frames and to skip the copies a bridge makes of a frame it
already captured (see :mod:`capture.sources.live`).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from capture.errors import LinkError

NETLINK_ROUTE = 0
RTM_NEWLINK = 16
RTM_GETLINK = 18
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
IFLA_IFNAME = 3
IFLA_MASTER = 10
IFLA_LINKINFO = 18
IFLA_INFO_KIND = 1

_NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_RTATTR = struct.Struct("=HH")  # length, type


@dataclass(frozen=True, slots=True)
class Link:
    """One interface: its name, its master's index (0 if none) and its kind (``bridge``...)."""

    index: int
    name: str
    master: int = 0
    kind: str = ""


class LinkTable:
    """Interfaces of one network namespace, refreshed on demand."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self._sequence = 0
        self.links: dict[int, Link] = {}
        self.bridges: frozenset[int] = frozenset()
        self.bridge_ports: frozenset[int] = frozenset()
        self.refresh()

    def refresh(self) -> None:
        """Dump the links again (new pods' veths, re-parented ports)."""
        links = {link.index: link for link in self._dump()}
        bridges = frozenset(index for index, link in links.items() if link.kind == "bridge")
        self.links = links
        self.bridges = bridges
        self.bridge_ports = frozenset(i for i, link in links.items() if link.master in bridges)

    def name(self, index: int) -> str:
        """The interface's name, ``""`` if unknown."""
        link = self.links.get(index)
        return link.name if link is not None else ""

    def close(self) -> None:
        """Close the netlink socket."""
        self._sock.close()

    def _dump(self) -> list[Link]:
        self._sequence += 1
        header = _NLMSGHDR.pack(
            _NLMSGHDR.size + _IFINFOMSG.size,
            RTM_GETLINK,
            NLM_F_REQUEST | NLM_F_DUMP,
            self._sequence,
            0,
        )
        self._sock.send(header + _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0))
        links: list[Link] = []
        while True:
            data = self._sock.recv(1 << 16)
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, kind, _flags, sequence, _port = _NLMSGHDR.unpack_from(data, offset)
                if length < _NLMSGHDR.size:
                    raise LinkError("netlink: message shorter than its header")
                if sequence == self._sequence:
                    if kind == NLMSG_DONE:
                        return links
                    if kind == NLMSG_ERROR:
                        raise LinkError("netlink: link dump refused")
                    if kind == RTM_NEWLINK:
                        links.append(_link(data, offset + _NLMSGHDR.size, offset + length))
                offset += (length + 3) & ~3


def _link(data: bytes, start: int, end: int) -> Link:
    _family, _type, index, _flags, _change = _IFINFOMSG.unpack_from(data, start)
    attributes = _attributes(data, start + _IFINFOMSG.size, end)
    name = attributes.get(IFLA_IFNAME, b"").split(b"\0", 1)[0].decode("utf-8", "replace")
    master_raw = attributes.get(IFLA_MASTER, b"")
    master = struct.unpack_from("=I", master_raw)[0] if len(master_raw) >= 4 else 0
    info = attributes.get(IFLA_LINKINFO)
    kind_raw = _attributes(info, 0, len(info)).get(IFLA_INFO_KIND, b"") if info else b""
    kind = kind_raw.split(b"\0", 1)[0].decode("ascii", "replace")
    return Link(index, name, master, kind)


def _attributes(data: bytes, start: int, end: int) -> dict[int, bytes]:
    attributes: dict[int, bytes] = {}
    offset = start
    while offset + _RTATTR.size <= end:
        length, kind = _RTATTR.unpack_from(data, offset)
        if length < _RTATTR.size:
            break
        attributes[kind & 0x3FFF] = data[offset + _RTATTR.size : offset + length]
        offset += (length + 3) & ~3
    return attributes
