"""``podscope export``: who calls whom, from a running hub's ``GET /api/export``.

The hub answers text, JSON or YAML (see :mod:`dashboard.core.outputs.export`). A query the hub
refuses comes back as a 400 with the KFL error's line, column and caret context, raised as a
QueryError; an unreachable hub, a login-protected one or any other answer is a HubError.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import urlencode, urlsplit

from cli.errors import HubError, QueryError, UsageError
from cli.hubhttp import error_object
from contract.vocabulary import EXPORT_FORMATS

TIMEOUT_S = 30.0
HTTP_BAD_REQUEST = 400
HTTP_UNAUTHORIZED = 401


def export_url(hub_url: str, query: str, fmt: str) -> str:
    """The ``/api/export`` URL of the hub at ``hub_url``; UsageError for a URL that is not one."""
    parts = urlsplit(hub_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"bad --url {hub_url!r}: expected http://HOST:PORT of a podscope hub")
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"bad --format {fmt!r}: one of {', '.join(EXPORT_FORMATS)}")
    params = {"q": query, "format": fmt} if query else {"format": fmt}
    return f"{hub_url.rstrip('/')}/api/export?{urlencode(params)}"


def fetch_export(hub_url: str, query: str = "", fmt: str = "text") -> str:
    """The hub's export for ``query`` in ``fmt``."""
    url = export_url(hub_url, query, fmt)
    try:
        # The scheme is checked to be http(s) by export_url.
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310
            body: bytes = response.read()
    except urllib.error.HTTPError as exc:
        raise _refusal(hub_url, exc) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise HubError(
            f"cannot reach the hub at {hub_url}: {reason} "
            "(is 'podscope tap' or 'podscope serve' running? --url names another hub)"
        ) from None
    return body.decode("utf-8", errors="replace")


def _refusal(hub_url: str, exc: urllib.error.HTTPError) -> Exception:
    """The error for a non-2xx answer: the hub's ``{"error": {...}}`` when it sent one."""
    error = error_object(exc.read())
    message = str(error.get("message") or exc.reason)
    if exc.code == HTTP_BAD_REQUEST and isinstance(error.get("line"), int):
        return QueryError(
            message, error["line"], int(error.get("column", 0)), str(error.get("context", ""))
        )
    if exc.code == HTTP_BAD_REQUEST:
        return UsageError(f"the hub refused the request: {message}")
    if exc.code == HTTP_UNAUTHORIZED:
        return HubError(f"the hub at {hub_url} requires a login (auth.enabled): {message}")
    return HubError(f"the hub at {hub_url} answered {exc.code}: {message}")
