"""Cross-worker dedupe: one connection reported by two workers is one entry in the hub.

Two copies of an entry reach the hub in two ways:

- redelivery: the publisher sends a batch again after a dropped Redis connection, so the same
  entry ``id`` arrives twice;
- two vantage points: the client's node and the server's node both capture the connection and
  report the same event (``connect``, ``close``...) under different ids.

The second kind is recognised by the event's identity, reported by another worker with a
``timestamp`` within ``window_ms`` (node clocks differ a little). A TCP entry's identity is NAT-
proof: its client ISN (``tcp.isn``, which no NAT rewrites), the endpoint reached (``dst``: each
worker reports the backend after DNAT) and its event, so the client's node (which saw the SNAT
and the Service dialed) and the server's node (which saw the SNAT address as the client) report
one connection. Other entries are ``(protocol, src ip, src port, dst ip, dst port, what
happened)`` where "what happened" is the DNS query or the ICMP type and code. The first report
wins; :mod:`dashboard.core.ingest.vantage` makes it the client's node's where that node
reports. Reports from the same worker are never merged: repeated ``ongoing`` reports of one
connection are updates, not duplicates.

Both memories are bounded, so memory stays flat at any entry rate. Each is two generations of
plain dicts: the current one fills to half the memory, then replaces the previous one, which is
forgotten whole. An id or event is therefore remembered until at least half the memory's worth
of newer ones have come, and never more than the whole memory is held. (An LRU kept in an
``OrderedDict`` forgets one key at a time but costs a third more per entry.)
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.schema import Entry

DEFAULT_WINDOW_MS = 2_000
DEFAULT_MEMORY = 100_000  # ids and events held: each one for at least 2.5 s at 20,000 entries/s

EventKey = tuple[str, str, int, str, int, str]


@dataclass(slots=True)
class MergeStats:
    """What the merger dropped: ``redelivered`` ids and ``merged`` cross-worker copies."""

    redelivered: int = 0
    merged: int = 0

    def to_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return {"redelivered": self.redelivered, "merged": self.merged}


class Merger:
    """Says whether an entry repeats one already accepted (see the module docstring)."""

    def __init__(self, window_ms: int = DEFAULT_WINDOW_MS, memory: int = DEFAULT_MEMORY) -> None:
        if window_ms < 0 or memory < 2:
            raise ValueError("window_ms must be >= 0 and memory >= 2")
        self._window_ms = window_ms
        self._generation = memory // 2
        self._ids: dict[str, None] = {}
        self._old_ids: dict[str, None] = {}
        self._events: dict[EventKey, tuple[str, int]] = {}
        self._old_events: dict[EventKey, tuple[str, int]] = {}
        self.stats = MergeStats()

    def is_duplicate(self, entry: Entry) -> bool:
        """True if ``entry`` was already accepted (same id, or same event from another worker)."""
        entry_id = entry.id
        if entry_id in self._ids or entry_id in self._old_ids:
            self.stats.redelivered += 1
            return True
        self._ids[entry_id] = None
        if len(self._ids) >= self._generation:
            self._old_ids, self._ids = self._ids, {}
        key = event_key(entry)
        seen = self._events.get(key) or self._old_events.get(key)
        if seen is not None:
            worker, timestamp = seen
            if worker != entry.worker and abs(timestamp - entry.timestamp) <= self._window_ms:
                self.stats.merged += 1
                return True
        self._events[key] = (entry.worker, entry.timestamp)
        if len(self._events) >= self._generation:
            self._old_events, self._events = self._events, {}
        return False


def event_key(entry: Entry) -> EventKey:
    """The identity of what an entry reports, independent of the worker that saw it."""
    tcp = entry.tcp
    if tcp is not None:
        if tcp.isn is not None:
            return ("tcp", f"isn {tcp.isn}", 0, entry.dst.ip, entry.dst.port, tcp.event)
        what = tcp.event
    elif entry.dns is not None:
        what = f"{entry.dns.qtype} {entry.dns.query}"
    elif entry.icmp is not None:
        what = f"{entry.icmp.type}/{entry.icmp.code}"
    else:
        what = ""
    src, dst = entry.src, entry.dst
    return (entry.protocol.name, src.ip, src.port, dst.ip, dst.port, what)
