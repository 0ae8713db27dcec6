from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from autobahn.exception import Disconnected
from channels.testing import WebsocketCommunicator
from django.conf import settings

from tests.dashboard.djangoenv import HOST_HEADERS, installed  # isort: skip  (sets Django up)

from contract.schema import Address, NatInfo
from dashboard.asgi import application
from dashboard.consumers import LiveConsumer
from dashboard.core.config import HubConfig
from dashboard.core.hub import Hub
from dashboard.core.naming.index import ClusterIndex
from dashboard.core.naming.resources import ENDPOINT_SLICE, SERVICE
from dashboard.core.sessions.registry import SessionLimits
from dashboard.core.targeting.scopes import LocalScopes
from dashboard.core.targeting.spec import TargetingSpec
from tests.dashboard import objects
from tests.dashboard.hubentries import cluster_index, tcp_entry
from tests.dashboard.wsclient import open_session, receive_type

SHOP = ("10.244.1.10", 40000)
EXTERNAL = ("203.0.113.10", 443)


def connect_entries(count: int, start: int = 1) -> list[Any]:
    return [
        tcp_entry(n, src=(SHOP[0], SHOP[1] + n), dst=EXTERNAL, event="connect")
        for n in range(start, start + count)
    ]


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    limits = SessionLimits(max_sessions=3, max_query_chars=64, filters_per_minute=5)
    with installed(Hub(HubConfig(store_size=1000, limits=limits), cluster_index())) as hub:
        yield hub
        await hub.stop()


async def test_hello_then_filter_ok_and_backfill(hub: Hub) -> None:
    hub.accept(connect_entries(3))
    communicator, hello = await open_session()
    assert hello["type"] == "hello"
    assert hello["ackWindow"] == hub.config.limits.ack_window
    assert hello["recording"] is None  # entries captured live
    await communicator.send_json_to({"type": "filter.set", "query": 'dst.ip == "203.0.113.10"'})
    assert await receive_type(communicator, "filter.ok") == {
        "type": "filter.ok",
        "query": 'dst.ip == "203.0.113.10"',
        "limit": None,
        "matched": 3,
    }
    backfill = await receive_type(communicator, "entries")
    assert backfill["backfill"] is True
    assert [e["id"] for e in backfill["entries"]] == ["w1/1", "w1/2", "w1/3"]
    await communicator.disconnect()


async def test_filter_error_has_position_and_keeps_the_previous_filter(hub: Hub) -> None:
    communicator, _ = await open_session()
    await communicator.send_json_to({"type": "filter.set", "query": "tcp"})
    await receive_type(communicator, "filter.ok")
    await communicator.send_json_to({"type": "filter.set", "query": "tcp and dst.nope == 1"})
    error = await receive_type(communicator, "filter.error")
    assert error["query"] == "tcp and dst.nope == 1"
    assert error["error"]["line"] == 1
    assert error["error"]["column"] == 13  # the unknown field "nope"
    assert "^" in error["error"]["context"]
    (session,) = hub.sessions.sessions()
    assert session.view.filter.query == "tcp"
    await communicator.disconnect()


async def test_live_entries_only_match_the_session_filter(hub: Hub) -> None:
    communicator, _ = await open_session()
    await communicator.send_json_to({"type": "filter.set", "query": 'dst.namespace == ""'})
    await receive_type(communicator, "filter.ok")
    backfill = await receive_type(communicator, "entries")
    await communicator.send_json_to({"type": "ack", "seq": backfill["seq"]})
    internal = tcp_entry(99, src=SHOP, dst=("10.244.1.11", 8080), event="connect")
    hub.accept([internal, *connect_entries(2, start=10)])
    live = await receive_type(communicator, "entries")
    assert live["backfill"] is False
    assert [e["id"] for e in live["entries"]] == ["w1/10", "w1/11"]
    await communicator.disconnect()


async def test_map_and_stats_messages(hub: Hub) -> None:
    hub.accept(connect_entries(2))
    communicator, _ = await open_session()
    map_message = await receive_type(communicator, "map")
    assert map_message["level"] == "namespace"
    assert sum(edge["connections"] for edge in map_message["edges"]) == 2
    stats = await receive_type(communicator, "stats")
    assert stats["hub"]["accepted"] == 2
    assert stats["session"]["dropped"] == 0
    await communicator.send_json_to({"type": "map.level", "level": "pod"})
    pod_map = await receive_type(communicator, "map")
    assert pod_map["level"] == "pod"
    await communicator.disconnect()


def cart_service_index() -> ClusterIndex:
    """The test cluster with a Service ``shop/cart`` (10.96.0.20:80) in front of the cart pod."""
    index = cluster_index()
    index.replace(SERVICE, [objects.service("cart", "shop", CART_VIP[0], port=CART_VIP[1])])
    slices = [objects.endpoint_slice("cart", "shop", [("cart-5d9c7b-x2x4q", "10.244.1.11")])]
    index.replace(ENDPOINT_SLICE, slices)
    return index


CART_VIP = ("10.96.0.20", 80)


def through_cart(number: int, event: str, port: int) -> Any:
    """Report ``number``, of a frontend -> cart connection from ``port`` that DNAT sent from the
    VIP (100 bytes sent when it ends)."""
    entry = tcp_entry(number, src=(SHOP[0], port), dst=("10.244.1.11", 8080), event=event)
    return msgspec.structs.replace(entry, nat=NatInfo(dialed=Address(*CART_VIP)))


async def test_the_workload_map_shows_services_between_callers_and_backends() -> None:
    entries = [
        through_cart(1, "connect", 41000),
        through_cart(2, "close", 41000),  # the same connection: its bytes
        through_cart(3, "refused", 41001),  # the pod refused it
        tcp_entry(4, src=SHOP, dst=CART_VIP, event="refused", sizes=(0, 0)),  # REJECTed at the VIP
    ]
    with installed(Hub(HubConfig(store_size=100), cart_service_index())) as hub:
        hub.accept(entries)
        communicator, hello = await open_session()
        assert (hello["level"], hello["services"]) == ("namespace", False)
        await communicator.send_json_to({"type": "map.level", "level": "workload"})
        shown = await receive_type(communicator, "map")
        assert (shown["level"], shown["services"]) == ("workload", True)
        service = next(n for n in shown["nodes"] if n["kind"] == "service")
        assert (service["id"], service["namespace"], service["label"]) == (
            "service:shop/cart",
            "shop",
            "cart",
        )
        edges = {
            (e["source"], e["target"]): (e["connections"], e["failed"], e["requestBytes"])
            for e in shown["edges"]
        }
        assert edges == {
            ("workload:shop/frontend", "service:shop/cart"): (3, 2, 200),
            ("service:shop/cart", "workload:shop/cart"): (2, 1, 200),
        }
        assert (service["connections"], service["failed"]) == (3, 2)  # once per connection
        await communicator.send_json_to(
            {"type": "map.level", "level": "workload", "services": False}
        )
        plain = await receive_type(communicator, "map")
        assert (plain["level"], plain["services"]) == ("workload", False)
        assert [(e["source"], e["target"], e["connections"]) for e in plain["edges"]] == [
            ("workload:shop/frontend", "workload:shop/cart", 3)  # the Service has cart's name
        ]
        await communicator.disconnect()
        await hub.stop()


async def test_hello_says_there_is_no_targeting_and_gives_the_default_filter(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(settings.PODSCOPE, "DEFAULT_FILTER", 'dst.namespace == ""')
    communicator, hello = await open_session()
    assert hello["targeting"] is False
    assert hello["defaultFilter"] == 'dst.namespace == ""'
    assert "targeting" not in await receive_type(communicator, "stats")
    await communicator.disconnect()


async def test_stats_carry_the_pods_targeted_and_left_out() -> None:
    scopes = LocalScopes("node-1", lambda scope: None)
    with installed(Hub(HubConfig(), cluster_index(), scopes=scopes)) as hub:
        try:
            assert hub.targeting is not None
            hub.targeting.set(TargetingSpec(excluded_namespaces=("payments",)))
            communicator, hello = await open_session()
            assert hello["targeting"] is True
            assert hello["defaultFilter"] == ""
            stats = await receive_type(communicator, "stats")
            assert stats["targeting"] == {
                "spec": {"podRegex": "", "namespaces": [], "excludedNamespaces": ["payments"]},
                "coverage": {
                    "targeted": 2,
                    "notTargeted": 1,
                    "namespaces": ["shop"],
                    "notTargetedNamespaces": ["payments"],
                },
            }
            await communicator.disconnect()
        finally:
            await hub.stop()


async def test_slow_client_is_told_how_many_entries_it_missed(hub: Hub) -> None:
    hub.sessions.limits = dataclasses.replace(
        hub.sessions.limits, max_queued_entries=5, ack_window=1
    )
    communicator, _ = await open_session()
    await communicator.send_json_to({"type": "filter.set", "query": "tcp"})
    await receive_type(communicator, "filter.ok")
    unacked = await receive_type(communicator, "entries")  # the (empty) backfill, not acked
    (session,) = hub.sessions.sessions()
    for batch in range(4):
        hub.accept(connect_entries(3, start=1 + batch * 3))
    assert session.stats()["dropped"] == 9  # whole batches of 3 dropped until 5 fit
    await communicator.send_json_to({"type": "ack", "seq": unacked["seq"]})
    message = await receive_type(communicator, "entries")
    assert message["missed"] == 9
    assert [e["id"] for e in message["entries"]] == ["w1/10", "w1/11", "w1/12"]
    await communicator.disconnect()


async def test_pause_and_resume(hub: Hub) -> None:
    communicator, _ = await open_session()
    await communicator.send_json_to({"type": "pause"})
    await communicator.send_json_to({"type": "ack", "seq": 5})
    await receive_type(communicator, "error")  # the pause was handled before this reply
    hub.accept(connect_entries(2))
    (session,) = hub.sessions.sessions()
    assert session.next_message() is None
    await communicator.send_json_to({"type": "resume"})
    message = await receive_type(communicator, "entries")
    assert message["backfill"] is True
    assert [e["id"] for e in message["entries"]] == ["w1/1", "w1/2"]
    await communicator.disconnect()


async def test_malformed_messages_get_an_error_and_the_session_goes_on(hub: Hub) -> None:
    communicator, _ = await open_session()
    await communicator.send_to(text_data="not json")
    assert (await receive_type(communicator, "error"))["message"] == "not JSON"
    await communicator.send_to(text_data="x" * 20_000)
    assert "limit" in (await receive_type(communicator, "error"))["message"]
    await communicator.send_json_to({"type": "launch"})
    assert "unknown message type" in (await receive_type(communicator, "error"))["message"]
    await communicator.send_json_to({"type": "ack", "seq": 5})
    assert "outside" in (await receive_type(communicator, "error"))["message"]
    await communicator.send_json_to({"type": "filter.set", "query": "tcp"})
    await receive_type(communicator, "filter.ok")
    await communicator.disconnect()


async def test_query_length_and_rate_limits(hub: Hub) -> None:
    communicator, _ = await open_session()
    await communicator.send_json_to({"type": "filter.set", "query": "tcp or " * 20 + "udp"})
    error = await receive_type(communicator, "filter.error")
    assert "over the 64 limit" in error["error"]["message"]
    for _ in range(5):
        await communicator.send_json_to({"type": "filter.set", "query": "tcp"})
        await receive_type(communicator, "filter.ok")
    await communicator.send_json_to({"type": "filter.set", "query": "udp"})
    error = await receive_type(communicator, "filter.error")
    assert "5 filter changes a minute" in error["error"]["message"]
    await communicator.disconnect()


async def test_session_limit_closes_extra_sessions(hub: Hub) -> None:
    sessions = [await open_session() for _ in range(3)]
    communicator = WebsocketCommunicator(application, "/ws/live", headers=HOST_HEADERS)
    connected, _ = await communicator.connect()
    assert connected
    error = await communicator.receive_json_from()
    assert "at most 3 sessions" in error["message"]
    assert (await communicator.receive_output())["code"] == 4429
    for open_communicator, _ in sessions:
        await open_communicator.disconnect()
    assert len(hub.sessions) == 0


async def test_foreign_origin_is_rejected(hub: Hub) -> None:
    headers = [(b"host", b"localhost"), (b"origin", b"http://evil.example")]
    communicator = WebsocketCommunicator(application, "/ws/live", headers=headers)
    connected, _ = await communicator.connect()
    assert not connected
    assert len(hub.sessions) == 0


async def test_viewer_gone_during_a_send_ends_the_sender_quietly(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    communicator, _ = await open_session()
    consumer_sends: list[str] = []

    async def send_then_disconnect(text_data: str | None = None, **_: Any) -> None:
        consumer_sends.append(text_data or "")
        raise Disconnected

    consumer = LiveConsumer()
    consumer.hub = hub
    monkeypatch.setattr(consumer, "send", send_then_disconnect)
    session = hub.sessions.open()
    session.wake.set()
    hub.accept([tcp_entry(1)])
    await asyncio.wait_for(consumer._send_loop(session), timeout=5)
    assert len(consumer_sends) == 1
    hub.sessions.close(session)
    await communicator.disconnect()


async def test_after_filter_ok_every_entry_matches_the_new_filter(hub: Hub) -> None:
    """Entries stream in while the filter flips: none of the old filter's may follow filter.ok."""

    async def feed() -> None:
        number = 0
        while True:
            batch = []
            for _ in range(20):
                number += 1
                port = 1 + number % 2
                batch.append(
                    tcp_entry(number, src=(SHOP[0], 1000 + number % 50000), dst=(EXTERNAL[0], port))
                )
            hub.accept(batch)
            await asyncio.sleep(0.002)

    feeder = asyncio.create_task(feed())
    communicator, _ = await open_session()
    try:
        for flip in range(4):  # the hub allows 5 filter changes a minute here
            port = 1 + flip % 2
            await communicator.send_json_to({"type": "filter.set", "query": f"dst.port == {port}"})
            while (message := await communicator.receive_json_from(timeout=3))["type"] != (
                "filter.ok"
            ):
                if message["type"] == "entries":
                    await communicator.send_json_to({"type": "ack", "seq": message["seq"]})
            checked = 0
            while checked < 200:
                message = await communicator.receive_json_from(timeout=3)
                if message["type"] != "entries":
                    continue
                assert {entry["dst"]["port"] for entry in message["entries"]} <= {port}
                checked += len(message["entries"])
                await communicator.send_json_to({"type": "ack", "seq": message["seq"]})
    finally:
        feeder.cancel()
        await communicator.disconnect()


async def test_viewer_messages_do_not_hop_to_a_thread_to_close_database_connections(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """channels' default dispatch runs close_old_connections in a worker thread per message."""
    hops = 0

    async def counted() -> None:
        nonlocal hops
        hops += 1

    monkeypatch.setattr("channels.consumer.aclose_old_connections", counted)
    communicator, _ = await open_session()
    await communicator.send_json_to({"type": "filter.set", "query": "tcp"})
    await receive_type(communicator, "filter.ok")
    for _ in range(3):
        await communicator.send_json_to({"type": "pause"})
    await communicator.send_json_to({"type": "nonsense"})
    assert (await receive_type(communicator, "error"))["message"].startswith("unknown message")
    assert hops == 0
    await communicator.disconnect()


async def test_a_lone_surrogate_is_a_filter_error_and_frees_no_slot(hub: Hub) -> None:
    """``"\\ud800"`` is legal JSON but no UTF-8: echoing it crashed the consumer and its
    session slot was never freed, so a few such messages locked every viewer out."""
    for _ in range(hub.config.limits.max_sessions + 1):
        communicator, _ = await open_session()
        await communicator.send_to(text_data='{"type": "filter.set", "query": "tcp \\ud800"}')
        error = await receive_type(communicator, "filter.error")
        assert "lone UTF-16 surrogate at character 5" in error["error"]["message"]
        assert error["query"] == "tcp \ufffd"  # echoed with a replacement character
        await communicator.disconnect()
    assert len(hub.sessions) == 0


async def test_the_session_is_freed_when_the_consumer_crashes(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def crash(*_: Any) -> None:
        raise RuntimeError("a bug in a handler")

    monkeypatch.setattr(LiveConsumer, "on_pause", crash)
    communicator, _ = await open_session()
    assert len(hub.sessions) == 1
    await communicator.send_json_to({"type": "pause"})
    with pytest.raises(RuntimeError, match="a bug in a handler"):
        await communicator.wait(timeout=3)
    assert len(hub.sessions) == 0


async def test_a_costly_filter_is_refused_with_a_clear_error(hub: Hub) -> None:
    hub.sessions.limits = dataclasses.replace(hub.sessions.limits, max_query_chars=8_000)
    costly = " or ".join(f'dst.name == r"(a|b)*c{n}.*x.*y.*z"' for n in range(60))
    communicator, _ = await open_session()
    await communicator.send_json_to({"type": "filter.set", "query": "tcp"})
    await receive_type(communicator, "filter.ok")
    await communicator.send_json_to({"type": "filter.set", "query": costly})
    error = await receive_type(communicator, "filter.error")
    assert "µs per entry, over the hub's limit" in error["error"]["message"]
    session = hub.sessions.sessions()[0]
    assert session.view.filter.query == "tcp"  # the previous filter stays
    await communicator.disconnect()


async def test_the_origin_must_name_the_same_port_and_the_host_must_be_allowed(hub: Hub) -> None:
    for host, origin in [
        (b"localhost", b"http://localhost:9999"),  # another service on an allowed name
        (b"localhost:8000", b"http://localhost"),
        (b"evil.example", b"http://evil.example"),  # a host that is not allowed
    ]:
        headers = [(b"host", host), (b"origin", origin)]
        communicator = WebsocketCommunicator(application, "/ws/live", headers=headers)
        connected, _ = await communicator.connect()
        assert not connected, (host, origin)
    headers = [(b"host", b"localhost:8000"), (b"origin", b"http://localhost:8000")]
    communicator = WebsocketCommunicator(application, "/ws/live", headers=headers)
    assert (await communicator.connect())[0]
    await communicator.disconnect()
    assert len(hub.sessions) == 0
