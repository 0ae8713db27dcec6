"""The hub's HTTP API (JSON), the Grafana Node Graph routes and ``/metrics``.

Every view is async and runs on the event loop, next to ingest, so it reads the hub without
locks. A bad request gets a 400 with ``{"error": {...}}`` (a KFL error keeps its line, column
and caret context), never a 500. With ``PODSCOPE_AUTH`` on, every route but ``/metrics`` and
the Node Graph health check needs a logged-in user (401 otherwise), or on ``/api/targeting`` the
write token; ``/metrics`` and writes (``PUT /api/targeting``, refused with error code
``writeToken``) follow :mod:`dashboard.credentials`. Every ``GET`` route answers ``HEAD`` too.
``/healthz`` and ``/livez`` are answered before Django (:mod:`dashboard.health`).

Every client (by address) has a budget of requests a minute (429 with ``Retry-After`` past it):
``REQUESTS_PER_FILTER_CHANGE`` times its websocket filter-change budget for any route, and the
filter-change budget itself for the routes that scan the store (``/api/entries``, ``/api/map``,
``/api/export``, the Node Graph data), whose scans share the hub's scan budget
(:mod:`dashboard.core.store.scans`: 503 with ``Retry-After`` while it is full, 400 for a filter
too costly).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

import redis
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods, require_safe

from contract.vocabulary import EXPORT_FORMATS
from dashboard.core.hub import Hub
from dashboard.core.outputs import nodegraph
from dashboard.core.outputs.graph import LEVELS, Level
from dashboard.core.sessions.ratelimit import refusal
from dashboard.core.targeting.spec import TargetingSpec
from dashboard.credentials import has_write_token, may_read_metrics, may_write
from dashboard.errors import WRITE_TOKEN_CODE, BadRequestError, ScanError, TargetingError
from dashboard.instance import current
from kfl import Filter, KflError, compile_filter
from kfl.fields import completions

DEFAULT_LIMIT = 100
MAX_LIMIT = 1_000
MAX_BODY_BYTES = 16 * 1024
EXPORT_TYPES = {"text": "text/plain", "json": "application/json", "yaml": "application/yaml"}

RETRY_BUSY_SECONDS = 2
View = Callable[..., Awaitable[HttpResponse]]


def api_view(*, login: bool = True, scans: bool = False) -> Callable[[View], Callable[..., Any]]:
    """Wrap a view: login check (when enabled), the client's request budget (the scan budget
    too with ``scans``), BadRequestError, KflError and ScanError as JSON errors."""

    def decorate(view: View) -> Callable[..., Any]:
        @wraps(view)
        async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            hub = current()
            if login and hub.config.auth:
                user = await request.auser()
                if not user.is_authenticated:
                    return JsonResponse({"error": {"message": "login required"}}, status=401)
            client = str(request.META.get("REMOTE_ADDR", ""))
            wait = hub.api_requests.take(client)
            if not wait and scans:
                wait = hub.api_scans.take(client)
            if wait:
                return _too_many(wait)
            try:
                return await view(request, hub, *args, **kwargs)
            except KflError as exc:
                return JsonResponse({"error": exc.to_dict()}, status=400)
            except BadRequestError as exc:
                return JsonResponse({"error": exc.error}, status=exc.status)
            except ScanError as exc:
                response = JsonResponse({"error": exc.to_dict()}, status=exc.status)
                if exc.status == 503:
                    response["Retry-After"] = str(RETRY_BUSY_SECONDS)
                return response

        return wrapper

    return decorate


def _too_many(wait: float) -> HttpResponse:
    body, retry_after = refusal(wait)
    response = JsonResponse(body, status=429)
    response["Retry-After"] = retry_after
    return response


def _query(request: HttpRequest) -> Filter:
    query = request.GET.get("q", request.GET.get("query", ""))
    limit = current().config.limits.max_query_chars
    if len(query) > limit:
        raise BadRequestError(f"query of {len(query)} characters, over the {limit} limit")
    return compile_filter(query)


def _int(request: HttpRequest, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.GET.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequestError(f"{name} must be an integer, not {raw!r}") from None
    if not low <= value <= high:
        raise BadRequestError(f"{name} must be between {low} and {high}, not {value}")
    return value


def _level(request: HttpRequest) -> Level:
    level = request.GET.get("level", "namespace")
    for known in LEVELS:
        if level == known:
            return known
    raise BadRequestError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")


def _services(request: HttpRequest) -> bool:
    """``services=``: whether the map draws Services between callers and backends (at the
    workload and pod levels; on unless ``false`` or ``0``)."""
    raw = request.GET.get("services", "true")
    if raw in ("true", "1"):
        return True
    if raw in ("false", "0"):
        return False
    raise BadRequestError(f"services must be true or false, not {raw!r}")


@require_safe
@api_view()
async def validate(request: HttpRequest, hub: Hub) -> HttpResponse:
    """``GET /api/validate?q=``: ``{"valid": true}`` or ``{"valid": false, "error": {...}}``."""
    try:
        _query(request)
    except KflError as exc:
        return JsonResponse({"valid": False, "error": exc.to_dict()})
    except BadRequestError as exc:
        return JsonResponse({"valid": False, "error": exc.error})
    return JsonResponse({"valid": True})


@require_safe
@api_view(scans=True)
async def entries(request: HttpRequest, hub: Hub) -> HttpResponse:
    """``GET /api/entries?q=&limit=&before=``: newest matching first, ``next`` pages back."""
    flt = _query(request)
    limit = _int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT) or DEFAULT_LIMIT
    before = _int(request, "before", None, 1, 2**62)
    found = await hub.entries(flt, limit, before)
    page = limit if flt.limit is None else min(limit, flt.limit)  # a full page: maybe more
    cursor = found[-1][0] if found and len(found) == page else None
    return JsonResponse({"entries": [wire for _, wire in found], "next": cursor})


@require_safe
@api_view(scans=True)
async def graph_map(request: HttpRequest, hub: Hub) -> HttpResponse:
    """``GET /api/map?q=&level=&services=``: the map of the stored entries matching the
    filter."""
    return JsonResponse(await hub.graph(_query(request), _level(request), _services(request)))


@require_safe
@api_view(scans=True)
async def export(request: HttpRequest, hub: Hub) -> HttpResponse:
    """``GET /api/export?q=&format=text|json|yaml``: who calls whom, at workload level."""
    fmt = request.GET.get("format", "text")
    if fmt not in EXPORT_FORMATS:
        raise BadRequestError(f"format must be one of {', '.join(EXPORT_FORMATS)}, not {fmt!r}")
    body = await hub.export(_query(request), fmt)
    return HttpResponse(body, content_type=f"{EXPORT_TYPES[fmt]}; charset=utf-8")


@require_safe
@api_view()
async def fields(request: HttpRequest, hub: Hub) -> HttpResponse:
    """``GET /api/fields``: every name a query can use, for autocomplete."""
    return JsonResponse({"completions": completions()})


@require_safe
@api_view()
async def stats(request: HttpRequest, hub: Hub) -> HttpResponse:
    """``GET /api/stats``: ingest, store, sessions, naming and the workers' capture stats."""
    return JsonResponse(hub.stats())


@require_safe
@api_view(login=False)
async def nodegraph_health(request: HttpRequest, hub: Hub) -> HttpResponse:
    """Grafana Node Graph API: ``/api/health``."""
    return JsonResponse(nodegraph.health())


@require_safe
@api_view()
async def nodegraph_fields(request: HttpRequest, hub: Hub) -> HttpResponse:
    """Grafana Node Graph API: ``/api/graph/fields``."""
    return JsonResponse(nodegraph.fields())


@require_safe
@api_view(scans=True)
async def nodegraph_data(request: HttpRequest, hub: Hub) -> HttpResponse:
    """Grafana Node Graph API: ``/api/graph/data?q=&level=&services=``."""
    graph = await hub.graph(_query(request), _level(request), _services(request))
    return JsonResponse(nodegraph.data(graph))


@require_safe
@api_view(login=False)
async def metrics(request: HttpRequest, hub: Hub) -> HttpResponse:
    """``GET /metrics``: Prometheus text format (who may read it: :mod:`dashboard.credentials`)."""
    auth = hub.config.auth
    logged_in = auth and (await request.auser()).is_authenticated
    if not may_read_metrics(request, auth=auth, logged_in=logged_in):
        return JsonResponse(
            {"error": {"message": "login or the metrics token (PODSCOPE_METRICS_TOKEN) required"}},
            status=401,
        )
    hub.metrics.sessions_open.set(len(hub.sessions))
    return HttpResponse(hub.metrics.render(), content_type="text/plain; version=0.0.4")


@require_http_methods(["GET", "HEAD", "PUT"])
@api_view(login=False)
async def targeting(request: HttpRequest, hub: Hub) -> HttpResponse:
    """``GET``/``PUT /api/targeting``: which pods the workers capture (no PUT in demo mode).

    Both answer ``{"spec", "scopes", "coverage"}``: the spec in force, each node's capture scope
    and the capturable pods it targets and leaves out (counts and namespaces). With login on,
    the write token stands for a login here, so that ``podscope target`` works either way.
    """
    logged_in = hub.config.auth and (await request.auser()).is_authenticated
    if hub.config.auth and not (logged_in or has_write_token(request)):
        return JsonResponse({"error": {"message": "login required"}}, status=401)
    if request.method == "PUT" and hub.config.demo:
        raise BadRequestError("targeting is not available: demo mode is read-only", status=403)
    if hub.targeting is None:
        raise BadRequestError(
            "targeting is not available: targeting needs REDIS_URL or an embedded worker",
            status=404,
        )
    if request.method in ("GET", "HEAD"):
        return JsonResponse({**hub.targeting.summary(), "scopes": hub.targeting.scopes()})
    if not may_write(request, auth=hub.config.auth, logged_in=logged_in):
        message = (
            "changing the targeting needs the write token (Authorization: Bearer, "
            "PODSCOPE_WRITE_TOKEN) or a login"
        )
        raise BadRequestError(message, {"message": message, "code": WRITE_TOKEN_CODE}, 403)
    if len(request.body) > MAX_BODY_BYTES:
        raise BadRequestError(f"body over {MAX_BODY_BYTES} bytes", status=413)
    try:
        spec = TargetingSpec.from_dict(json.loads(request.body))
    except ValueError as exc:  # JSON errors and TargetingError
        raise BadRequestError(
            str(exc) if isinstance(exc, TargetingError) else f"not JSON: {exc}"
        ) from None
    try:
        scopes = await asyncio.to_thread(hub.targeting.set, spec)
    except redis.RedisError as exc:
        raise BadRequestError(
            f"Redis is unavailable, targeting unchanged: {exc}", status=503
        ) from None
    return JsonResponse({**hub.targeting.summary(), "scopes": scopes})
