"""A restarted hub reads the retained stream as history: stored, not streamed as live rows."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import pytest
import redis

from contract.bus import RedisKeys
from dashboard.core.hub import Hub
from dashboard.core.ingest.sources import RedisEntrySource
from tests.dashboard.hubentries import cluster_index, tcp_entry

REDIS_URL = "redis://127.0.0.1:6379/9"


@pytest.fixture
def keys() -> Iterator[RedisKeys]:
    keys = RedisKeys(f"test-replay-{secrets.token_hex(4)}")
    yield keys
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(keys.entries, keys.workers)
    client.close()


async def wait_for_accepted(hub: Hub, count: int) -> None:
    for _ in range(200):
        if hub.accepted >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the hub accepted {hub.accepted} of {count}")


@pytest.mark.redis
async def test_the_retained_stream_is_backfill_and_only_new_entries_are_live(
    keys: RedisKeys,
) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    for number in range(1, 31):  # what the stream held before this hub started
        client.xadd(keys.entries, {"entry": tcp_entry(number).to_json()})
    source = RedisEntrySource(REDIS_URL, prefix=keys.prefix)
    hub = Hub(index=cluster_index(), source=source)
    watching = hub.sessions.open()  # a viewer already there when the hub reads its history
    hub.start()
    try:
        await wait_for_accepted(hub, 30)
        assert watching.queued_entries == 0  # history is no live row
        for number in range(31, 36):
            client.xadd(keys.entries, {"entry": tcp_entry(number).to_json()})
        await wait_for_accepted(hub, 35)
        live = watching.next_message()
        assert live is not None
        assert [s.wire["id"] for s in live.batch] == [f"w1/{n}" for n in range(31, 36)]
        await hub.sessions.set_filter(watching, "tcp")  # history comes as the backfill
        backfill = watching.next_message()
        assert backfill is not None
        assert backfill.backfill
        assert len(backfill.batch) == 35
    finally:
        await hub.stop()
        client.close()
