"""The hub's ``/metrics``: traffic between workloads, and the health of ingest and capture.

Traffic (what k8spacket exports, from the same entries the map counts,
:mod:`dashboard.core.store.flows`):

- ``podscope_connections_total``, ``podscope_connections_failed_total``,
  ``podscope_request_bytes_total``, ``podscope_response_bytes_total`` and the histogram
  ``podscope_connection_duration_seconds`` (finished TCP connections and UDP flows),
- labelled only by ``src_namespace``, ``src_workload``, ``dst_namespace``, ``dst_workload``:
  never ports, pods or IPs. A Service is its name, a node its name, an external destination its
  DNS name (``external`` when it has none), an unknown in-cluster IP ``unknown``.
- At most ``max_label_sets`` distinct label sets: later new ones are folded into a single
  ``other`` set and counted in ``podscope_metrics_label_sets_overflow_total``.

Health: the ingest counters and gauges below are attributes the hub updates itself, and
:attr:`HubMetrics.workers` exposes each worker's latest capture stats snapshot under the same
names as the worker's own ``/metrics`` (:mod:`contract.stats`), labelled by worker and node.

Everything lives in the instance's own CollectorRegistry. Not thread-safe: the caller
serializes calls to its ``observe`` methods (prometheus-client's own updates are).
"""

from __future__ import annotations

import collections
import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from contract.stats import snapshot_families
from dashboard.core.store.flows import Flow, Pair, Side

if TYPE_CHECKING:
    from dashboard.core.store.entrystore import Stored

PAIR_LABELS = ("src_namespace", "src_workload", "dst_namespace", "dst_workload")
OTHER = ("other", "other", "other", "other")
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800)
DEFAULT_MAX_LABEL_SETS = 2_000
DEFAULT_MAX_WORKERS = 2_000
MAX_REMEMBERED_PAIRS = 65_536  # (client, server) pairs whose label set is remembered


class _PairChildren(NamedTuple):
    """The labelled children of one label set, looked up once (``labels()`` is slow)."""

    connections: Any
    failed: Any
    request_bytes: Any
    response_bytes: Any
    duration: Any


class WorkerStats(Collector):
    """Each worker's latest capture stats snapshot as ``podscope_capture_*`` metrics."""

    def __init__(self, registry: CollectorRegistry, max_workers: int) -> None:
        self._snapshots: dict[str, Mapping[str, Any]] = {}
        self._max_workers = max_workers
        self.rejected = Counter(
            "podscope_worker_snapshots_rejected",
            "Worker stats snapshots ignored: no worker name, or too many workers",
            registry=registry,
        )
        registry.register(self)

    def update(self, snapshot: Mapping[str, Any]) -> None:
        """Replace the snapshot of ``snapshot["worker"]`` (rejected and counted if unusable)."""
        worker = snapshot.get("worker") if isinstance(snapshot, Mapping) else None
        known = worker in self._snapshots
        if (
            not isinstance(worker, str)
            or not worker
            or (not known and len(self._snapshots) >= self._max_workers)
        ):
            self.rejected.inc()
            return
        self._snapshots[worker] = snapshot

    def forget(self, worker: str) -> None:
        """Drop a worker that went away (its series disappear)."""
        self._snapshots.pop(worker, None)

    def collect(self) -> Iterator[Metric]:
        """One family per capture metric, one sample per worker that reported it."""
        yield from snapshot_families(snapshot for _, snapshot in sorted(self._snapshots.items()))


class HubMetrics:
    """The hub's metrics in their own registry; ``render()`` is the ``/metrics`` body."""

    def __init__(
        self,
        max_label_sets: int = DEFAULT_MAX_LABEL_SETS,
        max_workers: int = DEFAULT_MAX_WORKERS,
    ) -> None:
        if max_label_sets < 1:
            raise ValueError(f"max_label_sets must be at least 1, got {max_label_sets}")
        self.registry = CollectorRegistry()
        registry = self.registry
        self._max_label_sets = max_label_sets
        self._children: dict[tuple[str, str, str, str], _PairChildren] = {}
        self._pair_children: dict[Pair, tuple[_PairChildren, bool]] = {}
        self.connections = Counter(
            "podscope_connections", "Connections started", PAIR_LABELS, registry=registry
        )
        self.connections_failed = Counter(
            "podscope_connections_failed",
            "Connections refused, reset or timed out, and flows answered by an ICMP error",
            PAIR_LABELS,
            registry=registry,
        )
        self.request_bytes = Counter(
            "podscope_request_bytes", "Bytes client to server", PAIR_LABELS, registry=registry
        )
        self.response_bytes = Counter(
            "podscope_response_bytes", "Bytes server to client", PAIR_LABELS, registry=registry
        )
        self.connection_duration = Histogram(
            "podscope_connection_duration_seconds",
            "Duration of finished TCP connections and UDP flows",
            PAIR_LABELS,
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.label_sets_overflow = Counter(
            "podscope_metrics_label_sets_overflow",
            f"Observations counted under 'other': over {max_label_sets} label sets",
            registry=registry,
        )
        self.entries_not_flows = Counter(
            "podscope_metrics_entries_skipped",
            "Entries not counted as traffic (DNS answers, ICMP about TCP, malformed), by reason",
            ["reason"],
            registry=registry,
        )
        self.entries_ingested = Counter(
            "podscope_hub_entries_ingested", "Entries read from the stream", registry=registry
        )
        self.entries_invalid = Counter(
            "podscope_hub_entries_invalid",
            "Entries rejected by the schema, by reason",
            ["reason"],
            registry=registry,
        )
        self.entries_excluded = Counter(
            "podscope_hub_entries_excluded",
            "Entries left out because they do not match the global filter",
            registry=registry,
        )
        self.duplicates_merged = Counter(
            "podscope_hub_duplicates_merged",
            "Entries merged as duplicates of a connection another worker reported",
            registry=registry,
        )
        self.entries_lost = Counter(
            "podscope_hub_entries_lost",
            "Entries a worker published that the hub never read (gaps in its numbering)",
            ["worker"],
            registry=registry,
        )
        self.sessions_open = Gauge(
            "podscope_hub_sessions_open", "Live websocket sessions", registry=registry
        )
        self.session_entries_dropped = Counter(
            "podscope_hub_session_entries_dropped",
            "Entries a slow session's queue dropped",
            registry=registry,
        )
        self.ingest_lag_seconds = Gauge(
            "podscope_hub_ingest_lag_seconds",
            "Age of the newest stream entry ingested when it was read",
            registry=registry,
        )
        self.workers = WorkerStats(registry, max_workers)

    @property
    def label_sets(self) -> int:
        """How many distinct traffic label sets exist (``other`` included)."""
        return len(self._children)

    def observe_not_flows(self, entries: Iterable[Stored]) -> None:
        """Count the stored entries that are no flow by their reason (one increment per reason
        and call)."""
        reasons = collections.Counter(s.not_flow for s in entries if s.flow is None)
        for reason, count in reasons.items():
            self.entries_not_flows.labels(reason).inc(count)

    def observe_flows(self, flows: Iterable[Flow]) -> None:
        """Count already read flows' traffic.

        Each (client, server) pair's counts are added up first, so a batch costs one increment
        per pair and counter (prometheus-client takes a lock for every increment).
        """
        sums: dict[Pair, _PairSums] = {}
        for flow in flows:
            pair_sums = sums.get(flow.pair)
            if pair_sums is None:
                pair_sums = sums[flow.pair] = _PairSums()
            pair_sums.flows += 1
            pair_sums.starts += flow.starts
            pair_sums.failed += flow.failed
            pair_sums.request_bytes += flow.request_bytes
            pair_sums.response_bytes += flow.response_bytes
            if flow.duration_ms is not None:
                pair_sums.durations.append(flow.duration_ms / 1000)
        for flow_pair, pair_sums in sums.items():
            children, folded = self._pair_children.get(flow_pair) or self._route(flow_pair)
            if folded:
                self.label_sets_overflow.inc(pair_sums.flows)
            if pair_sums.starts:
                children.connections.inc(pair_sums.starts)
            if pair_sums.failed:
                children.failed.inc(pair_sums.failed)
            if pair_sums.request_bytes:
                children.request_bytes.inc(pair_sums.request_bytes)
            if pair_sums.response_bytes:
                children.response_bytes.inc(pair_sums.response_bytes)
            for seconds in pair_sums.durations:
                children.duration.observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    def _route(self, flow_pair: Pair) -> tuple[_PairChildren, bool]:
        """The children a pair's traffic counts on, and whether they are ``other`` past the cap
        (remembered per pair)."""
        labels = (*_labels(flow_pair.client), *_labels(flow_pair.server))
        children = self._children.get(labels)
        folded = children is None and len(self._children) >= self._max_label_sets
        if folded:
            children = self._children.get(OTHER) or self._new_children(OTHER)
        elif children is None:
            children = self._new_children(labels)
        if len(self._pair_children) >= MAX_REMEMBERED_PAIRS:
            self._pair_children.clear()
        route = self._pair_children[flow_pair] = (children, folded)
        return route

    def _new_children(self, labels: tuple[str, str, str, str]) -> _PairChildren:
        children = _PairChildren(
            self.connections.labels(*labels),
            self.connections_failed.labels(*labels),
            self.request_bytes.labels(*labels),
            self.response_bytes.labels(*labels),
            self.connection_duration.labels(*labels),
        )
        self._children[labels] = children
        return children


class _PairSums:
    """What a batch's flows of one pair add up to."""

    __slots__ = ("durations", "failed", "flows", "request_bytes", "response_bytes", "starts")

    def __init__(self) -> None:
        self.flows = 0
        self.starts = 0
        self.failed = 0
        self.request_bytes = 0
        self.response_bytes = 0
        self.durations: list[float] = []


def _labels(side: Side) -> tuple[str, str]:
    """(namespace, workload) label values of one side: names, never pods, ports or IPs."""
    kind = side.kind
    if kind == "unknown":
        return "", "unknown"
    if kind == "external" and _is_ip(side.workload):
        return "", "external"
    return side.namespace, side.workload


@lru_cache(maxsize=4096)
def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
