"""Packet builders for the capture tests: scapy packets turned into raw Ethernet frames."""

from __future__ import annotations

from dataclasses import dataclass, field

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet as ScapyPacket
from scapy.packet import Raw

from capture.decode.packets import Packet, decode
from capture.pipeline import Pipeline
from capture.sources.frames import DLT_EN10MB
from contract.schema import Entry

CLIENT = "10.0.1.5"
SERVER = "10.0.2.7"
CLIENT_PORT = 43122
SERVER_PORT = 8080
RESOLVER = "10.96.0.10"


def frame(packet: ScapyPacket) -> bytes:
    """The raw bytes of an Ethernet frame carrying ``packet`` (an IP/IPv6 scapy packet)."""
    return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / packet)


def ip(src: str, dst: str) -> ScapyPacket:
    """An IPv4 or IPv6 header, chosen by the address syntax."""
    return IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst)


def segment(
    src: str, dst: str, ports: tuple[int, int], flags: str, seq: int, ack: int, data: bytes = b""
) -> bytes:
    """One TCP segment as an Ethernet frame."""
    tcp = TCP(sport=ports[0], dport=ports[1], flags=flags, seq=seq % 2**32, ack=ack % 2**32)
    return frame(ip(src, dst) / tcp / Raw(data) if data else ip(src, dst) / tcp)


def dns_query(client: str, port: int, query_id: int, name: str, qtype: str = "A") -> bytes:
    """A DNS query from client:port to the resolver."""
    message = DNS(id=query_id, rd=1, qd=[DNSQR(qname=name, qtype=qtype)])
    return frame(ip(client, RESOLVER) / UDP(sport=port, dport=53) / message)


def dns_answer(
    client: str,
    port: int,
    query_id: int,
    name: str,
    records: list[DNSRR] | None = None,
    rcode: int = 0,
    qtype: str = "A",
) -> bytes:
    """A DNS answer from the resolver to client:port."""
    message = DNS(id=query_id, qr=1, rd=1, ra=1, rcode=rcode, qd=[DNSQR(qname=name, qtype=qtype)],
                  an=records or [])  # fmt: skip
    return frame(ip(RESOLVER, client) / UDP(sport=53, dport=port) / message)


@dataclass
class Conversation:
    """A TCP connection's two sides: builds frames with the right sequence numbers.

    ``c(...)`` is a segment from the client, ``s(...)`` from the server; each advances its
    sender's sequence number by the payload (and SYN/FIN) it carries, and acknowledges
    everything the peer sent so far unless ``ack`` is given.
    """

    client: str = CLIENT
    server: str = SERVER
    client_port: int = CLIENT_PORT
    server_port: int = SERVER_PORT
    isn: int = 1000
    server_isn: int = 5000
    client_next: int = field(init=False)
    server_next: int = field(init=False)

    def __post_init__(self) -> None:
        self.client_next = self.isn
        self.server_next = self.server_isn

    def c(
        self, flags: str, data: bytes = b"", seq: int | None = None, ack: int | None = None
    ) -> bytes:
        """A segment from the client."""
        return self._send(True, flags, data, seq, ack)

    def s(
        self, flags: str, data: bytes = b"", seq: int | None = None, ack: int | None = None
    ) -> bytes:
        """A segment from the server."""
        return self._send(False, flags, data, seq, ack)

    def handshake(self) -> list[bytes]:
        """SYN, SYN-ACK, ACK."""
        return [self.c("S"), self.s("SA"), self.c("A")]

    def _send(
        self, from_client: bool, flags: str, data: bytes, seq: int | None, ack: int | None
    ) -> bytes:
        own = self.client_next if from_client else self.server_next
        peer = self.server_next if from_client else self.client_next
        seq = own if seq is None else seq
        if ack is None:
            ack = peer if "A" in flags else 0
        advance = len(data) + ("S" in flags) + ("F" in flags)
        if from_client:
            self.client_next = max(self.client_next, seq + advance)
            src, dst, ports = self.client, self.server, (self.client_port, self.server_port)
        else:
            self.server_next = max(self.server_next, seq + advance)
            src, dst, ports = self.server, self.client, (self.server_port, self.client_port)
        return segment(src, dst, ports, flags, seq, ack, data)


def decoded(raw: bytes) -> Packet:
    """Decode an Ethernet frame."""
    return decode(raw, DLT_EN10MB)


def feed_all(pipeline: Pipeline, frames: list[bytes], start: float = 1000.0, step: float = 0.001
             ) -> list[Entry]:  # fmt: skip
    """Feed Ethernet frames at ``start``, ``start + step``, ...; return every entry."""
    entries: list[Entry] = []
    for index, raw in enumerate(frames):
        entries.extend(pipeline.feed(start + index * step, raw, DLT_EN10MB))
    return entries
