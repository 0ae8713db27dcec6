"""A served hub's memory stays flat while it answers thousands of HTTP requests.

Each request Django serves leaves reference cycles behind; a hub that left them to CPython's
rare full collections grew by about 20 KB per request, without end (hundreds of MiB under an API
flood). Measured on a real ``manage.py podscope serve`` process, over real keep-alive HTTP.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
from collections import Counter
from typing import Any

import aiohttp

from tests.dashboard.servedhub import get_json, redis_hub, rss_mib
from tests.redisprefix import TEST_REDIS_URL, private_prefix

CLIENTS = 50
WARM_UP = 1_000  # the first requests fill Django's and Python's caches
MEASURED = 3_000
GROWTH_MIB = 20  # what the measured requests may add; unbounded, they added about 60


async def _requests(port: int, count: int) -> Counter[int]:
    """``count`` requests from ``CLIENTS`` keep-alive clients: a 404 and an API route by turns."""
    statuses: Counter[int] = Counter()
    paths = iter(["/no/such/page", "/api/fields"] * (count // 2))
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:

        async def client() -> None:
            for path in paths:
                async with session.get(path) as response:
                    await response.read()
                    statuses[response.status] += 1

        await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return statuses


def _stats_when_allowed(port: int) -> Any:
    """``/api/stats``, once this client's API budget (spent by the flood) allows it again."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return get_json(port, "/api/stats")
        except urllib.error.HTTPError as exc:
            if exc.code != 429 or time.monotonic() > deadline:
                raise
            time.sleep(float(exc.headers.get("Retry-After", "1")))


def test_thousands_of_requests_do_not_grow_the_hub() -> None:
    with private_prefix("memory") as prefix, redis_hub(TEST_REDIS_URL, prefix) as hub:
        asyncio.run(_requests(hub.port, WARM_UP))
        before = rss_mib(hub.process.pid)
        statuses = asyncio.run(_requests(hub.port, MEASURED))
        after = rss_mib(hub.process.pid)
        collections = _stats_when_allowed(hub.port)["gc"]["fullCollections"]
    assert sum(statuses.values()) == MEASURED
    assert set(statuses) <= {200, 404, 429}, statuses
    assert after - before < GROWTH_MIB, f"RSS {before:.0f} -> {after:.0f} MiB"
    assert collections >= 1
