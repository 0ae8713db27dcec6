"""The Redis publisher and scope watcher, against real Redis servers."""

from __future__ import annotations

import json
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from capture.errors import PublishError
from capture.sinks.publish import Publisher, ScopeWatcher
from contract.bus import Backoff, RedisKeys
from contract.schema import Endpoint, Entry, Node, TcpInfo, protocol
from tests.capture.redisread import stream_messages
from tests.privateredis import PrivateRedis

SHARED_URL = "redis://127.0.0.1:6379/15"
PRIVATE_PORT = 6390
FAST = Backoff(initial=0.05, maximum=0.2)


def make_entries(count: int, start: int = 0) -> list[Entry]:
    return [
        Entry(
            id=f"test-worker/{index}",
            worker="test-worker",
            node=Node("n1", "10.0.0.1"),
            timestamp=1_700_000_000_000 + index,
            protocol=protocol("tcp"),
            src=Endpoint("10.244.1.10", 40000 + index % 20000),
            dst=Endpoint("10.244.1.11", 80),
            request_size=index,
            tcp=TcpInfo(event="close"),
        )
        for index in range(start, start + count)
    ]


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def stream_ids(client: redis.Redis, keys: RedisKeys) -> list[str]:
    return [
        Entry.from_json(fields[b"entry"]).id for _, fields in stream_messages(client, keys.entries)
    ]


@pytest.fixture
def shared() -> Iterator[tuple[redis.Redis, RedisKeys]]:
    client: redis.Redis = redis.Redis.from_url(SHARED_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379 (bash scripts/redis.sh)")
    keys = RedisKeys(f"pstest-{secrets.token_hex(4)}")
    yield client, keys
    client.delete(keys.entries, keys.workers, keys.scope("n1"))
    client.close()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(PRIVATE_PORT, tmp_path)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.kill()


@pytest.mark.redis
def test_entries_reach_the_stream_as_entry_json(
    shared: tuple[redis.Redis, RedisKeys],
) -> None:
    client, keys = shared
    publisher = Publisher(SHARED_URL, prefix=keys.prefix, batch_size=7).start()
    entries = make_entries(50)
    publisher.submit(entries)
    publisher.close()
    assert stream_ids(client, keys) == [entry.id for entry in entries]
    first = stream_messages(client, keys.entries, count=1)[0][1][b"entry"]
    assert Entry.from_json(first) == entries[0]
    stats = publisher.stats
    assert (stats.submitted, stats.published, stats.dropped, stats.queued) == (50, 50, 0, 0)


@pytest.mark.redis
def test_stream_is_capped_approximately(shared: tuple[redis.Redis, RedisKeys]) -> None:
    client, keys = shared
    publisher = Publisher(SHARED_URL, prefix=keys.prefix, maxlen=100).start()
    publisher.submit(make_entries(2000))
    publisher.close()
    length = client.xlen(keys.entries)
    assert 100 <= length < 2000
    assert stream_ids(client, keys)[-1] == "test-worker/1999"


@pytest.mark.redis
def test_stats_snapshot_lands_in_the_workers_hash(
    shared: tuple[redis.Redis, RedisKeys],
) -> None:
    client, keys = shared
    publisher = Publisher(SHARED_URL, prefix=keys.prefix).start()
    publisher.publish_stats("w1", {"timestamp": 1.0, "node": "n1", "sniffer": {"kernel_drops": 0}})
    publisher.publish_stats("w1", {"timestamp": 2.0, "node": "n1", "sniffer": {"kernel_drops": 3}})
    publisher.close()
    snapshot = json.loads(client.hget(keys.workers, "w1") or b"{}")
    assert snapshot == {"timestamp": 2.0, "node": "n1", "sniffer": {"kernel_drops": 3}}


def test_full_queue_drops_oldest_and_counts_them() -> None:
    publisher = Publisher("redis://127.0.0.1:1/0", queue_size=100, backoff=FAST).start()
    for start in range(0, 1000, 100):
        publisher.submit(make_entries(100, start))
    stats = publisher.stats
    assert stats.submitted == 1000
    assert stats.published == 0
    assert stats.dropped + stats.queued + stats.in_flight == 1000
    assert stats.queued == 100  # plus at most one batch being sent
    wait_for(lambda: publisher.stats.errors >= 2)
    stats = publisher.stats  # the failed batch went back to the queue, over capacity: dropped
    assert stats.dropped + stats.queued + stats.in_flight == 1000
    assert stats.queued + stats.in_flight == 100
    assert not stats.connected
    publisher.close(timeout=0.2)


def test_submit_never_blocks_while_redis_is_unreachable() -> None:
    publisher = Publisher("redis://127.0.0.1:1/0", queue_size=10_000, backoff=FAST).start()
    entries = make_entries(1000)
    started = time.perf_counter()
    for _ in range(20):
        publisher.submit(entries)
    assert time.perf_counter() - started < 2.0
    publisher.close(timeout=0.1)


@pytest.mark.parametrize("url", ["http://localhost", "redis://host:notaport", ""])
def test_bad_url_is_a_publish_error(url: str) -> None:
    with pytest.raises(PublishError, match="bad Redis URL"):
        Publisher(url)


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(initial=0.1, maximum=1.0)
    assert [backoff.delay(n) for n in range(1, 7)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


@pytest.mark.redis
def test_killed_redis_loses_nothing_that_fit_in_the_queue(
    private_redis: PrivateRedis,
) -> None:
    url = f"redis://127.0.0.1:{PRIVATE_PORT}/0"
    keys = RedisKeys("pstest-kill")
    publisher = Publisher(url, prefix=keys.prefix, queue_size=5000, backoff=FAST).start()
    publisher.submit(make_entries(300))
    wait_for(lambda: publisher.stats.published == 300)
    private_redis.kill()
    publisher.submit(make_entries(3000, 300))  # queued while Redis is gone
    wait_for(lambda: publisher.stats.errors >= 1)
    assert publisher.stats.published == 300
    private_redis.start()
    wait_for(lambda: publisher.stats.published == 3300, timeout=20)
    stats = publisher.stats
    assert stats.dropped == 0
    assert stats.reconnects >= 1
    assert stats.connected
    client: redis.Redis = redis.Redis.from_url(url)
    ids = stream_ids(client, keys)
    client.close()
    publisher.close()
    # The first 300 died with the unpersisted server; everything queued meanwhile arrived.
    assert ids == [f"test-worker/{index}" for index in range(300, 3300)]


@pytest.mark.redis
def test_overflow_while_redis_is_down_is_counted_exactly(private_redis: PrivateRedis) -> None:
    url = f"redis://127.0.0.1:{PRIVATE_PORT}/0"
    keys = RedisKeys("pstest-overflow")
    publisher = Publisher(url, prefix=keys.prefix, queue_size=500, backoff=FAST).start()
    private_redis.kill()
    publisher.submit(make_entries(2000))
    wait_for(lambda: publisher.stats.errors >= 1)
    private_redis.start()
    wait_for(lambda: publisher.stats.queued == 0 and publisher.stats.in_flight == 0, timeout=20)
    stats = publisher.stats
    client: redis.Redis = redis.Redis.from_url(url)
    ids = stream_ids(client, keys)
    client.close()
    publisher.close()
    assert stats.dropped == 1500
    assert stats.published == len(ids) == 500
    assert ids == [f"test-worker/{index}" for index in range(1500, 2000)]


@pytest.mark.redis
def test_scope_watcher_follows_pubsub_nudges_and_polls(
    shared: tuple[redis.Redis, RedisKeys],
) -> None:
    client, keys = shared
    seen: list[str] = []
    changed = threading.Event()

    def on_change(scope: str) -> None:
        seen.append(scope)
        changed.set()

    watcher = ScopeWatcher(SHARED_URL, "n1", on_change, prefix=keys.prefix, poll_seconds=0.5)
    watcher.start()
    wait_for(lambda: seen == [""])
    client.set(keys.scope("n1"), "host 10.244.1.10")
    client.publish(keys.scope_channel, "n1")
    wait_for(lambda: seen[-1:] == ["host 10.244.1.10"])
    client.set(keys.scope("n1"), "host 10.244.1.11")  # no nudge: found by the poll
    wait_for(lambda: seen[-1:] == ["host 10.244.1.11"])
    client.set(keys.scope("n1"), "net 10.244.0.0/16")
    client.publish(keys.scope_channel, "*")
    wait_for(lambda: seen[-1:] == ["net 10.244.0.0/16"])
    client.delete(keys.scope("n1"))
    client.publish(keys.scope_channel, "n1")
    wait_for(lambda: seen[-1:] == [""])
    watcher.close()
    assert seen == ["", "host 10.244.1.10", "host 10.244.1.11", "net 10.244.0.0/16", ""]
    assert watcher.errors == 0


def test_each_worker_numbers_what_it_publishes_in_a_run_of_its_own(
    shared: tuple[redis.Redis, RedisKeys],
) -> None:
    client, keys = shared
    mixed = [*make_entries(3)]
    other = [Entry.from_wire({**e.to_wire(), "worker": "other", "id": f"other/{n}"}) for n, e in
             enumerate(make_entries(2))]  # fmt: skip
    first = Publisher(SHARED_URL, prefix=keys.prefix).start()
    first.submit([mixed[0], other[0], mixed[1]])
    first.submit([other[1], mixed[2]])
    first.close()
    second = Publisher(SHARED_URL, prefix=keys.prefix).start()
    second.submit(make_entries(1, start=3))
    second.close()
    fields = [f for _, f in stream_messages(client, keys.entries)]
    numbered = [(f[b"worker"].decode(), int(f[b"n"])) for f in fields]
    assert numbered == [
        ("test-worker", 1), ("other", 1), ("test-worker", 2), ("other", 2), ("test-worker", 3),
        ("test-worker", 1),  # a new publisher: a new run, numbered from 1
    ]  # fmt: skip
    runs = [f[b"run"] for f in fields]
    assert len(set(runs[:5])) == 1
    assert runs[5] != runs[0]
    assert first.unpublished == second.unpublished == 0
