from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import msgspec
import pytest
import redis

from bench.entrygen import generate
from contract.bus import RedisKeys
from contract.errors import SchemaError
from contract.schema import Entry
from dashboard.core.ingest.sources import (
    ACCEPT_SLICE,
    EntryDecoder,
    LocalEntrySource,
    RawEntry,
    RedisEntrySource,
    invalid_kind,
    next_deadline,
    run_ingest,
)
from tests.dashboard.fakeclock import FakeClock
from tests.dashboard.hubentries import dns_entry, tcp_entry
from tests.redisprefix import private_prefix

REDIS_URL = "redis://127.0.0.1:6379/9"


def test_decoder_counts_invalid_entries_per_kind_and_logs_each_kind_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    decoder = EntryDecoder()
    good = tcp_entry(1).to_json()
    assert decoder.decode(good) == tcp_entry(1)
    bad_event = good.replace('"event":"close"', '"event":"bogus"')
    for raw in ["{", "{", bad_event, bad_event, '{"id": 1}', good.replace('"v":1', '"zz":1')]:
        assert decoder.decode(raw) is None
    assert decoder.invalid == {"not JSON": 2, "tcp.event": 2, "id": 1, "unknown field": 1}
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 4


def test_invalid_kind_folds_list_indexes_and_unknown_field_names() -> None:
    assert invalid_kind(SchemaError("dns.answers[3]", "expected a string")) == "dns.answers[]"
    assert invalid_kind(SchemaError("attacker.chosen", "unknown field")) == "unknown field"
    assert invalid_kind(SchemaError("", "entry is 9 bytes, over the 1 limit")) == "too large"


async def test_local_source_is_bounded_and_counts_what_it_drops() -> None:
    source = LocalEntrySource(capacity=3)
    source.submit([tcp_entry(n) for n in range(5)])
    source.report("w1", {"worker": "w1", "pipeline": {"packets": 9}})
    batch = await source.read(0.01)
    assert [e.id for e in batch if not isinstance(e, bytes | str)] == ["w1/2", "w1/3", "w1/4"]
    assert source.stats.to_dict() == {"submitted": 5, "delivered": 3, "dropped": 2}
    assert source.worker_stats()["w1"]["pipeline"] == {"packets": 9}
    assert await source.read(0.01) == []
    assert source.drain(0.1)


class Collector:
    def __init__(self) -> None:
        self.raw: list[RawEntry] = []
        self.updates = 0

    def accept(self, raw: Sequence[RawEntry], *, live: bool = True) -> None:
        self.raw += raw

    def update_source(self, source: Any) -> None:
        self.updates += 1


async def test_run_ingest_batches_until_stopped() -> None:
    source = LocalEntrySource()
    collector = Collector()
    stop = asyncio.Event()
    task = asyncio.create_task(run_ingest(source, collector, stop))
    source.submit([tcp_entry(1), tcp_entry(2)])
    await asyncio.sleep(0.35)
    stop.set()
    await task
    assert len(collector.raw) == 2
    assert collector.updates >= 2


async def test_run_ingest_ticks_the_hub_when_nothing_came() -> None:
    collector = SliceCollector([])
    stop = asyncio.Event()
    task = asyncio.create_task(run_ingest(LocalEntrySource(), collector, stop))
    await asyncio.sleep(0.35)
    stop.set()
    await task
    assert len(collector.slices) >= 2  # held reports fall due with no new entries
    assert {size for size, _ in collector.slices} == {0}


class SliceCollector(Collector):
    """Records each slice's size and how often the event loop ran other work meanwhile."""

    def __init__(self, ticks: list[int]) -> None:
        super().__init__()
        self.ticks = ticks
        self.slices: list[tuple[int, int]] = []

    def accept(self, raw: Sequence[RawEntry], *, live: bool = True) -> None:
        super().accept(raw)
        self.slices.append((len(raw), len(self.ticks)))


async def test_a_big_batch_is_taken_in_slices_with_the_loop_running_between() -> None:
    source = LocalEntrySource()
    ticks: list[int] = []
    collector = SliceCollector(ticks)
    stop = asyncio.Event()

    async def other_work() -> None:
        while not stop.is_set():
            ticks.append(1)
            await asyncio.sleep(0)

    source.submit([tcp_entry(n) for n in range(2 * ACCEPT_SLICE + 500)])
    worker = asyncio.create_task(other_work())
    task = asyncio.create_task(run_ingest(source, collector, stop))
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.gather(task, worker)
    taken = [(size, ticks) for size, ticks in collector.slices if size]
    assert [size for size, _ in taken] == [ACCEPT_SLICE, ACCEPT_SLICE, 500]
    assert {size for size, _ in collector.slices[len(taken) :]} <= {0}  # the idle batches
    seen = [ticks for _, ticks in taken]
    ran_between = [later - earlier for earlier, later in itertools.pairwise(seen)]
    assert all(count > 0 for count in ran_between)


def test_batch_windows_keep_their_cadence_and_a_late_hub_reads_at_once() -> None:
    assert next_deadline(10.0, now=10.06) == pytest.approx(10.1)  # handled in 60 ms: wait 40
    assert next_deadline(10.0, now=10.25) == 10.25  # behind: take what arrived now


class TimedSource(LocalEntrySource):
    """A source on a fake clock: each read waits (advances the clock by) what it was allowed."""

    def __init__(self, clock: FakeClock, stop: asyncio.Event, reads: int) -> None:
        super().__init__()
        self.clock, self.stop, self.reads_left = clock, stop, reads
        self.waits: list[float] = []

    async def read(self, wait_seconds: float) -> list[RawEntry]:
        self.waits.append(round(wait_seconds, 6))
        self.clock.now += wait_seconds
        self.reads_left -= 1
        if not self.reads_left:
            self.stop.set()
        return [tcp_entry(len(self.waits))]


class SlowCollector(Collector):
    """Takes 60 ms (of the fake clock) to handle each batch."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.accepted_at: list[float] = []

    def accept(self, raw: Sequence[RawEntry], *, live: bool = True) -> None:
        super().accept(raw)
        self.accepted_at.append(round(self.clock.now, 6))
        self.clock.now += 0.06


async def test_run_ingest_hands_a_batch_every_window_however_long_handling_takes() -> None:
    clock, stop = FakeClock(), asyncio.Event()
    source = TimedSource(clock, stop, reads=4)
    collector = SlowCollector(clock)
    await run_ingest(source, collector, stop, clock=clock)
    assert collector.accepted_at == [0.1, 0.2, 0.3, 0.4]  # not 0.1, 0.26, 0.42...
    assert source.waits == [0.1, 0.04, 0.04, 0.04]
    assert len(collector.raw) == 4


@pytest.fixture
def prefix() -> Iterator[str]:
    """A Redis key prefix of this test alone."""
    with private_prefix("test-ingest") as name:
        yield name


async def read_until(source: RedisEntrySource, count: int, timeout: float = 5.0) -> list[RawEntry]:
    got: list[RawEntry] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(got) < count and asyncio.get_running_loop().time() < deadline:
        got += await source.read(0.05)
    return got


@pytest.mark.redis
async def test_redis_source_reads_the_stream_and_worker_stats(prefix: str) -> None:
    keys = RedisKeys(prefix)
    client = redis.Redis.from_url(REDIS_URL)
    for number in range(3):
        client.xadd(keys.entries, {"entry": tcp_entry(number).to_json()})
    client.xadd(keys.entries, {"other": "x"})
    client.hset(keys.workers, mapping={"w1": json.dumps({"worker": "w1"}), "w2": "{"})
    decoder = EntryDecoder()
    source = RedisEntrySource(REDIS_URL, prefix=prefix, decoder=decoder)
    try:
        got = await read_until(source, 3)
        assert len(got) == 3
        assert source.worker_stats() == {"w1": {"worker": "w1"}}
        assert decoder.invalid["no entry field"] == 2  # the message without "entry", bad stats
        assert await source.read(0.05) == []
    finally:
        await source.close()
        client.close()


@pytest.mark.redis
async def test_redis_source_lag_is_how_far_the_newest_entry_read_is_behind_the_clock(
    prefix: str,
) -> None:
    keys = RedisKeys(prefix)
    client = redis.Redis.from_url(REDIS_URL)
    for number, stream_id in enumerate(("1000000-0", "1004000-0")):  # 1,000 s and 1,004 s
        client.xadd(keys.entries, {"entry": tcp_entry(number).to_json()}, id=stream_id)
    source = RedisEntrySource(REDIS_URL, prefix=prefix, clock=FakeClock(1_030.0))
    try:
        assert len(await read_until(source, 2)) == 2
        assert source.lag_seconds == 26.0
        assert await source.read(0.05) == []  # caught up: nothing is waiting
        assert source.lag_seconds == 0.0
    finally:
        await source.close()
        client.close()


@contextlib.asynccontextmanager
async def proxy(port: int) -> AsyncIterator[asyncio.Server]:
    """A TCP proxy to the local Redis that the test can cut."""
    pipes: list[asyncio.StreamWriter] = []

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", 6379)
        pipes.extend([writer, up_writer])
        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        yield server
    finally:
        server.close()
        for pipe in pipes:
            pipe.close()
        await server.wait_closed()


@pytest.mark.redis
async def test_redis_source_resumes_after_the_connection_drops(prefix: str) -> None:
    keys = RedisKeys(prefix)
    client = redis.Redis.from_url(REDIS_URL)
    with contextlib.closing(client):
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        url = f"redis://127.0.0.1:{port}/9"
        source = RedisEntrySource(url, prefix=prefix)
        try:
            async with proxy(port):
                client.xadd(keys.entries, {"entry": tcp_entry(1).to_json()})
                assert len(await read_until(source, 1)) == 1
            # Redis unreachable: reads fail, are counted, and return nothing
            client.xadd(keys.entries, {"entry": tcp_entry(2).to_json()})
            assert await source.read(0.05) == []
            assert source.stats.errors >= 1
            assert not source.stats.connected
            client.xadd(keys.entries, {"entry": tcp_entry(3).to_json()})
            async with proxy(port):
                got = await read_until(source, 2)
            ids = [json.loads(raw)["id"] for raw in got if isinstance(raw, bytes)]
            assert ids == ["w1/2", "w1/3"]  # resumed after the last id: nothing lost or repeated
            assert source.stats.reconnects == 1
        finally:
            await source.close()


def test_decoded_wire_is_the_entrys_to_wire_for_what_workers_send() -> None:
    decoder = EntryDecoder()
    entries = [Entry.from_wire(wire) for wire in generate(400, seed=11)]
    entries += [tcp_entry(1), dns_entry(2, "example.com", "93.184.216.34")]  # sections omitted
    assert {e.protocol.name for e in entries} == {"tcp", "udp", "dns", "icmp"}
    for entry in entries:
        raw = entry.to_json().encode()
        decoded = decoder.decode_wire(raw)
        assert decoded is not None
        assert decoded[0] == entry
        assert msgspec.json.encode(decoded[1]) == raw  # same keys, order, types, no null


@pytest.mark.parametrize(
    "change",
    [
        lambda w: w.pop("summary"),  # a default omitted: to_wire writes it
        lambda w: w.update(packets=None),  # an explicit null: to_wire omits it
        lambda w: w["tcp"].update(rtt=3),  # an integer for a float: to_wire writes 3.0
        lambda w: w["src"].pop("workload"),  # a nested default omitted
        lambda w: w.update(id=w.pop("id")),  # another key order
    ],
)
def test_decoded_wire_is_canonical_whatever_the_sender_omitted(
    change: Callable[[dict[str, Any]], object],
) -> None:
    wire = tcp_entry(1).to_wire()
    wire["tcp"]["rtt"] = 1.5
    change(wire)
    raw = json.dumps(wire)
    decoded = EntryDecoder().decode_wire(raw)
    assert decoded is not None
    assert msgspec.json.encode(decoded[1]) == Entry.from_json(raw).to_json().encode()
