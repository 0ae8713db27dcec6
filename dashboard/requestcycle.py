"""Break the reference cycle Django's authentication middleware makes of every request.

``AuthenticationMiddleware`` gives each request a lazy ``user`` (a closure over the request) and
an ``auser`` (a partial of the request): the request refers to them and they to it, so every
request, with its body buffer, session and resolver match, outlives its response until a full
garbage collection, which the hub runs rarely (:mod:`dashboard.core.garbage`). Under an API
flood that was nearly all the hub's garbage, and the long collection pauses it forced.

:class:`ReleaseRequestUser`, first in ``MIDDLEWARE``, drops both once the response is made (the
view and every other middleware are done with them), so reference counting frees the request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

Handler = Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]
CYCLIC_ATTRIBUTES = ("user", "auser")


class ReleaseRequestUser:
    """Drops the request's lazy user once its response is made (see the module docstring)."""

    async_capable = True
    sync_capable = True

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        """Answer the request, then release what refers back to it."""
        if self._async:
            return self._answer_async(request)
        response = self.get_response(request)
        release(request)
        return response

    async def _answer_async(self, request: HttpRequest) -> HttpResponseBase:
        response = await cast(Awaitable[HttpResponseBase], self.get_response(request))
        release(request)
        return response


def release(request: HttpRequest) -> None:
    """Drop the request's attributes that refer back to it."""
    for name in CYCLIC_ATTRIBUTES:
        request.__dict__.pop(name, None)
