"""Serve the built browser dashboard (``frontend/dist``): the index page at ``/`` and its assets.

The assets are produced by ``npm ci && npm run build`` in ``frontend/`` (``scripts/setup.sh``
does it); their names carry a content hash, so they are cached for a year. The index page gets
this visitor's CSRF token in place of ``__CSRF_TOKEN__`` (the cookie is HTTP-only), for the
targeting editor's PUT. Without a build the index answers 503 with the command to run.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token

BUILD_HINT = "dashboard not built: run `npm ci && npm run build` in frontend/ (scripts/setup.sh)"
ASSET_CACHE = "public, max-age=31536000, immutable"
CSRF_PLACEHOLDER = "__CSRF_TOKEN__"


def _dist() -> Path:
    return Path(settings.FRONTEND_DIST)


def index(request: HttpRequest) -> HttpResponse:
    """``/``: the dashboard page (never cached, so a new build is picked up at once)."""
    page = _dist() / "index.html"
    if not page.is_file():
        return HttpResponse(BUILD_HINT, status=503, content_type="text/plain; charset=utf-8")
    html = page.read_text(encoding="utf-8").replace(CSRF_PLACEHOLDER, get_token(request))
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response


def asset(request: HttpRequest, name: str) -> FileResponse:
    """``/assets/<name>``: one built file; anything outside ``dist/assets`` is a 404."""
    if "\x00" in name:  # no file name holds one; the file system would refuse it
        raise Http404("no such asset")
    root = (_dist() / "assets").resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise Http404(f"no asset {name!r}")
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    response = FileResponse(path.open("rb"), content_type=content_type)
    response["Cache-Control"] = ASSET_CACHE
    return response
