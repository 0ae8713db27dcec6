"""Raw frames in, entries out: decode, filter by mode, dedupe, track, and build entries.

One :class:`Pipeline` per worker. ``feed`` never raises on packet contents: every frame ends in
exactly one of the counters ``decoded``, ``malformed``, ``unsupported``, ``fragments``,
``filtered``, ``duplicates`` or ``nat_copies``, so ``packets`` is always their sum (see
:class:`PipelineStats`).
Timers (handshake and close timeouts, ongoing reports, idle UDP flows) run on packet time inside
``feed`` (so an offline pcap gives the same entries however fast it is read) and on wall-clock
time when the worker calls ``tick`` during quiet periods.

In ``connections`` mode the kernel filter passes only TCP segments with SYN, FIN or RST, DNS and
ICMP errors; the pipeline applies the same rule itself (``filtered``) so that any source, a pcap
file included, gives the same result.

Copies of one packet seen on two interfaces (``interface``, or the interface index a Linux
cooked v2 header carries) are dropped as ``duplicates`` (capture/track/dedupe.py); frames with no
interface are never deduplicated. Copies of a connection that the node's NAT rewrote (DNAT to a
Service backend, SNAT of egress) are dropped as ``nat_copies`` (capture/track/natjoin.py): the
connection is tracked once, and its entries say what was dialed, reached and SNATed. While
``dns`` is enabled, port-53 traffic becomes ``dns`` entries rather than ``udp`` flows, and the
names its answers resolve label the later entries of the same client (``dst.name``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from capture.decode.icmp import is_error, parse_error
from capture.decode.packets import (
    IPPROTO_TCP,
    IPPROTO_UDP,
    Packet,
    common_tcp_header,
    decode_general,
    sll2_ifindex,
    tcp_packet,
)
from capture.errors import DecodeError, FragmentError, MalformedError
from capture.sources.frames import DLT_EN10MB, DLT_LINUX_SLL2
from capture.track.dedupe import Deduper
from capture.track.dns import DnsTracker, NameIndex, TcpDnsStreams
from capture.track.entries import EntryFactory
from capture.track.natjoin import NatJoin
from capture.track.tcp import CONTROL, TcpEvent, TcpTracker
from capture.track.udp import UdpEvent, UdpTracker
from contract.schema import PROTOCOLS, Entry, Node
from contract.stats import counters
from contract.vocabulary import CAPTURE_MODES, DEFAULT_CAPTURE_MODE, CaptureMode

DNS_PORT = 53
_FINAL_EVENTS = frozenset({"close", "reset", "refused", "timeout", "expired"})
MAX_PAYLOAD_BYTES = 65536  # its base64 fits the schema's MAX_PAYLOAD_CHARS


@dataclass(frozen=True)
class PipelineConfig:
    """What the pipeline tracks and its timers and bounds (seconds, bytes, counts)."""

    mode: CaptureMode = DEFAULT_CAPTURE_MODE
    protocols: frozenset[str] = frozenset(PROTOCOLS)
    syn_timeout: float = 5.0
    close_timeout: float = 10.0
    ongoing_interval: float = 30.0
    udp_idle_timeout: float = 30.0
    payload_bytes: int = 4096
    local_cidrs: tuple[str, ...] = ()
    max_connections: int = 200_000
    idle_timeout: float = 300.0
    """Full mode: an established connection silent this long lost its FIN/RST (``expired``)."""
    max_udp_flows: int = 100_000
    tombstone_seconds: float = 30.0
    dedupe_window: float = 0.01
    nat_join_window: float = 0.1
    dns_query_timeout: float = 10.0
    max_dns_queries: int = 65_536
    max_names: int = 200_000
    name_min_ttl: float = 120.0
    name_max_ttl: float = 86_400.0
    tick_interval: float = 1.0

    def __post_init__(self) -> None:
        if self.mode not in CAPTURE_MODES:
            raise ValueError(f"mode must be 'connections' or 'full', not {self.mode!r}")
        unknown = set(self.protocols) - set(PROTOCOLS)
        if unknown:
            raise ValueError(f"unknown protocols {sorted(unknown)}; known: {sorted(PROTOCOLS)}")
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
                raise ValueError(f"{field.name} must be positive, not {value}")
        if self.payload_bytes > MAX_PAYLOAD_BYTES:
            raise ValueError(f"payload_bytes must be at most {MAX_PAYLOAD_BYTES} (64 KiB)")
        for cidr in self.local_cidrs:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"local_cidrs: {cidr!r} is not a network") from None


@dataclass(frozen=True)
class PipelineStats:
    """Counters of one pipeline.

    Invariant: ``packets == decoded + malformed + unsupported + fragments + filtered +
    duplicates + nat_copies``. ``filtered`` counts packets of disabled protocols, non-error
    ICMP, and in ``connections`` mode what the kernel filter would have dropped; ``nat_copies``
    the copies of connections that the node's NAT rewrote (``nat_joins`` are held now).
    """

    packets: int
    decoded: int
    malformed: int
    unsupported: int
    fragments: int
    filtered: int
    duplicates: int
    nat_copies: int
    nat_joins: int
    nat_joins_evicted: int
    connections_open: int
    connections_evicted: int
    connections_expired: int
    late_packets: int
    udp_flows_open: int
    udp_flows_evicted: int
    dns_malformed: int
    dns_unanswered: int
    dns_tcp_lost: int
    names: int
    entries: int

    def to_dict(self) -> dict[str, int]:
        """The counters as a plain dict (for JSON and metrics)."""
        return counters(self)


class Pipeline:
    """Turns raw frames into entries for one worker."""

    def __init__(self, config: PipelineConfig, worker: str, node: Node) -> None:
        self.config = config
        full = config.mode == "full"
        enabled = config.protocols
        self._full = full
        self._tcp_on = "tcp" in enabled
        self._udp_on = full and "udp" in enabled
        self._segments = full and self._tcp_on  # the fast path of feed
        self._dns_on = "dns" in enabled
        self._icmp_on = "icmp" in enabled
        self._tcp = TcpTracker(
            full=full,
            syn_timeout=config.syn_timeout,
            close_timeout=config.close_timeout,
            ongoing_interval=config.ongoing_interval,
            payload_bytes=config.payload_bytes,
            max_connections=config.max_connections,
            tombstone_seconds=config.tombstone_seconds,
            idle_timeout=config.idle_timeout,
        )
        self._udp = UdpTracker(idle_timeout=config.udp_idle_timeout, max_flows=config.max_udp_flows)
        self._dns = DnsTracker(
            query_timeout=config.dns_query_timeout, max_queries=config.max_dns_queries
        )
        self._dns_streams = TcpDnsStreams(max_streams=config.max_dns_queries)
        self._names = NameIndex(
            max_names=config.max_names, min_ttl=config.name_min_ttl, max_ttl=config.name_max_ttl
        )
        self._entries = EntryFactory(worker, node, config.local_cidrs, self._names)
        self._deduper = Deduper(window=config.dedupe_window)
        self._join = NatJoin(
            window=config.nat_join_window,
            linger=config.tombstone_seconds,
            max_joins=config.max_connections,
        )
        self._next_tick = 0.0
        self._packets = 0
        self._decoded = 0
        self._malformed = 0
        self._unsupported = 0
        self._fragments = 0
        self._filtered = 0
        self._duplicates = 0
        self._entry_count = 0

    @property
    def stats(self) -> PipelineStats:
        """A snapshot of the counters."""
        return PipelineStats(
            packets=self._packets,
            decoded=self._decoded,
            malformed=self._malformed,
            unsupported=self._unsupported,
            fragments=self._fragments,
            filtered=self._filtered,
            duplicates=self._duplicates,
            nat_copies=self._join.copies,
            nat_joins=self._join.joins,
            nat_joins_evicted=self._join.evicted,
            connections_open=self._tcp.open_connections,
            connections_evicted=self._tcp.evicted,
            connections_expired=self._tcp.expired,
            late_packets=self._tcp.late_packets,
            udp_flows_open=self._udp.open_flows,
            udp_flows_evicted=self._udp.evicted,
            dns_malformed=self._dns.malformed,
            dns_unanswered=self._dns.unanswered,
            dns_tcp_lost=self._dns_streams.lost,
            names=len(self._names),
            entries=self._entry_count,
        )

    def feed(
        self, timestamp: float, frame: bytes | memoryview, linktype: int, interface: str = ""
    ) -> list[Entry]:
        """Process one captured frame; return the entries it and the timers due completed.

        The timers due by ``timestamp`` run first, so that events come in packet-time order (a
        handshake that timed out before this packet is reported before it).
        """
        self._packets += 1
        due = self._timers(timestamp) if timestamp >= self._next_tick else None
        data = frame if type(frame) is bytes else bytes(frame)
        try:
            packet = None
            # decode's common case, read here so that full mode's fast path can skip the Packet:
            # a data segment or ACK of a tracked connection (most of the traffic) is accounted
            # from its header fields.
            header = common_tcp_header(data) if linktype == DLT_EN10MB else None
            if header is not None:
                sport, dport, seq, ack, flags, payload_start, end, captured_end = header
                size = end - payload_start
                if (
                    self._segments
                    and not flags & CONTROL
                    and not interface
                    and not (size and self._dns_on and DNS_PORT in (sport, dport))
                ):
                    events = self._tcp.segment(
                        timestamp,
                        data[26:38],
                        flags,
                        seq,
                        ack,
                        data,
                        payload_start,
                        size,
                        captured_end,
                    )
                    if events is not None:
                        self._decoded += 1
                        if events:
                            return self._tcp_entries(events, due)
                        return due or []
                    if self._join.known_copy(data[26:38]):
                        return due or []
                packet = tcp_packet(data, *header)
            if packet is None:
                packet = decode_general(data, linktype)  # the common case was ruled out
        except MalformedError:
            self._malformed += 1
            return due or []
        except FragmentError:
            self._fragments += 1
            return due or []
        except DecodeError:
            self._unsupported += 1
            return due or []
        proto = packet.proto
        tcp_tracked = proto == IPPROTO_TCP and self._tcp_on
        if not (tcp_tracked and (self._full or packet.flags & CONTROL)) and not self._wanted(
            packet
        ):
            self._filtered += 1
            return due or []
        if linktype == DLT_LINUX_SLL2 and not interface:
            interface = f"ifindex {sll2_ifindex(data)}"
        if interface and self._deduper.is_duplicate(packet, timestamp, interface):
            self._duplicates += 1
            return due or []
        if tcp_tracked:  # the hot path, kept free of calls that are not needed
            if self._join.tcp_copy(timestamp, packet):
                return due or []
            events = self._tcp.packet(timestamp, packet)
            entries = [self._tcp_entry(event) for event in events] if events else []
            if self._dns_on and packet.payload_len and DNS_PORT in (packet.sport, packet.dport):
                entries.extend(self._tcp_dns(timestamp, packet))
        else:
            dispatched = self._other(timestamp, packet)
            if dispatched is None:
                return due or []
            entries = dispatched
        self._decoded += 1
        if entries:
            self._entry_count += len(entries)
        return due + entries if due else entries

    def _tcp_entries(self, events: Sequence[TcpEvent], due: list[Entry] | None) -> list[Entry]:
        """The entries of the timers due (counted already), then of a segment's TCP events."""
        entries = [self._tcp_entry(event) for event in events]
        self._entry_count += len(entries)
        return due + entries if due else entries

    def tick(self, now: float) -> list[Entry]:
        """Run the timers due by ``now``: timeouts, one-sided closes, ongoing reports, idle UDP."""
        return self._timers(now)

    def _timers(self, now: float) -> list[Entry]:
        """The entries of the timers due by ``now``, counted."""
        self._next_tick = now + self.config.tick_interval
        entries = [self._tcp_entry(event) for event in self._tcp.tick(now)]
        entries.extend(self._udp_entry(event) for event in self._udp.tick(now))
        self._join.tick(now)
        self._entry_count += len(entries)
        return entries

    def flush(self, now: float) -> list[Entry]:
        """End of capture: report what timed out and everything still open."""
        entries = [self._tcp_entry(event) for event in self._tcp.flush(now)]
        entries.extend(self._udp_entry(event) for event in self._udp.flush(now))
        self._entry_count += len(entries)
        return entries

    def _tcp_entry(self, event: TcpEvent) -> Entry:
        """The entry of a TCP event, with what NAT rewrote in its connection."""
        join = self._join
        if not join.joins:
            return self._entries.tcp(event)
        key = event.client_key
        rewrite = join.rewrite(key, event.isn)
        if rewrite is not None and event.event in _FINAL_EVENTS:
            join.ended(key, event.end)
        return self._entries.tcp(event, rewrite)

    def _udp_entry(self, event: UdpEvent) -> Entry:
        """The entry of a finished UDP flow, with what NAT rewrote in it."""
        key = _client_key(event.client, event.server, event.client_port, event.server_port)
        rewrite = self._join.rewrite(key) if self._join.joins else None
        if rewrite is not None:
            self._join.ended(key, event.end)
        return self._entries.udp(event, rewrite)

    def _wanted(self, packet: Packet) -> bool:
        proto = packet.proto
        if proto == IPPROTO_TCP:
            if self._full:
                return self._tcp_on or (self._dns_on and _is_dns(packet))
            return self._tcp_on and bool(packet.flags & CONTROL)
        if proto == IPPROTO_UDP:
            if self._dns_on and _is_dns(packet):
                return True
            return self._udp_on
        return self._icmp_on and is_error(packet)

    def _other(self, ts: float, packet: Packet) -> list[Entry] | None:
        """``_dispatch``, counting a quoted packet that cannot be read as malformed (None then,
        as for a NAT copy: the packet is not ``decoded``)."""
        try:
            return self._dispatch(ts, packet)
        except MalformedError:  # an ICMP error quoting an unreadable packet
            self._malformed += 1
            return None

    def _dispatch(self, ts: float, packet: Packet) -> list[Entry] | None:
        """Packets other than TCP segments the TCP tracker follows (None: a NAT copy)."""
        proto = packet.proto
        if proto == IPPROTO_TCP:  # DNS over TCP while the TCP tracker is off
            if self._join.tcp_copy(ts, packet):
                return None
            return self._tcp_dns(ts, packet) if packet.payload_len else []
        if proto == IPPROTO_UDP:
            if self._join.udp_copy(ts, packet):
                return None
            if self._dns_on and _is_dns(packet):
                return self._dns_message(ts, packet, packet.payload)
            self._udp.packet(ts, packet)
            return []
        return self._icmp(ts, packet)

    def _tcp_dns(self, ts: float, packet: Packet) -> list[Entry]:
        entries = []
        for message in self._dns_streams.segment(packet.key, packet.seq, packet.payload):
            entries.extend(self._dns_message(ts, packet, message))
        return entries

    def _dns_message(self, ts: float, packet: Packet, message: bytes) -> list[Entry]:
        event = self._dns.message(
            ts, message, (packet.src, packet.sport), (packet.dst, packet.dport)
        )
        if event is None:
            return []
        self._names.learn(event.client, event.answer, ts)
        key = _client_key(event.client, event.server, event.client_port, event.server_port)
        rewrite = self._join.rewrite(key) if self._join.joins else None
        if rewrite is not None:
            self._join.ended(key, ts)
        return [self._entries.dns(event, rewrite)]

    def _icmp(self, ts: float, packet: Packet) -> list[Entry] | None:
        event = parse_error(ts, packet)
        if event is None:
            return []
        about = event.about
        if about.proto in (IPPROTO_TCP, IPPROTO_UDP) and self._join.icmp_copy(about.key):
            return None
        entries = [self._entries.icmp(event)]
        if event.ends_attempt and self._tcp_on and about.proto == IPPROTO_TCP:
            note = f"ICMP {event.message}"
            outcome = "refused" if event.refuses else "timeout"
            entries.extend(
                self._tcp_entry(e) for e in self._tcp.unreachable(ts, about, note, outcome)
            )
        return entries


def _is_dns(packet: Packet) -> bool:
    return DNS_PORT in (packet.sport, packet.dport)


def _client_key(client: bytes, server: bytes, client_port: int, server_port: int) -> bytes:
    """The client-to-server flow key of a finished flow (see :class:`Packet`)."""
    return client + server + client_port.to_bytes(2) + server_port.to_bytes(2)
