"""Django's thread-sensitive work on one long-lived thread, not on two new threads per request.

Django's ASGI handler opens an asgiref ``ThreadSensitiveContext`` per request, and asgiref gives
each such context a thread of its own for the request's synchronous parts (middleware hooks,
signal receivers, session and database access), then starts one more thread to join it. Under
an API flood that is two thread starts per request, and the event loop's thread queueing for the
interpreter lock behind them: a hub spending its time on threads instead of viewers.

:class:`SharedSyncThread` enters a context of its own around the application, with one executor
thread shared by every request (Django's nested context then uses it). Those synchronous parts
are short calls (the views are async), so running them one at a time costs nothing the
interpreter lock did not already cost.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext

from dashboard.health import Receive, Scope, Send


class SharedSyncThread:
    """Wraps an ASGI application (Django's); see the module's docstring."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="django-sync")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run ``inner`` with its thread-sensitive calls sent to the shared thread."""
        async with ThreadSensitiveContext(executor=self._executor):
            await self._inner(scope, receive, send)
