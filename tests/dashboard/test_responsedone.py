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

REQUEST = {"type": "http.request", "body": b"", "more_body": False}
DISCONNECT = {"type": "http.disconnect"}


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


class _Daphne:
    """Like daphne: the request, then a disconnect as soon as the response's last part is sent."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.queue.put_nowait(REQUEST)
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        return await self.queue.get()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.queue.put_nowait(DISCONNECT)


def _aborted_in_garbage(app: Any, requests: int) -> tuple[int, list[int]]:
    """How many ``RequestAborted`` were left in reference cycles by ``requests`` requests."""

    async def serve() -> list[int]:
        statuses = []
        for _ in range(requests):
            daphne = _Daphne()
            await app(_scope("/no/such/page"), daphne.receive, daphne.send)
            statuses.append(daphne.sent[0]["status"])
        return statuses

    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        with installed(Hub(HubConfig(), ClusterIndex())):
            statuses = asyncio.run(serve())
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

    await HoldDisconnectAfterResponse(app)(_scope("/"), receive, send)
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

    await HoldDisconnectAfterResponse(app)(_scope("/"), receive, send)


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
