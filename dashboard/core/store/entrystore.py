"""The hub's bounded store: the newest N named wire entries, each with a hub sequence number.

Sequence numbers grow by one per stored entry, so they are cursors: ``newest(before=seq)`` pages
back through the store and ``after(seq)`` returns what arrived since a point (a resumed session).
Adding past the capacity evicts the oldest entries and returns them, so the maps built from the
store can take them out again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import dropwhile, islice, takewhile
from typing import Any

import msgspec

from dashboard.core.store.flows import Flow, NotAFlowError, read_flow

TEXT_WINDOW = 20_000  # entries whose JSON stays cached: live sends reuse it, older re-encode
WALK_CHUNK = 4_096  # entries a walk of the store reads at a time
_ENCODER = msgspec.json.Encoder()  # an instance: msgspec.json.encode sets one up per call
WireEntry = Mapping[str, Any]
Predicate = Callable[[WireEntry], bool]


class Stored(msgspec.Struct, gc=False):
    """One stored entry: its hub sequence number, the named wire dict, what the map reads of it.

    ``flow`` is read once when the entry is stored (``dashboard.core.store.flows.read_flow``) and
    shared by every per-filter map; when the entry is no flow it is None and ``not_flow`` says why
    (the reason the metrics count it under). ``text``, the entry's JSON, is encoded once, the first
    time a session sends it, and shared by every session that sends it. Stored entries hold no
    reference cycles, so they are not tracked by the garbage collector.
    """

    seq: int
    wire: WireEntry
    flow: Flow | None = None
    cached_text: str | None = None
    not_flow: str = ""

    @property
    def text(self) -> str:
        """The entry as compact JSON (kept while the entry is among the newest ones)."""
        if self.cached_text is None:
            self.cached_text = _ENCODER.encode(self.wire).decode()
        return self.cached_text

    def __repr__(self) -> str:
        return f"Stored({self.seq}, {self.wire!r})"


class EntryStore:
    """The newest ``capacity`` entries, oldest first."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"store capacity must be positive, not {capacity}")
        self._entries: deque[Stored] = deque()
        self._recent: deque[Stored] = deque()  # the newest TEXT_WINDOW, whose JSON is kept
        self._capacity = capacity
        self._next_seq = 1

    @property
    def capacity(self) -> int:
        """The most entries kept."""
        return self._capacity

    @property
    def last_seq(self) -> int:
        """Sequence number of the newest entry ever stored (0 before the first)."""
        return self._next_seq - 1

    @property
    def first_seq(self) -> int:
        """Sequence number of the oldest entry kept (the next one's while the store is empty)."""
        return self._entries[0].seq if self._entries else self._next_seq

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Stored]:
        return iter(self._entries)

    def add(self, wires: Iterable[WireEntry]) -> tuple[list[Stored], list[Stored]]:
        """Store entries (reading their flows); return ``(added, evicted)``, both oldest first.

        A batch larger than the capacity evicts some of its own entries: they are in both lists,
        so a consumer that adds ``added`` and then removes ``evicted`` stays consistent.
        """
        first = self._next_seq
        added = [_stored(seq, wire) for seq, wire in enumerate(wires, start=first)]
        self._next_seq = first + len(added)
        self._entries.extend(added)
        self._recent.extend(added)
        recent = self._recent
        for _ in range(len(recent) - TEXT_WINDOW):
            recent.popleft().cached_text = None  # older entries re-encode if ever sent
        overflow = len(self._entries) - self._capacity
        evicted = [self._entries.popleft() for _ in range(max(0, overflow))]
        return added, evicted

    def newest(
        self, predicate: Predicate | None = None, limit: int = 100, before: int | None = None
    ) -> list[Stored]:
        """Up to ``limit`` entries matching ``predicate``, newest first, older than ``before``."""
        candidates: Iterator[Stored] = reversed(self._entries)
        if before is not None:
            candidates = dropwhile(lambda stored: stored.seq >= before, candidates)
        if predicate is not None:
            candidates = (stored for stored in candidates if predicate(stored.wire))
        return list(islice(candidates, max(0, limit)))

    def walk(self, *, newest_first: bool = False) -> Iterator[Stored]:
        """The entries stored when the walk starts, oldest (or newest) first, read a chunk at a
        time: a walk that pauses (a paced scan) holds at most :data:`WALK_CHUNK` entries, so the
        store's evicted entries are freed meanwhile, and skipped."""
        entries = self._entries
        if newest_first:
            top = self.last_seq
            while top >= self.first_seq:
                offset = self.last_seq - top  # counted from the newest end, which only grows
                part = list(islice(reversed(entries), offset, offset + WALK_CHUNK))
                yield from part
                top -= len(part)
            return
        seq, end = self.first_seq, self.last_seq
        while (seq := max(seq, self.first_seq)) <= end:
            start = seq - self.first_seq
            part = list(islice(entries, start, start + min(WALK_CHUNK, end - seq + 1)))
            yield from part
            seq += len(part)

    def after(self, seq: int) -> list[Stored]:
        """The entries stored after sequence number ``seq``, oldest first."""
        newer = list(takewhile(lambda stored: stored.seq > seq, reversed(self._entries)))
        newer.reverse()
        return newer


def flows_of(entries: Iterable[Stored]) -> list[Flow]:
    """The flows of stored entries, in order (entries that are no flow left out)."""
    return [flow for stored in entries if (flow := stored.flow) is not None]


def _stored(seq: int, wire: WireEntry) -> Stored:
    try:
        return Stored(seq, wire, read_flow(wire))
    except NotAFlowError as exc:
        return Stored(seq, wire, not_flow=exc.reason)
