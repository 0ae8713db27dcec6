"""Live viewer sessions: one compiled filter each, a bounded queue, and honest drop accounting.

A :class:`Session` is one websocket viewer. Its filter and map (level, and whether it shows
Services) select a :class:`View`; sessions with the same (query, level, services) share one
view, so a popular filter is evaluated once per batch, and an index of the views by the field
values their filters require (:mod:`dashboard.core.sessions.viewindex`) runs a filter only on
the entries that can match it. A view keeps the connectivity map of the stored entries that
match it, updated incrementally as entries are stored and evicted.

Flow control: the session sends at most ``ack_window`` entries messages that the browser has not
acknowledged (``{"type": "ack", "seq": n}``). What it cannot send waits in a queue of at most
``max_queued_entries`` entries; past that the oldest batches are dropped, counted, and the next
entries message says how many entries were ``missed``. Ingest never waits for a session.

Changing a filter or map reads the store through the hub's
:class:`~dashboard.core.store.scans.Scanner` (in slices, never stopping the event loop): the
filter is timed first and refused if too costly per entry, or if the views' filters together
would pass the hub's budget. The session moves to its new view only once the scan has caught up
with ingest, so no entry is sent twice or missed.

Exception hierarchy (classes in :mod:`dashboard.errors`)::

    DashboardError
     └── SessionError         a request the registry refuses (sent to the browser as a message)
          ├── SessionLimitError   too many sessions open
          ├── RateLimitError      too many filter changes in the last minute
          └── QueryTooLongError   a query over the length limit
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from dashboard.core.outputs.graph import LEVELS, ConnectivityGraph, Level, shows_services
from dashboard.core.outputs.storemaps import StoreMaps
from dashboard.core.sessions.viewindex import ViewIndex
from dashboard.core.store.entrystore import EntryStore, Stored, flows_of
from dashboard.core.store.flows import Flow
from dashboard.core.store.scans import Scanner
from dashboard.errors import FilterCostError, QueryTooLongError, RateLimitError, SessionLimitError
from kfl import Filter, compile_filter

DEFAULT_LEVEL: Level = "namespace"
DEFAULT_SERVICES = True  # at the workload and pod levels, Services are drawn unless turned off
RATE_WINDOW_SECONDS = 60.0
ViewKey = tuple[str, Level, bool]  # (query, level, shows Services)


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """Bounds of every session (the demo-portal mode tightens the first three)."""

    max_sessions: int = 200
    max_query_chars: int = 4096
    filters_per_minute: int = 120
    max_queued_entries: int = 5_000
    ack_window: int = 4
    backfill: int = 500
    max_message_entries: int = 500


DEFAULT_LIMITS = SessionLimits()
DEMO_LIMITS = SessionLimits(max_sessions=50, max_query_chars=512, filters_per_minute=20)
"""A public demo portal's tighter bounds (``PODSCOPE_DEMO``)."""


@dataclass(frozen=True, slots=True)
class EntriesMessage:
    """One ``entries`` message: its sequence number, whether it is a backfill, what was missed."""

    seq: int
    backfill: bool
    missed: int
    batch: list[Stored]

    @property
    def first(self) -> int | None:
        """The store sequence number of the batch's oldest entry: the API's ``before`` cursor
        for older matches (None for an empty batch)."""
        return self.batch[0].seq if self.batch else None

    def to_json(self) -> str:
        """The message as JSON text, reusing each entry's cached JSON."""
        entries = ",".join([stored.cached_text or stored.text for stored in self.batch])
        backfill = "true" if self.backfill else "false"
        first = "null" if not self.batch else self.batch[0].seq
        return (
            f'{{"type":"entries","seq":{self.seq},"backfill":{backfill},'
            f'"missed":{self.missed},"first":{first},"entries":[{entries}]}}'
        )

    def to_dict(self) -> dict[str, Any]:
        """The message as a dict (what ``to_json`` encodes)."""
        return {
            "type": "entries",
            "seq": self.seq,
            "backfill": self.backfill,
            "missed": self.missed,
            "first": self.first,
            "entries": [stored.wire for stored in self.batch],
        }


class View:
    """A compiled filter and the map of the stored entries matching it, at one level (showing
    the Services flows went through when ``services``, normalized by ``shows_services``).

    The match-everything view uses the hub's own map (``shared``), kept up to date by the hub.
    Any other view's map starts from ``matching``, the stored entries that match (oldest first;
    those evicted since they were read are left out). ``cost`` is the filter's measured cost
    per entry, in µs.
    """

    def __init__(
        self,
        flt: Filter,
        level: Level,
        store: EntryStore,
        shared: ConnectivityGraph | None = None,
        *,
        services: bool = False,
        matching: list[Stored] | None = None,
        cost: float = 0.0,
    ) -> None:
        self.filter = flt
        self.level = level
        self.services = shows_services(level, services)
        self.cost = cost
        self.sessions: set[Session] = set()
        self._owns_graph = shared is None
        self.graph = ConnectivityGraph(level, services=self.services) if shared is None else shared
        self._counted: deque[_Counted] = deque()  # what the graph holds, a batch each, oldest first
        self._store = store
        self._matched: deque[list[int]] = deque()  # seqs of the stored entries that match
        self._matched_count = 0
        if self._owns_graph and matching:
            first = store.first_seq
            self._count(matching[bisect.bisect_left(matching, first, key=_seq) :])

    @property
    def matched(self) -> int:
        """How many stored entries match the filter (all of them for the match-everything view)."""
        return self._matched_count if self._owns_graph else len(self._store)

    @property
    def key(self) -> ViewKey:
        """What sessions share a view by: (query, level, services)."""
        return (self.filter.query, self.level, self.services)

    @property
    def matches_everything(self) -> bool:
        """True for the match-everything view on the hub's own map (it takes every entry)."""
        return not self._owns_graph

    def apply(self, matched: list[Stored], evicted: list[Stored]) -> None:
        """Count the newly stored entries that match in the map, and take the evicted out.

        Evicted entries leave the map without the filter being run again: the view remembers
        which entries it counted, in store order.
        """
        if not self._owns_graph:
            return
        self._count(matched)
        if evicted:
            self.graph.remove_flows(self._uncount(evicted[-1].seq))
            self._unmatch(evicted[-1].seq)

    def _count(self, matched: list[Stored]) -> None:
        if matched:
            self._matched.append([stored.seq for stored in matched])
            self._matched_count += len(matched)
        flows = flows_of(matched)
        if flows:
            self.graph.add_flows(flows)
            seqs = [stored.seq for stored in matched if stored.flow is not None]
            self._counted.append(_Counted(seqs, flows))

    def _uncount(self, last_seq: int) -> list[Flow]:
        """The counted flows of the entries stored up to ``last_seq``, forgotten."""
        counted, gone = self._counted, []
        while counted and counted[0].seqs[-1] <= last_seq:
            gone += counted.popleft().flows
        if counted and counted[0].seqs[0] <= last_seq:  # a batch evicted in part
            kept = counted[0]
            cut = bisect.bisect_right(kept.seqs, last_seq)
            gone += kept.flows[:cut]
            counted[0] = _Counted(kept.seqs[cut:], kept.flows[cut:])
        return gone

    def _unmatch(self, last_seq: int) -> None:
        """Forget the matching entries stored up to ``last_seq`` (evicted) from the count."""
        batches = self._matched
        while batches and batches[0][-1] <= last_seq:
            self._matched_count -= len(batches.popleft())
        if batches and batches[0][0] <= last_seq:
            cut = bisect.bisect_right(batches[0], last_seq)
            self._matched_count -= cut
            batches[0] = batches[0][cut:]


def _seq(stored: Stored) -> int:
    return stored.seq


class _Counted(NamedTuple):
    """The flows one batch added to a view's map, and their entries' sequence numbers."""

    seqs: list[int]
    flows: list[Flow]


@dataclass(eq=False)
class Session:
    """One viewer: its view, its queue of batches to send, and what it sent and dropped."""

    id: int
    view: View
    limits: SessionLimits
    paused_after: int | None = None
    sent_seq: int = 0
    acked_seq: int = 0
    sent_entries: int = 0
    dropped_entries: int = 0
    map_version_sent: int = -1
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    _queue: deque[tuple[list[Stored], bool]] = field(default_factory=deque)
    _queued: int = 0
    _missed: int = 0
    filter_changes: deque[float] = field(default_factory=deque)

    @property
    def paused(self) -> bool:
        """True between ``pause`` and ``resume``."""
        return self.paused_after is not None

    @property
    def queued_entries(self) -> int:
        """Entries waiting to be sent."""
        return self._queued

    def offer(self, batch: list[Stored], *, backfill: bool = False, missed: int = 0) -> None:
        """Queue a batch (not while paused); drop the oldest batches past the queue bound.

        A backfill is queued even when empty: it tells the viewer the new filter is in force.
        """
        if self.paused and not backfill:
            return
        self._missed += missed
        self.dropped_entries += missed
        if not batch and not backfill:
            return
        self._queue.append((batch, backfill))
        self._queued += len(batch)
        bound = self.limits.max_queued_entries
        while self._queued > bound:
            oldest, was_backfill = self._queue.popleft()
            excess = self._queued - bound
            if len(oldest) > excess and not self._queue:
                self._queue.appendleft((oldest[excess:], was_backfill))
                oldest = oldest[:excess]
            self._queued -= len(oldest)
            self._missed += len(oldest)
            self.dropped_entries += len(oldest)
        self.wake.set()

    def next_message(self) -> EntriesMessage | None:
        """The next entries message if the ack window allows one, else None."""
        if self.sent_seq - self.acked_seq >= self.limits.ack_window:
            return None
        if not self._queue and not self._missed:
            return None
        batch, backfill = self._queue.popleft() if self._queue else ([], False)
        cap = self.limits.max_message_entries
        if len(batch) > cap:  # the rest goes out in the next message
            self._queue.appendleft((batch[cap:], backfill))
            batch = batch[:cap]
        self._queued -= len(batch)
        self.sent_seq += 1
        self.sent_entries += len(batch)
        message = EntriesMessage(self.sent_seq, backfill, self._missed, batch)
        self._missed = 0
        return message

    def ack(self, seq: int) -> None:
        """The browser rendered every entries message up to ``seq``; ValueError if never sent."""
        if not self.acked_seq <= seq <= self.sent_seq:
            raise ValueError(
                f"ack {seq} outside the unacknowledged range {self.acked_seq + 1}..{self.sent_seq}"
            )
        self.acked_seq = seq
        if self._queue or self._missed:
            self.wake.set()

    def clear(self) -> None:
        """Forget queued batches (they matched the previous filter)."""
        self._queue.clear()
        self._queued = 0
        self._missed = 0

    def stats(self) -> dict[str, Any]:
        """What this session sent, dropped and still queues."""
        return {
            "id": self.id,
            "query": self.view.filter.query,
            "level": self.view.level,
            "services": self.view.services,
            "paused": self.paused,
            "matched": self.view.matched,
            "sent": self.sent_entries,
            "dropped": self.dropped_entries,
            "queued": self._queued,
            "unacknowledged": self.sent_seq - self.acked_seq,
        }

    def __hash__(self) -> int:
        return self.id


class SessionRegistry:
    """Every open session and the views they share; fed by the hub with each store change."""

    def __init__(
        self,
        store: EntryStore,
        limits: SessionLimits = SessionLimits(),
        *,
        shared: StoreMaps | None = None,
        scanner: Scanner | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self.scanner = scanner or Scanner(store)
        self._shared = shared
        self.limits = limits
        self._clock = clock
        self._ids = itertools.count(1)
        self._views: dict[ViewKey, View] = {}
        self._index: ViewIndex[View] | None = None  # rebuilt when the set of views changes
        self._sessions: dict[int, Session] = {}
        self.closed_dropped = 0

    def __len__(self) -> int:
        return len(self._sessions)

    @property
    def views(self) -> int:
        """Distinct (query, level, services) views in use."""
        return len(self._views)

    @property
    def dropped_entries(self) -> int:
        """Entries every session ever dropped (closed sessions included)."""
        return self.closed_dropped + sum(s.dropped_entries for s in self._sessions.values())

    def open(self) -> Session:
        """A new session with the empty filter at namespace level; SessionLimitError if full."""
        if len(self._sessions) >= self.limits.max_sessions:
            raise SessionLimitError(
                f"the hub serves at most {self.limits.max_sessions} sessions; try again later"
            )
        view = self._view(compile_filter(""), DEFAULT_LEVEL, DEFAULT_SERVICES)
        session = Session(next(self._ids), view, self.limits)
        view.sessions.add(session)
        self._sessions[session.id] = session
        return session

    def close(self, session: Session) -> None:
        """Forget a session (and its view when no other session uses it)."""
        if self._sessions.pop(session.id, None) is None:
            return
        self.closed_dropped += session.dropped_entries
        self._leave(session)

    async def set_filter(self, session: Session, query: str) -> Filter:
        """Compile and apply a new filter, then queue a backfill.

        KflError, SessionError or ScanError if not; on any error the previous filter stays.
        """
        if len(query) > self.limits.max_query_chars:
            raise QueryTooLongError(
                f"query of {len(query)} characters, over the {self.limits.max_query_chars} limit"
            )
        self._check_rate(session)
        session.filter_changes.append(self._clock())  # attempts count: compiling costs CPU
        flt = compile_filter(query)
        view = session.view
        matching = await self._switch(session, flt, view.level, view.services)
        session.clear()
        keep = self._backfill_size(flt)
        self._backfill(session, matching[-keep:] if keep else [])
        return flt

    async def set_level(
        self, session: Session, level: str, services: bool = DEFAULT_SERVICES
    ) -> None:
        """Switch the session's map level, and whether it shows Services; ValueError for an
        unknown level, ScanError if the new map cannot be built now."""
        if level not in LEVELS:
            raise ValueError(f"unknown map level {level!r}; choose from {', '.join(LEVELS)}")
        view = session.view
        if (level, shows_services(level, services)) != (view.level, view.services):
            await self._switch(session, view.filter, level, services)

    def pause(self, session: Session) -> None:
        """Stop sending entries; what arrives meanwhile is offered again on resume."""
        if not session.paused:
            session.paused_after = self._store.last_seq

    async def resume(self, session: Session) -> None:
        """Send the newest matching entries stored while paused (the rest counted as missed)."""
        if session.paused_after is None:
            return
        flt = session.view.filter
        matching = await self._caught_up(flt, session.paused_after, [])
        if session.paused_after is None:  # resumed meanwhile by another request
            return
        session.paused_after = None
        keep = self._backfill_size(flt)
        self._backfill(session, matching[-keep:], missed=max(0, len(matching) - keep))

    def dispatch(self, added: list[Stored], evicted: list[Stored], *, live: bool = True) -> None:
        """Update every view's map and queue the matching entries for its sessions (when
        ``live``: history updates the maps only).

        Only the views a :class:`~dashboard.core.sessions.viewindex.ViewIndex` names as candidates
        for an entry run their filter on it.
        """
        if self._index is None:
            self._index = ViewIndex(self._views.values())
        matches = self._index.matches(added)
        for view in self._views.values():
            matched = matches.get(view, [])
            view.apply(matched, evicted)
            if matched and live:
                for session in view.sessions:
                    session.offer(matched)

    def sessions(self) -> list[Session]:
        """The open sessions."""
        return list(self._sessions.values())

    def _backfill(self, session: Session, batch: list[Stored], missed: int = 0) -> None:
        session.offer(batch, backfill=True, missed=missed)

    def _backfill_size(self, flt: Filter) -> int:
        size = self.limits.backfill
        return min(size, flt.limit) if flt.limit is not None else size

    def _check_rate(self, session: Session) -> None:
        now = self._clock()
        changes = session.filter_changes
        while changes and changes[0] <= now - RATE_WINDOW_SECONDS:
            changes.popleft()
        if len(changes) >= self.limits.filters_per_minute:
            wait = int(changes[0] + RATE_WINDOW_SECONDS - now) + 1
            raise RateLimitError(
                f"at most {self.limits.filters_per_minute} filter changes a minute; "
                f"try again in {wait} s"
            )

    async def _switch(
        self, session: Session, flt: Filter, level: Level, services: bool
    ) -> list[Stored]:
        """Move ``session`` to the view of (``flt``, ``level``, ``services``) once the store has
        been read for it; the entries matching, oldest first (all of them for a new view's map,
        else at least the backfill's worth)."""
        key = (flt.query, level, shows_services(level, services))
        cost = self.scanner.check_cost(flt)
        while True:
            new_map = key not in self._views and bool(flt.query.strip())
            if new_map:
                self._check_budget(cost)
            last = self._store.last_seq
            if new_map:
                found = await self.scanner.select(flt)
            else:
                size = self._backfill_size(flt)
                found = await self.scanner.select(flt, limit=size, newest_first=True)
                found.reverse()
            matching = await self._caught_up(flt, last, found)
            if new_map or key in self._views or not flt.query.strip():
                break  # else the view it was to join closed meanwhile: read for a new map
        # no await from here on: ingest cannot slip an entry between the scan and the move
        self._leave(session)
        view = self._view(flt, level, services, matching, cost)
        view.sessions.add(session)
        session.view = view
        session.map_version_sent = -1
        return matching

    def _check_budget(self, cost: float) -> None:
        total = sum(view.cost for view in self._views.values())
        budget = self.scanner.limits.total_filter_micros
        if total + cost > budget:
            raise FilterCostError(
                f"the hub's filters already cost {total:,.1f} µs per entry of its "
                f"{budget:g} µs budget; try a simpler filter or later"
            )

    async def _caught_up(self, flt: Filter, last: int, found: list[Stored]) -> list[Stored]:
        """``found`` (matches up to ``last``) with the matches stored since, read until none is
        left to read (each round reads what ingest stored during the previous one)."""
        while self._store.last_seq > last:
            newest = self._store.last_seq
            found += await self.scanner.select(flt, after=last)
            last = newest
        return found

    def _leave(self, session: Session) -> None:
        view = session.view
        view.sessions.discard(session)
        if not view.sessions:
            self._views.pop(view.key, None)
            self._index = None
            if view.matches_everything and self._shared is not None:
                self._shared.release(view.level, view.services)

    def _view(
        self,
        flt: Filter,
        level: Level,
        services: bool,
        matching: list[Stored] | None = None,
        cost: float = 0.0,
    ) -> View:
        view = self._views.get((flt.query, level, shows_services(level, services)))
        if view is None:
            match_all = not flt.query.strip()
            shared = self._shared.acquire(level, services) if match_all and self._shared else None
            view = View(
                flt, level, self._store, shared, services=services, matching=matching, cost=cost
            )
            self._views[view.key] = view
            self._index = None
        return view
