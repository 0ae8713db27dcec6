"""The ``ws/live`` websocket protocol: one typed class per message, each way, as JSON text.

Every message is a JSON object whose ``type`` names its class (a msgspec tagged union); keys are
camelCase. Client -> server::

    FilterSet  {"type": "filter.set", "query": "dst.namespace == \\"\\""}
    Ack        {"type": "ack", "seq": 7}          every entries message up to 7 is rendered
    Pause      {"type": "pause"}                  Resume {"type": "resume"}
    MapLevel   {"type": "map.level", "level": "namespace" | "workload" | "pod",
                "services": true}              draw Services (workload, pod levels; default)

Server -> client::

    Hello        {"type": "hello", "session", "query", "level", "ackWindow", "limits", "demo",
                  "targeting", "defaultFilter", "recording", "services"}
    FilterOk     {"type": "filter.ok", "query", "limit", "matched"}
    FilterError  {"type": "filter.error", "query", "error": {message, line, column, endLine,
                  endColumn, context}}                the previous filter stays
    entries      {"type": "entries", "seq", "backfill", "missed", "first", "entries": [...]}:
                 written by the session registry from each entry's cached JSON, not through a
                 class here; ``first`` is the store sequence number of its oldest entry (null
                 when empty), the ``before`` cursor of ``GET /api/entries`` for older matches
    MapUpdate    {"type": "map", "version", "level", "services", "nodes": [...], "edges": [...]}
                 ``services``: Services are nodes (kind ``service``) between callers and
                 backends, each hop counting a connection once
    Stats        {"type": "stats", "session": {...}, "hub": {...}, "targeting"?: {...}}
    Error        {"type": "error", "message"}         a malformed message; the session goes on

:func:`decode_client` reads one client message or raises :class:`~contract.errors.MessageError`
with a message meant for the viewer; :func:`encode` writes a server message.
"""

from __future__ import annotations

from typing import Any

import msgspec

from contract.errors import MessageError

MAX_MESSAGE_CHARS = 16 * 1024
"""The longest client message the hub reads, in characters."""


class ClientMessage(msgspec.Struct, frozen=True, tag_field="type"):
    """A message from the browser; its class is its ``type``."""


class FilterSet(ClientMessage, frozen=True, tag="filter.set"):
    """Apply a KFL query to this session."""

    query: str


class Ack(ClientMessage, frozen=True, tag="ack"):
    """Every entries message up to ``seq`` is rendered: the hub may send more."""

    seq: int


class Pause(ClientMessage, frozen=True, tag="pause"):
    """Stop sending entries (they wait, bounded, in the session's queue)."""


class Resume(ClientMessage, frozen=True, tag="resume"):
    """Send entries again."""


class MapLevel(ClientMessage, frozen=True, tag="map.level"):
    """Show the map at another level: ``namespace``, ``workload`` or ``pod``; ``services``:
    draw the Services connections went through as nodes between callers and backends (at the
    workload and pod levels only; on unless turned off)."""

    level: str
    services: bool = True


class ServerMessage(msgspec.Struct, frozen=True, tag_field="type", rename="camel"):
    """A message to the browser; its class is its ``type``."""


class Limits(msgspec.Struct, frozen=True, rename="camel"):
    """The session limits a viewer is told in its hello."""

    max_query_chars: int
    filters_per_minute: int
    max_queued_entries: int
    backfill: int


class Hello(ServerMessage, frozen=True, tag="hello"):
    """The first message of a session: who it is, its filter and level, and the hub's limits.

    ``targeting`` says whether ``/api/targeting`` exists on this hub; ``default_filter`` is what
    a tab opened without ``?q=`` applies; ``recording`` is None while the hub captures live,
    else ``{"name": <pcap file name>, "loop": <replayed over and over>}`` (a replay is no live
    view, and the dashboard says so); ``services``: the session's map shows Services.
    """

    session: int
    query: str
    level: str
    ack_window: int
    limits: Limits
    demo: bool
    targeting: bool
    default_filter: str
    recording: dict[str, Any] | None = None
    services: bool = False


class FilterOk(ServerMessage, frozen=True, tag="filter.ok"):
    """The query was compiled and applied; ``limit`` is its ``limit(n)``, if any; ``matched``
    is how many stored entries match it (the log loads the newest, older ones on demand)."""

    query: str
    limit: int | None
    matched: int = 0


class FilterError(ServerMessage, frozen=True, tag="filter.error"):
    """The query was refused; ``error`` locates the problem (KflError.to_dict's shape)."""

    query: str
    error: dict[str, Any]


class MapUpdate(ServerMessage, frozen=True, tag="map"):
    """The session's map, sent when its version changed; ``services``: it shows Services."""

    version: int
    level: str
    services: bool
    nodes: list[Any]
    edges: list[Any]


class Stats(ServerMessage, frozen=True, tag="stats", omit_defaults=True):
    """Every few seconds: the session's counters, the hub's, and the targeting if any."""

    session: dict[str, Any]
    hub: dict[str, Any]
    targeting: dict[str, Any] | None = None


class Error(ServerMessage, frozen=True, tag="error"):
    """A malformed client message, or a refusal before the session exists."""

    message: str


_client_decoder = msgspec.json.Decoder(FilterSet | Ack | Pause | Resume | MapLevel)
_encoder = msgspec.json.Encoder()


def decode_client(text: str | None) -> ClientMessage:
    """The client message in ``text``; MessageError says what is wrong with it."""
    if text is None:
        raise MessageError("send JSON text messages, not binary")
    if len(text) > MAX_MESSAGE_CHARS:
        raise MessageError(f"message of {len(text)} characters, over the {MAX_MESSAGE_CHARS} limit")
    try:
        message: ClientMessage = _client_decoder.decode(text)
    except msgspec.ValidationError as exc:
        raise MessageError(_validation_message(str(exc))) from None
    except msgspec.DecodeError:
        raise MessageError("not JSON") from None
    return message


def _validation_message(text: str) -> str:
    """msgspec's validation error, said for the viewer (``- at `$.seq```) names the field."""
    if text.endswith("- at `$.type`"):
        return f"unknown message type: {text}"
    if text.startswith("Expected `object`") and " - at " not in text:
        return "expected a JSON object with a 'type'"
    return text


def encode(message: ServerMessage) -> str:
    """The JSON text of a server message."""
    return _encoder.encode(message).decode("utf-8")
