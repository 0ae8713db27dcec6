"""Scans of the entry store that never stop the event loop, within a hub-wide budget.

A filter's backfill and the ``/api/entries``, ``/api/map`` and ``/api/export`` queries read the
whole store (up to 100,000 entries). :class:`Scanner` does that on the event loop in slices of a
few milliseconds, yielding between them, so ingest, the other viewers and ``/healthz`` go on:

- a scan reads the entries stored when it starts, a chunk at a time
  (:meth:`~dashboard.core.store.entrystore.EntryStore.walk`): entries evicted meanwhile are
  skipped and freed, and a scan waiting for its turn holds none, so slow scans cannot keep
  evicted entries alive;
- a :class:`CpuBudget` shared by every scan paces them: scans together use at most ``share`` of
  the loop's time (the rest is ingest's and the viewers'), a short burst aside; work is
  measured in CPU time, so a loaded machine does not inflate it;
- at most ``concurrent`` scans run and ``waiting`` wait; one more is refused
  (:class:`ScanBusyError`, an HTTP 503 with ``Retry-After``);
- each scan works at most ``scan_seconds`` of CPU (:class:`FilterCostError` past it);
- the filters of every view together cost at most ``total_filter_micros`` per entry (each
  runs on every stored entry it may match, live);
- :meth:`Scanner.check_cost` times a new filter on a sample of entries before any scan or live
  use, and refuses one whose cost per entry is over ``filter_micros``
  (:class:`FilterCostError`): the 100-regex filter that costs 200 µs an entry is refused in a
  few milliseconds instead of freezing the hub for 20 s.

Its errors (:mod:`dashboard.errors`), ``ScanBusyError`` and ``FilterCostError``, are both a
``ScanError``: a ``SessionError`` whose ``to_dict()`` is the JSON error the viewer gets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from contract.schema import Endpoint, Entry, Node, TcpInfo, protocol
from dashboard.core.store.entrystore import EntryStore, Predicate, Stored
from dashboard.errors import FilterCostError, ScanBusyError

T = TypeVar("T")
SAMPLE_SIZE = 256  # entries a new filter is timed on
CHECK_EVERY = 64  # entries between two looks at the clock while scanning


@dataclass(frozen=True, slots=True)
class ScanLimits:
    """The hub-wide bounds of store scans (see the module docstring)."""

    concurrent: int = 2
    waiting: int = 8
    slice_seconds: float = 0.005
    share: float = 0.2
    burst_seconds: float = 0.05
    scan_seconds: float = 3.0
    filter_micros: float = 20.0
    total_filter_micros: float = 400.0


class CpuBudget:
    """A token bucket of event-loop seconds: ``share`` of each second, ``burst`` at most saved."""

    def __init__(
        self, share: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._share = share
        self._burst = burst
        self._clock = clock
        self._tokens = burst
        self._stamp = clock()

    def spend(self, seconds: float) -> float:
        """Take ``seconds`` of work; how long the spender should now sleep (0 while in budget)."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._share)
        self._stamp = now
        self._tokens -= seconds
        return 0.0 if self._tokens >= 0 else -self._tokens / self._share


class Scanner:
    """Bounded, paced scans of one store (see the module docstring)."""

    def __init__(
        self,
        store: EntryStore,
        limits: ScanLimits = ScanLimits(),
        *,
        clock: Callable[[], float] = time.perf_counter,
        cpu_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        self._store = store
        self.limits = limits
        self._clock = clock  # wall time: when to yield to the loop
        self._cpu_clock = cpu_clock  # this thread's CPU time: what work costs, unslowed by load
        self._budget = CpuBudget(limits.share, limits.burst_seconds)
        self._slots = asyncio.Semaphore(limits.concurrent)
        self._queued = 0  # scans running or waiting for a slot
        self.refused = 0
        self.completed = 0
        self.cpu_seconds = 0.0  # what scans and their slices of work have used

    @property
    def active(self) -> int:
        """Scans running or waiting."""
        return self._queued

    def check_cost(self, flt: Predicate) -> float:
        """The filter's cost per entry in µs, timed on a sample; FilterCostError if too high.

        The sample is the newest stored entries, topped up with a few made-up ones while the
        store is nearly empty, so a costly filter is refused before any traffic arrives. Timing
        stops as soon as the sample's budget is spent, so the check itself stays short.
        """
        sample = [stored.wire for stored in self._store.newest(None, SAMPLE_SIZE)]
        probes = probe_wires()
        while len(sample) < SAMPLE_SIZE:
            sample.extend(probes[: SAMPLE_SIZE - len(sample)])
        allowed = self.limits.filter_micros * len(sample) / 1e6
        clock = self._cpu_clock
        started = clock()
        for number, wire in enumerate(sample, start=1):
            flt(wire)
            elapsed = clock() - started
            if elapsed > allowed:
                micros = elapsed / number * 1e6
                raise FilterCostError(
                    f"this filter costs about {micros:,.0f} µs per entry, over the hub's limit of "
                    f"{self.limits.filter_micros:g} µs: use fewer or simpler regular expressions"
                )
        return (clock() - started) / len(sample) * 1e6

    async def select(
        self,
        flt: Predicate,
        *,
        limit: int | None = None,
        before: int | None = None,
        after: int | None = None,
        newest_first: bool = False,
    ) -> list[Stored]:
        """The stored entries matching ``flt`` (between ``after`` and ``before``), in store order
        or newest first, at most ``limit``; ScanBusyError or FilterCostError if refused."""
        async with self._slot():  # a waiting scan holds no entries
            entries: Iterable[Stored]
            if after is not None:  # a resumed session's few newest: a list
                entries = self._store.after(after)
                if newest_first:
                    entries.reverse()
            else:
                entries = self._store.walk(newest_first=newest_first)
            return await self._filter(entries, flt, limit, before, after)

    async def each_slice(
        self, items: Sequence[T], work: Callable[[Sequence[T]], None], size: int = 2_000
    ) -> None:
        """Run ``work`` on ``items`` a slice at a time, paced by the budget like a scan."""
        for start in range(0, len(items), size):
            began = self._cpu_clock()
            work(items[start : start + size])
            await self._pace(self._cpu_clock() - began)

    async def _filter(
        self,
        entries: Iterable[Stored],
        flt: Predicate,
        limit: int | None,
        before: int | None,
        after: int | None,
    ) -> list[Stored]:
        found: list[Stored] = []
        clock, cpu_clock, limits = self._clock, self._cpu_clock, self.limits
        worked = 0.0
        began, began_cpu = clock(), cpu_clock()
        for number, stored in enumerate(entries, start=1):
            seq = stored.seq
            in_range = (before is None or seq < before) and (after is None or seq > after)
            if in_range and flt(stored.wire):
                found.append(stored)
                if limit is not None and len(found) >= limit:
                    break
            if number % CHECK_EVERY == 0 and clock() - began > limits.slice_seconds:
                spent = cpu_clock() - began_cpu
                worked += spent
                if worked > limits.scan_seconds:
                    raise FilterCostError(
                        f"the scan took over {limits.scan_seconds:g} s: narrow the filter"
                    )
                await self._pace(spent)
                began, began_cpu = clock(), cpu_clock()
        self.completed += 1
        return found

    async def _pace(self, spent: float) -> None:
        """Yield to the loop, and sleep while the scans are over their share of it."""
        self.cpu_seconds += spent
        await asyncio.sleep(self._budget.spend(spent))

    def _slot(self) -> _Slot:
        if self._queued >= self.limits.concurrent + self.limits.waiting:
            self.refused += 1
            raise ScanBusyError(
                f"the hub is running {self._queued} scans; try again in a few seconds"
            )
        return _Slot(self)


class _Slot:
    """A scan's place: counted while it waits or runs, holding a semaphore slot while it runs."""

    def __init__(self, scanner: Scanner) -> None:
        self._scanner = scanner

    async def __aenter__(self) -> None:
        self._scanner._queued += 1
        try:
            await self._scanner._slots.acquire()
        except BaseException:
            self._scanner._queued -= 1
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._scanner._slots.release()
        self._scanner._queued -= 1


_PROBES: list[dict[str, Any]] = []


def probe_wires() -> list[dict[str, Any]]:
    """A few made-up entries of each protocol that a filter is timed on while the store is empty."""
    if not _PROBES:
        for number in range(16):
            name = f"service-{number}.namespace-{number}.svc.cluster.local"
            _PROBES.append(
                Entry(
                    id=f"probe/{number}",
                    worker="probe",
                    node=Node("node-1", "10.0.0.1"),
                    timestamp=1_767_225_600_000 + number,
                    protocol=protocol(("tcp", "udp", "dns", "icmp")[number % 4]),
                    src=Endpoint(f"10.244.{number}.10", 40000 + number, name=f"pod-{number}"),
                    dst=Endpoint(f"10.96.{number}.20", 443, name=name),
                    tcp=TcpInfo(event="close") if number % 4 == 0 else None,
                    summary=f"pod-{number} -> {name}",
                ).to_stored_wire()
            )
    return _PROBES
