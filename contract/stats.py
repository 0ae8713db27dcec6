"""The workers' stats snapshot: its counters, their Prometheus form, and a summary for viewers.

The worker builds a snapshot every few seconds (a JSON-ready dict with ``pipeline``,
``sniffer``, ``publisher`` and ``ring`` sections, see :mod:`capture.worker`) and publishes it to
Redis; :class:`CaptureMetrics` exposes the same numbers on ``/metrics``, so the two never
disagree. Together they answer "why am I not seeing some traffic?": kernel drops, malformed
packets, entries dropped by the publisher.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from contract.schema import camel

_Kind = Literal["counter", "gauge"]

METRICS: tuple[tuple[str, str, str, _Kind, str], ...] = (
    ("sniffer", "packets", "captured_packets", "counter", "Frames read from the capture sockets"),
    ("sniffer", "kernelDrops", "kernel_drops", "counter", "Packets the kernel dropped (buffer)"),
    ("sniffer", "truncated", "truncated_packets", "counter", "Frames longer than the snap length"),
    ("sniffer", "bridgeCopiesSkipped", "bridge_copies_skipped", "counter", "Bridge copies"),
    ("sniffer", "interfaceDown", "interface_down", "counter", "Captured interface went down"),
    ("pipeline", "packets", "packets", "counter", "Frames fed to the pipeline"),
    ("pipeline", "decoded", "decoded_packets", "counter", "Frames decoded"),
    ("pipeline", "malformed", "malformed_packets", "counter", "Frames that failed to decode"),
    ("pipeline", "fragments", "fragments", "counter", "IP fragments (not reassembled)"),
    ("pipeline", "filtered", "filtered_packets", "counter", "Frames the mode does not need"),
    ("pipeline", "duplicates", "duplicate_packets", "counter", "Same packet on another interface"),
    ("pipeline", "natCopies", "nat_copies", "counter", "Copies of a connection NAT rewrote"),
    ("pipeline", "natJoins", "nat_joins", "gauge", "Connections joined across NAT now held"),
    ("pipeline", "unsupported", "unsupported_packets", "counter", "Frames of unsupported types"),
    ("pipeline", "connectionsOpen", "connections_open", "gauge", "TCP connections tracked"),
    ("pipeline", "connectionsEvicted", "connections_evicted", "counter", "Tracker table full"),
    ("pipeline", "connectionsExpired", "connections_expired", "counter", "TCP 'expired' reports"),
    ("pipeline", "udpFlowsOpen", "udp_flows_open", "gauge", "UDP flows tracked"),
    ("pipeline", "entries", "entries", "counter", "Entries produced by the pipeline"),
    ("publisher", "published", "entries_published", "counter", "Entries written to Redis"),
    ("publisher", "dropped", "entries_dropped", "counter", "Entries dropped: publisher queue full"),
    ("publisher", "queued", "entries_queued", "gauge", "Entries waiting for Redis"),
    ("publisher", "reconnects", "redis_reconnects", "counter", "Reconnections to Redis"),
    ("ring", "bytes", "ring_bytes", "gauge", "Bytes held by the pcap ring on disk"),
    ("ring", "filesDropped", "ring_files_dropped", "counter", "Ring files deleted (oldest first)"),
)
"""(snapshot section, key, metric name without ``podscope_capture_``, kind, help)."""

PREFIX = "podscope_capture_"


class CaptureMetrics(Collector):
    """A Prometheus collector over the latest snapshot (labels: worker, node)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._snapshot: Mapping[str, Any] = {}
        self._lock = threading.Lock()
        self.registry.register(self)

    def update(self, snapshot: Mapping[str, Any]) -> None:
        """Replace the snapshot the metrics are read from."""
        with self._lock:
            self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        """Yield one metric family per known counter present in the snapshot."""
        with self._lock:
            snapshot = self._snapshot
        yield from snapshot_families([snapshot])

    def serve(self, port: int, address: str = "0.0.0.0") -> None:  # noqa: S104 (a DaemonSet port)
        """Serve ``/metrics`` on ``port`` from a daemon thread."""
        start_http_server(port, addr=address, registry=self.registry)


def snapshot_families(snapshots: Iterable[Mapping[str, Any]]) -> Iterator[Metric]:
    """One family per known capture counter, a sample (labels worker, node) per snapshot.

    Shared by the worker's own ``/metrics`` and the hub's, so both name the numbers alike.
    """
    snapshots = list(snapshots)
    for section, key, name, kind, help_text in METRICS:
        family: CounterMetricFamily | GaugeMetricFamily
        if kind == "counter":
            family = CounterMetricFamily(PREFIX + name, help_text, labels=["worker", "node"])
        else:
            family = GaugeMetricFamily(PREFIX + name, help_text, labels=["worker", "node"])
        for snapshot in snapshots:
            value = _number(snapshot.get(section), key)
            if value is not None:
                labels = [str(snapshot.get("worker", "")), str(snapshot.get("node", ""))]
                family.add_metric(labels, value)
        if family.samples:
            yield family


def _number(section: object, key: str) -> float | None:
    if not isinstance(section, Mapping):
        return None
    value = section.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def worker_summary(snapshot: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The capture health of one worker from its stats snapshot (absent counters are 0);
    ``age`` is how many seconds before ``now`` it reported (None without a timestamp)."""

    def count(section: str, key: str) -> int:
        value = snapshot.get(section)
        number = value.get(key) if isinstance(value, Mapping) else None
        return number if isinstance(number, int) and not isinstance(number, bool) else 0

    timestamp = snapshot.get("timestamp")
    age = None
    if isinstance(timestamp, int | float) and not isinstance(timestamp, bool):
        age = round(max(0.0, now - timestamp), 1)
    return {
        "node": str(snapshot.get("node", "")),
        "mode": str(snapshot.get("mode", "")),
        "timestamp": timestamp,
        "age": age,
        "packets": count("pipeline", "packets"),
        "entries": count("pipeline", "entries"),
        "malformed": count("pipeline", "malformed"),
        "kernelDrops": count("sniffer", "kernelDrops"),
        "entriesDropped": count("publisher", "dropped"),
    }


def counters(stats: Any) -> dict[str, Any]:
    """A dataclass of counters as its wire form: the same values under camelCase keys."""
    return {camel(field.name): getattr(stats, field.name) for field in dataclasses.fields(stats)}
