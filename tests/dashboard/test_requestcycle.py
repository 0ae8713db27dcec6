"""A served request is freed by reference counting: no cycle through its lazy user."""

from __future__ import annotations

import asyncio
import gc

from tests.dashboard.djangoenv import installed  # isort: skip  (sets Django up)

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse

from dashboard.asgi import application
from dashboard.core.config import HubConfig
from dashboard.core.hub import Hub
from dashboard.core.naming.index import ClusterIndex
from dashboard.requestcycle import ReleaseRequestUser
from tests.dashboard.asgihttp import get_statuses


def test_api_requests_leave_no_request_for_the_garbage_collector() -> None:
    with installed(Hub(HubConfig(), ClusterIndex())):
        asyncio.run(get_statuses(application, "/api/fields", 2))  # Django's caches warmed
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            statuses = asyncio.run(get_statuses(application, "/api/fields", 30))
            gc.collect()
            left = sum(isinstance(obj, ASGIRequest) for obj in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    assert statuses == [200] * 30
    assert left == 0


def test_a_sync_chain_is_released_too() -> None:
    request = HttpRequest()

    def view(request: HttpRequest) -> HttpResponse:
        assert request.__dict__["user"] == "alice"
        return HttpResponse("ok")

    request.__dict__["user"] = "alice"  # stand-ins for the lazy user and its coroutine
    request.__dict__["auser"] = lambda: request
    response = ReleaseRequestUser(view)(request)
    assert isinstance(response, HttpResponse)
    assert response.content == b"ok"
    assert "user" not in request.__dict__
    assert "auser" not in request.__dict__


async def test_an_async_chain_awaits_then_releases() -> None:
    request = HttpRequest()
    request.__dict__["user"] = "bob"

    async def view(request: HttpRequest) -> HttpResponse:
        await asyncio.sleep(0)
        assert "user" in request.__dict__
        return HttpResponse("ok")

    middleware = ReleaseRequestUser(view)
    assert asyncio.iscoroutinefunction(middleware)
    response = await middleware(request)
    assert response.status_code == 200
    assert "user" not in request.__dict__
