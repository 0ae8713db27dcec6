"""Prometheus metrics from the worker's stats snapshot, and the /metrics endpoint."""

from __future__ import annotations

import socket
import urllib.request

from prometheus_client import generate_latest

from contract.stats import METRICS, CaptureMetrics

SNAPSHOT = {
    "worker": "w1",
    "node": "n1",
    "sniffer": {"packets": 10, "kernelDrops": 2, "truncated": 0},
    "pipeline": {"packets": 10, "malformed": 1, "connectionsOpen": 3, "entries": 4},
    "publisher": {"published": 4, "dropped": 5, "queued": 0, "connected": True},
}


def exposition(metrics: CaptureMetrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_counters_and_gauges_follow_the_latest_snapshot() -> None:
    metrics = CaptureMetrics()
    metrics.update(SNAPSHOT)
    text = exposition(metrics)
    labels = '{node="n1",worker="w1"}'
    assert f"podscope_capture_kernel_drops_total{labels} 2.0" in text
    assert f"podscope_capture_malformed_packets_total{labels} 1.0" in text
    assert f"podscope_capture_entries_dropped_total{labels} 5.0" in text
    assert f"podscope_capture_connections_open{labels} 3.0" in text
    assert "# TYPE podscope_capture_connections_open gauge" in text
    metrics.update({**SNAPSHOT, "sniffer": {"packets": 20, "kernelDrops": 7}})
    assert f"podscope_capture_kernel_drops_total{labels} 7.0" in exposition(metrics)


def test_missing_sections_and_non_numbers_are_left_out() -> None:
    metrics = CaptureMetrics()
    assert "podscope_capture" not in exposition(metrics)
    metrics.update({"worker": "w", "node": "n", "publisher": {"connected": True, "queued": "x"}})
    assert "podscope_capture" not in exposition(metrics)


def test_metric_names_are_unique() -> None:
    names = [name for _, _, name, _, _ in METRICS]
    assert len(names) == len(set(names))


def test_metrics_are_served_over_http() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    metrics = CaptureMetrics()
    metrics.update(SNAPSHOT)
    metrics.serve(port, address="127.0.0.1")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        body = response.read().decode()
    assert 'podscope_capture_entries_published_total{node="n1",worker="w1"} 4.0' in body
