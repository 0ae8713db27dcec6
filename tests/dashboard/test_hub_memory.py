"""A served hub's memory stays flat while it answers thousands of HTTP requests.

Django made two reference cycles of each request it served (:mod:`dashboard.responsedone`,
:mod:`dashboard.requestcycle`); a hub that left them to CPython's rare full collections grew by
about 20 KB per request, without end (hundreds of MiB under an API flood). Measured on a real
``manage.py podscope serve`` process, over real keep-alive HTTP: the requests are freed as they
are answered, well before the hub's own full collections (:mod:`dashboard.core.garbage`).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp

from tests.dashboard.servedhub import redis_hub, rss_mib
from tests.redisprefix import TEST_REDIS_URL, private_prefix

CLIENTS = 50
WARM_UP = 1_000  # the first requests fill Django's and Python's caches
MEASURED = 3_000
GROWTH_MIB = 20  # what the measured requests may add; unbounded, they added about 60


async def _requests(port: int, count: int) -> Counter[int]:
    """``count`` requests from ``CLIENTS`` keep-alive clients: two API routes by turns."""
    statuses: Counter[int] = Counter()
    paths = iter(["/api/fields", "/api/validate?q=tcp"] * (count // 2))
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:

        async def client() -> None:
            for path in paths:
                async with session.get(path) as response:
                    await response.read()
                    statuses[response.status] += 1

        await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return statuses


def test_thousands_of_requests_do_not_grow_the_hub() -> None:
    with private_prefix("memory") as prefix, redis_hub(TEST_REDIS_URL, prefix) as hub:
        asyncio.run(_requests(hub.port, WARM_UP))
        before = rss_mib(hub.process.pid)
        statuses = asyncio.run(_requests(hub.port, MEASURED))
        after = rss_mib(hub.process.pid)
    assert sum(statuses.values()) == MEASURED
    assert set(statuses) <= {200, 429}, statuses
    assert after - before < GROWTH_MIB, f"RSS {before:.0f} -> {after:.0f} MiB"
