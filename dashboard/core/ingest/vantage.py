"""The client's node speaks for a connection: a server node's report waits for it a moment.

A connection between pods on two nodes is captured by both nodes' workers, and the hub's merge
(:mod:`dashboard.core.ingest.merge`) keeps the first report. Only the client's node saw what its
NAT rewrote (the Service VIP the client dialed, the SNAT address): a report from the server's
node, which saw the connection after DNAT, must not win by arriving first, or the entry loses
its "via service X". So a report is held for ``hold_ms`` when the worker that made it is not on
the client's node and the client's node has a worker of its own: if the client's node reports
the same event meanwhile, the held copy is merged away when released; if it does not (its
worker is not targeting the client, or lost the packets), the held copy is the entry, late by
``hold_ms``.

A report that carries a ``nat`` section was made where the rewrite happened and is never held,
nor is anything while one node alone has a worker (the embedded default, a one-node cluster).
Held reports are bounded: past ``capacity``, the oldest is released at once (early, not lost).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from contract.schema import Entry

DEFAULT_HOLD_SECONDS = 1.0
DEFAULT_CAPACITY = 50_000
"""Held reports at most: a second of 50,000 entries/s of cross-node traffic."""

Item = TypeVar("Item")


@dataclass(slots=True)
class HoldStats:
    """Reports ``held`` so far and how many were let go ``early`` because the hold was full."""

    held: int = 0
    early: int = 0


class VantageHold(Generic[Item]):
    """Holds the server node's reports of cross-node connections (see the module docstring)."""

    def __init__(
        self,
        node_of: Callable[[str, int], str],
        *,
        hold_seconds: float = DEFAULT_HOLD_SECONDS,
        capacity: int = DEFAULT_CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if hold_seconds < 0 or capacity < 1:
            raise ValueError("hold_seconds must be >= 0 and capacity >= 1")
        self._node_of = node_of
        self._hold_seconds = hold_seconds
        self._capacity = capacity
        self._clock = clock
        self._nodes: frozenset[str] = frozenset()
        self._held: deque[tuple[float, Item]] = deque()
        self.stats = HoldStats()

    def __len__(self) -> int:
        return len(self._held)

    def set_reporting_nodes(self, nodes: Iterable[str]) -> None:
        """The nodes whose workers report now (from their stats snapshots)."""
        self._nodes = frozenset(node for node in nodes if node)

    def wants(self, entry: Entry) -> bool:
        """True if ``entry`` is a server node's report that the client's node may also make."""
        nodes = self._nodes
        if len(nodes) < 2 or entry.nat is not None:
            return False
        client_node = self._node_of(entry.src.ip, entry.timestamp)
        return client_node != entry.node.name and client_node in nodes

    def hold(self, item: Item) -> list[Item]:
        """Hold ``item``; return what a full hold lets go early to make room (oldest first)."""
        self._held.append((self._clock() + self._hold_seconds, item))
        self.stats.held += 1
        early = []
        while len(self._held) > self._capacity:
            early.append(self._held.popleft()[1])
            self.stats.early += 1
        return early

    def due(self) -> list[Item]:
        """The held items whose time is up, oldest first."""
        held, now, released = self._held, self._clock(), []
        while held and held[0][0] <= now:
            released.append(held.popleft()[1])
        return released
