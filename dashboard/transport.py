"""Backpressure from a websocket's transport: has what the hub sent really been written?

ASGI has no way to say so: ``send`` returns as soon as the server has buffered the message, and
a client that acknowledges entries without reading them would make the hub buffer without
bound. Under daphne, a websocket's ``send`` is ``functools.partial(server.handle_reply,
protocol)`` with an autobahn protocol on a Twisted transport; a Twisted transport pauses a
registered push producer while more than its ``bufferSize`` (64 KiB) waits unwritten in its
buffer, and resumes it once the buffer drained into the socket. :func:`attach` registers a
:class:`TransportGate` as that producer, so the session's sender waits on it before each
message: the bytes a session has in flight are bounded by the transport's buffer, the
socket's, and one message. Under another server (the test communicator) there is no gate.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any


class TransportGate:
    """Open while the transport's buffer is under its limit (a Twisted ``IPushProducer``)."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self.pauses = 0

    @property
    def paused(self) -> bool:
        """True while the transport holds more unwritten bytes than its limit."""
        return not self._open.is_set()

    async def wait(self) -> None:
        """Return once the transport can take more."""
        await self._open.wait()

    def pauseProducing(self) -> None:  # noqa: N802 - Twisted's interface
        """The transport's buffer is full: hold further messages."""
        self.pauses += 1
        self._open.clear()

    def resumeProducing(self) -> None:  # noqa: N802 - Twisted's interface
        """The buffer drained: send again."""
        self._open.set()

    def stopProducing(self) -> None:  # noqa: N802 - Twisted's interface
        """The connection is gone: let the sender run into the disconnect."""
        self._open.set()


def attach(send: Callable[..., Any]) -> TransportGate | None:
    """A gate registered on the transport behind daphne's ``send``; None under other servers."""
    protocol = send.args[0] if isinstance(send, functools.partial) and send.args else None
    register = getattr(protocol, "registerProducer", None)
    if register is None:
        return None
    gate = TransportGate()
    try:
        register(gate, True)
    except RuntimeError:  # a producer is registered already: leave it in charge
        return None
    return gate
