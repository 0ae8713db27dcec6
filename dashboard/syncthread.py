"""Django's thread-sensitive work on one long-lived thread, not on two new threads per request.

Django's ASGI handler opens an asgiref ``ThreadSensitiveContext`` per request, and asgiref gives
each such context a thread of its own for the request's synchronous parts (middleware hooks,
signal receivers, session and database access), then starts one more thread to join it: under
an API flood, two thread starts per request, each new thread contending with the event loop's
thread for the interpreter lock.

:class:`SharedThreadASGIHandler` is Django's handler without that context, so asgiref sends
those calls to its one process-wide thread. They are short calls (the views are async), so
running them one at a time costs nothing the interpreter lock did not already cost; and a
request whose client went away mid-view (daphne then cancels it) leaves no context behind that
its last calls could fail on.
"""

from __future__ import annotations

from typing import Any

from django.core.handlers.asgi import ASGIHandler


class SharedThreadASGIHandler(ASGIHandler):
    """Django's ASGI handler, its requests' synchronous parts on one shared thread."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Serve one HTTP request (Django serves nothing else)."""
        if scope["type"] != "http":
            raise ValueError(f"Django serves HTTP only, not {scope['type']}")
        await self.handle(scope, receive, send)
