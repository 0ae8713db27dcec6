"""Per-client request budgets: a token bucket per client address, in a bounded table.

The hub's REST API gives each client the budget a websocket session has for filter changes
(``FILTERS_PER_MINUTE``: a query that scans the store costs as much as a new filter), so the
demo portal's API is held to the same limits as its websocket. The table keeps at most
``max_clients`` buckets; when full, the buckets that have refilled (idle clients) are dropped,
and if none has, the oldest one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_CLIENTS = 10_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class ClientLimiter:
    """At most ``per_minute`` requests a minute per client, in bursts of up to that many."""

    def __init__(
        self,
        per_minute: int,
        *,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._max_clients = max_clients
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self.refused = 0

    def take(self, client: str) -> float:
        """Spend one request of ``client``'s budget: 0.0 if allowed, else the seconds to wait."""
        now = self._clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            self._make_room(now)
            bucket = self._buckets[client] = _Bucket(float(self.per_minute), now)
        bucket.tokens = self._refilled(bucket, now)
        bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        self.refused += 1
        return self._until_one(bucket.tokens)

    def wait(self, client: str) -> float:
        """The seconds until ``client`` may make a request (0.0 now), spending nothing."""
        bucket = self._buckets.get(client)
        if bucket is None:
            return 0.0
        return self._until_one(self._refilled(bucket, self._clock()))

    def _refilled(self, bucket: _Bucket, now: float) -> float:
        """The bucket's tokens at ``now``: what it held plus the refill since, up to the burst."""
        return min(float(self.per_minute), bucket.tokens + (now - bucket.stamp) * self._rate)

    def _until_one(self, tokens: float) -> float:
        """The seconds until ``tokens`` reach one request (0.0 when they do already)."""
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self._rate

    def _make_room(self, now: float) -> None:
        if len(self._buckets) < self._max_clients:
            return
        full = float(self.per_minute)
        for client, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.stamp) * self._rate >= full:
                del self._buckets[client]
        if len(self._buckets) >= self._max_clients:
            del self._buckets[next(iter(self._buckets))]


def refusal(wait: float) -> tuple[dict[str, Any], str]:
    """The 429 answer's JSON body and ``Retry-After`` value for a client that must ``wait``."""
    message = f"too many requests from this client; retry in {wait:.0f} s"
    return {"error": {"message": message}}, str(max(1, round(wait)))
