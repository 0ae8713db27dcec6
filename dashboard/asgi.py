"""ASGI entry point: HTTP to Django, websockets to the live consumer behind origin validation.

Websocket connections must come from an allowed origin (``ALLOWED_HOSTS``, Channels'
``AllowedHostsOriginValidator``); with ``PODSCOPE_AUTH`` on, the Django session's user is put
in the scope so the consumer can refuse anonymous viewers.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
django_asgi_app = get_asgi_application()  # sets Django up before the consumers are imported

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from dashboard.routing import websocket_urlpatterns  # noqa: E402


def build_application() -> Any:
    """The ASGI application for the current settings."""
    websocket: Any = URLRouter(websocket_urlpatterns)
    if settings.PODSCOPE["AUTH"]:
        websocket = AuthMiddlewareStack(websocket)
    return ProtocolTypeRouter(
        {"http": django_asgi_app, "websocket": AllowedHostsOriginValidator(websocket)}
    )


application = build_application()
