"""Real Redis, the real capture worker on the lab's packets, the hub and a websocket session."""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from tests.redisprefix import private_prefix

from tests.dashboard.djangoenv import HOST_HEADERS, installed  # isort: skip  (sets Django up)

from capture.pipeline import Pipeline, PipelineConfig
from capture.sinks.publish import Publisher
from capture.sources.live import Sniffer
from capture.worker import FilterSpec, Worker, WorkerSettings
from contract.schema import Node
from dashboard.asgi import application
from dashboard.core.config import HubConfig
from dashboard.core.hub import Hub
from dashboard.core.ingest.sources import EntryDecoder, RedisEntrySource
from dashboard.core.naming.index import ClusterIndex
from kfl import compile_filter
from lab.demo import LabTraffic, lab_objects, load_objects
from lab.topology import EXTERNAL_CIDR, NODE_IP, NODE_NAME, POD_CIDR, Lab
from tests.capture.livecapture import require_lab

REDIS_URL = "redis://127.0.0.1:6379/9"
ROUNDS = 4

pytestmark = [pytest.mark.root, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_lab()
    with Lab() as lab:
        yield lab


@pytest.fixture
def prefix() -> Iterator[str]:
    """A Redis key prefix of this test alone."""
    with private_prefix("test-hub") as name:
        yield name


@pytest.fixture
def worker(lab: Lab, prefix: str) -> Iterator[Worker]:
    """The capture worker's loop and Redis publisher; its sockets opened in the lab's node."""
    spec = FilterSpec()
    with lab.inside(lab.node_ns):
        sniffer = Sniffer(["any"], spec.expression()).open()
    publisher = Publisher(REDIS_URL, prefix=prefix).start()
    node = Node(NODE_NAME, NODE_IP)
    config = PipelineConfig(syn_timeout=1.0, local_cidrs=(POD_CIDR,))
    settings = WorkerSettings("lab-worker", node, spec, stats_interval=0.5)
    worker = Worker(
        Pipeline(config, "lab-worker", node), publisher, settings, report=publisher.publish_stats
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_live, args=(sniffer, stop), daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        thread.join(timeout=15)
        sniffer.close()
        publisher.close()


@pytest.fixture
async def hub(lab: Lab, prefix: str) -> AsyncIterator[Hub]:
    index = ClusterIndex(cluster_cidrs=[POD_CIDR])
    load_objects(index, lab_objects(lab))
    decoder = EntryDecoder()
    source = RedisEntrySource(REDIS_URL, prefix=prefix, decoder=decoder)
    with installed(Hub(HubConfig(), index, source=source, decoder=decoder)) as hub:
        hub.start()
        yield hub
        await hub.stop()


def stored(hub: Hub, query: str = "") -> list[dict[str, Any]]:
    predicate = compile_filter(query)
    return [dict(s.wire) for s in hub.store if predicate(s.wire)]


def external(ip: str) -> bool:
    return ipaddress.ip_address(ip) in ipaddress.ip_network(EXTERNAL_CIDR)


async def wait_for(hub: Hub, condition: Any, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"hub never got there; stats: {hub.stats()}")
        await asyncio.sleep(0.2)


async def test_lab_traffic_through_redis_is_named_and_filterable(
    lab: Lab, worker: Worker, hub: Hub
) -> None:
    communicator = WebsocketCommunicator(application, "/ws/live", headers=HOST_HEADERS)
    assert (await communicator.connect())[0]
    await communicator.send_json_to({"type": "filter.set", "query": 'dst.namespace == ""'})
    await asyncio.sleep(1.0)  # the worker's sockets are open before the traffic starts
    with LabTraffic(lab, slow_every=2) as traffic:
        for _ in range(ROUNDS):
            await asyncio.to_thread(traffic.round)
    frontend, cart = lab.pod("shop/frontend"), lab.pod("shop/cart")
    api = lab.pod("payments/api")

    def complete() -> bool:
        closes = stored(hub, 'tcp.event == "close"')
        timeouts = stored(hub, 'tcp.event == "timeout"')
        return len(closes) >= 3 * ROUNDS and len(timeouts) >= ROUNDS // 2

    await wait_for(hub, complete)

    # entries named correctly
    for entry in stored(hub, f'src.ip == "{frontend.ip}" and dst.ip == "{cart.ip}"'):
        assert entry["src"]["pod"] == frontend.name
        assert entry["src"]["namespace"] == "shop"
        assert entry["src"]["workload"] == "frontend"
        assert entry["dst"]["pod"] == cart.name
        assert entry["dst"]["kind"] == "pod"

    # dst.namespace == "" is exactly the connections that leave the cluster
    leaving = stored(hub, 'dst.namespace == ""')
    assert leaving
    assert {e["id"] for e in leaving} == {e["id"] for e in stored(hub) if external(e["dst"]["ip"])}

    # the two-namespace query is exactly payments -> shop traffic
    pair = stored(hub, 'src.namespace == "payments" and dst.namespace == "shop"')
    expected = stored(hub, f'src.ip == "{api.ip}" and dst.ip == "{cart.ip}"')
    assert pair
    assert {e["id"] for e in pair} == {e["id"] for e in expected}

    # dst.name of an external destination comes from the DNS answer the client got
    by_name = stored(hub, 'dst.name == "api.example.com"')
    assert {e["dst"]["ip"] for e in by_name} == {"203.0.113.10"}
    assert len(stored(hub, 'tcp.event == "close" and dst.name == "api.example.com"')) == ROUNDS

    # the websocket session with that filter saw only external destinations
    seen: list[dict[str, Any]] = []
    while not await communicator.receive_nothing(timeout=0.5):
        message = await communicator.receive_json_from()
        if message["type"] == "entries":
            seen += message["entries"]
            await communicator.send_json_to({"type": "ack", "seq": message["seq"]})
    assert seen
    assert all(external(e["dst"]["ip"]) for e in seen)
    assert hub.stats()["workers"]["lab-worker"]["node"] == NODE_NAME
    await communicator.disconnect()
