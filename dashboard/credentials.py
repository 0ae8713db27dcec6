"""Who may change the hub (``PUT /api/targeting``) and read ``/metrics``.

Reading may be open (``PODSCOPE_AUTH`` off, the chart's default), writing never is. A write is
allowed with:

- the write token (``PODSCOPE_WRITE_TOKEN``) as ``Authorization: Bearer <token>``: what scripts
  and the CLI (``podscope target``) send; with login on it stands for the login on
  ``/api/targeting``. A browser never sends that header by itself, so such a request skips the
  CSRF check (:class:`WriteTokenMiddleware`, before Django's ``CsrfViewMiddleware``);
- else the CSRF token (the page's, sent as ``X-CSRFToken``; Django's middleware checks it) and
  either a logged-in user (``PODSCOPE_AUTH`` on) or, with login off, a client on the hub's own
  loopback: ``podscope serve`` on a laptop, or ``kubectl port-forward`` (which needs rights on
  the API server). Any other client, a pod of the cluster among them, gets 403.

``/metrics`` (every namespace and workload pair) is open while login is off. With login on it
needs a logged-in user or, for Prometheus, ``PODSCOPE_METRICS_TOKEN`` as a bearer token.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

Handler = Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]


def bearer_matches(request: HttpRequest, token: str) -> bool:
    """True when ``token`` is set and the request carries it as ``Authorization: Bearer``."""
    if not token:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


def is_loopback(request: HttpRequest) -> bool:
    """True when the client is on this machine's loopback."""
    try:
        return ipaddress.ip_address(str(request.META.get("REMOTE_ADDR", ""))).is_loopback
    except ValueError:
        return False


def has_write_token(request: HttpRequest) -> bool:
    """True when the request carries the hub's write token."""
    return bearer_matches(request, settings.PODSCOPE["WRITE_TOKEN"])


def may_write(request: HttpRequest, *, auth: bool, logged_in: bool) -> bool:
    """Whether this request may change the hub (rules in the module docstring)."""
    if has_write_token(request):
        return True
    return logged_in if auth else is_loopback(request)


def may_read_metrics(request: HttpRequest, *, auth: bool, logged_in: bool) -> bool:
    """Whether this request may read ``/metrics``."""
    if bearer_matches(request, settings.PODSCOPE["METRICS_TOKEN"]):
        return True
    return logged_in or not auth


class WriteTokenMiddleware:
    """Skips the CSRF check of a request that carries the write token (never a browser's)."""

    async_capable = True
    sync_capable = True

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        """Mark a request with the write token as exempt from CSRF, then pass it on."""
        if has_write_token(request):
            request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
        return self.get_response(request)
