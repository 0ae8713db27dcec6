"""Everything that leaves a process uses camelCase keys: /api/stats, websocket messages, the
workers' stats hash in Redis."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient
from scapy.layers.inet import IP, TCP
from scapy.utils import wrpcap

from tests.dashboard.djangoenv import HOST_HEADERS, installed  # isort: skip  (sets Django up)

from dashboard.asgi import application
from dashboard.core.config import HubConfig
from dashboard.core.hub import Hub
from tests.dashboard.hubentries import cluster_index, dns_entry, tcp_entry
from tests.wirekeys import snake_case_keys

REPO = Path(__file__).resolve().parents[2]
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


async def receive_type(communicator: WebsocketCommunicator, kind: str) -> dict[str, Any]:
    for _ in range(30):
        message: dict[str, Any] = await communicator.receive_json_from(timeout=5)
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")


async def test_websocket_hello_and_stats_have_no_snake_case_key(hub: Hub) -> None:
    communicator = WebsocketCommunicator(application, "/ws/live", headers=HOST_HEADERS)
    connected, _ = await communicator.connect()
    assert connected
    try:
        hello = await receive_type(communicator, "hello")
        stats = await receive_type(communicator, "stats")
    finally:
        await communicator.disconnect()
    assert hello["ackWindow"] > 0
    assert stats["hub"]["workers"]["w1"]["kernelDrops"] == 1
    assert snake_case_keys(hello) == []
    assert snake_case_keys(stats) == []


@pytest.mark.redis
def test_worker_stats_hash_in_redis_has_no_snake_case_key(tmp_path: Path) -> None:
    url, prefix = "redis://127.0.0.1:6379/15", f"wirekeys-{secrets.token_hex(4)}"
    client: redis.Redis = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    pcap = tmp_path / "one.pcap"
    wrpcap(
        str(pcap),
        [
            IP(src="10.244.1.10", dst="10.244.1.11") / TCP(sport=40000, dport=80, flags="S"),
            IP(src="10.244.1.11", dst="10.244.1.10") / TCP(sport=80, dport=40000, flags="SA"),
        ],
    )
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "capture",
                "--read",
                str(pcap),
                "--redis",
                url,
                "--prefix",
                prefix,
                "--worker",
                "w9",
                "--node",
                "n9",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        snapshot = json.loads(client.hget(f"{prefix}:workers", "w9") or b"{}")
    finally:
        client.delete(f"{prefix}:entries", f"{prefix}:workers")
    assert snapshot["pipeline"]["packets"] == 2
    assert "connectionsOpen" in snapshot["pipeline"]
    assert snake_case_keys(snapshot) == []
