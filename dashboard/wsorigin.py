"""Websocket admission: the ``Host`` header must be an allowed host, and ``Origin`` that host.

Channels' ``AllowedHostsOriginValidator`` compares the origin's host name with
``ALLOWED_HOSTS`` and ignores its port and the ``Host`` header, so a page served by another
service on an allowed name (``localhost:9999``) could open a viewer session, and HTTP's ``Host``
check (400) had no websocket counterpart. :class:`SameOriginValidator` refuses the handshake
(403) unless the ``Host`` header passes Django's host validation and the ``Origin`` header
names that same host and port (default ports made explicit: ``https://hub`` is ``hub:443``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}

Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def header(scope: dict[str, Any], name: bytes) -> str:
    """The first value of a request header, or "" (latin-1, as HTTP headers are)."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


def same_origin(host: str, origin: str, allowed: list[str]) -> bool:
    """True when ``host`` is allowed and ``origin`` names it, port included."""
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, allowed):
        return False
    try:
        parts = urlsplit(origin)
        origin_port = parts.port
    except ValueError:
        return False
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return False
    host_domain, host_port = split_domain_port(host.lower())
    wanted_port = host_port or DEFAULT_PORTS[parts.scheme]
    got_port = str(origin_port) if origin_port is not None else DEFAULT_PORTS[parts.scheme]
    got_domain = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return got_domain == host_domain and got_port == wanted_port


class SameOriginValidator:
    """Refuses a websocket whose ``Host`` is not allowed or whose ``Origin`` is another one."""

    def __init__(self, inner: Asgi) -> None:
        self._inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Pass the connection on, or close it during the handshake (HTTP 403)."""
        host, origin = header(scope, b"host"), header(scope, b"origin")
        if scope["type"] == "websocket" and not same_origin(host, origin, settings.ALLOWED_HOSTS):
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})
            return
        await self._inner(scope, receive, send)
