"""Where the hub's entries come from: the Redis stream, or the embedded worker in this process.

- :class:`EntryDecoder` validates raw stream messages against the schema (one typed msgspec
  decode from the JSON bytes) and gives each entry's wire dict (``Entry.to_stored_wire()``, so
  every stored entry has the same canonical form whatever the sender omitted). An invalid entry is
  counted under its kind (the schema path that failed, ``not JSON``, ``no entry field``...) and
  logged the first time that kind is seen, never raised. An entry dated past the year 9999
  (``timestamp`` plus ``elapsedTime``) is invalid (``timestamp``): no date type can show it.
- :class:`RedisEntrySource` reads ``{prefix}:entries`` (layout in :mod:`capture.sinks.publish`) with
  ``XREAD`` from the last id it saw. When Redis goes away it reconnects with capped exponential
  backoff and resumes from that id, so nothing still in the stream is lost or read twice. Its
  ``lag_seconds`` is how far the newest message read is behind the wall clock (0 when caught
  up). It also reads the workers' stats hash every few seconds.

  Nothing is lost without a count: :class:`~dashboard.core.ingest.losses.LossCounter` counts
  the gaps in each worker's numbering, and before each read ``XINFO STREAM`` says whether the
  stream was trimmed past the last id read (``trimmedPast``: its first entry is newer, the hub
  fell behind ``MAXLEN``) or
  recreated (``recreated``: Redis came back empty; read from its beginning if its ids are
  older than the last one read).

  A hub that starts reads the whole retained stream, but what the stream held when it started
  (up to ``XINFO``'s ``last-generated-id``) is history: ``replaying`` is True for those batches,
  and the hub stores them (the log, maps and API have them) without streaming them to viewers
  as live rows. Viewers get them as their filter's backfill.
- :class:`LocalEntrySource` is the embedded mode's bus: the in-process worker ``submit``s to it
  (it is a ``capture.worker.EntrySink``) and reports its stats snapshots to it; a bounded queue,
  the oldest entries dropped and counted when the hub falls behind.
- :func:`run_ingest` pulls from a source and hands the hub one batch every 100 ms, on a fixed
  cadence (:func:`next_deadline`), in slices of ``ACCEPT_SLICE`` entries with a yield to the
  event loop between them, so a hub catching up never holds the loop for long.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis
import redis.asyncio as aioredis

from contract.bus import ENTRY_FIELD, Backoff, RedisKeys
from contract.errors import SchemaError
from contract.schema import Entry
from dashboard.core.ingest.losses import LossCounter

BATCH_SECONDS = 0.1
ACCEPT_SLICE = 1_000  # entries the hub takes before the event loop runs anything else
MAX_TIMESTAMP_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
READ_COUNT = 5_000
WORKER_STATS_SECONDS = 2.0
DEFAULT_LOCAL_QUEUE = 200_000
READ_BACKOFF = Backoff(initial=0.2, maximum=5.0)

log = logging.getLogger(__name__)

RawEntry = bytes | str | Entry
_INDEX = re.compile(r"\[\d+\]")


class EntryDecoder:
    """Raw stream messages -> validated entries; invalid ones counted per kind, logged once."""

    def __init__(self) -> None:
        self.invalid: Counter[str] = Counter()

    def decode(self, raw: RawEntry) -> Entry | None:
        """The entry, or None (counted) when ``raw`` is not a valid schema v1 entry."""
        decoded = self.decode_wire(raw)
        return None if decoded is None else decoded[0]

    def decode_wire(self, raw: RawEntry) -> tuple[Entry, dict[str, Any]] | None:
        """The entry and its stored wire dict, or None (counted) if invalid."""
        if isinstance(raw, Entry):
            entry = raw
        else:
            try:
                entry = Entry.from_json(raw)
            except SchemaError as exc:
                self._count(invalid_kind(exc), str(exc))
                return None
        if entry.timestamp + entry.elapsed_time > MAX_TIMESTAMP_MS:
            self._count("timestamp", f"entry {entry.id!r} ends after the year 9999")
            return None
        return entry, entry.to_stored_wire()

    def count_malformed_message(self, detail: str) -> None:
        """Count a stream message without an ``entry`` field."""
        self._count("no entry field", detail)

    def _count(self, kind: str, detail: str) -> None:
        self.invalid[kind] += 1
        if self.invalid[kind] == 1:
            log.warning("invalid entry (%s), counting further ones silently: %s", kind, detail)


def invalid_kind(exc: SchemaError) -> str:
    """A bounded name for what made an entry invalid (safe as a metric label).

    The schema path that failed, list indexes folded (``dns.answers[]``); an unknown field is
    ``unknown field`` whatever its name, since senders choose those names.
    """
    if exc.message == "unknown field":
        return "unknown field"
    if exc.path:
        return _INDEX.sub("[]", exc.path)
    if exc.message.startswith("not JSON"):
        return "not JSON"
    if "limit" in exc.message:
        return "too large"
    return "not an entry"


class EntrySource(Protocol):
    """What :func:`run_ingest` reads from."""

    async def read(self, wait_seconds: float) -> list[RawEntry]:
        """What arrived, waiting at most ``wait_seconds`` when nothing has."""

    def worker_stats(self) -> dict[str, dict[str, Any]]:
        """The latest stats snapshot of every worker."""

    @property
    def lag_seconds(self) -> float:
        """How far behind the newest entry read is (0 when caught up)."""

    def source_stats(self) -> dict[str, Any]:
        """Counters of the source itself (reconnects, drops...)."""

    @property
    def replaying(self) -> bool:
        """True when the entries last read are history: stored before this hub started."""


@dataclass(slots=True)
class RedisSourceStats:
    """Counters of the Redis reader."""

    messages: int = 0
    reconnects: int = 0
    errors: int = 0
    connected: bool = False
    last_error: str = ""
    last_id: str = ""


class RedisEntrySource:
    """Reads the entries stream from the last id seen; reconnects and resumes on errors."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "podscope",
        start_id: str = "0",
        backoff: Backoff = READ_BACKOFF,
        decoder: EntryDecoder | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_connect_timeout=2.0, socket_timeout=5.0, decode_responses=False
        )
        self._keys = RedisKeys(prefix)
        self._last_id = start_id
        self._backoff = backoff
        self._failures = 0
        self._decoder = decoder or EntryDecoder()
        self._clock = clock
        self._lag = 0.0
        self._workers: dict[str, dict[str, Any]] = {}
        self._next_stats = 0.0
        self.stats = RedisSourceStats(last_id=start_id)
        self.losses = LossCounter()
        self._history_until: tuple[int, int] | None = None  # the stream's last id at start
        self._history_checked = start_id != "0"  # only a hub reading from the start replays
        self._pending: list[tuple[Any, Any]] = []  # messages read past the history's end
        self._replaying = False
        self._added = 0  # XINFO's entries-added when last looked at
        self._behind = False  # trimmed past at the last look
        self.trimmed_past = 0
        self.recreated = 0

    @property
    def replaying(self) -> bool:
        """True when the entries last read were in the stream before this hub started."""
        return self._replaying

    @property
    def lag_seconds(self) -> float:
        """How far the newest message read is behind the wall clock (0 when caught up)."""
        return self._lag

    async def read(self, wait_seconds: float) -> list[RawEntry]:
        """Messages after the last id, blocking at most ``wait_seconds``; [] while Redis is down."""
        if self._pending:
            return self._messages(self._take_pending())
        try:
            await self._refresh_workers()
            if not self._history_checked:
                self._history_until = await self._stream_end()
                self._history_checked = True
            await self._check_stream()
            reply: Any = await self._client.xread(
                {self._keys.entries: self._last_id},
                count=READ_COUNT,
                block=max(1, int(wait_seconds * 1000)),
            )
        except (redis.RedisError, OSError) as exc:
            await self._failed(exc)
            return []
        if self._failures:
            log.info(
                "redis back after %d failed reads, resuming after %s", self._failures, self._last_id
            )
            self.stats.reconnects += 1
            self._failures = 0
        self.stats.connected = True
        self._pending = [message for _stream, messages in (reply or []) for message in messages]
        return self._messages(self._take_pending())

    def worker_stats(self) -> dict[str, dict[str, Any]]:
        """The latest stats snapshot of every worker, from ``{prefix}:workers``."""
        return dict(self._workers)

    def source_stats(self) -> dict[str, Any]:
        """Reader counters: messages, reconnects, errors, connected, last error and id."""
        return {
            "messages": self.stats.messages,
            "reconnects": self.stats.reconnects,
            "errors": self.stats.errors,
            "connected": self.stats.connected,
            "lastError": self.stats.last_error,
            "lastId": self.stats.last_id,
            "lost": {
                **self.losses.to_dict(),
                "trimmedPast": self.trimmed_past,
                "recreated": self.recreated,
            },
        }

    async def close(self) -> None:
        """Close the Redis connection pool."""
        await self._client.aclose()

    def _take_pending(self) -> list[tuple[Any, Any]]:
        """The pending messages up to the end of the history, or all when past it; sets
        ``replaying`` for them."""
        pending, until = self._pending, self._history_until
        if until is None or not pending:
            self._pending, self._replaying = [], False
            return pending
        cut = 0
        while cut < len(pending) and _stream_id(pending[cut][0]) <= until:
            cut += 1
        if cut == 0:  # past the history: live from now on
            self._history_until = None
            self._pending, self._replaying = [], False
            return pending
        self._pending, self._replaying = pending[cut:], True
        return pending[:cut]

    def _messages(self, messages: list[tuple[Any, Any]]) -> list[RawEntry]:
        out: list[RawEntry] = []
        if not messages:
            self._lag = 0.0
            return out
        for message_id, fields in messages:
            raw = fields.get(ENTRY_FIELD)
            if raw is None:
                self._decoder.count_malformed_message(f"stream message {message_id!r}")
            else:
                out.append(raw)
                self.losses.see_fields(fields)
            self._last_id = message_id.decode() if isinstance(message_id, bytes) else message_id
        self.stats.messages += len(out)
        self.stats.last_id = self._last_id
        newest_ms = int(self._last_id.split("-", 1)[0])
        self._lag = max(0.0, self._clock() - newest_ms / 1000.0)
        return out

    async def _refresh_workers(self) -> None:
        now = time.monotonic()
        if now < self._next_stats:
            return
        self._next_stats = now + WORKER_STATS_SECONDS
        raw = await self._client.hgetall(self._keys.workers)
        workers = {}
        for name, text in raw.items():
            try:
                snapshot = json.loads(text)
            except ValueError:
                self._decoder.count_malformed_message(f"worker stats of {name!r} are not JSON")
                continue
            if isinstance(snapshot, dict):
                key = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
                workers[key] = snapshot
        self._workers = workers

    async def _stream_info(self) -> dict[str, Any]:
        """``XINFO STREAM`` of the entries stream ({} while it does not exist)."""
        try:
            info: dict[str, Any] = await self._client.xinfo_stream(self._keys.entries)
        except redis.ResponseError:  # no such key: no stream yet, or Redis came back empty
            return {}
        return info

    async def _stream_end(self) -> tuple[int, int] | None:
        """The id of the newest message the stream ever had (None without a stream)."""
        info = await self._stream_info()
        self._added = int(info.get("entries-added", 0))
        last = info.get("last-generated-id")
        return _stream_id(last) if last else None

    async def _check_stream(self) -> None:
        """Count the stream trimmed past the last id read, or recreated (then read it all)."""
        info = await self._stream_info()
        added = int(info.get("entries-added", 0))
        if added < self._added:
            self.recreated += 1
            log.warning(
                "the entries stream was recreated (Redis came back empty?); what was lost is "
                "counted per worker"
            )
            newest = info.get("last-generated-id")
            if newest and _stream_id(newest) < _stream_id(self._last_id):
                self._last_id = "0-0"  # its ids start below the last one read: read it all
        self._added = added
        first = _stream_id(info.get("recorded-first-entry-id") or "0-0")
        behind = bool(self.stats.messages) and first > _stream_id(self._last_id)
        if behind and not self._behind:  # once each time the hub falls behind
            self.trimmed_past += 1
            log.warning(
                "the entries stream was trimmed past the last entry read: the hub is behind "
                "MAXLEN; what was lost is counted per worker"
            )
        self._behind = behind

    async def _failed(self, exc: BaseException) -> None:
        self._failures += 1
        self.stats.errors += 1
        self.stats.connected = False
        self.stats.last_error = str(exc)
        if self._failures == 1:
            log.warning("redis read failed, retrying with backoff: %s", exc)
        await asyncio.sleep(self._backoff.delay(self._failures))


def _stream_id(raw: bytes | str) -> tuple[int, int]:
    """A stream id (``1700000000000-3``) as a comparable (milliseconds, sequence) pair."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


@dataclass(slots=True)
class LocalSourceStats:
    """Counters of the in-process queue: ``submitted == delivered + dropped + queued``."""

    submitted: int = 0
    delivered: int = 0
    dropped: int = 0

    def to_dict(self) -> dict[str, int]:
        """The counters as a plain dict (the worker puts them in its snapshot)."""
        return {"submitted": self.submitted, "delivered": self.delivered, "dropped": self.dropped}


@dataclass
class LocalEntrySource:
    """The embedded worker's sink and the hub's source: a bounded, thread-safe queue."""

    capacity: int = DEFAULT_LOCAL_QUEUE
    _queue: deque[Entry] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: dict[str, dict[str, Any]] = field(default_factory=dict)
    _counters: LocalSourceStats = field(default_factory=LocalSourceStats)

    # --- the worker's side (capture.worker.EntrySink), called from the capture thread ---------

    def submit(self, entries: Iterable[Entry]) -> None:
        """Queue entries; when the hub falls behind the oldest are dropped and counted."""
        with self._lock:
            before = len(self._queue)
            self._queue.extend(entries)
            self._counters.submitted += len(self._queue) - before
            overflow = len(self._queue) - self.capacity
            for _ in range(max(0, overflow)):
                self._queue.popleft()
            self._counters.dropped += max(0, overflow)

    @property
    def stats(self) -> LocalSourceStats:
        """A copy of the counters."""
        with self._lock:
            counters = self._counters
            return LocalSourceStats(counters.submitted, counters.delivered, counters.dropped)

    def drain(self, timeout: float) -> bool:
        """Wait until the hub took everything queued (at most ``timeout`` s); True if so."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._queue:
                    return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        """Nothing to release: the hub keeps reading what is queued."""

    def report(self, worker: str, snapshot: Mapping[str, Any]) -> None:
        """Keep a worker's latest stats snapshot (the worker's ``report`` callback)."""
        with self._lock:
            self._workers[worker] = dict(snapshot)

    # --- the hub's side (EntrySource), called from the event loop ------------------------------

    async def read(self, wait_seconds: float) -> list[RawEntry]:
        """Everything queued; when nothing is, wait ``wait_seconds`` and take what came."""
        batch = self._take()
        if not batch:
            await asyncio.sleep(wait_seconds)
            batch = self._take()
        return list(batch)

    @property
    def replaying(self) -> bool:
        """Always False: the in-process worker only hands over what it captures now."""
        return False

    def worker_stats(self) -> dict[str, dict[str, Any]]:
        """The latest stats snapshot of every in-process worker."""
        with self._lock:
            return dict(self._workers)

    @property
    def lag_seconds(self) -> float:
        """Always 0: the queue is read as fast as it fills, its overflow counted in ``dropped``."""
        return 0.0

    def source_stats(self) -> dict[str, Any]:
        """Queue counters: submitted, delivered, dropped."""
        return dict(self.stats.to_dict())

    def _take(self) -> list[Entry]:
        with self._lock:
            batch = list(self._queue)
            self._queue.clear()
            self._counters.delivered += len(batch)
            return batch


class BatchConsumer(Protocol):
    """What :func:`run_ingest` feeds (the hub)."""

    def accept(self, raw: Sequence[RawEntry], *, live: bool = True) -> None:
        """Take one batch of raw entries (history, not streamed to viewers, unless ``live``)."""

    def update_source(self, source: EntrySource) -> None:
        """Take the source's worker stats, lag and counters."""


def next_deadline(deadline: float, now: float, period: float = BATCH_SECONDS) -> float:
    """The end of the next batch window: one ``period`` after the end of the last one.

    Batches start on a fixed cadence, so the time spent handling a batch shortens the next wait
    instead of adding to it (entries would otherwise wait a window plus the handling). A hub
    running behind gets ``now``: it takes what has arrived at once.
    """
    return max(deadline + period, now)


async def run_ingest(
    source: EntrySource,
    hub: BatchConsumer,
    stop: asyncio.Event,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Hand ``hub`` one batch every 100 ms (see :func:`next_deadline`) until ``stop`` is set."""
    deadline = clock()
    while not stop.is_set():
        deadline = next_deadline(deadline, clock())
        batch = await source.read(max(0.0, deadline - clock()))  # at least one read per batch
        live = not source.replaying  # history is taken at once, apart from live entries
        while live and not stop.is_set() and (remaining := deadline - clock()) > 0:
            batch += await source.read(remaining)
        for start in range(0, len(batch), ACCEPT_SLICE):
            hub.accept(batch[start : start + ACCEPT_SLICE], live=live)
            await asyncio.sleep(0)  # probes, viewers and scans run between slices
        if not batch:
            hub.accept(batch, live=live)  # reports the hub holds fall due without new ones too
        hub.update_source(source)
