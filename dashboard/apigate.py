"""Refuse a client that spent its API budget before Django, not after its whole middleware.

The REST API's per-client budget (:mod:`dashboard.core.sessions.ratelimit`, spent in
:func:`dashboard.api.api_view`) answers 429 with ``Retry-After``. A flooding client keeps asking
anyway, and each refusal that went through Django cost its whole middleware chain and a hop to
its thread, as much as a cheap answer. :class:`ApiBudgetGate` answers those requests itself,
from the ASGI scope: a request under ``/api/`` from a client whose budget is spent gets the same
429 at once, and counts as refused; every other request goes on to Django, which spends the
budget as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dashboard.core.hub import Hub
from dashboard.core.sessions.ratelimit import refusal
from dashboard.health import Receive, Scope, Send, send_json

API_PREFIX = "/api/"


class ApiBudgetGate:
    """Answers 429 to an over-budget client's API request; passes every other one to ``inner``."""

    def __init__(self, inner: Any, hub: Callable[[], Hub]) -> None:
        self._inner = inner
        self._hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse at once, or pass the request on."""
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(API_PREFIX):
            client = scope.get("client") or ("", 0)
            limiter = self._hub().api_requests
            wait = limiter.wait(str(client[0]))
            if wait > 0:
                limiter.refused += 1
                body, retry_after = refusal(wait)
                headers = [(b"retry-after", retry_after.encode())]
                await send_json(scope, send, 429, body, headers)
                return
        await self._inner(scope, receive, send)
