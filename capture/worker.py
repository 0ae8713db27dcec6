"""The capture loop: frames from a source -> the pipeline -> entries to a sink.

Live (:meth:`Worker.run_live`): reads the sniffer in short waits (when traffic flows, every
``gather_interval``, so frames are handled in batches: fewer wakeups and syscalls; the kernel
receive buffer holds them meanwhile), calls the pipeline's ``tick`` about every 200 ms
(timeouts, ongoing reports, idle flows), builds a stats snapshot at start and then every 5 s
(published through ``report`` and exposed on ``/metrics``), applies capture-scope changes
between reads (a new kernel filter on the same sockets, so tracked connections survive), and on
stop (SIGINT/SIGTERM set the ``stop`` event) reports what is still open with ``flush``.

Offline (:meth:`Worker.run_frames`): the same with the frames' own timestamps as the clock.

In ``full`` mode every frame is also appended to the pcap ring, when one is given.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from capture.errors import BpfError
from capture.sinks.pcapring import PcapRing
from capture.sources.bpf import build_filter
from capture.sources.frames import Frame
from capture.sources.live import Sniffer
from contract.schema import PROTOCOLS, Entry, Node
from contract.stats import CaptureMetrics
from contract.vocabulary import DEFAULT_CAPTURE_MODE

log = logging.getLogger(__name__)


class _Counters(Protocol):
    def to_dict(self) -> Mapping[str, Any]: ...


class EntryPipeline(Protocol):
    """What the worker needs of ``capture.pipeline.Pipeline``."""

    def feed(
        self, timestamp: float, frame: bytes | memoryview, linktype: int, interface: str = ""
    ) -> list[Entry]:
        """Decode one frame; return the entries it completed."""

    def tick(self, now: float) -> list[Entry]:
        """Report timeouts, ongoing connections and idle flows due at ``now``."""

    def flush(self, now: float) -> list[Entry]:
        """Report everything still open."""

    @property
    def stats(self) -> _Counters:
        """The pipeline's counters."""


class EntrySink(Protocol):
    """Where entries go: the Redis publisher or a JSON-lines stream."""

    def submit(self, entries: Iterable[Entry]) -> None:
        """Take entries without blocking the loop for long."""

    @property
    def stats(self) -> _Counters:
        """The sink's counters."""

    def drain(self, timeout: float) -> bool:
        """Wait until what was submitted is delivered; False if ``timeout`` s ran out."""

    def close(self) -> None:
        """Deliver what is pending and release resources."""


@dataclass(frozen=True, slots=True)
class FilterSpec:
    """What the kernel filter is built from: mode, protocols, the user's expression, the scope."""

    mode: str = DEFAULT_CAPTURE_MODE
    protocols: frozenset[str] = frozenset(PROTOCOLS)
    user: str = ""

    def expression(self, scope: str = "") -> str:
        """The kernel filter for ``scope``; raise BpfError for a bad combination."""
        return build_filter(self.mode, self.protocols, scope=scope, user=self.user)


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """Identity and timing of the loop."""

    worker: str
    node: Node
    filters: FilterSpec = field(default_factory=FilterSpec)
    tick_interval: float = 0.2
    stats_interval: float = 5.0
    drain_timeout: float = 5.0
    gather_interval: float = 0.05
    """Live: after a read that found frames, wait this long before the next (batching)."""


class Worker:
    """Runs frames through the pipeline into a sink, with ticks, stats and scope changes."""

    def __init__(
        self,
        pipeline: EntryPipeline,
        sink: EntrySink,
        settings: WorkerSettings,
        *,
        ring: PcapRing | None = None,
        metrics: CaptureMetrics | None = None,
        report: Callable[[str, Mapping[str, Any]], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pipeline = pipeline
        self._sink = sink
        self._settings = settings
        self._ring = ring
        self._metrics = metrics
        self._report = report
        self._clock = clock
        self._sniffer: Sniffer | None = None
        self._pending_scope: str | None = None
        self._scope = ""
        self._scope_lock = threading.Lock()
        self.scope_errors = 0
        self.pipeline_errors = 0
        """Frames whose processing raised (a pipeline bug): counted, logged ten times, skipped."""
        self.last_scope_error = ""

    @property
    def scope(self) -> str:
        """The capture scope currently applied."""
        return self._scope

    def request_scope(self, scope: str) -> None:
        """Ask for a new capture scope (thread-safe); the loop applies it between reads."""
        with self._scope_lock:
            self._pending_scope = scope

    def run_live(self, sniffer: Sniffer, stop: threading.Event) -> None:
        """Capture from an open sniffer until ``stop`` is set, then flush and report."""
        self._sniffer = sniffer
        tick_every = self._settings.tick_interval
        now = self._clock()
        next_tick = now + tick_every
        next_stats = now  # the first snapshot at once: the hub lists this worker from the start
        gather = self._settings.gather_interval
        try:
            while not stop.is_set():
                frames = sniffer.read(max(0.0, next_tick - now))
                self._process(frames)
                now = self._clock()
                if frames and gather > 0 and now + gather < next_tick:
                    time.sleep(gather)  # let frames pile up in the kernel buffer: fewer wakeups
                    now = self._clock()
                if now >= next_tick:
                    self._apply_scope()
                    self._sink.submit(self._pipeline.tick(now))
                    next_tick = now + tick_every
                if now >= next_stats:
                    self._publish_snapshot()
                    next_stats = now + self._settings.stats_interval
        finally:
            self._finish(self._clock())

    def run_frames(self, frames: Iterable[Frame], stop: threading.Event | None = None) -> None:
        """Process recorded frames (their timestamps drive the ticks), then flush and report;
        when ``frames`` raises, what it gave before is processed and flushed first."""
        tick_every = self._settings.tick_interval
        next_tick: float | None = None
        last = 0.0
        wall_next_stats = time.monotonic() + self._settings.stats_interval
        batch: list[Frame] = []
        try:
            for frame in frames:
                batch.append(frame)
                last = frame.timestamp
                if next_tick is None:
                    next_tick = last + tick_every
                if last >= next_tick or len(batch) >= 1024:
                    self._process(batch)
                    batch = []
                    if stop is not None and stop.is_set():
                        break
                if last >= next_tick:
                    self._sink.submit(self._pipeline.tick(last))
                    next_tick = last + tick_every
                    if time.monotonic() >= wall_next_stats:
                        self._publish_snapshot()
                        wall_next_stats = time.monotonic() + self._settings.stats_interval
        finally:  # the frames read before a corrupt record still count
            self._process(batch)
            self._finish(last)

    def snapshot(self) -> dict[str, Any]:
        """The stats snapshot: pipeline, sniffer, sink and ring counters, filter and scope."""
        settings = self._settings
        snapshot: dict[str, Any] = {
            "timestamp": self._clock(),
            "worker": settings.worker,
            "node": settings.node.name,
            "nodeIp": settings.node.ip,
            "mode": settings.filters.mode,
            "scope": self._scope,
            "scopeErrors": self.scope_errors,
            "pipelineErrors": self.pipeline_errors,
            "lastScopeError": self.last_scope_error,
            "pipeline": dict(self._pipeline.stats.to_dict()),
            "publisher": dict(self._sink.stats.to_dict()),
        }
        if self._sniffer is not None:
            snapshot["sniffer"] = self._sniffer.stats().to_dict()
            snapshot["filter"] = self._sniffer.expression
        if self._ring is not None:
            snapshot["ring"] = self._ring.stats.to_dict()
        return snapshot

    def _process(self, frames: list[Frame]) -> None:
        if not frames:
            return
        feed = self._pipeline.feed
        entries: list[Entry] = []
        for frame in frames:
            try:
                entries += feed(frame.timestamp, frame.data, frame.linktype, frame.interface)
            except Exception:  # a pipeline bug must not stop the node's capture
                self.pipeline_errors += 1
                if self.pipeline_errors <= 10:
                    log.exception("pipeline failed on a %d-byte frame", len(frame.data))
        if self._ring is not None:
            for frame in frames:
                self._ring.write(frame)
        if entries:
            self._sink.submit(entries)

    def _apply_scope(self) -> None:
        with self._scope_lock:
            scope, self._pending_scope = self._pending_scope, None
        if scope is None or scope == self._scope or self._sniffer is None:
            return
        try:
            self._sniffer.set_filter(self._settings.filters.expression(scope))
        except BpfError as exc:
            self.scope_errors += 1
            self.last_scope_error = str(exc)
            log.error("capture scope %r rejected, keeping the previous filter: %s", scope, exc)
            return
        log.info("capture scope now %r", scope)
        self._scope = scope

    def _publish_snapshot(self) -> None:
        snapshot = self.snapshot()
        if self._metrics is not None:
            self._metrics.update(snapshot)
        if self._report is not None:
            self._report(self._settings.worker, snapshot)

    def _finish(self, now: float) -> None:
        self._sink.submit(self._pipeline.flush(now))
        if self._ring is not None:
            self._ring.close()
        self._sink.drain(self._settings.drain_timeout)  # so the last snapshot counts it all
        self._publish_snapshot()
