from __future__ import annotations

import json
from typing import Any

import pytest

from bench.entrygen import generate
from dashboard.core.outputs.graph import ConnectivityGraph
from dashboard.core.outputs.storemaps import StoreMaps
from dashboard.core.sessions.registry import EntriesMessage, SessionLimits, SessionRegistry
from dashboard.core.store.entrystore import EntryStore, Stored, flows_of
from dashboard.errors import QueryTooLongError, RateLimitError, SessionLimitError
from kfl import KflError
from tests.dashboard.fakeclock import FakeClock
from tests.dashboard.flowdata import through_services
from tests.dashboard.hubentries import tcp_entry


def named(number: int, namespace: str, dst_namespace: str = "shop") -> dict[str, Any]:
    wire = tcp_entry(number, src=("10.244.1.10", 40000 + number), event="connect").to_wire()
    for side, ns in (("src", namespace), ("dst", dst_namespace)):
        wire[side].update(
            namespace=ns, kind="pod", name=f"{side}-1", pod=f"{side}-1", workload=side
        )
    return wire


def feed(registry: SessionRegistry, store: EntryStore, wires: list[dict[str, Any]]) -> None:
    added, evicted = store.add(wires)
    registry.dispatch(added, evicted)


def to_dict(message: EntriesMessage | None) -> dict[str, Any]:
    assert message is not None
    return message.to_dict()


def drain(registry: SessionRegistry, session_id: int) -> list[dict[str, Any]]:
    session = next(s for s in registry.sessions() if s.id == session_id)
    messages = []
    while (message := session.next_message()) is not None:
        assert json.loads(message.to_json()) == message.to_dict()
        messages.append(message.to_dict())
        session.ack(message.seq)
    return messages


async def test_each_session_gets_only_what_its_filter_matches() -> None:
    store = EntryStore(100)
    registry = SessionRegistry(store)
    shop, payments = registry.open(), registry.open()
    await registry.set_filter(shop, 'src.namespace == "shop"')
    await registry.set_filter(payments, 'src.namespace == "payments"')
    drain(registry, shop.id), drain(registry, payments.id)  # empty backfills
    feed(registry, store, [named(1, "shop"), named(2, "payments"), named(3, "shop")])
    got = drain(registry, shop.id)
    assert [e["id"] for m in got for e in m["entries"]] == ["w1/1", "w1/3"]
    got = drain(registry, payments.id)
    assert [e["id"] for m in got for e in m["entries"]] == ["w1/2"]


async def test_setting_a_filter_backfills_the_newest_matching_entries_oldest_first() -> None:
    store = EntryStore(100)
    registry = SessionRegistry(store, SessionLimits(backfill=2))
    feed(registry, store, [named(n, "shop" if n % 2 else "other") for n in range(1, 8)])
    session = registry.open()
    await registry.set_filter(session, 'src.namespace == "shop"')
    (message,) = drain(registry, session.id)
    assert message["backfill"] is True
    assert [e["id"] for e in message["entries"]] == ["w1/5", "w1/7"]
    # the cursor for older matches: the store seq of the oldest entry sent; 4 match in all
    assert message["first"] == next(s.seq for s in store if s.wire["id"] == "w1/5")
    assert session.view.matched == 4


async def test_limit_in_the_query_caps_the_backfill() -> None:
    store = EntryStore(100)
    registry = SessionRegistry(store)
    feed(registry, store, [named(n, "shop") for n in range(1, 8)])
    session = registry.open()
    flt = await registry.set_filter(session, "tcp and limit(3)")
    assert flt.limit == 3
    (message,) = drain(registry, session.id)
    assert len(message["entries"]) == 3


async def test_a_bad_filter_keeps_the_previous_one() -> None:
    store = EntryStore(100)
    registry = SessionRegistry(store)
    session = registry.open()
    await registry.set_filter(session, 'src.namespace == "shop"')
    with pytest.raises(KflError) as caught:
        await registry.set_filter(session, "src.namespace ==")
    assert caught.value.column > 0
    assert session.view.filter.query == 'src.namespace == "shop"'


def test_slow_session_drops_oldest_batches_and_reports_missed() -> None:
    store = EntryStore(1000)
    limits = SessionLimits(max_queued_entries=4, ack_window=1)
    registry = SessionRegistry(store, limits)
    slow, fast = registry.open(), registry.open()
    feed(registry, store, [named(1, "shop"), named(2, "shop")])
    first = to_dict(slow.next_message())
    assert [e["id"] for e in first["entries"]] == ["w1/1", "w1/2"]
    for batch in range(1, 5):
        feed(registry, store, [named(batch * 2 + 1, "shop"), named(batch * 2 + 2, "shop")])
        drain(registry, fast.id)
    assert slow.next_message() is None  # ack window full
    slow.ack(first["seq"])
    second = to_dict(slow.next_message())
    assert second["missed"] == 4  # batches 2 and 3 were dropped for 4 and 5
    assert [e["id"] for e in second["entries"]] == ["w1/7", "w1/8"]
    assert slow.stats()["dropped"] == 4
    assert fast.stats()["dropped"] == 0
    assert registry.dropped_entries == 4


def test_a_batch_larger_than_the_queue_keeps_its_newest_entries() -> None:
    store = EntryStore(1000)
    registry = SessionRegistry(store, SessionLimits(max_queued_entries=3))
    session = registry.open()
    feed(registry, store, [named(n, "shop") for n in range(1, 11)])
    (message,) = drain(registry, session.id)
    assert [e["id"] for e in message["entries"]] == ["w1/8", "w1/9", "w1/10"]
    assert message["missed"] == 7


def test_ack_outside_the_sent_range_is_refused() -> None:
    registry = SessionRegistry(EntryStore(10))
    session = registry.open()
    with pytest.raises(ValueError, match="outside"):
        session.ack(3)


async def test_pause_then_resume_sends_what_arrived_meanwhile() -> None:
    store = EntryStore(100)
    registry = SessionRegistry(store, SessionLimits(backfill=2))
    session = registry.open()
    registry.pause(session)
    feed(registry, store, [named(n, "shop") for n in range(1, 6)])
    assert session.next_message() is None
    await registry.resume(session)
    (message,) = drain(registry, session.id)
    assert message["backfill"] is True
    assert [e["id"] for e in message["entries"]] == ["w1/4", "w1/5"]
    assert message["missed"] == 3


async def test_session_limit_query_length_and_rate_limit() -> None:
    clock = FakeClock(1000.0)
    limits = SessionLimits(max_sessions=1, max_query_chars=10, filters_per_minute=2)
    registry = SessionRegistry(EntryStore(10), limits, clock=clock)
    session = registry.open()
    with pytest.raises(SessionLimitError):
        registry.open()
    with pytest.raises(QueryTooLongError):
        await registry.set_filter(session, "tcp or udp or dns")
    await registry.set_filter(session, "tcp")
    await registry.set_filter(session, "udp")
    with pytest.raises(RateLimitError, match="2 filter changes"):
        await registry.set_filter(session, "dns")
    assert session.view.filter.query == "udp"
    clock.now += 61
    await registry.set_filter(session, "dns")
    registry.close(session)
    registry.open()


async def test_views_are_shared_and_maps_follow_store_evictions() -> None:
    store = EntryStore(2)
    registry = SessionRegistry(store)
    first, second = registry.open(), registry.open()
    await registry.set_filter(first, "tcp")
    await registry.set_filter(second, "tcp")
    assert registry.views == 1
    assert first.view is second.view
    feed(registry, store, [named(1, "shop", "payments")])
    edges = first.view.graph.to_dict()["edges"]
    assert [edge["connections"] for edge in edges] == [1]
    feed(registry, store, [named(2, "a"), named(3, "b")])  # evicts entry 1
    targets = {(e["source"], e["target"]) for e in first.view.graph.to_dict()["edges"]}
    assert all("payments" not in target for _, target in targets)
    registry.close(first)
    registry.close(second)
    assert registry.views == 0


@pytest.mark.parametrize("batch", [1, 7, 64, 200])
async def test_every_view_map_is_the_map_of_its_stored_entries_while_the_store_evicts(
    batch: int,
) -> None:
    """Batches that straddle the eviction point are taken out of the views' maps in part."""
    store = EntryStore(150)
    maps = StoreMaps(store)
    registry = SessionRegistry(store, shared=maps)
    queries = ["", "tcp", 'src.namespace == "shop"', 'dst.namespace == "" or udp']
    for query in queries:
        await registry.set_filter(registry.open(), query)
    wires = generate(600, seed=12)
    for start in range(0, len(wires), batch):
        added, evicted = store.add(wires[start : start + batch])
        maps.update(  # as the hub does, for the match-everything view
            flows_of(added),
            flows_of(evicted),
        )
        registry.dispatch(added, evicted)
        for session in registry.sessions():
            flt = session.view.filter
            expected = ConnectivityGraph("namespace")
            expected.add_flows(flows_of(s for s in store if flt(s.wire)))
            assert session.view.graph.to_dict() == expected.to_dict(), (flt.query, start)
            matching = sum(1 for stored in store if flt(stored.wire))
            assert session.view.matched == matching, (flt.query, start)
            assert session.stats()["matched"] == matching


async def test_the_match_everything_view_uses_the_shared_map() -> None:
    store = EntryStore(10)
    maps = StoreMaps(store, keep_seconds=0, clock=lambda: 0.0)
    registry = SessionRegistry(store, shared=maps)
    session = registry.open()
    assert session.view.graph is maps.acquire("namespace")
    await registry.set_level(session, "workload")  # with Services, unless told
    assert maps.kept == [("namespace", False), ("workload", True)]
    assert session.view.graph is maps.acquire("workload", True)
    maps.release("workload", True)
    with pytest.raises(ValueError, match="unknown map level"):
        await registry.set_level(session, "cluster")
    await registry.set_level(session, "pod", False)  # the workload map is no longer viewed
    maps.update([], [])
    assert maps.kept == [("namespace", False), ("pod", False)]
    registry.close(session)
    maps.update([], [])
    assert maps.kept == [("namespace", False)]


async def test_showing_services_is_part_of_the_view_at_workload_and_pod_levels() -> None:
    store = EntryStore(10)
    registry = SessionRegistry(store)
    first, second = registry.open(), registry.open()
    await registry.set_filter(first, "tcp")
    await registry.set_filter(second, "tcp")
    await registry.set_level(first, "namespace", False)  # no Services there: the same view
    assert first.view is second.view
    await registry.set_level(first, "workload")
    await registry.set_level(second, "workload", False)
    assert first.view is not second.view
    assert (first.view.graph.services, second.view.graph.services) == (True, False)
    assert (first.stats()["services"], second.stats()["services"]) == (True, False)
    feed(registry, store, through_services(generate(40, seed=3)))
    for session in (first, second):
        expected = ConnectivityGraph("workload", services=session.view.services)
        expected.add_flows(flows_of(s for s in store if session.view.filter(s.wire)))
        assert session.view.graph.to_dict() == expected.to_dict()
    await registry.set_level(second, "workload", True)
    assert first.view is second.view
    assert registry.views == 1


def test_offered_entries_keep_store_order() -> None:
    registry = SessionRegistry(EntryStore(10))
    session = registry.open()
    session.offer([Stored(1, {"id": "a"}), Stored(2, {"id": "b"})])
    message = to_dict(session.next_message())
    assert [e["id"] for e in message["entries"]] == ["a", "b"]


def test_big_batches_are_split_into_messages_of_bounded_size() -> None:
    registry = SessionRegistry(EntryStore(100), SessionLimits(max_message_entries=4))
    session = registry.open()
    session.offer([Stored(n, {"id": str(n)}) for n in range(1, 11)])
    sizes = [len(message["entries"]) for message in drain(registry, session.id)]
    assert sizes == [4, 4, 2]
    assert session.stats()["dropped"] == 0
