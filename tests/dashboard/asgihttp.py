"""Test helper: drive an ASGI HTTP application the way daphne does, without a socket."""

from __future__ import annotations

import asyncio
from typing import Any

REQUEST = {"type": "http.request", "body": b"", "more_body": False}
DISCONNECT = {"type": "http.disconnect"}


def http_scope(path: str) -> dict[str, Any]:
    """The scope of a plain ``GET path`` to localhost."""
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


class DaphneLike:
    """The request, then a disconnect as soon as the response's last part is sent (as daphne)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.queue.put_nowait(REQUEST)
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        """The next message for the application."""
        return await self.queue.get()

    async def send(self, message: dict[str, Any]) -> None:
        """Take the application's message (a disconnect follows the response's end)."""
        self.sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.queue.put_nowait(DISCONNECT)


async def get_statuses(app: Any, path: str, requests: int) -> list[int]:
    """The statuses of ``requests`` successive ``GET path`` served by ``app``."""
    statuses = []
    for _ in range(requests):
        daphne = DaphneLike()
        await app(http_scope(path), daphne.receive, daphne.send)
        statuses.append(daphne.sent[0]["status"])
    return statuses
