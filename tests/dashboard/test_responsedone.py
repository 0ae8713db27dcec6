"""Django never hears of a finished request's disconnect, which made every request garbage."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from tests.dashboard.djangoenv import installed  # isort: skip  (sets Django up)

from django.core.asgi import get_asgi_application
from django.core.exceptions import RequestAborted

from dashboard.core.config import HubConfig
from dashboard.core.hub import Hub
from dashboard.core.naming.index import ClusterIndex
from dashboard.responsedone import HoldDisconnectAfterResponse
from tests.dashboard.asgihttp import DISCONNECT, get_statuses, http_scope


def _aborted_in_garbage(app: Any, requests: int) -> tuple[int, list[int]]:
    """How many ``RequestAborted`` were left in reference cycles by ``requests`` requests."""

    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        with installed(Hub(HubConfig(), ClusterIndex())):
            statuses = asyncio.run(get_statuses(app, "/no/such/page", requests))
        gc.collect()
        aborted = sum(isinstance(obj, RequestAborted) for obj in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    return aborted, statuses


def test_django_alone_leaves_each_request_in_a_cycle() -> None:
    aborted, statuses = _aborted_in_garbage(get_asgi_application(), 20)
    assert statuses == [404] * 20
    assert aborted == 20  # what the wrapper is for; if Django stops doing this, it can go


def test_wrapped_django_leaves_no_aborted_request_behind() -> None:
    app = HoldDisconnectAfterResponse(get_asgi_application())
    aborted, statuses = _aborted_in_garbage(app, 20)
    assert statuses == [404] * 20
    assert aborted == 0


async def test_a_disconnect_before_the_response_still_reaches_the_app() -> None:
    heard: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        heard.append((await receive())["type"])

    messages = iter([DISCONNECT])

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError("nothing to send")

    await HoldDisconnectAfterResponse(app)(http_scope("/"), receive, send)
    assert heard == ["http.disconnect"]


async def test_after_the_response_a_disconnect_waits_until_cancelled() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        listener = asyncio.create_task(receive())
        await asyncio.sleep(0.05)
        assert not listener.done()
        listener.cancel()

    async def receive() -> dict[str, Any]:
        return DISCONNECT

    async def send(message: dict[str, Any]) -> None:
        pass

    await HoldDisconnectAfterResponse(app)(http_scope("/"), receive, send)


async def test_websockets_pass_through_untouched() -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope["type"], receive, send))

    async def receive() -> dict[str, Any]:
        return {}

    async def send(message: dict[str, Any]) -> None:
        pass

    await HoldDisconnectAfterResponse(app)({"type": "websocket"}, receive, send)
    assert seen == [("websocket", receive, send)]
