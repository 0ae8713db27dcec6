"""The hub's garbage collection: full collections rare while it ingests, yet garbage bounded.

A full collection traverses every tracked object, the stored entries' included (on the bench
machine about 0.15 s with 100,000 stored, 0.8 s with the views of 50 filtered sessions besides).
CPython's default runs one whenever a quarter of the long-lived objects are new, which during
ingest cost a quarter of its throughput, so :func:`tune_gc` leaves CPython's own full
collections to every :data:`GC_FULL_EVERY` gen-1 collections.

Stored entries hold no reference cycles, and the hub breaks the two Django made of every request
(:mod:`dashboard.responsedone`, :mod:`dashboard.requestcycle`), but some remain (a 404's
exception and the frames its traceback holds, a websocket session's objects): cyclic garbage
that only a full collection frees. Left to the rare automatic ones, a hub answering such
requests grew without end.
:class:`FullCollections` therefore runs a full collection itself once enough young collections
have happened since the last one (the sign that objects keep surviving: cyclic garbage, or a
store filling up) and its interval has passed:

- the interval is at least :data:`FULL_MIN_SECONDS`, and long enough that full collections take
  at most :data:`FULL_SHARE` of the time (one that took 0.3 s waits a minute), so their pauses
  stay out of the viewers' 99th percentile;
- a collection that found less than :data:`WORTHWHILE` objects doubles the interval (the store
  was filling, nothing to free), up to :data:`FULL_MAX_SECONDS`; one that found more brings it
  back down.

So a hub that only ingests rarely pauses for one, and garbage stays bounded by what one interval
of requests makes. :func:`collect_garbage` is the hub's task that asks every
:data:`CHECK_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable

GC_FULL_EVERY = 1_000  # gen-1 collections between CPython's own full ones (its default: 10)
FULL_AFTER_YOUNG = 10  # gen-1 collections since the last full one that make the next one due
FULL_MIN_SECONDS = 30.0  # the least time between two full collections the hub runs
FULL_MAX_SECONDS = 300.0  # the longest, after collections that found nothing worth it
FULL_SHARE = 0.005  # of the time, at most, full collections take
WORTHWHILE = 1_000  # objects a full collection must free to keep its interval short
CHECK_SECONDS = 1.0


def freeze_startup() -> None:
    """Move every object alive now (modules, Django, the settings) out of the collector's sight.

    The served hub calls it once, when it is about to serve: full collections then traverse only
    what the hub made since (about 150,000 objects fewer), so they pause the loop less.
    """
    gc.collect()
    gc.freeze()


def tune_gc() -> None:
    """Leave CPython's own full collections rare (the hub calls it when it starts)."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, GC_FULL_EVERY)


class FullCollections:
    """When the hub runs a full collection, and what they cost (see the module docstring)."""

    def __init__(
        self,
        *,
        min_seconds: float = FULL_MIN_SECONDS,
        after_young: int = FULL_AFTER_YOUNG,
        clock: Callable[[], float] = time.monotonic,
        young_since_full: Callable[[], int] = lambda: gc.get_count()[2],
        collect: Callable[[], int] = gc.collect,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._min_seconds = min_seconds
        self._after_young = after_young
        self._clock = clock
        self._young_since_full = young_since_full
        self._collect = collect
        self._timer = timer
        self._last = clock()
        self.interval = min_seconds
        self.runs = 0
        self.collected = 0
        self.last_seconds = 0.0

    def due(self) -> bool:
        """True when enough young collections happened since the last, and its interval passed."""
        return (
            self._young_since_full() >= self._after_young
            and self._clock() - self._last >= self.interval
        )

    def run(self) -> None:
        """Run a full collection now, count it, and set the interval to the next one."""
        started = self._timer()
        found = self._collect()
        self.last_seconds = self._timer() - started
        self.collected += found
        self.runs += 1
        self._last = self._clock()
        affordable = max(self._min_seconds, self.last_seconds / FULL_SHARE)
        backed_off = min(FULL_MAX_SECONDS, max(affordable, 2 * self.interval))
        self.interval = affordable if found >= WORTHWHILE else backed_off

    def to_dict(self) -> dict[str, float]:
        """The counts ``/api/stats`` shows."""
        return {
            "fullCollections": self.runs,
            "collected": self.collected,
            "lastFullSeconds": round(self.last_seconds, 3),
            "intervalSeconds": round(self.interval, 1),
        }


async def collect_garbage(policy: FullCollections, stop: asyncio.Event) -> None:
    """Run ``policy``'s full collections when due, until ``stop`` is set."""
    while not stop.is_set():
        if policy.due():
            policy.run()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), CHECK_SECONDS)
