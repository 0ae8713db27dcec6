"""The Redis layout that workers and the hub share: key names, limits and reconnection pacing.

Redis layout (``prefix`` defaults to ``podscope``)::

    {prefix}:entries        stream, one message per entry, field ``entry`` = Entry.to_json(),
                            written with ``XADD MAXLEN ~ N`` (the retention window); numbered
                            per worker: ``worker`` (its name), ``run`` (random per publisher
                            start) and ``n`` (1, 2, 3... in that run, as decimal text), so the
                            hub counts exactly what it never got (a gap in ``n``)
    {prefix}:workers        hash, field = worker name, value = JSON of that worker's latest
                            stats snapshot (:mod:`contract.stats`; every key camelCase)
    {prefix}:scope:{node}   string, the BPF scope expression the hub wants for that node's
                            worker (empty or absent = capture everything)
    {prefix}:scope          pubsub channel; a message (the node name, or ``*`` for every node)
                            says a scope key changed; workers also re-read the key every 10 s
    {prefix}:targeting      string, the hub's targeting spec (JSON), shared by hub replicas

:func:`connect` makes the client both sides use and translates redis-py's URL errors.

Exception hierarchy (classes in :mod:`contract.errors`)::

    ContractError, ValueError
     └── BusUrlError    a Redis URL that redis-py cannot use
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from contract.errors import BusUrlError

DEFAULT_PREFIX = "podscope"
DEFAULT_MAXLEN = 100_000
ENTRY_FIELD = b"entry"
WORKER_FIELD = b"worker"
RUN_FIELD = b"run"
NUMBER_FIELD = b"n"
ALL_NODES = "*"
SCOPE_POLL_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """The Redis key names under one prefix."""

    prefix: str = DEFAULT_PREFIX

    @property
    def entries(self) -> str:
        """The entry stream."""
        return f"{self.prefix}:entries"

    @property
    def workers(self) -> str:
        """The hash of worker stats snapshots."""
        return f"{self.prefix}:workers"

    @property
    def scope_channel(self) -> str:
        """The pubsub channel announcing scope changes."""
        return f"{self.prefix}:scope"

    def scope(self, node: str) -> str:
        """The scope expression key of one node."""
        return f"{self.prefix}:scope:{node}"

    @property
    def targeting(self) -> str:
        """Where the hub keeps its targeting spec."""
        return f"{self.prefix}:targeting"


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential backoff between reconnection attempts."""

    initial: float = 0.1
    maximum: float = 5.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failures (at least one)."""
        return float(min(self.maximum, self.initial * 2.0 ** max(0, failures - 1)))


DEFAULT_BACKOFF = Backoff()


def connect(url: str, timeout: float = 2.0) -> redis.Redis:
    """A Redis client for ``url`` (no I/O yet); raise BusUrlError for a malformed URL."""
    try:
        return redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=False
        )
    except (ValueError, redis.RedisError) as exc:
        raise BusUrlError(f"bad Redis URL {url!r}: {exc}") from None
