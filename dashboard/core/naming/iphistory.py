"""Who held an address, and when: a short, bounded history per key, queried by timestamp.

A key is an IP (``"10.1.2.3"``) or an (IP, port) pair for host ports. Each holding is
``[start, end)`` in ms since epoch, ``end`` None while the holder still has it. Kubernetes
reuses pod IPs quickly, so an entry must be named after whoever held the address when the
connection started, not whoever holds it now.

Rules, with holdings sorted by start:

- at time t, the holder is the latest holding that started at or before t, if it had not ended
  by t (a gap between two holders resolves to no one);
- a time before every known holding resolves to the first one (nothing earlier is known);
- tenures do not overlap: a newer holder ends an older open holding at its own start, and starts
  no earlier than the end of the holding before it (deletions are seen late, start times early);
- at most ``depth`` holdings per key are kept (the oldest go first), and :meth:`prune` drops the
  holdings that ended before a cut-off time.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable
from typing import Generic, TypeVar

HolderT = TypeVar("HolderT", bound=Hashable)
AddressKey = str | tuple[str, int]


class Holding(Generic[HolderT]):
    """One holder's tenure of an address: ``[start, end)``, ``end`` None while it lasts."""

    __slots__ = ("end", "holder", "start")

    def __init__(self, holder: HolderT, start: int, end: int | None = None) -> None:
        self.holder = holder
        self.start = start
        self.end = end

    def __repr__(self) -> str:
        return f"Holding({self.holder!r}, {self.start}, {self.end})"


class IpHistory(Generic[HolderT]):
    """Per-address tenure history; not thread-safe (the index holds the lock)."""

    def __init__(self, depth: int = 8) -> None:
        if depth < 1:
            raise ValueError(f"history depth must be at least 1, got {depth}")
        self._depth = depth
        self._by_key: dict[AddressKey, list[Holding[HolderT]]] = {}

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __len__(self) -> int:
        return len(self._by_key)

    def claim(self, key: AddressKey, holder: HolderT, start: int, end: int | None = None) -> None:
        """Record that ``holder`` holds ``key`` over ``[start, end)`` (once per holder and key)."""
        holdings = self._by_key.setdefault(key, [])
        if any(h.holder == holder for h in holdings):
            return
        holdings.append(Holding(holder, start, end))
        _normalize(holdings)
        del holdings[: -self._depth]

    def release(self, key: AddressKey, holder: HolderT, end: int) -> None:
        """Record that ``holder`` gave ``key`` up at ``end`` (no-op if it holds nothing open)."""
        for holding in self._by_key.get(key, ()):
            if holding.holder == holder and holding.end is None:
                holding.end = max(holding.start, end)

    def holder_at(self, key: AddressKey, at_ms: int) -> HolderT | None:
        """Who held ``key`` at ``at_ms``, or None (unknown key, or a gap between holders)."""
        holdings = self._by_key.get(key)
        if not holdings:
            return None
        for holding in reversed(holdings):
            if holding.start <= at_ms:
                if holding.end is not None and at_ms >= holding.end:
                    return None
                return holding.holder
        return holdings[0].holder

    def holdings(self, key: AddressKey) -> tuple[Holding[HolderT], ...]:
        """The holdings of ``key``, oldest first (for inspection and tests)."""
        return tuple(self._by_key.get(key, ()))

    def prune(self, before_ms: int) -> set[HolderT]:
        """Drop holdings that ended before ``before_ms``; return the holders left with none."""
        dropped: set[HolderT] = set()
        kept: set[HolderT] = set()
        for key in list(self._by_key):
            holdings = self._by_key[key]
            for holding in holdings:
                expired = holding.end is not None and holding.end < before_ms
                (dropped if expired else kept).add(holding.holder)
            holdings[:] = [h for h in holdings if h.end is None or h.end >= before_ms]
            if not holdings:
                del self._by_key[key]
        return dropped - kept


def _normalize(holdings: list[Holding[HolderT]]) -> None:
    """Sort by start and make the tenures consecutive, never overlapping."""
    holdings.sort(key=lambda h: h.start)
    for before, after in itertools.pairwise(holdings):
        if before.end is None:
            before.end = max(before.start, after.start)
        elif before.end > after.start:
            after.start = before.end if after.end is None else min(before.end, after.end)
