"""Tests for dashboard.core.outputs.metrics: traffic between workloads, bounded labels, hub and
worker health."""

from __future__ import annotations

import contextlib
import ipaddress
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.entrygen import generate
from dashboard.core.outputs.metrics import PAIR_LABELS, HubMetrics
from dashboard.core.store.entrystore import EntryStore, flows_of
from dashboard.core.store.flows import NotAFlowError, read_flow
from tests.dashboard.flowdata import (
    CART,
    CART_SERVICE,
    FRONTEND,
    FRONTEND_2,
    NAMELESS,
    STRAY,
    STRIPE,
    dns,
    pod,
    tcp,
    udp,
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(metrics: HubMetrics) -> Samples:
    """Every sample of the rendered text, keyed by (name, sorted labels)."""
    found: Samples = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def pair(src: tuple[str, str], dst: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    values = dict(zip(PAIR_LABELS, (*src, *dst), strict=True))
    return tuple(sorted(values.items()))


FRONT = ("shop", "frontend")


def observe(metrics: HubMetrics, wires: list[dict[str, Any]]) -> None:
    """Store the entries and count them as the hub does."""
    added, _ = EntryStore(len(wires)).add(wires)
    metrics.observe_flows(flows_of(added))
    metrics.observe_not_flows(added)


def test_traffic_between_workloads() -> None:
    metrics = HubMetrics()
    for entry in [
        tcp(FRONTEND, CART, "connect"),
        tcp(FRONTEND_2, CART_SERVICE, "close", elapsed=2_500, sent=100, received=900),
        tcp(FRONTEND, CART, "refused"),
        udp(FRONTEND, CART, elapsed=20, sent=48, received=48),
    ]:
        observe(metrics, [entry])
    found = samples(metrics)
    labels = pair(FRONT, ("shop", "cart"))
    assert found["podscope_connections_total", labels] == 3  # connect, refused, udp
    assert found["podscope_connections_failed_total", labels] == 1
    assert found["podscope_request_bytes_total", labels] == 148
    assert found["podscope_response_bytes_total", labels] == 948
    assert found["podscope_connection_duration_seconds_count", labels] == 2
    assert found["podscope_connection_duration_seconds_sum", labels] == pytest.approx(2.52)
    bucket = (*labels, ("le", "0.05"))
    assert found["podscope_connection_duration_seconds_bucket", tuple(sorted(bucket))] == 1
    assert metrics.label_sets == 1


def test_labels_never_carry_ips_pods_or_ports() -> None:
    metrics = HubMetrics()
    extra = [tcp(FRONTEND, NAMELESS, "connect"), tcp(FRONTEND, STRAY, "connect")]
    for entry in [*generate(3_000, seed=6), *extra]:
        observe(metrics, [entry])
    found = samples(metrics)
    pods = {e["src"]["pod"] for e in generate(3_000, seed=6)} - {""}
    for _, labels in found:
        for key, value in labels:
            assert key in {*PAIR_LABELS, "le", "reason", "worker", "node"}
            assert value not in pods
            with pytest.raises(ValueError):
                ipaddress.ip_address(value)
    assert found["podscope_connections_total", pair(FRONT, ("", "external"))] == 1
    assert found["podscope_connections_total", pair(FRONT, ("", "unknown"))] == 1
    assert found["podscope_connections_total", pair(("shop", "catalog"), ("", "github.com"))] > 0


def test_entries_that_are_no_traffic_are_counted_by_reason() -> None:
    metrics = HubMetrics()
    observe(metrics, [dns(FRONTEND, CART_SERVICE, "api.stripe.com", STRIPE.ip)])
    observe(metrics, [{"protocol": {"name": "tcp"}}])
    observe(metrics, [None])  # type: ignore[list-item]
    found = samples(metrics)
    skipped = "podscope_metrics_entries_skipped_total"
    assert found[skipped, (("reason", "dns answer"),)] == 1
    assert found[skipped, (("reason", "bad timestamp"),)] == 1
    assert found[skipped, (("reason", "not an object"),)] == 1
    assert metrics.label_sets == 0


def test_skipped_entries_are_counted_by_reason_per_batch() -> None:
    metrics = HubMetrics()
    answer = dns(FRONTEND, CART_SERVICE, "api.stripe.com", STRIPE.ip)
    flow = tcp(FRONTEND, CART, "connect")  # counted as traffic, not skipped
    observe(metrics, [answer, answer, {"protocol": {"name": "tcp"}}, flow])
    found = samples(metrics)
    skipped = "podscope_metrics_entries_skipped_total"
    assert found[skipped, (("reason", "dns answer"),)] == 2
    assert found[skipped, (("reason", "bad timestamp"),)] == 1
    assert found["podscope_connections_total", pair(FRONT, ("shop", "cart"))] == 1


def test_label_sets_are_capped_and_the_rest_is_other() -> None:
    metrics = HubMetrics(max_label_sets=3)
    clients = [pod("ns", f"app-{n}", f"app-{n}-0", f"10.0.0.{n + 1}") for n in range(6)]
    for client in clients:
        observe(metrics, [tcp(client, CART, "connect")])
    observe(metrics, [tcp(clients[0], CART, "connect")])  # known set: still its own
    found = samples(metrics)
    assert metrics.label_sets == 4
    assert found["podscope_connections_total", pair(("ns", "app-0"), ("shop", "cart"))] == 2
    other = pair(("other", "other"), ("other", "other"))
    assert found["podscope_connections_total", other] == 3
    assert found["podscope_metrics_label_sets_overflow_total", ()] == 3


@pytest.mark.parametrize("max_label_sets", [5, 2_000])
def test_a_batch_counts_what_its_flows_count_one_by_one(max_label_sets: int) -> None:
    flows = []
    for entry in generate(2_000, seed=8):
        with contextlib.suppress(NotAFlowError):
            flows.append(read_flow(entry))
    one_by_one, batched = HubMetrics(max_label_sets), HubMetrics(max_label_sets)
    for flow in flows:
        one_by_one.observe_flows([flow])
    for start in range(0, len(flows), 300):
        batched.observe_flows(flows[start : start + 300])
    counted, expected = samples(batched), samples(one_by_one)
    for found in (counted, expected):  # when each series was made differs, nothing else
        for key in [key for key in found if key[0].endswith("_created")]:
            del found[key]
    assert counted == pytest.approx(expected)  # durations are summed in another order
    overflow = counted["podscope_metrics_label_sets_overflow_total", ()]
    assert overflow > 0 if max_label_sets == 5 else overflow == 0


def test_max_label_sets_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_label_sets"):
        HubMetrics(max_label_sets=0)


def test_hub_health_attributes_render() -> None:
    metrics = HubMetrics()
    metrics.entries_ingested.inc(10)
    metrics.entries_invalid.labels("not JSON").inc()
    metrics.duplicates_merged.inc(2)
    metrics.sessions_open.set(3)
    metrics.session_entries_dropped.inc(4)
    metrics.ingest_lag_seconds.set(0.25)
    found = samples(metrics)
    assert found["podscope_hub_entries_ingested_total", ()] == 10
    assert found["podscope_hub_entries_invalid_total", (("reason", "not JSON"),)] == 1
    assert found["podscope_hub_duplicates_merged_total", ()] == 2
    assert found["podscope_hub_sessions_open", ()] == 3
    assert found["podscope_hub_session_entries_dropped_total", ()] == 4
    assert found["podscope_hub_ingest_lag_seconds", ()] == 0.25


def snapshot(worker: str, packets: int, **extra: Any) -> dict[str, Any]:
    return {
        "worker": worker,
        "node": f"node-of-{worker}",
        "sniffer": {"packets": packets, "kernelDrops": 1},
        "pipeline": {"malformed": 2, "connectionsOpen": 7},
        "publisher": {"dropped": 3},
        **extra,
    }


def test_worker_capture_stats_per_worker() -> None:
    metrics = HubMetrics()
    metrics.workers.update(snapshot("w1", 100))
    metrics.workers.update(snapshot("w2", 50))
    metrics.workers.update(snapshot("w1", 120))  # the latest snapshot wins
    found = samples(metrics)
    w1 = (("node", "node-of-w1"), ("worker", "w1"))
    w2 = (("node", "node-of-w2"), ("worker", "w2"))
    assert found["podscope_capture_captured_packets_total", w1] == 120
    assert found["podscope_capture_captured_packets_total", w2] == 50
    assert found["podscope_capture_kernel_drops_total", w1] == 1
    assert found["podscope_capture_malformed_packets_total", w2] == 2
    assert found["podscope_capture_entries_dropped_total", w1] == 3
    assert found["podscope_capture_connections_open", w1] == 7
    metrics.workers.forget("w1")
    assert ("podscope_capture_captured_packets_total", w1) not in samples(metrics)


def test_worker_snapshots_without_a_name_or_over_the_cap_are_rejected() -> None:
    metrics = HubMetrics(max_workers=1)
    metrics.workers.update(snapshot("w1", 1))
    metrics.workers.update(snapshot("w2", 1))
    metrics.workers.update({"sniffer": {"packets": 1}})
    metrics.workers.update(snapshot("", 1))
    metrics.workers.update("garbage")  # type: ignore[arg-type]
    metrics.workers.update(snapshot("w1", 5, sniffer={"packets": "many"}))
    found = samples(metrics)
    assert found["podscope_worker_snapshots_rejected_total", ()] == 4
    w1 = (("node", "node-of-w1"), ("worker", "w1"))
    assert ("podscope_capture_captured_packets_total", w1) not in found  # "many": no number
    assert not any(labels == (("node", "node-of-w2"), ("worker", "w2")) for _, labels in found)


def test_each_instance_has_its_own_registry() -> None:
    first, second = HubMetrics(), HubMetrics()
    first.entries_ingested.inc()
    assert samples(second)["podscope_hub_entries_ingested_total", ()] == 0


def test_a_connection_through_a_service_counts_once_between_caller_and_backend() -> None:
    through, direct = HubMetrics(), HubMetrics()
    observe(through, [tcp(FRONTEND, CART, "refused", sent=5, dialed=CART_SERVICE)])
    observe(direct, [tcp(FRONTEND, CART, "refused", sent=5)])

    def counted(metrics: HubMetrics) -> Samples:
        return {key: value for key, value in samples(metrics).items() if "_created" not in key[0]}

    assert counted(through) == counted(direct)
    cart = pair(FRONT, ("shop", "cart"))
    assert samples(through)["podscope_connections_total", cart] == 1
    assert samples(through)["podscope_connections_failed_total", cart] == 1
