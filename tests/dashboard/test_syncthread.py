"""Django's thread-sensitive work runs on one shared thread, whatever the number of requests."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from tests.dashboard.djangoenv import installed  # isort: skip  (sets Django up)

from django.core.asgi import get_asgi_application

from dashboard.core.config import HubConfig
from dashboard.core.hub import Hub
from dashboard.core.naming.index import ClusterIndex
from dashboard.syncthread import SharedThreadASGIHandler
from tests.dashboard.asgihttp import DaphneLike, get_statuses


def test_django_requests_start_no_thread_each(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []
    original = threading.Thread.start

    def counting_start(thread: threading.Thread) -> None:
        started.append(thread.name)
        original(thread)

    monkeypatch.setattr(threading.Thread, "start", counting_start)

    def threads_started(app: Any, requests: int) -> int:
        started.clear()
        with installed(Hub(HubConfig(), ClusterIndex())):
            assert asyncio.run(get_statuses(app, "/no/such/page", requests)) == [404] * requests
        return len(started)

    django = get_asgi_application()
    assert threads_started(django, 30) - threads_started(django, 10) >= 20  # asgiref's, per request
    shared = SharedThreadASGIHandler()
    threads_started(shared, 1)  # asgiref's shared thread starts with the first request
    # the rest are asyncio.run's own (its default executor, its shutdown), the same for any count
    assert threads_started(shared, 30) == threads_started(shared, 10)


async def test_only_http_is_served() -> None:
    daphne = DaphneLike()
    with pytest.raises(ValueError, match="HTTP only, not websocket"):
        await SharedThreadASGIHandler()({"type": "websocket"}, daphne.receive, daphne.send)
