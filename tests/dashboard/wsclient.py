"""Test helper: a viewer's websocket on the hub's ASGI application, and typed waits for messages."""

from __future__ import annotations

from typing import Any

from channels.testing import WebsocketCommunicator

from tests.dashboard.djangoenv import HOST_HEADERS  # isort: skip  (sets Django up)

from dashboard.asgi import application


async def open_session(path: str = "/ws/live") -> tuple[WebsocketCommunicator, dict[str, Any]]:
    communicator = WebsocketCommunicator(application, path, headers=HOST_HEADERS)
    connected, _ = await communicator.connect()
    assert connected
    hello = await communicator.receive_json_from()
    return communicator, hello


async def receive_type(communicator: WebsocketCommunicator, kind: str) -> dict[str, Any]:
    for _ in range(20):
        message: dict[str, Any] = await communicator.receive_json_from(timeout=3)
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")
