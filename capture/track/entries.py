"""Tracker events to schema v1 entries: ids, endpoints, DNS names, sizes and the summary line.

Endpoints carry only addresses and ports (the hub names pods and services), plus ``dst.name``
when the client resolved that address by DNS (and ``dst.kind = "external"`` when that address is
also a public one outside the node's networks). ``outgoing`` is true when the entry's source (the
client, or the DNS asker) is inside ``local_cidrs``.
"""

from __future__ import annotations

import binascii
import ipaddress
import socket
from collections.abc import Iterable

from capture.decode.icmp import IcmpEvent
from capture.decode.packets import IPPROTO_TCP, IPPROTO_UDP, flag_names
from capture.track.dns import DnsEvent, NameIndex
from capture.track.natjoin import Rewrite
from capture.track.tcp import TcpEvent
from capture.track.udp import UdpEvent
from contract.formatting import human_bytes, human_duration
from contract.schema import (
    MAX_STRING_CHARS,
    AboutTuple,
    Address,
    DnsInfo,
    Endpoint,
    Entry,
    IcmpInfo,
    NatInfo,
    Node,
    Payload,
    Protocol,
    TcpInfo,
    protocol,
)

_TCP = protocol("tcp")
_UDP = protocol("udp")
_DNS = protocol("dns")
_ICMP = protocol("icmp")
_PROTOCOL_NAMES = {IPPROTO_TCP: "tcp", IPPROTO_UDP: "udp"}
_MAX_SUMMARY_ANSWERS = 3
_MAX_SHARED_ENDPOINTS = 65536
_WITH_SIZES = frozenset({"close", "reset", "ongoing", "expired"})
_FLAG_NAMES = tuple(flag_names(flags) for flags in range(256))


def ip_text(address: bytes) -> str:
    """The text form of a 4- or 16-byte address."""
    family = socket.AF_INET if len(address) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, address)


def _size_text(size: int | None) -> str:
    return "unknown" if size is None else human_bytes(size)


def _difference(total: int | None, part: int | None) -> int | None:
    """``total - part``, or None when either is unknown."""
    return None if total is None or part is None else total - part


def _host_port(address: bytes, port: int) -> str:
    text = ip_text(address)
    return f"[{text}]:{port}" if len(address) == 16 else f"{text}:{port}"


def _preview(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")  # = base64.b64encode


class EntryFactory:
    """Builds the entries of one worker, numbering them ``<worker>/<sequence>``."""

    def __init__(
        self, worker: str, node: Node, local_cidrs: Iterable[str], names: NameIndex
    ) -> None:
        self._worker = worker
        self._node = node
        networks = [ipaddress.ip_network(cidr, strict=False) for cidr in local_cidrs]
        self._local = tuple(
            (network.max_prefixlen // 8, int(network.netmask), int(network.network_address))
            for network in networks
        )
        self._names = names
        self._sequence = 0
        self._endpoints: dict[tuple[str, int, str, str], Endpoint] = {}
        self._texts: dict[bytes, str] = {}  # ip_text of the addresses seen, pods' mostly

    def tcp(self, event: TcpEvent, rewrite: Rewrite | None = None) -> Entry:
        """The entry of a TCP connection event (``rewrite``: what NAT changed in it)."""
        name = event.event
        words = f"{name} by {event.reset_by}" if event.reset_by else name
        if name == "connect":
            if event.rtt is not None:
                words = f"{words} rtt {event.rtt * 1000:.1f} ms"
        elif name in _WITH_SIZES:
            sizes = f"{_size_text(event.request_size)} / {_size_text(event.response_size)}"
            words = f"{words} {sizes} {human_duration(event.end - event.start)}"
        else:
            words = f"{words} {human_duration(event.end - event.start)}"
        if event.note:
            words = f"{words} ({event.note})"
        if event.partial:
            words += " (partial)"
        payload = None
        if event.request_preview or event.response_preview:
            payload = Payload(_preview(event.request_preview), _preview(event.response_preview))
        info = TcpInfo(
            name,
            event.state,
            _FLAG_NAMES[event.flags],
            None if event.rtt is None else round(event.rtt * 1000, 3),
            event.retransmits,
            event.reset_by,
            event.partial,
            event.isn,
            event.server_isn,
        )
        return self._entry(
            _TCP,
            src=event.client,
            src_port=event.client_port,
            dst=event.server,
            dst_port=event.server_port,
            start=event.start,
            end=event.end,
            summary=words,
            connection=True,
            request_size=event.request_size,
            response_size=event.response_size,
            packets=event.packets,
            response_packets=event.response_packets,
            tcp=info,
            payload=payload,
            rewrite=rewrite,
        )

    def udp(self, event: UdpEvent, rewrite: Rewrite | None = None) -> Entry:
        """The entry of an idle (finished) UDP flow (``rewrite``: what NAT changed in it)."""
        sizes = f"{human_bytes(event.request_size)} / {human_bytes(event.response_size)}"
        duration = human_duration(event.end - event.start)
        return self._entry(
            _UDP,
            src=event.client,
            src_port=event.client_port,
            dst=event.server,
            dst_port=event.server_port,
            start=event.start,
            end=event.end,
            summary=f"udp {event.packets} packets {sizes} {duration}",
            request_size=event.request_size,
            response_size=event.response_size,
            packets=event.packets,
            response_packets=event.response_packets,
            rewrite=rewrite,
        )

    def dns(self, event: DnsEvent, rewrite: Rewrite | None = None) -> Entry:
        """The entry of a DNS answer (``rewrite``: what NAT changed in its query)."""
        answer = event.answer
        words = [answer.qtype, answer.query, answer.rcode]
        words.extend(answer.answers[:_MAX_SUMMARY_ANSWERS])
        if len(answer.answers) > _MAX_SUMMARY_ANSWERS:
            words.append(f"(+{len(answer.answers) - _MAX_SUMMARY_ANSWERS})")
        if event.latency is not None:
            words.append(human_duration(event.latency))
        return self._entry(
            _DNS,
            src=event.client,
            src_port=event.client_port,
            dst=event.server,
            dst_port=event.server_port,
            start=event.start,
            end=event.end,
            summary="dns " + " ".join(words),
            named=False,
            dns=DnsInfo(
                query=answer.query,
                answers=answer.answers,
                rcode=answer.rcode,
                qtype=answer.qtype,
                latency=None if event.latency is None else round(event.latency * 1000, 3),
            ),
            rewrite=rewrite,
        )

    def icmp(self, event: IcmpEvent) -> Entry:
        """The entry of an ICMP error: from its sender to the original packet's sender."""
        about = event.about
        name = _PROTOCOL_NAMES.get(about.proto, str(about.proto))
        quoted = f"{_host_port(about.src, about.sport)} -> {_host_port(about.dst, about.dport)}"
        return self._entry(
            _ICMP,
            src=event.sender,
            src_port=0,
            dst=event.receiver,
            dst_port=0,
            start=event.ts,
            end=event.ts,
            # the failed flow first: what a reader looks for, then who said so
            summary=f"{name} {quoted} {event.message} (reported by {ip_text(event.sender)})",
            named=False,
            icmp=IcmpInfo(
                type=event.type,
                code=event.code,
                message=event.message,
                about=AboutTuple(
                    protocol=name,
                    src=Address(ip_text(about.src), about.sport),
                    dst=Address(ip_text(about.dst), about.dport),
                    isn=about.seq,
                ),
            ),
        )

    def _entry(
        self,
        proto_info: Protocol,
        *,
        src: bytes,
        src_port: int,
        dst: bytes,
        dst_port: int,
        start: float,
        end: float,
        summary: str,
        named: bool = True,
        connection: bool = False,
        request_size: int | None = 0,
        response_size: int | None = 0,
        packets: int | None = None,
        response_packets: int | None = None,
        tcp: TcpInfo | None = None,
        dns: DnsInfo | None = None,
        icmp: IcmpInfo | None = None,
        payload: Payload | None = None,
        rewrite: Rewrite | None = None,
    ) -> Entry:
        self._sequence += 1
        name = self._names.lookup(src, dst, end) if named else ""
        kind = "external" if name and self._external(dst) else "unknown"
        texts = self._texts
        src_text = texts.get(src) or self._text(src)
        dst_text = texts.get(dst) or self._text(dst)
        nat = None
        if rewrite is not None:
            nat, dst_text, dst_port, summary = self._nat(rewrite, dst, dst_port, summary)
        if proto_info is _ICMP:
            line = summary  # it names the flow it is about, and its sender
        elif len(src) == 4:
            line = f"{src_text}:{src_port} -> {dst_text}:{dst_port} {summary}"
        else:
            line = f"[{src_text}]:{src_port} -> [{dst_text}]:{dst_port} {summary}"
        timestamp = max(int(start * 1000 + 0.5), 0)  # milliseconds, rounded
        conn_id = None
        if connection:  # every report of one connection: same worker, start and 5-tuple
            conn_id = f"{self._worker}/{timestamp}/{src_text}:{src_port}-{dst_text}:{dst_port}"
        return Entry(
            f"{self._worker}/{self._sequence}",
            self._worker,
            self._node,
            timestamp,
            proto_info,
            Endpoint(src_text, src_port),
            self._endpoint(dst_text, dst_port, name, kind),
            max(int((end - start) * 1000 + 0.5), 0),
            self._local_address(src),
            request_size,
            response_size,
            packets,
            tcp,
            dns,
            icmp,
            payload,
            line[:MAX_STRING_CHARS],
            nat=nat,
            conn_id=conn_id,
            request_packets=_difference(packets, response_packets),
            response_packets=response_packets,
        )

    def _nat(
        self, rewrite: Rewrite, dst: bytes, dst_port: int, summary: str
    ) -> tuple[NatInfo, str, int, str]:
        """The NAT section, the destination actually reached (text, port) and the summary
        saying what was dialed (``via``) and the client's address after SNAT (``as``)."""
        dialed = snat = None
        notes = []
        if rewrite.reached is not None:
            dialed = Address(ip_text(dst), dst_port)
            notes.append(f"via {_host_port(dst, dst_port)}")
            dst, dst_port = rewrite.reached, rewrite.reached_port
        if rewrite.snat is not None:
            snat = Address(ip_text(rewrite.snat), rewrite.snat_port)
            notes.append(f"as {_host_port(rewrite.snat, rewrite.snat_port)}")
        notes.append(summary)
        return NatInfo(dialed, snat), ip_text(dst), dst_port, " ".join(notes)

    def _text(self, address: bytes) -> str:
        """``ip_text(address)``, remembered: entries name the same addresses over and over."""
        if len(self._texts) >= _MAX_SHARED_ENDPOINTS:
            self._texts.clear()
        text = self._texts[address] = ip_text(address)
        return text

    def _endpoint(self, ip: str, port: int, name: str, kind: str) -> Endpoint:
        """A shared Endpoint for a destination: a service is the destination of many entries."""
        key = (ip, port, name, kind)
        found = self._endpoints.get(key)
        if found is None:
            if len(self._endpoints) >= _MAX_SHARED_ENDPOINTS:
                self._endpoints.clear()
            found = self._endpoints[key] = Endpoint(ip, port, name, kind=kind)
        return found

    def _local_address(self, address: bytes) -> bool:
        if not self._local:
            return False
        value = int.from_bytes(address)
        size = len(address)
        return any(
            size == width and value & mask == network for width, mask, network in self._local
        )

    def _external(self, address: bytes) -> bool:
        return ipaddress.ip_address(address).is_global and not self._local_address(address)
