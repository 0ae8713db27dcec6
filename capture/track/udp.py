"""UDP flows (``full`` mode): packets and bytes each way per 5-tuple, reported when idle.

The first sender of a flow is its client. A flow is reported once, when no packet was seen in
either direction for ``idle_timeout`` seconds (or at the end of the capture). At most
``max_flows`` are tracked; the oldest is evicted and counted when a new one would exceed that.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import NamedTuple

from capture.decode.packets import Packet, reverse_key, split_key


class UdpEvent(NamedTuple):
    """One finished (idle) UDP flow."""

    client: bytes
    client_port: int
    server: bytes
    server_port: int
    start: float
    end: float
    packets: int
    request_size: int
    response_size: int
    response_packets: int
    """Of ``packets``, those the server sent."""


class _Flow:
    """The counters of one UDP flow."""

    __slots__ = (
        "alive",
        "client_key",
        "last",
        "packets",
        "received",
        "received_packets",
        "sent",
        "start",
    )

    def __init__(self, client_key: bytes, start: float) -> None:
        self.client_key = client_key
        self.start = start
        self.last = start
        self.packets = 0
        self.received_packets = 0
        self.sent = 0
        self.received = 0
        self.alive = True


class UdpTracker:
    """Counts UDP datagrams per flow and reports flows that went idle."""

    def __init__(self, *, idle_timeout: float, max_flows: int) -> None:
        self._idle_timeout = idle_timeout
        self._max_flows = max_flows
        self._flows: dict[bytes, tuple[_Flow, bool]] = {}
        self._by_client: OrderedDict[bytes, _Flow] = OrderedDict()
        self._idle_checks: deque[tuple[float, _Flow]] = deque()
        self.evicted = 0

    @property
    def open_flows(self) -> int:
        """How many flows are tracked now."""
        return len(self._by_client)

    def packet(self, ts: float, packet: Packet) -> None:
        """Count one datagram in its flow, opening the flow if it is new."""
        found = self._flows.get(packet.key)
        if found is None:
            flow = self._open(ts, packet.key)
            from_client = True
        else:
            flow, from_client = found
        flow.last = ts
        flow.packets += 1
        if from_client:
            flow.sent += packet.payload_len
        else:
            flow.received += packet.payload_len
            flow.received_packets += 1

    def tick(self, now: float) -> list[UdpEvent]:
        """Report (and forget) the flows idle for ``idle_timeout`` by ``now``."""
        events = []
        checks = self._idle_checks
        while checks and checks[0][0] <= now:
            _, flow = checks.popleft()
            if not flow.alive:
                continue
            idle_at = flow.last + self._idle_timeout
            if idle_at <= now:
                events.append(self._finish(flow))
            else:
                checks.append((idle_at, flow))
        return events

    def flush(self, now: float) -> list[UdpEvent]:
        """End of capture: report every flow still open."""
        events = self.tick(now)
        events.extend(self._finish(flow) for flow in list(self._by_client.values()))
        self._idle_checks.clear()
        return events

    def _open(self, ts: float, key: bytes) -> _Flow:
        if len(self._by_client) >= self._max_flows:
            _, oldest = self._by_client.popitem(last=False)
            self._forget(oldest)
            self.evicted += 1
        flow = _Flow(key, ts)
        self._by_client[key] = flow
        self._flows[key] = (flow, True)
        self._flows[reverse_key(key)] = (flow, False)
        self._idle_checks.append((ts + self._idle_timeout, flow))
        return flow

    def _finish(self, flow: _Flow) -> UdpEvent:
        self._forget(flow)
        client, server, client_port, server_port = split_key(flow.client_key)
        return UdpEvent(
            client=client,
            client_port=client_port,
            server=server,
            server_port=server_port,
            start=flow.start,
            end=flow.last,
            packets=flow.packets,
            request_size=flow.sent,
            response_size=flow.received,
            response_packets=flow.received_packets,
        )

    def _forget(self, flow: _Flow) -> None:
        flow.alive = False
        self._by_client.pop(flow.client_key, None)
        self._flows.pop(flow.client_key, None)
        self._flows.pop(reverse_key(flow.client_key), None)
