"""Cross-worker dedupe: one connection reported by two workers is one entry in the hub.

Two copies of an entry reach the hub in two ways:

- redelivery: the publisher sends a batch again after a dropped Redis connection, so the same
  entry ``id`` arrives twice;
- two vantage points: the client's node and the server's node both capture the connection and
  report the same event (``connect``, ``close``...) under different ids.

The second kind is recognised by the event's identity, ``(protocol, src ip, src port, dst ip,
dst port, what happened)`` where "what happened" is the TCP event, the DNS query or the ICMP
type and code, reported by another worker with a ``timestamp`` within ``window_ms`` (node clocks
differ a little). The first report wins. Reports from the same worker are never merged: repeated
``ongoing`` reports of one connection are updates, not duplicates. The client ISN, the workers'
own identity for a connection, is not on the wire, so a port reused within the window by a new
connection seen on another node only could be merged wrongly; the window keeps that rare.

Both memories are bounded (oldest forgotten first), so memory stays flat at any entry rate.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from capture.schema import Entry

DEFAULT_WINDOW_MS = 2_000
DEFAULT_MEMORY = 50_000  # ids and events remembered: 2.5 s at 20,000 entries/s

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
        if window_ms < 0 or memory < 1:
            raise ValueError("window_ms must be >= 0 and memory >= 1")
        self._window_ms = window_ms
        self._memory = memory
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._events: OrderedDict[EventKey, tuple[str, int]] = OrderedDict()
        self.stats = MergeStats()

    def is_duplicate(self, entry: Entry) -> bool:
        """True if ``entry`` was already accepted (same id, or same event from another worker)."""
        if entry.id in self._ids:
            self.stats.redelivered += 1
            return True
        self._remember_id(entry.id)
        key = event_key(entry)
        seen = self._events.get(key)
        if seen is not None:
            worker, timestamp = seen
            if worker != entry.worker and abs(timestamp - entry.timestamp) <= self._window_ms:
                self.stats.merged += 1
                return True
        self._events[key] = (entry.worker, entry.timestamp)
        self._events.move_to_end(key)
        if len(self._events) > self._memory:
            self._events.popitem(last=False)
        return False

    def _remember_id(self, entry_id: str) -> None:
        self._ids[entry_id] = None
        if len(self._ids) > self._memory:
            self._ids.popitem(last=False)


def event_key(entry: Entry) -> EventKey:
    """The identity of what an entry reports, independent of the worker that saw it."""
    if entry.tcp is not None:
        what = entry.tcp.event
    elif entry.dns is not None:
        what = f"{entry.dns.qtype} {entry.dns.query}"
    elif entry.icmp is not None:
        what = f"{entry.icmp.type}/{entry.icmp.code}"
    else:
        what = ""
    src, dst = entry.src, entry.dst
    return (entry.protocol.name, src.ip, src.port, dst.ip, dst.port, what)
