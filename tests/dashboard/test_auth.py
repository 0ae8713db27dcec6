from __future__ import annotations

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.test import Client

from tests.dashboard.djangoenv import HOST_HEADERS, installed  # isort: skip  (sets Django up)

from django.contrib.auth.models import User

from dashboard import login
from dashboard.asgi import build_application
from dashboard.core.config import HubConfig
from dashboard.core.hub import Hub
from dashboard.core.naming.index import ClusterIndex


@pytest.fixture(scope="module")
def user() -> tuple[str, str]:
    call_command("migrate", interactive=False, verbosity=0)
    User.objects.filter(username="viewer").delete()
    User.objects.create_user("viewer", password="s3cret-pass")
    return "viewer", "s3cret-pass"


def test_login_then_the_api_answers(user: tuple[str, str]) -> None:
    client = Client()
    with installed(Hub(HubConfig(auth=True), ClusterIndex())):
        assert client.get("/api/entries").status_code == 401
        page = client.get("/login/")
        assert page.status_code == 200
        assert b"csrfmiddlewaretoken" in page.content
        response = client.post("/login/", {"username": user[0], "password": user[1]})
        assert response.status_code == 302
        entries = client.get("/api/entries")
        assert entries.status_code == 200
        assert json.loads(entries.content) == {"entries": [], "next": None}


def test_wrong_password_stays_anonymous(user: tuple[str, str]) -> None:
    client = Client()
    with installed(Hub(HubConfig(auth=True), ClusterIndex())):
        response = client.post("/login/", {"username": user[0], "password": "nope"})
        assert response.status_code == 200  # the form again, with an error
        assert client.get("/api/entries").status_code == 401


async def test_anonymous_websocket_is_closed_when_login_is_required() -> None:
    with installed(Hub(HubConfig(auth=True), ClusterIndex())) as hub:
        communicator = WebsocketCommunicator(build_application(), "/ws/live", headers=HOST_HEADERS)
        connected, code = await communicator.connect()
        assert not connected
        assert code == 4401
        assert len(hub.sessions) == 0


def test_failed_logins_are_throttled(
    user: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(login, "FAILURES", login.FailureLog())
    client = Client()
    with installed(Hub(HubConfig(auth=True), ClusterIndex())):
        for _ in range(login.MAX_FAILURES):
            response = client.post("/login/", {"username": user[0], "password": "guess"})
            assert response.status_code == 200
        throttled = client.post("/login/", {"username": user[0], "password": user[1]})
        assert throttled.status_code == 429  # even the right password waits
        assert int(throttled["Retry-After"]) > 0
        other = Client(REMOTE_ADDR="10.0.0.8")  # another address, the same user: throttled
        response = other.post("/login/", {"username": user[0], "password": user[1]})
        assert response.status_code == 429
