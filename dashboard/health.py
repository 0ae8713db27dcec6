"""``/healthz`` (readiness) and ``/livez`` (liveness), answered in front of Django.

Probes must get an answer within their timeout whatever the load: these two routes are served
by :class:`HealthApp` straight from the ASGI scope, before Django's middleware (which hops to a
worker thread per request, and queues behind every other request when a client floods the API).
No login, no host check: probes send what the chart sets.

- ``GET /livez``: 200 ``{"status": "alive"}`` whenever the event loop answers. The liveness
  probe: a hub whose Redis is down is not restarted for it.
- ``GET /healthz``: 200 ``{"status": "ok", "lagSeconds"}`` while the hub ingests, 503 with the
  reason (``ingest stopped``, ``redis unavailable``) otherwise. The readiness probe.

``HEAD`` is answered like ``GET``, without a body; other methods get 405.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from dashboard.core.hub import Hub

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def readiness(hub: Hub) -> tuple[int, dict[str, Any]]:
    """``/healthz``'s status and body for ``hub``."""
    if hub.source is not None and not hub.running:
        return 503, {"status": "ingest stopped", "lagSeconds": hub.lag_seconds}
    if hub.source_stats.get("connected") is False:
        error = str(hub.source_stats.get("lastError", ""))
        return 503, {"status": "redis unavailable", "error": error, "lagSeconds": hub.lag_seconds}
    return 200, {"status": "ok", "lagSeconds": round(hub.lag_seconds, 3)}


class HealthApp:
    """Serves ``/healthz`` and ``/livez`` from ``hub()``; hands every other request to ``inner``."""

    def __init__(self, inner: Any, hub: Callable[[], Hub]) -> None:
        self._inner = inner
        self._hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a probe, or pass the request on."""
        path = scope.get("path") if scope["type"] == "http" else None
        if path == "/livez":
            await _answer(scope, send, 200, {"status": "alive"})
        elif path == "/healthz":
            await _answer(scope, send, *readiness(self._hub()))
        else:
            await self._inner(scope, receive, send)


async def _answer(scope: Scope, send: Send, status: int, body: dict[str, Any]) -> None:
    method = scope.get("method", "GET")
    extra: list[tuple[bytes, bytes]] = []
    if method not in ("GET", "HEAD"):
        status, body = 405, {"error": {"message": f"{method} not allowed; use GET"}}
        extra.append((b"allow", b"GET, HEAD"))
    await send_json(scope, send, status, body, extra)


async def send_json(
    scope: Scope,
    send: Send,
    status: int,
    body: dict[str, Any],
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Send ``body`` as a complete JSON response (headers only for ``HEAD``), never cached."""
    data = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        (b"cache-control", b"no-store"),
        *(extra_headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    head = scope.get("method") == "HEAD"
    await send({"type": "http.response.body", "body": b"" if head else data})
