"""The ``ws/live`` websocket: one viewer's filtered live log, map and stats.

Client -> server (JSON text, at most :data:`MAX_MESSAGE_CHARS` characters)::

    {"type": "filter.set", "query": "dst.namespace == \\"\\""}
    {"type": "ack", "seq": 7}             every entries message up to 7 is rendered
    {"type": "pause"}   {"type": "resume"}
    {"type": "map.level", "level": "namespace" | "workload" | "pod"}

Server -> client::

    {"type": "hello", "session", "query", "level", "ackWindow", "limits": {...}, "demo",
     "targeting": bool, "defaultFilter", "recording"}   targeting: whether /api/targeting
                                           exists on this hub; defaultFilter: what a tab opened
                                           without ?q= applies; recording: null when live, else
                                           {"name", "loop"}: the pcap the entries come from
    {"type": "filter.ok", "query", "limit", "matched"}   matched: stored entries that match
    {"type": "filter.error", "query", "error": {message, line, column, endLine, endColumn,
                                                context}}   the previous filter stays
    {"type": "entries", "seq", "backfill", "missed", "first", "entries": [wire entries, oldest
     first]}   first: the store seq of the oldest entry, GET /api/entries?before= for older ones
    {"type": "map", "level", "version", "nodes": [...], "edges": [...]}   when it changed
    {"type": "stats", "session": {matched, sent, dropped, queued...}, "hub": {accepted,
                             lagSeconds, globalFilter: {query, excluded}, workers: {name:
                             {node, mode, age, packets, kernelDrops, entriesDropped...}}},
     "targeting": {"spec", "coverage"}}   every 2 s (targeting: as GET /api/targeting, where
                                          the hub has it)
    {"type": "error", "message"}          a malformed message; the session goes on

The server sends at most ``ackWindow`` entries messages ahead of the client's acks; the rest
waits in the session's bounded queue (:mod:`dashboard.sessions`), and ``missed`` counts what a
slow client lost. Close codes: 4401 login required, 4429 too many sessions.
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

from dashboard.hub import Hub, current
from dashboard.sessions import Session, SessionError, SessionLimitError
from kfl import KflError

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 16 * 1024
MAP_SECONDS = 1.0
STATS_SECONDS = 2.0
CLOSE_LOGIN_REQUIRED = 4401
CLOSE_TOO_MANY_SESSIONS = 4429


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


class LiveConsumer(AsyncWebsocketConsumer):
    """One viewer session over a websocket (protocol in the module docstring)."""

    hub: Hub
    session: Session | None = None
    sender: asyncio.Task[None] | None = None

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
            await self.send(text_data=_dumps({"type": "error", "message": str(exc)}))
            await self.close(code=CLOSE_TOO_MANY_SESSIONS)
            return
        await self.accept()
        await self.send(text_data=_dumps(self._hello(self.session)))
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
        if self.sender is not None:
            self.sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.sender
        if self.session is not None:
            self.hub.sessions.close(self.session)
            self.session = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Handle one client message; a malformed one gets an ``error`` message."""
        session = self.session
        if session is None:
            return
        try:
            message = _parse(text_data, bytes_data)
            reply = self._handle(session, message)
        except _BadMessageError as exc:
            reply = {"type": "error", "message": str(exc)}
        if reply is not None:
            await self.send(text_data=_dumps(reply))
        session.wake.set()

    def _handle(self, session: Session, message: dict[str, Any]) -> dict[str, Any] | None:
        kind = message.get("type")
        registry = self.hub.sessions
        if kind == "filter.set":
            query = message.get("query")
            if not isinstance(query, str):
                raise _BadMessageError("filter.set needs a string 'query'")
            try:
                flt = registry.set_filter(session, query)
            except (KflError, SessionError) as exc:
                return {"type": "filter.error", "query": query, "error": exc.to_dict()}
            return {
                "type": "filter.ok",
                "query": flt.query,
                "limit": flt.limit,
                "matched": session.view.matched,
            }
        if kind == "ack":
            seq = message.get("seq")
            if not isinstance(seq, int) or isinstance(seq, bool):
                raise _BadMessageError("ack needs an integer 'seq'")
            try:
                session.ack(seq)
            except ValueError as exc:
                raise _BadMessageError(str(exc)) from None
            return None
        if kind == "pause":
            registry.pause(session)
            return None
        if kind == "resume":
            registry.resume(session)
            return None
        if kind == "map.level":
            try:
                registry.set_level(session, str(message.get("level")))
            except ValueError as exc:
                raise _BadMessageError(str(exc)) from None
            return None
        raise _BadMessageError(f"unknown message type {kind!r}")

    def _hello(self, session: Session) -> dict[str, Any]:
        limits = self.hub.config.limits
        return {
            "type": "hello",
            "session": session.id,
            "query": session.view.filter.query,
            "level": session.view.level,
            "ackWindow": limits.ack_window,
            "limits": {
                "maxQueryChars": limits.max_query_chars,
                "filtersPerMinute": limits.filters_per_minute,
                "maxQueuedEntries": limits.max_queued_entries,
                "backfill": limits.backfill,
            },
            "demo": self.hub.config.demo,
            "recording": self.hub.recording,
            "targeting": self.hub.targeting is not None,
            "defaultFilter": settings.PODSCOPE["DEFAULT_FILTER"],
        }

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
                await self.send(text_data=message.to_json())
            now = time.monotonic()
            if now >= next_map:
                next_map = now + MAP_SECONDS
                await self._send_map(session)
            if now >= next_stats:
                next_stats = now + STATS_SECONDS
                await self.send(text_data=_dumps(self._stats(session)))

    def _stats(self, session: Session) -> dict[str, Any]:
        stats = {"type": "stats", "session": session.stats(), "hub": self.hub.live_stats()}
        if self.hub.targeting is not None:
            stats["targeting"] = self.hub.targeting.summary()
        return stats

    async def _send_map(self, session: Session) -> None:
        graph = session.view.graph
        if graph.version == session.map_version_sent:
            return
        session.map_version_sent = graph.version
        body = graph.to_dict()
        await self.send(text_data=_dumps({"type": "map", "version": graph.version, **body}))


class _BadMessageError(ValueError):
    """A client message that is not valid JSON or not a known request."""


def _parse(text: str | None, data: bytes | None) -> dict[str, Any]:
    if text is None:
        raise _BadMessageError("send JSON text messages, not binary")
    if len(text) > MAX_MESSAGE_CHARS:
        raise _BadMessageError(
            f"message of {len(text)} characters, over the {MAX_MESSAGE_CHARS} limit"
        )
    try:
        message = json.loads(text)
    except ValueError:
        raise _BadMessageError("not JSON") from None
    if not isinstance(message, dict):
        raise _BadMessageError("expected a JSON object with a 'type'")
    return message
