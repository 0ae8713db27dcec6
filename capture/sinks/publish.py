"""Entries and capture stats to Redis, and capture scope from Redis: the only module using Redis.

The Redis layout is :mod:`contract.bus`.

:class:`Publisher` never blocks the capture loop: ``submit`` appends to a bounded in-memory queue
(when full, the oldest entries are dropped and counted) and a background thread sends batches in
pipelined ``XADD`` calls: at once when a full batch is queued, else after a short linger (50 ms),
so the thread wakes a few times a second rather than once per submit. When Redis is down or slow
it reconnects with capped exponential backoff and publishes what is still queued once Redis is
back. Delivery is at least once: a batch cut by a dropped connection is sent again, so the hub
dedupes by entry ``id``. Every entry is numbered when submitted, per worker, in a run that is
random per publisher (the stream fields of :mod:`contract.bus`): the hub counts the numbers it
never read (dropped here when the queue was full, trimmed from the stream, lost with Redis).
``unpublished`` is what :meth:`Publisher.close` could not send: a worker reading a file says
how many and exits non-zero.

:class:`ScopeWatcher` follows the scope key of one node from a background thread.

Exception hierarchy (classes in :mod:`capture.errors`)::

    CaptureError
     └── PublishError    a bad Redis URL, or Redis unreachable where an answer is required
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import redis

from capture.errors import PublishError
from contract import bus
from contract.bus import (
    ALL_NODES,
    DEFAULT_BACKOFF,
    DEFAULT_MAXLEN,
    DEFAULT_PREFIX,
    ENTRY_FIELD,
    NUMBER_FIELD,
    RUN_FIELD,
    SCOPE_POLL_SECONDS,
    WORKER_FIELD,
    Backoff,
    RedisKeys,
)
from contract.errors import BusUrlError
from contract.schema import Entry
from contract.stats import counters

DEFAULT_QUEUE_SIZE = 100_000

Message = tuple[str, str, int]  # an entry's JSON, its worker and its number

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PublisherStats:
    """Publisher counters: ``submitted == published + dropped + queued + in_flight``."""

    submitted: int = 0
    published: int = 0
    dropped: int = 0
    queued: int = 0
    in_flight: int = 0
    reconnects: int = 0
    errors: int = 0
    connected: bool = False

    def to_dict(self) -> dict[str, int | bool]:
        """The counters as a plain dict."""
        return counters(self)


def connect(url: str, timeout: float = 2.0) -> redis.Redis:
    """A Redis client for ``url`` (no I/O yet); raise PublishError for a malformed URL."""
    try:
        return bus.connect(url, timeout)
    except BusUrlError as exc:
        raise PublishError(str(exc)) from None


class Publisher:
    """Entries to the capped Redis stream from a background thread; never blocks the caller."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        maxlen: int = DEFAULT_MAXLEN,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        batch_size: int = 500,
        linger: float = 0.05,
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        if maxlen < 1 or queue_size < 1 or batch_size < 1 or linger < 0:
            raise PublishError("maxlen, queue size and batch size must be positive")
        self._client = connect(url)
        self._keys = RedisKeys(prefix)
        self._maxlen = maxlen
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._linger = linger
        self._backoff = backoff
        self._queue: deque[Message] = deque()
        self._run_id = secrets.token_hex(4)
        self._numbers: dict[str, int] = {}
        self._snapshots: dict[str, str] = {}
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._stats = PublisherStats()
        self._thread = threading.Thread(target=self._run, name="podscope-publisher", daemon=True)

    def start(self) -> Publisher:
        """Start the background sender."""
        self._thread.start()
        return self

    def submit(self, entries: Iterable[Entry]) -> None:
        """Queue entries for publishing; when the queue is full the oldest are dropped."""
        with self._wake:
            numbers = self._numbers
            messages = []
            for entry in entries:
                number = numbers[entry.worker] = numbers.get(entry.worker, 0) + 1
                messages.append((entry.to_json(), entry.worker, number))
            if not messages:
                return
            self._stats.submitted += len(messages)
            self._queue.extend(messages)
            self._trim()
            if len(self._queue) >= self._batch_size:
                self._wake.notify()  # a full batch goes now; smaller ones wait for the linger

    def publish_stats(self, worker: str, snapshot: Mapping[str, Any]) -> None:
        """Queue a worker's stats snapshot; only the latest one per worker is sent."""
        text = json.dumps(snapshot, separators=(",", ":"), sort_keys=True)
        with self._wake:
            self._snapshots[worker] = text

    @property
    def stats(self) -> PublisherStats:
        """A copy of the counters."""
        with self._lock:
            self._stats.queued = len(self._queue)
            return replace(self._stats)

    @property
    def unpublished(self) -> int:
        """Entries submitted and never published: dropped, or still queued (after ``close``,
        what it could not send)."""
        with self._lock:
            return self._stats.submitted - self._stats.published

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until every queued entry is published (at most ``timeout`` s); True if so."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while self._queue or self._stats.in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return False
                self._wake.wait(min(remaining, 0.05))
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued, snapshots included (waiting at most ``timeout`` s), then stop."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while (self._queue or self._snapshots or self._stats.in_flight) and (
                self._thread.is_alive()
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._wake.wait(min(remaining, 0.05))
            self._stopping.set()
            self._wake.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=max(0.1, deadline - time.monotonic()) + 1.0)
        self._client.close()

    def _trim(self) -> None:
        overflow = len(self._queue) - self._queue_size
        for _ in range(max(0, overflow)):
            self._queue.popleft()
        if overflow > 0:
            self._stats.dropped += overflow

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            with self._wake:
                if len(self._queue) < self._batch_size:
                    self._wake.wait(self._linger)  # gather a batch: fewer, larger pipelines
                count = min(self._batch_size, len(self._queue))
                batch = [self._queue.popleft() for _ in range(count)]
                snapshots, self._snapshots = self._snapshots, {}
                self._stats.in_flight = count
            if not batch and not snapshots:
                continue
            try:
                self._send(batch, snapshots)
            except redis.RedisError as exc:
                failures += 1
                self._requeue(batch, snapshots, exc)
                self._stopping.wait(self._backoff.delay(failures))
                continue
            with self._wake:
                self._stats.published += len(batch)
                self._stats.in_flight = 0
                self._stats.connected = True
                if failures:
                    self._stats.reconnects += 1
                self._wake.notify_all()
            failures = 0

    def _send(self, batch: list[Message], snapshots: dict[str, str]) -> None:
        pipe = self._client.pipeline(transaction=False)
        run, stream, maxlen = self._run_id, self._keys.entries, self._maxlen
        for text, worker, number in batch:
            pipe.xadd(
                stream,
                {ENTRY_FIELD: text, WORKER_FIELD: worker, RUN_FIELD: run, NUMBER_FIELD: number},
                maxlen=maxlen,
                approximate=True,
            )
        for worker, snapshot in snapshots.items():
            pipe.hset(self._keys.workers, worker, snapshot)
        pipe.execute()

    def _requeue(self, batch: list[Message], snapshots: dict[str, str], exc: Exception) -> None:
        with self._wake:
            if self._stats.connected or self._stats.errors == 0:
                log.warning("redis unavailable, queueing entries: %s", exc)
            self._stats.errors += 1
            self._stats.connected = False
            self._stats.in_flight = 0
            self._queue.extendleft(reversed(batch))
            self._trim()
            for worker, text in snapshots.items():
                self._snapshots.setdefault(worker, text)


class ScopeWatcher:
    """Follows ``{prefix}:scope:{node}`` (pubsub nudges plus a poll every 10 s) in a thread.

    ``on_change(expression)`` is called from the watcher thread whenever the value differs from
    the last one seen (``""`` when the key is absent); Redis errors are counted and retried.
    """

    def __init__(
        self,
        url: str,
        node: str,
        on_change: Callable[[str], None],
        *,
        prefix: str = DEFAULT_PREFIX,
        poll_seconds: float = SCOPE_POLL_SECONDS,
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        self._client = connect(url)
        self._keys = RedisKeys(prefix)
        self._node = node
        self._on_change = on_change
        self._poll_seconds = poll_seconds
        self._backoff = backoff
        self._current: str | None = None
        self._stopping = threading.Event()
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name="podscope-scope", daemon=True)

    def start(self) -> ScopeWatcher:
        """Start following the scope key."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the watcher thread (if it was started)."""
        self._stopping.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=self._poll_seconds + 3.0)
        self._client.close()

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                self._follow()
                failures = 0
            except redis.RedisError as exc:
                failures += 1
                self.errors += 1
                log.warning("scope watch: redis error: %s", exc)
                self._stopping.wait(self._backoff.delay(failures))

    def _follow(self) -> None:
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        try:
            pubsub.subscribe(self._keys.scope_channel)
            self._refresh()
            next_poll = time.monotonic() + self._poll_seconds
            while not self._stopping.is_set():
                message = pubsub.get_message(timeout=0.5)
                if message is not None and _names_node(message.get("data"), self._node):
                    self._refresh()
                if time.monotonic() >= next_poll:
                    self._refresh()
                    next_poll = time.monotonic() + self._poll_seconds
        finally:
            pubsub.close()

    def _refresh(self) -> None:
        raw = self._client.get(self._keys.scope(self._node))
        value = raw.decode("utf-8", "replace").strip() if isinstance(raw, bytes) else ""
        if value != self._current:
            self._current = value
            self._on_change(value)


def _names_node(data: object, node: str) -> bool:
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return data in (node, ALL_NODES)
