"""Everything that leaves a process uses camelCase keys: /api/stats and websocket messages here;
the workers' stats hash in Redis in tests/capture/test_cli.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from django.test import AsyncClient

from tests.dashboard.djangoenv import installed  # isort: skip  (sets Django up)

from dashboard.core.config import HubConfig
from dashboard.core.hub import Hub
from tests.dashboard.hubentries import cluster_index, dns_entry, tcp_entry
from tests.dashboard.wsclient import open_session, receive_type
from tests.wirekeys import snake_case_keys

WORKER_SNAPSHOT = {
    "timestamp": 1.0,
    "node": "n1",
    "mode": "connections",
    "sniffer": {"packets": 9, "kernelDrops": 1},
    "pipeline": {"packets": 9, "connectionsOpen": 2},
}


def test_the_checker_finds_snake_case_keys_at_any_depth() -> None:
    document = {"okKey": [{"deep": {"bad_key": 1}}], "also_bad": 2, "fine": {"a b": 3}}
    assert snake_case_keys(document) == ["$.okKey[0].deep.bad_key", "$.also_bad"]


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    with installed(Hub(HubConfig(store_size=100), cluster_index())) as hub:
        hub.workers = {"w1": WORKER_SNAPSHOT}
        hub.accept(
            [tcp_entry(1), tcp_entry(2, event="refused"), dns_entry(3, "a.example", "1.2.3.4")]
        )
        hub.accept(["not json at all"])
        yield hub
        await hub.stop()


async def test_api_stats_has_no_snake_case_key(hub: Hub) -> None:
    response = await AsyncClient().get("/api/stats")
    assert response.status_code == 200
    body = json.loads(response.content)
    assert body["workers"]["w1"]["sniffer"]["kernelDrops"] == 1
    assert snake_case_keys(body) == []


async def test_websocket_hello_and_stats_have_no_snake_case_key(hub: Hub) -> None:
    communicator, hello = await open_session()
    try:
        stats = await receive_type(communicator, "stats")
    finally:
        await communicator.disconnect()
    assert hello["ackWindow"] > 0
    assert stats["hub"]["workers"]["w1"]["kernelDrops"] == 1
    assert snake_case_keys(hello) == []
    assert snake_case_keys(stats) == []
