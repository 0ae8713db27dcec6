"""Every entry lost between a worker and the hub is counted, exactly, per worker.

Unit tests of the numbering's gaps, then real Redis: a stream trimmed past the hub, and a
private redis-server killed and restarted empty while the hub was behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from capture.sinks.publish import Publisher
from contract.bus import Backoff, RedisKeys
from dashboard.core.ingest.losses import MAX_WORKERS, OTHER_WORKERS, LossCounter
from dashboard.core.ingest.sources import RawEntry, RedisEntrySource
from tests.dashboard.hubentries import tcp_entry
from tests.privateredis import PrivateRedis, free_port
from tests.redisprefix import private_prefix

SHARED_URL = "redis://127.0.0.1:6379/9"
FAST = Backoff(initial=0.05, maximum=0.2)


def test_gaps_are_counted_per_worker_and_redeliveries_are_not() -> None:
    losses = LossCounter()
    for worker, run, number in [
        ("a", "r1", 1), ("a", "r1", 2), ("b", "r9", 7),  # b: first seen at 7, nothing before
        ("a", "r1", 5),  # 3 and 4 lost
        ("a", "r1", 4), ("a", "r1", 5),  # redelivered: nothing more
        ("b", "r9", 8), ("b", "r9", 12),  # 9, 10, 11 lost
        ("a", "r2", 3),  # a restarted: 1 and 2 of its new run lost
    ]:  # fmt: skip
        losses.see(worker, run, number)
    assert losses.lost == {"a": 4, "b": 3}
    assert losses.total == 7


def test_messages_without_numbers_and_too_many_workers() -> None:
    losses = LossCounter()
    losses.see_fields({b"entry": b"{}"})
    losses.see_fields({b"worker": b"w", b"run": b"r", b"n": b"x"})
    assert losses.unnumbered == 2
    for number in range(MAX_WORKERS):
        losses.see(f"w{number}", "r", 1)
    losses.see("late-1", "r", 1)
    losses.see("late-2", "r", 5)  # shares the last line: 2, 3, 4 lost there
    assert losses.lost == {OTHER_WORKERS: 3}


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


async def read_for(source: RedisEntrySource, seconds: float) -> list[RawEntry]:
    """Everything the source reads in ``seconds`` (long enough for its XINFO look)."""
    got: list[RawEntry] = []
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        got += await source.read(0.05)
    return got


@pytest.fixture
def prefix() -> Iterator[str]:
    """A Redis key prefix of this test alone."""
    with private_prefix("test-losses") as name:
        yield name


def entries(start: int, count: int) -> list[object]:
    return [tcp_entry(n, src=("10.244.1.10", 1024 + n)) for n in range(start, start + count)]


@pytest.mark.redis
async def test_entries_trimmed_before_the_hub_read_them_are_counted(prefix: str) -> None:
    publisher = Publisher(SHARED_URL, prefix=prefix, maxlen=100).start()
    source = RedisEntrySource(SHARED_URL, prefix=prefix, start_id="0-0")
    try:
        publisher.submit(entries(1, 50))  # type: ignore[arg-type]
        publisher.drain()
        read = await read_for(source, 0.5)
        publisher.submit(entries(51, 3_000))  # type: ignore[arg-type]  # the hub is behind
        publisher.drain()
        read += await read_for(source, 2.5)
    finally:
        publisher.close()
        await source.close()
    assert 150 <= len(read) < 3_050
    assert source.losses.lost == {"w1": 3_050 - len(read)}  # exactly what was trimmed
    assert source.source_stats()["lost"]["trimmedPast"] == 1


@pytest.mark.redis
@pytest.mark.slow
async def test_entries_lost_with_a_redis_that_came_back_empty_are_counted(
    tmp_path: Path,
) -> None:
    server = PrivateRedis(free_port(), tmp_path)
    server.start()
    url = f"redis://127.0.0.1:{server.port}/0"
    keys = RedisKeys("test-losses")
    publisher = Publisher(url, prefix=keys.prefix, backoff=FAST).start()
    source = RedisEntrySource(url, prefix=keys.prefix, backoff=FAST)
    try:
        publisher.submit(entries(1, 100))  # type: ignore[arg-type]
        assert publisher.drain()
        assert len(await read_for(source, 2.5)) == 100
        publisher.submit(entries(101, 50))  # type: ignore[arg-type]
        assert publisher.drain()  # in Redis, not read yet...
        server.kill()  # ...and gone
        server.start()
        publisher.submit(entries(151, 50))  # type: ignore[arg-type]
        wait_for(lambda: publisher.stats.published == 200)
        after = await read_for(source, 3.0)
    finally:
        publisher.close()
        await source.close()
        server.kill()
    assert len(after) == 50
    lost = source.source_stats()["lost"]
    assert lost["workers"] == {"w1": 50}
    assert lost["recreated"] == 1
