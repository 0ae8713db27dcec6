"""Live capture from AF_PACKET sockets: the only module that touches network interfaces.

``any`` opens one cooked (``SOCK_DGRAM``) socket that sees every interface of the network
namespace, including interfaces created later (new pods' veths); its frames start at the IP
header (link type 101, raw IP). A list of interfaces opens one ``SOCK_RAW`` socket per
interface, whose frames keep their link-layer header; the interface's ARP hardware type decides
the pcap link type (ethernet and loopback -> 1, ``ARPHRD_NONE`` tun devices -> 101). A named
interface is put in promiscuous mode for as long as its socket is open (a packet membership,
undone by the kernel when the socket closes), so a capture on a bridge sees the pod-to-pod
frames it forwards, as tcpdump does.

Each socket carries a kernel BPF filter (:mod:`capture.sources.bpf`), attached before any packet is
queued and replaceable while running (:meth:`Sniffer.set_filter` re-attaches to the same
sockets, so nothing the pipeline tracks is lost) and a large memory-mapped receive ring
(:mod:`capture.sources.rxring`, TPACKET_V3: frames and kernel timestamps are read in blocks, with no
system call per frame). An interface going down is counted; its removal raises InterfaceError.
Loopback frames the kernel reports as ``PACKET_OUTGOING`` are skipped, because the same frame is
delivered again as incoming on ``lo``.

On ``any``, the copies a Linux bridge makes of a frame already captured are skipped too (unless
``skip_bridge_copies=False``): a frame leaving through a bridge port was captured where it
entered the bridge (another port, or the bridge device itself when the host sent or routed it),
and a frame the bridge device receives was captured on the port it came in through. So a frame
between two pods on the node's bridge is read once instead of twice; the bridges and their ports
come from rtnetlink (:mod:`capture.sources.links`), re-read every 10 s and when an unknown
interface shows up. Not when the namespace's bridges call iptables (``br_netfilter``, read when
opening): kube-proxy's DNAT then rewrites a frame inside the bridge, and the copy that leaves
through a port is the only one that shows the backend (or, on the way back, the Service
address). Routed copies (the same packet in on one interface, out on another) are left to the
pipeline's dedupe. With a list of interfaces nothing is skipped: the other copy may not be
captured. Kernel drop counters come from ``PACKET_STATISTICS`` (the kernel resets them on every
read; this module accumulates them).

No scapy object is built per packet: frames are plain bytes in
:class:`~capture.sources.frames.Frame`.

Exception hierarchy (classes in :mod:`capture.errors`)::

    CaptureError
     └── SnifferError            cannot capture; the message says why, in one line
          ├── InterfaceError     no such interface, or a link type we cannot decode
          └── CapturePermissionError   not root and no CAP_NET_RAW
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import select
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import TracebackType

from capture.errors import BpfError, CapturePermissionError, InterfaceError, SnifferError
from capture.sources.bpf import compile_filter
from capture.sources.frames import DLT_EN10MB, LINKTYPE_RAW, Frame
from capture.sources.links import LinkTable
from capture.sources.rxring import RxRing
from contract.stats import counters

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_OUTGOING = 4
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
SO_ATTACH_FILTER = 26
SIOCGIFHWADDR = 0x8927
ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772
ARPHRD_NONE = 0xFFFE
HATYPE_TO_LINKTYPE = {
    ARPHRD_ETHER: DLT_EN10MB,
    ARPHRD_LOOPBACK: DLT_EN10MB,
    ARPHRD_NONE: LINKTYPE_RAW,
}
"""AF_PACKET hardware type -> pcap link type of a SOCK_RAW frame."""

DEFAULT_BUFFER_BYTES = 64 * 1024 * 1024
LINK_REFRESH_SECONDS = 10.0
_TPACKET_STATS = struct.Struct("II")


@dataclass(slots=True)
class SnifferStats:
    """Counters of the live capture: frames delivered, kernel drops and what was skipped."""

    packets: int = 0
    bytes: int = 0
    truncated: int = 0
    loopback_outgoing_skipped: int = 0
    kernel_packets: int = 0
    kernel_drops: int = 0
    filter_changes: int = 0
    interface_down: int = 0
    bridge_copies_skipped: int = 0
    link_errors: int = 0

    def to_dict(self) -> dict[str, int]:
        """The counters as a plain dict (for the stats snapshot)."""
        return counters(self)


@dataclass(slots=True)
class _Tap:
    """One packet socket, its receive ring and what its frames look like."""

    sock: socket.socket
    ring: RxRing
    interface: str
    linktype: int


BRIDGE_NETFILTER_SYSCTL = "/proc/sys/net/bridge/bridge-nf-call-iptables"


def bridges_call_iptables() -> bool:
    """Whether bridged IPv4 traffic in this thread's network namespace goes through iptables
    (``br_netfilter`` loaded and ``net.bridge.bridge-nf-call-iptables = 1``)."""
    try:
        with open(BRIDGE_NETFILTER_SYSCTL, encoding="ascii") as sysctl:
            return sysctl.read().strip() == "1"
    except OSError:  # br_netfilter not loaded: no such sysctl
        return False


class Sniffer:
    """AF_PACKET capture on ``any`` or a list of interfaces, with a replaceable kernel filter.

    Open it in the network namespace to capture (the sockets stay bound to that namespace).
    """

    def __init__(
        self,
        interfaces: Sequence[str] = ("any",),
        bpf: str = "",
        buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        skip_bridge_copies: bool = True,
    ) -> None:
        if not interfaces:
            raise InterfaceError("no interface given")
        if "any" in interfaces and len(interfaces) > 1:
            raise InterfaceError("'any' already captures every interface; give it alone")
        self._interfaces = tuple(dict.fromkeys(interfaces))
        self._expression = bpf
        self._buffer_bytes = buffer_bytes
        self._skip_bridge_copies = skip_bridge_copies and self._interfaces == ("any",)
        self._taps: list[_Tap] = []
        self._links: LinkTable | None = None
        self._links_refreshed = 0.0
        self._unknown_links: set[int] = set()  # looked up once since the last periodic refresh
        self._by_fd: dict[int, _Tap] = {}
        self._poller = select.poll()
        self._stats = SnifferStats()

    @property
    def expression(self) -> str:
        """The BPF expression currently attached."""
        return self._expression

    @property
    def linktypes(self) -> frozenset[int]:
        """The link types of the frames this sniffer yields."""
        return frozenset(tap.linktype for tap in self._taps)

    def open(self) -> Sniffer:
        """Open the sockets and attach the filter; raise SnifferError or BpfError on failure."""
        if self._taps:
            raise SnifferError("sniffer is already open")
        try:
            if self._interfaces == ("any",):
                self._links = _link_table()  # opened here: it follows this network namespace
                self._links_refreshed = time.monotonic()
                if bridges_call_iptables():
                    self._skip_bridge_copies = False
            for name in self._interfaces:
                self._taps.append(self._open_any() if name == "any" else self._open_one(name))
        except BaseException:
            self.close()
            raise
        for tap in self._taps:
            self._by_fd[tap.sock.fileno()] = tap
            self._poller.register(tap.sock.fileno(), select.POLLIN)
        return self

    def close(self) -> None:
        """Close every socket (idempotent)."""
        for tap in self._taps:
            self._by_fd.pop(tap.sock.fileno(), None)
            with contextlib.suppress(KeyError, ValueError):
                self._poller.unregister(tap.sock)
            tap.ring.close()
            tap.sock.close()
        self._taps.clear()
        if self._links is not None:
            self._links.close()
            self._links = None

    def __enter__(self) -> Sniffer:
        """Open unless already open (open it inside the namespace to capture, then enter)."""
        return self if self._taps else self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def set_filter(self, expression: str) -> None:
        """Replace the kernel filter on every socket at once; BpfError leaves the old one on."""
        compiled = {tap.linktype: compile_filter(expression, tap.linktype) for tap in self._taps}
        for tap in self._taps:
            _attach(tap.sock, compiled[tap.linktype].sock_filter_bytes())
        self._expression = expression
        self._stats.filter_changes += 1

    def read(self, timeout: float) -> list[Frame]:
        """Wait up to ``timeout`` seconds for frames, then return what is queued (maybe none)."""
        frames: list[Frame] = []
        if time.monotonic() - self._links_refreshed > LINK_REFRESH_SECONDS:
            self._unknown_links.clear()  # give indexes still unknown another lookup
            self._refresh_links()
        for fd, event in self._poller.poll(max(0, int(timeout * 1000))):
            tap = self._by_fd.get(fd)
            if tap is None:
                continue
            if event & select.POLLERR:
                self._socket_error(tap)
            self._drain(tap, frames)
        return frames

    def stats(self) -> SnifferStats:
        """Counters so far, with the kernel's packet and drop counts folded in."""
        for tap in self._taps:
            raw = tap.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _TPACKET_STATS.size)
            packets, drops = _TPACKET_STATS.unpack(raw)
            self._stats.kernel_packets += packets
            self._stats.kernel_drops += drops
        return replace(self._stats)

    def _drain(self, tap: _Tap, frames: list[Frame]) -> None:
        stats = self._stats
        linktype = tap.linktype
        links = self._links
        ports = bridges = frozenset[int]()
        if links is not None and self._skip_bridge_copies:
            ports, bridges = links.bridge_ports, links.bridges
        for timestamp, data, length, ifindex, hatype, pkttype in tap.ring.frames():
            if pkttype == PACKET_OUTGOING:
                if hatype == ARPHRD_LOOPBACK:
                    stats.loopback_outgoing_skipped += 1
                    continue
                if ifindex in ports:
                    stats.bridge_copies_skipped += 1
                    continue
            elif ifindex in bridges:
                stats.bridge_copies_skipped += 1
                continue
            if len(data) < length:
                stats.truncated += 1
            stats.packets += 1
            stats.bytes += len(data)
            if links is None:
                name = tap.interface
            elif not (name := links.name(ifindex)) and ifindex not in self._unknown_links:
                self._unknown_links.add(ifindex)  # a new interface (a new pod's veth)?
                self._refresh_links()
                name = links.name(ifindex)
            frames.append(Frame(timestamp, data, linktype, name))

    def _refresh_links(self) -> None:
        """Re-read the interface table; a failure is counted and the old table kept."""
        if self._links is None:
            return
        self._links_refreshed = time.monotonic()
        try:
            self._links.refresh()
        except OSError:
            self._stats.link_errors += 1

    def _socket_error(self, tap: _Tap) -> None:
        """Handle POLLERR: an interface going down is counted, its removal is an error."""
        code = tap.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)  # reading clears it
        if code == errno.ENETDOWN and tap.interface != "any":
            self._stats.interface_down += 1
            _hardware_type(tap.sock, tap.interface)  # InterfaceError if it was removed
        elif code:
            raise SnifferError(f"capture on {tap.interface} failed: {os.strerror(code)}")

    def _open_any(self) -> _Tap:
        sock = _packet_socket(socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
        try:
            ring = self._configure(sock, LINKTYPE_RAW)
            _discard_queued(sock)  # queued before the filter and the ring were in place
        except BaseException:
            sock.close()
            raise
        return _Tap(sock, ring, "any", LINKTYPE_RAW)

    def _open_one(self, name: str) -> _Tap:
        sock = _packet_socket(socket.SOCK_RAW, 0)  # protocol 0: receives nothing until bind
        ring: RxRing | None = None
        try:
            hatype = _hardware_type(sock, name)
            linktype = HATYPE_TO_LINKTYPE.get(hatype)
            if linktype is None:
                raise InterfaceError(
                    f"interface {name!r} has ARP hardware type {hatype}, which podscope cannot "
                    "decode; capture it through 'any' instead"
                )
            ring = self._configure(sock, linktype)
            sock.bind((name, ETH_P_ALL))
            _promiscuous(sock, name)
        except BaseException as exc:
            if ring is not None:
                ring.close()
            sock.close()
            if isinstance(exc, OSError):
                raise InterfaceError(f"cannot capture on {name!r}: {exc.strerror or exc}") from None
            raise
        return _Tap(sock, ring, name, linktype)

    def _configure(self, sock: socket.socket, linktype: int) -> RxRing:
        """Attach the filter, then map the receive ring (nothing unfiltered reaches the ring)."""
        _attach(sock, compile_filter(self._expression, linktype).sock_filter_bytes())
        try:
            ring = RxRing(sock, self._buffer_bytes)
        except OSError as exc:
            raise SnifferError(
                f"cannot map a {self._buffer_bytes}-byte capture ring: {exc}"
            ) from None
        sock.setblocking(False)
        return ring


def _link_table() -> LinkTable:
    try:
        return LinkTable()
    except OSError as exc:
        raise SnifferError(f"cannot list the network interfaces (rtnetlink): {exc}") from None


def _packet_socket(kind: int, protocol: int) -> socket.socket:
    try:
        return socket.socket(socket.AF_PACKET, kind, protocol)
    except PermissionError:
        raise CapturePermissionError(
            "live capture needs root or the CAP_NET_RAW capability"
        ) from None
    except OSError as exc:
        raise SnifferError(f"cannot open a packet socket: {exc}") from None


def _hardware_type(sock: socket.socket, name: str) -> int:
    encoded = name.encode()
    if not encoded or len(encoded) >= 16 or "/" in name:
        raise InterfaceError(f"invalid interface name {name!r}")
    try:
        reply = fcntl.ioctl(sock.fileno(), SIOCGIFHWADDR, struct.pack("16s16x", encoded))
    except OSError:
        raise InterfaceError(f"no such interface {name!r}") from None
    hatype: int = struct.unpack_from("H", reply, 16)[0]
    return hatype


def _promiscuous(sock: socket.socket, name: str) -> None:
    """Put interface ``name`` in promiscuous mode while ``sock`` is open.

    A bridge passes up to its own device only the frames addressed to it: pod-to-pod frames it
    forwards between its ports would be invisible on a capture of the bridge. This is a packet
    membership, counted by the kernel per socket and undone when the socket closes, so it never
    outlives the capture nor clears a promiscuous mode someone else set.
    """
    request = struct.pack("iHH8s", socket.if_nametoindex(name), PACKET_MR_PROMISC, 0, b"")
    sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, request)


def _attach(sock: socket.socket, program: bytes) -> None:
    if not program:
        raise BpfError("empty BPF program")
    holder = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("HL", len(program) // 8, ctypes.addressof(holder))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def _discard_queued(sock: socket.socket) -> None:
    while True:
        try:
            sock.recv(1, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
