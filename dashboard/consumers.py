"""The ``ws/live`` websocket: one viewer's filtered live log, map and stats.

The messages each way are the typed classes of :mod:`contract.messages`. Each client message is
handed to the method named after its type (``filter.set`` -> ``on_filter_set``), as channels'
``get_handler_name`` does for ASGI messages; a malformed one gets an ``error`` message and the
session goes on.

The server sends at most ``ackWindow`` entries messages ahead of the client's acks; the rest
waits in the session's bounded queue (:mod:`dashboard.core.sessions.registry`), and ``missed``
counts what a slow client lost. Under daphne the sender also waits while the connection's
transport holds more than 64 KiB it could not write yet (:mod:`dashboard.transport`), so a
client that acks without reading holds a bounded number of bytes. A filter the hub refuses
(a lone UTF-16 surrogate in it, too costly, scans busy) gets a ``filter.error``. The session
is freed however the connection ends, a crash of this consumer included. Close codes: 4401
login required, 4429 too many sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from contract import messages
from contract.errors import MessageError
from dashboard.core.hub import Hub
from dashboard.core.sessions.registry import Session
from dashboard.errors import SessionError, SessionLimitError
from dashboard.instance import current
from dashboard.transport import TransportGate, attach
from kfl import KflError

log = logging.getLogger(__name__)

MAP_SECONDS = 1.0
STATS_SECONDS = 2.0
CLOSE_LOGIN_REQUIRED = 4401
CLOSE_TOO_MANY_SESSIONS = 4429


class LiveConsumer(AsyncWebsocketConsumer):
    """One viewer session over a websocket (protocol in the module docstring)."""

    hub: Hub
    session: Session | None = None
    sender: asyncio.Task[None] | None = None
    gate: TransportGate | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Run the consumer; free its session however it ends (a crash included)."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._release()

    async def connect(self) -> None:
        """Accept the viewer if logged in (when required) and a session slot is free."""
        self.hub = current()
        self.hub.start()
        user = self.scope.get("user")
        if self.hub.config.auth and not (user is not None and user.is_authenticated):
            await self.close(code=CLOSE_LOGIN_REQUIRED)
            return
        try:
            self.session = self.hub.sessions.open()
        except SessionLimitError as exc:
            await self.accept()
            await self.send(text_data=messages.encode(messages.Error(str(exc))))
            await self.close(code=CLOSE_TOO_MANY_SESSIONS)
            return
        await self.accept()
        self.gate = attach(self.base_send)
        await self.send(text_data=messages.encode(self._hello(self.session)))
        self.sender = asyncio.create_task(self._send_loop(self.session))

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Hand an ASGI message to its handler, without channels' per-message database cleanup.

        channels closes stale database connections before every handler, by a hop to a worker
        thread; a viewer acknowledges about ten messages a second, and no handler here touches
        the database (the auth middleware looks the login up, and cleans up after itself).
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']}")
        await handler(message)

    async def disconnect(self, code: int) -> None:
        """Stop sending and free the session."""
        await self._release()

    async def _release(self) -> None:
        sender, self.sender = self.sender, None
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Disconnected):
                await sender
        if self.session is not None:
            self.hub.sessions.close(self.session)
            self.session = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Hand one client message to its ``on_<type>`` method; a malformed one gets ``error``."""
        session = self.session
        if session is None:
            return
        reply: messages.ServerMessage | None
        try:
            message = messages.decode_client(text_data)
            handler = getattr(self, "on_" + get_handler_name({"type": _tag(message)}))
            reply = await handler(session, message)
        except MessageError as exc:
            reply = _surrogate_filter_error(text_data) or messages.Error(str(exc))
        if reply is not None:
            await self._send_written(messages.encode(reply))
        session.wake.set()

    async def on_filter_set(
        self, session: Session, message: messages.FilterSet
    ) -> messages.FilterOk | messages.FilterError:
        """Compile and apply the session's new filter; a refused one keeps the previous."""
        try:
            flt = await self.hub.sessions.set_filter(session, message.query)
        except (KflError, SessionError) as exc:  # ScanError included
            return messages.FilterError(message.query, dict(exc.to_dict()))
        return messages.FilterOk(flt.query, flt.limit, session.view.matched)

    async def on_ack(self, session: Session, message: messages.Ack) -> None:
        """Every entries message up to ``seq`` is rendered."""
        try:
            session.ack(message.seq)
        except ValueError as exc:
            raise MessageError(str(exc)) from None

    async def on_pause(self, session: Session, message: messages.Pause) -> None:
        """Stop sending entries."""
        self.hub.sessions.pause(session)

    async def on_resume(self, session: Session, message: messages.Resume) -> None:
        """Send entries again."""
        try:
            await self.hub.sessions.resume(session)
        except SessionError as exc:  # the scan of what arrived meanwhile was refused
            raise MessageError(str(exc)) from None

    async def on_map_level(self, session: Session, message: messages.MapLevel) -> None:
        """Show the map at another level (with or without Services)."""
        try:
            await self.hub.sessions.set_level(session, message.level, message.services)
        except (ValueError, SessionError) as exc:
            raise MessageError(str(exc)) from None

    def _hello(self, session: Session) -> messages.Hello:
        limits = self.hub.config.limits
        return messages.Hello(
            session=session.id,
            query=session.view.filter.query,
            level=session.view.level,
            ack_window=limits.ack_window,
            limits=messages.Limits(
                max_query_chars=limits.max_query_chars,
                filters_per_minute=limits.filters_per_minute,
                max_queued_entries=limits.max_queued_entries,
                backfill=limits.backfill,
            ),
            demo=self.hub.config.demo,
            targeting=self.hub.targeting is not None,
            default_filter=settings.PODSCOPE["DEFAULT_FILTER"],
            recording=self.hub.recording,
            services=session.view.services,
        )

    async def _send_loop(self, session: Session) -> None:
        try:
            await self._send_forever(session)
        except Disconnected:
            log.debug("viewer went away while a message was being sent")  # disconnect() frees it

    async def _send_forever(self, session: Session) -> None:
        next_map = time.monotonic()
        next_stats = time.monotonic()
        while True:
            timeout = max(0.0, min(next_map, next_stats) - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(session.wake.wait(), timeout)
            session.wake.clear()
            while (message := session.next_message()) is not None:
                await self._send_written(message.to_json())
            now = time.monotonic()
            if now >= next_map:
                next_map = now + MAP_SECONDS
                await self._send_map(session)
            if now >= next_stats:
                next_stats = now + STATS_SECONDS
                await self._send_written(messages.encode(self._stats(session)))

    async def _send_written(self, text: str) -> None:
        """Send once the transport has written what it holds (see :mod:`dashboard.transport`)."""
        if self.gate is not None:
            await self.gate.wait()
        await self.send(text_data=text)

    def _stats(self, session: Session) -> messages.Stats:
        targeting = self.hub.targeting
        return messages.Stats(
            session=session.stats(),
            hub=self.hub.live_stats(),
            targeting=None if targeting is None else targeting.summary(),
        )

    async def _send_map(self, session: Session) -> None:
        graph = session.view.graph
        if graph.version == session.map_version_sent:
            return
        session.map_version_sent = graph.version
        body = graph.to_dict()
        update = messages.MapUpdate(
            version=graph.version,
            level=body["level"],
            services=body["services"],
            nodes=body["nodes"],
            edges=body["edges"],
        )
        await self._send_written(messages.encode(update))


def _tag(message: messages.ClientMessage) -> str:
    """The ``type`` of a client message (its class's msgspec tag)."""
    return str(type(message).__struct_config__.tag)


def _surrogate_filter_error(text: str | None) -> messages.FilterError | None:
    """A ``filter.error`` for a ``filter.set`` whose query holds a lone UTF-16 surrogate (legal
    JSON, ``"\\ud800"``, but no text: the strict decoder calls it not JSON), else None."""
    try:
        message = json.loads(text or "")
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("type") != "filter.set":
        return None
    query = message.get("query")
    if not isinstance(query, str):
        return None
    try:
        query.encode()
    except UnicodeEncodeError as exc:
        error = SessionError(f"a lone UTF-16 surrogate at character {exc.start + 1}")
        shown = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in query)
        return messages.FilterError(shown, dict(error.to_dict()))
    return None
