"""ASGI entry point: HTTP to Django, websockets to the live consumer behind origin validation.

The health probes (``/healthz``, ``/livez``) are answered before Django (:mod:`dashboard.health`).
Websocket connections need an allowed ``Host`` and an ``Origin`` naming that same host and port
(:mod:`dashboard.wsorigin`). Django never sees a finished request's disconnect
(:mod:`dashboard.responsedone`: it would make each request reference-cycle garbage), and its
synchronous parts run on one shared thread (:mod:`dashboard.syncthread`); a client over its API
budget is refused before Django (:mod:`dashboard.apigate`). With
``PODSCOPE_AUTH`` on, the Django session's user is put in the scope so the consumer can refuse
anonymous viewers.
"""

from __future__ import annotations

import os
from typing import Any

import django
from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
try:
    django.setup(set_prefix=False)  # before the consumers are imported
except ImproperlyConfigured as exc:  # a bad PODSCOPE_* variable: one line, not a traceback
    raise SystemExit(f"podscope: error: {exc}") from None

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from django.conf import settings

from dashboard.apigate import ApiBudgetGate
from dashboard.health import HealthApp
from dashboard.instance import current
from dashboard.responsedone import HoldDisconnectAfterResponse
from dashboard.routing import websocket_urlpatterns
from dashboard.syncthread import SharedThreadASGIHandler
from dashboard.wsorigin import SameOriginValidator


def build_application() -> Any:
    """The ASGI application for the current settings."""
    websocket: Any = URLRouter(websocket_urlpatterns)
    if settings.PODSCOPE["AUTH"]:
        websocket = AuthMiddlewareStack(websocket)
    django_app = HoldDisconnectAfterResponse(SharedThreadASGIHandler())
    http = HealthApp(ApiBudgetGate(django_app, current), current)
    return ProtocolTypeRouter({"http": http, "websocket": SameOriginValidator(websocket)})


application = build_application()
