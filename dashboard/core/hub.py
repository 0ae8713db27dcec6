"""The hub: one object owning the naming index, the entry store, the maps, metrics and sessions.

:meth:`Hub.accept` is the ingest path for one batch (about 100 ms of entries): validate, drop
repeats (:mod:`dashboard.core.ingest.merge`), name the decoded wire dicts
(:meth:`~dashboard.core.naming.index.ClusterIndex.name_wire`), store them (evicting the oldest),
update the maps of every stored entry (:mod:`dashboard.core.outputs.storemaps`) and the metrics from
each entry's flow, read once, then let the session registry update the per-filter maps and queue the
matching entries. Everything runs on the event loop's thread, so no lock is needed between
ingest, sessions and the API views.

The hub's knobs are :class:`dashboard.core.config.HubConfig`; the process's one hub, built from
the Django settings, is :mod:`dashboard.instance`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from contract.schema import Entry
from contract.stats import worker_summary
from dashboard.core.config import DEFAULT_CONFIG, HubConfig
from dashboard.core.garbage import FullCollections, collect_garbage, tune_gc
from dashboard.core.ingest.merge import Merger
from dashboard.core.ingest.sources import (
    EntryDecoder,
    EntrySource,
    RawEntry,
    RedisEntrySource,
    run_ingest,
)
from dashboard.core.ingest.vantage import VantageHold
from dashboard.core.naming.index import ClusterIndex
from dashboard.core.outputs.export import CallMap, render
from dashboard.core.outputs.graph import ConnectivityGraph, Level, shows_services
from dashboard.core.outputs.metrics import HubMetrics
from dashboard.core.outputs.storemaps import StoreMaps
from dashboard.core.sessions.ratelimit import ClientLimiter
from dashboard.core.sessions.registry import SessionRegistry
from dashboard.core.store.entrystore import EntryStore, flows_of
from dashboard.core.store.scans import Scanner
from dashboard.core.targeting.scopes import ScopeSink, Targeting
from kfl import Filter

TARGETING_REFRESH_SECONDS = 5.0
REQUESTS_PER_FILTER_CHANGE = 10  # a client's API requests per filter change it may make
REPORTING_WORKER_SECONDS = 30.0  # a worker's stats this old still count it as reporting

log = logging.getLogger(__name__)


class Hub:
    """Names, stores, aggregates and dispatches entries (see the module docstring)."""

    def __init__(
        self,
        config: HubConfig = DEFAULT_CONFIG,
        index: ClusterIndex | None = None,
        *,
        source: EntrySource | None = None,
        scopes: ScopeSink | None = None,
        decoder: EntryDecoder | None = None,
    ) -> None:
        self.config = config
        self.index = index or ClusterIndex()
        self.store = EntryStore(config.store_size)
        self.decoder = decoder or EntryDecoder()
        self.merger = Merger()
        self.vantage: VantageHold[tuple[Entry, dict[str, Any]]] = VantageHold(
            self.index.node_of, hold_seconds=config.vantage_hold_seconds
        )
        self.maps = StoreMaps(self.store)
        self.metrics = HubMetrics()
        self.scanner = Scanner(self.store, config.scans)
        per_minute = config.limits.filters_per_minute
        self.api_scans = ClientLimiter(per_minute)
        self.api_requests = ClientLimiter(per_minute * REQUESTS_PER_FILTER_CHANGE)
        self.sessions = SessionRegistry(
            self.store, config.limits, shared=self.maps, scanner=self.scanner
        )
        self.source = source
        self.targeting = (
            Targeting(self.index, scopes, config.targeting) if scopes is not None else None
        )
        self.global_filter = config.compiled_global_filter()
        self.excluded = 0  # entries the global filter left out
        self.recording: dict[str, Any] | None = None
        """None while capturing live; ``{"name", "loop"}`` when entries come from a pcap file
        (``loop``: replayed over and over, as the demo without its lab does)."""
        self.workers: dict[str, dict[str, Any]] = {}
        self.source_stats: dict[str, Any] = {}
        self.lag_seconds = 0.0
        self.accepted = 0
        self.connections = 0  # connections the accepted entries started (opened or tried)
        self._reported: dict[str, int] = {}  # invalid counts already passed to metrics
        self._reported_merged = 0
        self._reported_lost: dict[str, int] = {}
        self._reported_dropped = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.full_collections = FullCollections()
        self._collector: asyncio.Task[None] | None = None

    # --- ingest -------------------------------------------------------------------------------

    def accept(self, raw: Sequence[RawEntry], *, live: bool = True) -> None:
        """Ingest one batch: validate, merge, name, store, map, metrics, sessions.

        A batch that is not ``live`` (history a restarted hub reads back) goes everywhere but
        to the viewers' live logs: they get it as their filters' backfill.
        """
        decode = self.decoder.decode_wire
        is_duplicate = self.merger.is_duplicate
        name_wire = self.index.name_wire
        vantage = self.vantage
        wires = []
        for entry, wire in vantage.due():  # server nodes' reports whose hold is over
            if not is_duplicate(entry):
                wires.append(name_wire(wire))
        for item in raw:
            decoded = decode(item)
            if decoded is None:
                continue
            if live and vantage.wants(decoded[0]):
                for entry, wire in vantage.hold(decoded):  # let go early by a full hold
                    if not is_duplicate(entry):
                        wires.append(name_wire(wire))
            elif not is_duplicate(decoded[0]):
                wires.append(name_wire(decoded[1]))
        if not wires:
            self._sync_counters()
            return
        if self.global_filter is not None:  # on named entries: it may test names
            kept = list(filter(self.global_filter, wires))
            self.excluded += len(wires) - len(kept)
            self.metrics.entries_excluded.inc(len(wires) - len(kept))
            wires = kept
        added, evicted = self.store.add(wires)
        # the flows the store read once feed the map levels and the metrics
        flows = flows_of(added)
        self.connections += sum([flow.starts for flow in flows])
        self.metrics.observe_flows(flows)
        if len(flows) < len(added):
            self.metrics.observe_not_flows(added)
        gone = flows_of(evicted)
        self.maps.update(flows, gone)
        self.sessions.dispatch(added, evicted, live=live)
        self.accepted += len(added)
        self.metrics.entries_ingested.inc(len(added))
        self._sync_counters()

    def update_source(self, source: EntrySource) -> None:
        """Take the source's worker stats, lag and counters (once per ingest batch)."""
        self.workers = source.worker_stats()
        now = time.time()
        self.vantage.set_reporting_nodes(
            summary["node"]
            for summary in (worker_summary(snap, now) for snap in self.workers.values())
            if summary["age"] is not None and summary["age"] <= REPORTING_WORKER_SECONDS
        )
        self.lag_seconds = source.lag_seconds
        self.source_stats = source.source_stats()
        self.metrics.ingest_lag_seconds.set(self.lag_seconds)
        for worker, count in self.lost()["workers"].items():
            seen = self._reported_lost.get(worker, 0)
            if count > seen:
                self.metrics.entries_lost.labels(worker=worker).inc(count - seen)
                self._reported_lost[worker] = count
        for snapshot in self.workers.values():
            self.metrics.workers.update(snapshot)

    # --- queries ------------------------------------------------------------------------------

    async def entries(self, flt: Filter, limit: int, before: int | None) -> list[tuple[int, Any]]:
        """Newest stored entries matching ``flt`` first: ``(seq, wire)`` pairs (a paced scan:
        ScanError if the hub refuses it)."""
        if flt.limit is not None:
            limit = min(limit, flt.limit)
        self.scanner.check_cost(flt)
        found = await self.scanner.select(flt, limit=limit, before=before, newest_first=True)
        return [(s.seq, s.wire) for s in found]

    async def graph(self, flt: Filter, level: Level, services: bool = False) -> dict[str, Any]:
        """The map of the stored entries matching ``flt`` at ``level``, showing Services when
        ``services`` and the level can (ScanError if refused)."""
        if not flt.query.strip():
            return self.maps.graph(level, services).to_dict()
        key = (flt.query, level, shows_services(level, services))
        for session in self.sessions.sessions():
            if session.view.key == key:
                return session.view.graph.to_dict()
        self.scanner.check_cost(flt)
        graph = ConnectivityGraph(level, services=services)
        flows = flows_of(await self.scanner.select(flt))
        await self.scanner.each_slice(flows, graph.add_flows)
        return graph.to_dict()

    async def export(self, flt: Filter, fmt: str) -> str:
        """Who calls whom among the stored entries matching ``flt``, rendered as ``fmt``
        (ScanError if refused)."""
        self.scanner.check_cost(flt)
        calls = CallMap()
        flows = flows_of(await self.scanner.select(flt))
        await self.scanner.each_slice(flows, calls.add)
        return render(calls.callers(), fmt)  # type: ignore[arg-type]

    def stats(self) -> dict[str, Any]:
        """Hub health: ingest counters, lag, store, sessions, naming, workers' capture stats."""
        return {
            "accepted": self.accepted,
            "globalFilter": {
                "query": self.global_filter.query if self.global_filter else "",
                "excluded": self.excluded,
            },
            "invalid": dict(self.decoder.invalid),
            "merge": {
                **self.merger.stats.to_dict(),
                "held": len(self.vantage),
                "heldTotal": self.vantage.stats.held,
                "heldEarly": self.vantage.stats.early,
            },
            "lagSeconds": round(self.lag_seconds, 3),
            "gc": self.full_collections.to_dict(),
            "store": {"size": len(self.store), "capacity": self.store.capacity},
            "sessions": {
                "open": len(self.sessions),
                "views": self.sessions.views,
                "dropped": self.sessions.dropped_entries,
            },
            "source": self.source_stats,
            "lost": self.lost(),
            "scans": {
                "active": self.scanner.active,
                "completed": self.scanner.completed,
                "refusedBusy": self.scanner.refused,
                "cpuSeconds": round(self.scanner.cpu_seconds, 3),
                "apiRequestsRefused": self.api_requests.refused + self.api_scans.refused,
            },
            "naming": self.index.stats(),
            "workers": self.workers,
        }

    def lost(self) -> dict[str, Any]:
        """Entries lost between the workers and the hub: ``{"total", "workers": {name: n},
        "trimmedPast", "recreated"}`` (all 0 for a source that cannot lose any)."""
        lost = self.source_stats.get("lost")
        if not isinstance(lost, dict):
            return {"total": 0, "workers": {}, "trimmedPast": 0, "recreated": 0}
        return lost

    def live_stats(self, now: float | None = None) -> dict[str, Any]:
        """The compact stats a live session gets every few seconds: ingest, what the global
        filter excluded, and each worker (``age``: seconds since its last report, by ``now``)."""
        now = time.time() if now is None else now
        return {
            "accepted": self.accepted,
            "connections": self.connections,
            "invalid": sum(self.decoder.invalid.values()),
            "merged": self.merger.stats.merged + self.merger.stats.redelivered,
            "lagSeconds": round(self.lag_seconds, 3),
            "lost": self.lost()["total"],
            "stored": len(self.store),
            "sessions": len(self.sessions),
            "globalFilter": {
                "query": self.global_filter.query if self.global_filter else "",
                "excluded": self.excluded,
            },
            "workers": {name: worker_summary(snap, now) for name, snap in self.workers.items()},
        }

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the background tasks run."""
        return any(not task.done() for task in self._tasks)

    def start(self) -> None:
        """Start ingest and targeting refresh on the running event loop (once)."""
        if self.running:
            return
        self._stop = asyncio.Event()
        tune_gc()
        self._collector = asyncio.create_task(collect_garbage(self.full_collections, self._stop))
        if self.source is not None:
            self._tasks.append(asyncio.create_task(run_ingest(self.source, self, self._stop)))
        if self.targeting is not None:
            self._tasks.append(asyncio.create_task(self._refresh_targeting()))

    async def stop(self) -> None:
        """Stop the background tasks and close the source."""
        self._stop.set()
        tasks = [*self._tasks, *([self._collector] if self._collector else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._collector = None
        if isinstance(self.source, RedisEntrySource):
            await self.source.close()

    async def _refresh_targeting(self) -> None:
        targeting = self.targeting
        while targeting is not None and not self._stop.is_set():
            await asyncio.to_thread(targeting.refresh)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), TARGETING_REFRESH_SECONDS)

    def _sync_counters(self) -> None:
        """Bring the Prometheus counters up to the hub's own counts."""
        metrics = self.metrics
        for reason, count in self.decoder.invalid.items():
            seen = self._reported.get(reason, 0)
            if count > seen:
                metrics.entries_invalid.labels(reason=reason).inc(count - seen)
                self._reported[reason] = count
        merged = self.merger.stats.merged + self.merger.stats.redelivered
        if merged > self._reported_merged:
            metrics.duplicates_merged.inc(merged - self._reported_merged)
            self._reported_merged = merged
        dropped = self.sessions.dropped_entries
        if dropped > self._reported_dropped:
            metrics.session_entries_dropped.inc(dropped - self._reported_dropped)
            self._reported_dropped = dropped
