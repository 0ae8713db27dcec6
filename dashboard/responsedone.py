"""Keep a finished request's ``http.disconnect`` from Django, which would turn it into garbage.

Django's ASGI handler listens for ``http.disconnect`` in a task beside the view. Daphne sends that
message as soon as a response is complete, so on every request the listener ends with
``RequestAborted``, whose traceback holds the handler's frame, which holds the listener's task:
a reference cycle carrying the whole request (Twisted's request, daphne's queue, Django's request
and response, about 20 KB). Only the garbage collector's full collections free such cycles, and
the hub keeps those rare (:mod:`dashboard.core.garbage`): this cycle was most of the garbage
a hub answering API requests made, 20 KB a request.

:class:`HoldDisconnectAfterResponse` hands Django every message until the response's last body
part is on its way; after that a disconnect is news to nobody, and the listener is left waiting
until Django cancels it (which it does once the view has returned), so nothing holds the frame.
A client that goes away mid-request still reaches Django, which then cancels the view.
"""

from __future__ import annotations

import asyncio
from typing import Any

from dashboard.health import Receive, Scope, Send


class HoldDisconnectAfterResponse:
    """Wraps an ASGI HTTP application (Django's); see the module's docstring."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run ``inner`` with a ``receive`` that goes quiet once the response is complete."""
        if scope["type"] != "http":
            await self._inner(scope, receive, send)
            return
        responded = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal responded
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                responded = True
            await send(message)

        async def quiet_receive() -> dict[str, Any]:
            message = await receive()
            if responded and message["type"] == "http.disconnect":
                await asyncio.get_running_loop().create_future()  # until cancelled
            return message

        await self._inner(scope, quiet_receive, tracking_send)
