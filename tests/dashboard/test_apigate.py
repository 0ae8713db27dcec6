"""A client over its API budget is refused before Django; others reach it."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.dashboard.djangoenv import installed  # isort: skip  (sets Django up)

from dashboard.apigate import ApiBudgetGate
from dashboard.asgi import application
from dashboard.core.config import HubConfig
from dashboard.core.hub import Hub
from dashboard.core.naming.index import ClusterIndex
from dashboard.core.sessions.registry import SessionLimits
from tests.dashboard.asgihttp import DaphneLike, get_statuses, http_scope


class _Inner:
    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def _get(app: Any, path: str, method: str = "GET") -> DaphneLike:
    daphne = DaphneLike()
    await app({**http_scope(path), "method": method}, daphne.receive, daphne.send)
    return daphne


async def test_only_a_spent_clients_api_requests_are_refused() -> None:
    hub = Hub(HubConfig(limits=SessionLimits(filters_per_minute=1)))  # ten API requests a minute
    inner = _Inner()
    gate = ApiBudgetGate(inner, lambda: hub)
    for _ in range(10):
        hub.api_requests.take("127.0.0.1")  # what Django's views spend
    refused = await _get(gate, "/api/entries")
    assert refused.sent[0]["status"] == 429
    headers = dict(refused.sent[0]["headers"])
    assert headers[b"retry-after"] == b"6"
    assert b"too many requests" in refused.sent[1]["body"]
    assert hub.api_requests.refused == 1
    head = await _get(gate, "/api/stats", "HEAD")
    assert (head.sent[0]["status"], head.sent[1]["body"]) == (429, b"")
    await _get(gate, "/")  # not the API: the page
    await _get(gate, "/metrics")
    assert inner.paths == ["/", "/metrics"]
    hub.api_requests = type(hub.api_requests)(10)  # a fresh budget
    await _get(gate, "/api/entries")
    assert inner.paths[-1] == "/api/entries"


async def test_websockets_pass() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    hub = Hub(HubConfig())
    daphne = DaphneLike()
    scope = {"type": "websocket", "path": "/api/ws"}
    await ApiBudgetGate(inner, lambda: hub)(scope, daphne.receive, daphne.send)
    assert seen == ["websocket"]


def test_the_served_application_refuses_a_flood_with_429() -> None:
    with installed(
        Hub(HubConfig(limits=SessionLimits(filters_per_minute=1)), ClusterIndex())
    ) as hub:
        statuses = asyncio.run(get_statuses(application, "/api/fields", 15))
    assert statuses == [200] * 10 + [429] * 5
    assert hub.api_requests.refused == 5
