"""``/healthz`` (readiness) and ``/livez`` (liveness), answered in front of Django."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from channels.testing import HttpCommunicator
from django.test import AsyncClient

from tests.dashboard.djangoenv import installed  # isort: skip  (sets Django up)

from dashboard.asgi import application
from dashboard.core.config import HubConfig
from dashboard.core.hub import Hub
from dashboard.core.naming.index import ClusterIndex
from dashboard.core.store.scans import ScanLimits
from tests.dashboard.hubentries import cluster_index, tcp_entry

HOST = [(b"host", b"localhost")]


async def get(path: str, method: str = "GET") -> tuple[int, dict[str, Any] | None]:
    response = await HttpCommunicator(application, method, path, headers=HOST).get_response(
        timeout=10
    )
    body = json.loads(response["body"]) if response["body"] else None
    return response["status"], body


class _StoppedSource:
    """A source whose ingest task is not running (the hub was never started)."""


class _DownSource:
    """The stats of a Redis source that cannot reach Redis."""


async def test_healthz_is_503_when_ingest_is_not_running() -> None:
    hub = Hub(HubConfig(), ClusterIndex(), source=_StoppedSource())  # type: ignore[arg-type]
    with installed(hub):
        status, body = await get("/healthz")
        assert (status, body and body["status"]) == (503, "ingest stopped")
        assert (await get("/livez")) == (200, {"status": "alive"})  # alive: not to be restarted
    with installed(Hub(HubConfig(), ClusterIndex())):  # embedded: fed by its worker
        assert (await get("/healthz"))[0] == 200


async def test_healthz_is_503_while_redis_is_unreachable() -> None:
    hub = Hub(HubConfig(), ClusterIndex())
    hub.source_stats = {"connected": False, "lastError": "Connection refused"}
    with installed(hub):
        status, body = await get("/healthz")
        assert status == 503
        assert body == {
            "status": "redis unavailable",
            "error": "Connection refused",
            "lagSeconds": 0.0,
        }


async def test_probes_need_no_login_and_answer_head() -> None:
    with installed(Hub(HubConfig(auth=True), ClusterIndex())):
        assert (await get("/healthz"))[0] == 200
        assert (await get("/healthz", "HEAD")) == (200, None)
        assert (await get("/livez", "POST"))[0] == 405


async def test_healthz_answers_while_a_long_scan_runs() -> None:
    """An allowed but slow scan (a few µs an entry over a big store) goes on in slices; the
    probe is answered in the meantime, not after it."""
    scans = ScanLimits(filter_micros=1_000.0, share=0.5, scan_seconds=30.0)
    hub = Hub(HubConfig(store_size=60_000, scans=scans), cluster_index())
    name = "x1-service-" * 20  # a name the regexes search through: ~4 µs each
    hub.accept([tcp_entry(n, src=("10.244.1.10", 1024 + n), dst_name=name) for n in range(60_000)])
    slow = " or ".join(f'dst.name == r"x{n}.*y.*z"' for n in range(4))
    with installed(hub):
        scan = asyncio.create_task(AsyncClient().get("/api/export", {"q": slow}))
        while not (hub.scanner.active or hub.scanner.completed):  # until the scan has started
            await asyncio.sleep(0.001)
        started = time.perf_counter()
        status, _ = await get("/healthz")
        waited = time.perf_counter() - started
        assert hub.scanner.completed == 0  # still scanning...
        assert status == 200
        assert waited < 0.25, waited  # ...yet the probe was answered at once
        response = await scan
        assert response.status_code == 200, response.content
