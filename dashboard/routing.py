"""Websocket routes of the hub."""

from typing import Any

from django.urls import path

from dashboard.consumers import LiveConsumer

# Channels routes websockets with Django's path(); django-stubs types path() for views only.
websocket_urlpatterns: list[Any] = [
    path("ws/live", LiveConsumer.as_asgi()),  # type: ignore[arg-type]
]
