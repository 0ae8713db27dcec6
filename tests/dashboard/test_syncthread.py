"""Django's thread-sensitive work runs on one shared thread, whatever the number of requests."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from tests.dashboard.djangoenv import installed  # isort: skip  (sets Django up)

from asgiref.sync import sync_to_async
from django.core.asgi import get_asgi_application

from dashboard.core.config import HubConfig
from dashboard.core.hub import Hub
from dashboard.core.naming.index import ClusterIndex
from dashboard.syncthread import SharedSyncThread
from tests.dashboard.asgihttp import DaphneLike, get_statuses, http_scope


async def test_requests_share_one_thread_for_their_synchronous_parts() -> None:
    threads: set[int] = set()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        threads.add(await sync_to_async(threading.get_ident)())  # thread-sensitive by default

    shared = SharedSyncThread(app)
    daphne = DaphneLike()
    await asyncio.gather(*(shared(http_scope("/"), daphne.receive, daphne.send) for _ in range(20)))
    assert len(threads) == 1
    assert threads != {threading.get_ident()}


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
    shared = SharedSyncThread(django)
    threads_started(shared, 1)  # the shared thread starts with the first request
    # the rest are asyncio.run's own (its default executor, its shutdown), the same for any count
    assert threads_started(shared, 30) == threads_started(shared, 10)
