"""TCP connection tracking: decoded packets to connection events (connect, close, reset, ...).

A connection's identity is (client ip, client port, server ip, server port, client ISN). A SYN
retransmitted with the same ISN is the same connection; a SYN with a new ISN on the same 4-tuple
is a new one (port reuse). Connections already open when the capture started (first packet a
FIN, an RST or mid-stream data) are tracked too, flagged ``partial``, with the direction guessed
from the ports (:func:`guess_client_first`).

Byte counts come from sequence numbers. In ``connections`` mode only SYN/FIN/RST segments are
seen: a side's bytes are its FIN's sequence number minus its ISN minus one, or, when it sent no
FIN, the highest of its RST's sequence number and the peer's acknowledgement number on a FIN/RST.
That arithmetic is modulo 2**32: a transfer of 4 GiB or more in one direction cannot be told apart
from one 4 GiB smaller. In ``full`` mode every segment is seen: positions are unwrapped segment by
segment (so transfers over 4 GiB count right), bytes are the unique payload bytes (the sum of the
payloads without retransmissions, or more when a FIN/RST acknowledges data the capture missed),
retransmitted segments and packets are counted, and the first ``payload_bytes`` of each direction
are kept in stream order.

Memory is bounded: at most ``max_connections`` are tracked (the oldest is evicted, counted and
reported as ``expired``), and a closed connection leaves a tombstone for ``tombstone_seconds`` so
that late duplicates and the last ACK do not open a "partial" connection; a SYN retransmitted
with the ISN of an attempt already reported keeps that attempt's tombstone alive, so one attempt
is one entry however long the client retries.

Times: a connection's deadlines run in packet-time order, before any later packet of it (a SYN
retried after ``syn_timeout`` first ends the attempt it retries). A ``timeout`` spans the
attempt itself (first to last SYN or SYN-ACK), not podscope's wait. A connection still in its
handshake at the end of the capture is a ``timeout``; the others are ``ongoing`` up to then. The
durations reported for one connection never shrink. In ``full`` mode, where every packet is
seen, an established connection silent for ``idle_timeout`` seconds (checked at its ``ongoing``
reports) lost its FIN/RST: it is reported ``expired`` and forgotten. In ``connections`` mode
silence is normal, so a long-lived connection is reported ``ongoing`` every
``ongoing_interval`` until its FIN/RST, or ``expired`` if the table is full.

``rtt`` has one meaning in both modes: from the client's SYN to the server's SYN-ACK. Sizes a
connection's own packets cannot tell (``connections`` mode, start not seen) are None (unknown).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from capture.decode.packets import ACK, FIN, RST, SYN, InnerTuple, Packet, reverse_key, split_key

MASK = 0xFFFFFFFF
HALF = 0x80000000
SPAN = 0x100000000
CONTROL = SYN | FIN | RST

SYN_SENT = "SYN_SENT"
SYN_RECEIVED = "SYN_RECEIVED"
ESTABLISHED = "ESTABLISHED"
FIN_WAIT = "FIN_WAIT"
CLOSED = "CLOSED"
RESET = "RESET"
HANDSHAKE_STATES = frozenset({SYN_SENT, SYN_RECEIVED})

_EPHEMERAL_LOW = 32768
_WELL_KNOWN_HIGH = 1024
_MAX_PENDING_SEGMENTS = 64


class TcpEvent(NamedTuple):
    """One reportable moment of a connection: its event and everything an entry needs."""

    event: str
    client: bytes
    client_port: int
    server: bytes
    server_port: int
    start: float
    end: float
    state: str
    flags: int
    rtt: float | None
    request_size: int | None
    response_size: int | None
    partial: bool
    reset_by: str = ""
    packets: int | None = None
    retransmits: int | None = None
    request_preview: bytes = b""
    response_preview: bytes = b""
    note: str = ""
    isn: int | None = None
    server_isn: int | None = None
    response_packets: int | None = None  # of ``packets``, those the server sent (full mode)

    @property
    def client_key(self) -> bytes:
        """The flow key of the client-to-server direction (see :class:`capture.decode.Packet`)."""
        ports = self.client_port.to_bytes(2) + self.server_port.to_bytes(2)
        return self.client + self.server + ports


class _Side:
    """One direction of a connection: where its byte stream starts and how far it got."""

    __slots__ = ("base", "fin", "high", "pending", "preview", "preview_open")

    def __init__(self, base: int | None) -> None:
        self.base = base  # sequence number of the first data byte, None while unknown
        self.high = 0  # stream offset just past the highest byte seen
        self.fin: int | None = None  # stream offset of the FIN
        self.preview = bytearray()
        self.pending: dict[int, bytes] | None = None  # out-of-order preview segments
        self.preview_open = True

    def position(self, seq: int, unwrap: bool) -> int:
        """Stream offset of ``seq``: unwrapped around ``high`` (full mode) or modulo 2**32."""
        assert self.base is not None
        if not unwrap:
            return (seq - self.base) & MASK
        delta = (seq - self.base - self.high) & MASK
        return self.high + delta - SPAN if delta >= HALF else self.high + delta

    def reach(self, position: int) -> None:
        """Record that the stream got at least to ``position``, unless its FIN fixed its end."""
        if self.fin is None and position > self.high:
            self.high = position


class _Connection:
    """The mutable state of one tracked connection."""

    __slots__ = ("alive", "client", "client_key", "fin_ts", "flags", "handshake_ts", "isn",
                 "last", "packets", "partial", "reported", "retransmits", "rtt", "server",
                 "server_isn", "server_key", "server_packets", "start", "state", "syn_seen",
                 "syn_ts")  # fmt: skip

    def __init__(self, client_key: bytes, isn: int | None, start: float, state: str) -> None:
        self.client_key = client_key
        self.server_key = reverse_key(client_key)
        self.isn = isn
        self.server_isn: int | None = None
        self.start = start
        self.last = start
        self.syn_ts = start
        self.syn_seen = False  # the client's SYN itself was captured (so an RTT can be measured)
        self.handshake_ts = start
        self.fin_ts = start
        self.reported = start  # the latest end reported: durations never shrink
        self.state = state
        self.flags = 0
        self.rtt: float | None = None
        self.partial = isn is None
        self.packets = 0
        self.server_packets = 0
        self.retransmits = 0
        self.alive = True
        self.client = _Side(None if isn is None else (isn + 1) & MASK)
        self.server = _Side(None)


_NO_EVENTS: tuple[TcpEvent, ...] = ()
_new_event = tuple.__new__  # builds a TcpEvent (every field given) without NamedTuple's __new__
_COMPACT_FLOOR = 1024


class _Schedule:
    """Connection deadlines in time order.

    A finished connection's deadlines are skipped when due; when skipped ones pile up (a burst
    of short connections within one interval), the queue is rebuilt without them, so memory
    follows the open connections rather than the interval times the connection rate.
    """

    __slots__ = ("_limit", "_queue")

    def __init__(self) -> None:
        self._queue: deque[tuple[float, _Connection]] = deque()
        self._limit = _COMPACT_FLOOR

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, deadline: float, connection: _Connection) -> None:
        """Schedule ``connection`` at ``deadline`` (deadlines come roughly in time order)."""
        queue = self._queue
        queue.append((deadline, connection))
        if len(queue) > self._limit:
            self._queue = queue = deque(item for item in queue if item[1].alive)
            self._limit = max(_COMPACT_FLOOR, 2 * len(queue))

    def due(self, now: float) -> Iterator[tuple[float, _Connection]]:
        """Remove and yield the deadlines up to ``now`` of connections still tracked."""
        queue = self._queue
        while queue and queue[0][0] <= now:
            item = queue.popleft()
            if item[1].alive:
                yield item

    def clear(self) -> None:
        """Forget every deadline."""
        self._queue.clear()


def guess_client_first(sport: int, dport: int) -> bool:
    """Guess whether the sender of a mid-connection packet (ports sport -> dport) is the client.

    The side whose port looks like a service (well-known, then lower, and not ephemeral) is the
    server: 43122 -> 8080 is a client sending, 443 -> 51000 a server sending.
    """

    def server_likeness(port: int) -> tuple[int, int]:
        rank = 0 if port < _WELL_KNOWN_HIGH else 2 if port >= _EPHEMERAL_LOW else 1
        return rank, port

    return server_likeness(dport) < server_likeness(sport)


class TcpTracker:
    """Tracks TCP connections from decoded packets and reports their events."""

    def __init__(
        self,
        *,
        full: bool,
        syn_timeout: float,
        close_timeout: float,
        ongoing_interval: float,
        payload_bytes: int,
        max_connections: int,
        tombstone_seconds: float,
        idle_timeout: float = 300.0,
    ) -> None:
        self._full = full
        self._idle_timeout = idle_timeout
        self._syn_timeout = syn_timeout
        self._close_timeout = close_timeout
        self._ongoing_interval = ongoing_interval
        self._payload_bytes = payload_bytes
        self._max_connections = max_connections
        self._tombstone_seconds = tombstone_seconds
        self._flows: dict[bytes, tuple[_Connection, bool]] = {}
        self._connections: OrderedDict[bytes, _Connection] = OrderedDict()
        # client key, ISN, expiry, start: by the key of either direction
        self._tombstones: dict[bytes, tuple[bytes, int | None, float, float]] = {}
        self._tombstone_expiry: deque[tuple[float, bytes, bytes]] = deque()
        self._handshake_deadlines = _Schedule()
        self._close_deadlines = _Schedule()
        self._ongoing_due = _Schedule()
        self.evicted = 0
        self.expired = 0
        self.late_packets = 0

    @property
    def open_connections(self) -> int:
        """How many connections are tracked now."""
        return len(self._connections)

    def packet(self, ts: float, packet: Packet) -> Sequence[TcpEvent]:
        """Account one TCP segment; return the events it completes (usually none)."""
        flags = packet.flags
        if self._full and not flags & CONTROL:
            events = self.segment(
                ts,
                packet.key,
                flags,
                packet.seq,
                packet.ack,
                packet.data,
                packet.payload_start,
                packet.payload_len,
                packet.captured_end,
            )
            return self._first_packet(ts, packet) if events is None else events
        found = self._flows.get(packet.key)
        if found is None:
            return self._first_packet(ts, packet)
        connection, from_client = found
        if connection.state in HANDSHAKE_STATES and self._handshake_overdue(connection, ts):
            return (self._time_out(connection, ts), *self._first_packet(ts, packet))
        connection.last = ts
        connection.flags |= flags
        connection.packets += 1
        if not from_client:
            connection.server_packets += 1
        if flags & CONTROL:
            return self._control(ts, packet, connection, from_client)
        return _NO_EVENTS  # connections mode follows SYN, FIN and RST only

    def segment(  # noqa: PLR0917 (per packet: positional arguments are the cheapest)
        self,
        ts: float,
        key: bytes,
        flags: int,
        seq: int,
        ack: int,
        data: bytes,
        payload_start: int,
        payload_len: int,
        captured_end: int,
    ) -> Sequence[TcpEvent] | None:
        """Full mode: account a segment without SYN, FIN or RST, like :meth:`packet`.

        The segment is given by its fields (see :class:`Packet`), so that the pipeline need not
        build a Packet for the bulk of the traffic. Return its events, or None, having changed
        nothing, when it is the first packet of its flow: it needs :meth:`packet`.
        """
        found = self._flows.get(key)
        if found is None:
            tombstone = self._tombstones.get(key)
            if tombstone is not None and tombstone[2] > ts:  # e.g. the last ACK of a closed one
                self.late_packets += 1
                return _NO_EVENTS
            return None
        connection, from_client = found
        connection.last = ts
        connection.flags |= flags
        connection.packets += 1
        if not from_client:
            connection.server_packets += 1
        events = _NO_EVENTS
        if connection.state is SYN_RECEIVED and flags & ACK:
            events = (self._establish(ts, ack, connection, from_client),)
        if payload_len:
            side = connection.client if from_client else connection.server
            self._data(connection, side, seq, data, payload_start, payload_len, captured_end)
        return events

    def unreachable(
        self, ts: float, inner: InnerTuple, note: str, event: str = "timeout"
    ) -> Sequence[TcpEvent]:
        """End the connection attempt an ICMP error answered (``event``, with a note)."""
        found = self._flows.get(inner.key)
        if found is None or not found[1] or found[0].state not in HANDSHAKE_STATES:
            return _NO_EVENTS
        connection = found[0]
        return (self._finish(connection, event, ts, note=note),)

    def tick(self, now: float) -> list[TcpEvent]:
        """Report handshake timeouts, one-sided closes and ongoing connections due by ``now``."""
        events: list[TcpEvent] = []
        for deadline, connection in self._handshake_deadlines.due(now):
            if connection.state in HANDSHAKE_STATES and self._handshake_overdue(
                connection, deadline
            ):
                events.append(self._time_out(connection, deadline))
        for _, connection in self._close_deadlines.due(now):
            if connection.state is FIN_WAIT:
                events.append(self._finish(connection, "close", connection.fin_ts))
        for _, connection in list(self._ongoing_due.due(now)):
            if self._full and now - connection.last >= self._idle_timeout:
                events.append(self._expire(connection, now, f"idle {now - connection.last:.0f} s"))
                continue
            events.append(self._report(connection, "ongoing", now))
            self._ongoing_due.add(now + self._ongoing_interval, connection)
        expiry = self._tombstone_expiry
        while expiry and expiry[0][0] <= now:
            _, client_key, server_key = expiry.popleft()
            tombstone = self._tombstones.get(client_key)
            if tombstone is not None and tombstone[2] <= now:
                self._bury_remove(client_key, server_key)
        return events

    def flush(self, now: float) -> list[TcpEvent]:
        """End of capture: report due timeouts, then every open connection: ``timeout`` if still
        in its handshake, else ``ongoing`` up to ``now``."""
        events = self.tick(now)
        for connection in list(self._connections.values()):
            if connection.state in HANDSHAKE_STATES:
                events.append(self._time_out(connection, now))
            else:
                events.append(self._report(connection, "ongoing", max(now, connection.last)))
                self._forget(connection)
        self._handshake_deadlines.clear()
        self._close_deadlines.clear()
        self._ongoing_due.clear()
        return events

    # --- timeouts and expiry -----------------------------------------------------------------

    def _handshake_overdue(self, connection: _Connection, now: float) -> bool:
        """Whether ``syn_timeout`` passed by ``now`` since the handshake's last SYN/SYN-ACK."""
        return connection.handshake_ts + self._syn_timeout <= now

    def _time_out(self, connection: _Connection, now: float) -> TcpEvent:
        """End an attempt whose handshake got no answer: its span is its own packets' (first to
        last SYN or SYN-ACK), its tombstone dates from ``now``."""
        return self._finish(connection, "timeout", connection.last, bury_at=now)

    def _expire(self, connection: _Connection, now: float, note: str) -> TcpEvent:
        """Stop following a connection whose end was not seen (idle, or the table is full): it
        ends at its last packet, or its last report if later (durations never shrink)."""
        self.expired += 1
        return self._finish(connection, "expired", connection.last, note=note, bury_at=now)

    def _make_room(self, now: float) -> Sequence[TcpEvent]:
        """With the table full, evict the oldest connection, reporting it as ``expired``."""
        if len(self._connections) < self._max_connections:
            return _NO_EVENTS
        oldest = next(iter(self._connections.values()))
        self.evicted += 1
        if oldest.state in HANDSHAKE_STATES:
            return (self._time_out(oldest, now),)
        return (self._expire(oldest, now, "table full"),)

    def _retried(self, ts: float, tombstone: tuple[bytes, int | None, float, float]) -> None:
        """A SYN retransmitted for an attempt already reported: keep its tombstone until the
        next retry can come (retries back off exponentially: the next one after a SYN sent
        ``t`` s into the attempt comes about ``t`` s later)."""
        client_key, isn, expiry, start = tombstone
        expiry = max(expiry, ts + max(self._tombstone_seconds, 2 * (ts - start)))
        server_key = reverse_key(client_key)
        self._tombstones[client_key] = self._tombstones[server_key] = (
            client_key,
            isn,
            expiry,
            start,
        )
        self._tombstone_expiry.append((expiry, client_key, server_key))

    # --- first packet of a 4-tuple -----------------------------------------------------------

    def _first_packet(self, ts: float, packet: Packet) -> Sequence[TcpEvent]:
        flags = packet.flags
        is_syn = flags & (SYN | ACK) == SYN
        tombstone = self._tombstones.get(packet.key)
        if tombstone is not None and tombstone[2] > ts:
            client_key, isn, _, _ = tombstone
            if not (is_syn and packet.key == client_key and packet.seq != isn):
                self.late_packets += 1
                if is_syn and packet.key == client_key:
                    self._retried(ts, tombstone)
                return _NO_EVENTS
            self._bury_remove(client_key, reverse_key(client_key))
        evicted = self._make_room(ts)
        if is_syn:
            connection = _Connection(packet.key, packet.seq, ts, SYN_SENT)
            connection.syn_seen = True
            self._track(connection)
            connection.flags = flags
            connection.packets = 1
            self._handshake_deadlines.add(ts + self._syn_timeout, connection)
            if self._full and packet.payload_len:
                self._absorb(packet, connection, True)
            return evicted
        if flags & (SYN | ACK) == SYN | ACK:
            connection = _Connection(reverse_key(packet.key), (packet.ack - 1) & MASK, ts, SYN_SENT)
            self._track(connection)
            return (*evicted, *self.packet(ts, packet))
        client_first = guess_client_first(packet.sport, packet.dport)
        client_key = packet.key if client_first else reverse_key(packet.key)
        connection = _Connection(client_key, None, ts, ESTABLISHED)
        self._track(connection)
        self._ongoing_due.add(ts + self._ongoing_interval, connection)
        return (*evicted, *self.packet(ts, packet))

    def _track(self, connection: _Connection) -> None:
        key = connection.client_key
        self._connections[key] = connection
        self._flows[key] = (connection, True)
        self._flows[connection.server_key] = (connection, False)

    # --- SYN, FIN and RST --------------------------------------------------------------------

    def _control(
        self, ts: float, packet: Packet, connection: _Connection, from_client: bool
    ) -> Sequence[TcpEvent]:
        flags = packet.flags
        if flags & RST:
            return self._reset(ts, packet, connection, from_client)
        if flags & SYN:
            if flags & ACK:
                return self._syn_ack(ts, packet, connection, from_client)
            return self._syn(ts, packet, connection, from_client)
        return self._fin(ts, packet, connection, from_client)

    def _syn(
        self, ts: float, packet: Packet, connection: _Connection, from_client: bool
    ) -> Sequence[TcpEvent]:
        if not from_client:  # simultaneous open: too rare to model, the client's SYN rules
            return _NO_EVENTS
        if packet.seq == connection.isn:
            connection.retransmits += 1
            connection.syn_ts = connection.handshake_ts = ts
            self._handshake_deadlines.add(ts + self._syn_timeout, connection)
            return _NO_EVENTS
        event = "timeout" if connection.state in HANDSHAKE_STATES else "close"
        ended = self._finish(connection, event, connection.last, bury=False)
        return (ended, *self._first_packet(ts, packet))

    def _syn_ack(
        self, ts: float, packet: Packet, connection: _Connection, from_client: bool
    ) -> Sequence[TcpEvent]:
        if from_client:
            return _NO_EVENTS
        if connection.server_isn is not None:
            if packet.seq == connection.server_isn:
                connection.retransmits += 1
            return _NO_EVENTS
        connection.server_isn = packet.seq
        connection.server.base = (packet.seq + 1) & MASK
        connection.handshake_ts = ts
        if connection.syn_seen and connection.isn == (packet.ack - 1) & MASK:
            connection.rtt = ts - connection.syn_ts
        connection.flags |= packet.flags
        if self._full:
            connection.state = SYN_RECEIVED
            self._handshake_deadlines.add(ts + self._syn_timeout, connection)
            return _NO_EVENTS
        return (self._connected(connection, ts),)

    def _establish(
        self, ts: float, ack: int, connection: _Connection, from_client: bool
    ) -> TcpEvent:
        """Full mode: the handshake's last ACK (or the first later segment) was seen; ``rtt``
        stays SYN to SYN-ACK, as in connections mode."""
        return self._connected(connection, ts)

    def _connected(self, connection: _Connection, ts: float) -> TcpEvent:
        connection.state = ESTABLISHED
        self._ongoing_due.add(ts + self._ongoing_interval, connection)
        return self._report(connection, "connect", ts)

    def _fin(
        self, ts: float, packet: Packet, connection: _Connection, from_client: bool
    ) -> Sequence[TcpEvent]:
        events: list[TcpEvent] = []
        if connection.state in HANDSHAKE_STATES:
            if connection.server_isn is None:
                connection.state = ESTABLISHED  # FIN before any SYN-ACK: no handshake to report
            else:
                events.append(self._establish(ts, packet.ack, connection, from_client))
        side, peer = (
            (connection.client, connection.server)
            if from_client
            else (connection.server, connection.client)
        )
        if self._full and packet.payload_len:
            self._absorb(packet, connection, from_client)
        if side.base is None:
            side.base = packet.seq
        if side.fin is None:
            position = side.position(packet.seq, self._full) + packet.payload_len
            side.high = side.fin = max(position, 0)  # the FIN fixes where this side's bytes end
        elif not packet.payload_len:
            connection.retransmits += 1  # the same FIN again
        self._peer_acknowledged(packet, peer)
        if peer.fin is not None:
            connection.state = CLOSED
            events.append(self._finish(connection, "close", ts))
        elif connection.state is not FIN_WAIT:
            connection.state = FIN_WAIT
            connection.fin_ts = ts
            self._close_deadlines.add(ts + self._close_timeout, connection)
        return events

    def _reset(
        self, ts: float, packet: Packet, connection: _Connection, from_client: bool
    ) -> Sequence[TcpEvent]:
        if connection.server_isn is None and connection.state is SYN_SENT:
            connection.state = RESET
            if from_client:
                return (self._finish(connection, "reset", ts, reset_by="client"),)
            return (self._finish(connection, "refused", ts, reset_by="server"),)
        side, peer = (
            (connection.client, connection.server)
            if from_client
            else (connection.server, connection.client)
        )
        if side.base is not None:
            side.reach(side.position(packet.seq, self._full))
        self._peer_acknowledged(packet, peer)
        connection.state = RESET
        return (
            self._finish(connection, "reset", ts, reset_by="client" if from_client else "server"),
        )

    def _peer_acknowledged(self, packet: Packet, peer: _Side) -> None:
        if packet.flags & ACK and peer.base is not None:
            peer.reach(peer.position(packet.ack, self._full))

    # --- payload (full mode) -----------------------------------------------------------------

    def _absorb(self, packet: Packet, connection: _Connection, from_client: bool) -> None:
        side = connection.client if from_client else connection.server
        seq = packet.seq + 1 if packet.flags & SYN else packet.seq
        self._data(connection, side, seq, packet.data, packet.payload_start, packet.payload_len,
                   packet.captured_end)  # fmt: skip

    def _data(  # noqa: PLR0917 (per packet: positional arguments are the cheapest)
        self,
        connection: _Connection,
        side: _Side,
        seq: int,
        data: bytes,
        payload_start: int,
        payload_len: int,
        captured_end: int,
    ) -> None:
        """Account ``payload_len`` bytes sent by ``side`` from ``seq``: position, retransmission,
        preview (``_Side.position`` inlined: this runs for most packets in full mode)."""
        base = side.base
        if base is None:
            side.base = base = seq
        high = side.high
        delta = (seq - base - high) & MASK
        if delta >= HALF:  # starts before the highest byte seen: a retransmission
            delta -= SPAN
            connection.retransmits += 1
        if delta + payload_len > 0 and side.fin is None:
            side.high = high + delta + payload_len
        if side.preview_open:
            self._preview(side, high + delta, data, payload_start, payload_len, captured_end)

    def _preview(  # noqa: PLR0917 (per packet: positional arguments are the cheapest)
        self,
        side: _Side,
        start: int,
        data: bytes,
        payload_start: int,
        payload_len: int,
        captured_end: int,
    ) -> None:
        limit = self._payload_bytes
        have = len(side.preview)
        if start > have:
            if side.pending is None:
                side.pending = {}
            if start < limit and len(side.pending) < _MAX_PENDING_SEGMENTS:
                side.pending[start] = data[payload_start:captured_end][: limit - start]
            return
        captured = captured_end - payload_start
        if start + captured > have:
            chunk_start = payload_start + have - start
            side.preview += data[chunk_start : chunk_start + limit - have]
        if captured < payload_len and start + captured < limit:
            side.preview_open = False  # the capture cut this segment: the stream has a hole
        pending = side.pending
        while pending and len(side.preview) < limit and side.preview_open:
            have = len(side.preview)
            ready = [offset for offset in pending if offset <= have]
            if not ready:
                break
            for offset in ready:
                chunk = pending.pop(offset)
                if offset + len(chunk) > len(side.preview):
                    side.preview += chunk[len(side.preview) - offset : limit - offset]
        if len(side.preview) >= limit:
            side.preview_open = False
        if not side.preview_open:
            side.pending = None

    # --- reporting ---------------------------------------------------------------------------

    def _finish(
        self,
        connection: _Connection,
        event: str,
        end: float,
        *,
        reset_by: str = "",
        note: str = "",
        bury: bool = True,
        bury_at: float | None = None,
    ) -> TcpEvent:
        report = self._report(connection, event, end, reset_by=reset_by, note=note)
        self._forget(connection)
        if bury:
            self._bury(connection, end if bury_at is None else bury_at)
        return report

    def _report(
        self, connection: _Connection, event: str, end: float, *, reset_by: str = "", note: str = ""
    ) -> TcpEvent:
        client, server, client_port, server_port = split_key(connection.client_key)
        known_sizes = self._full or not connection.partial
        end = connection.reported = max(end, connection.reported)
        return _new_event(TcpEvent, (
            event,
            client,
            client_port,
            server,
            server_port,
            connection.start,
            end,
            connection.state,
            connection.flags,
            connection.rtt,
            connection.client.high if known_sizes else None,
            connection.server.high if known_sizes else None,
            connection.partial,
            reset_by,
            connection.packets if self._full else None,
            connection.retransmits if self._full else None,
            bytes(connection.client.preview),
            bytes(connection.server.preview),
            note,
            connection.isn,
            connection.server_isn,
            connection.server_packets if self._full else None,
        ))  # fmt: skip

    def _forget(self, connection: _Connection) -> None:
        connection.alive = False
        key = connection.client_key
        self._connections.pop(key, None)
        self._flows.pop(key, None)
        self._flows.pop(connection.server_key, None)

    def _bury(self, connection: _Connection, ts: float) -> None:
        expiry = ts + self._tombstone_seconds
        client_key, server_key = connection.client_key, connection.server_key
        tombstones = self._tombstones
        while len(tombstones) >= 2 * self._max_connections and self._tombstone_expiry:
            _, oldest, oldest_reverse = self._tombstone_expiry.popleft()
            self._bury_remove(oldest, oldest_reverse)
        tombstones[client_key] = tombstones[server_key] = (
            client_key,
            connection.isn,
            expiry,
            connection.start,
        )
        self._tombstone_expiry.append((expiry, client_key, server_key))

    def _bury_remove(self, client_key: bytes, server_key: bytes) -> None:
        self._tombstones.pop(client_key, None)
        self._tombstones.pop(server_key, None)
