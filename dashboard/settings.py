"""Django settings for the podscope hub, read from environment variables with safe defaults.

Every setting has a production-safe default: ``DEBUG`` is off unless ``PODSCOPE_DEBUG=1``, the
secret key is generated per process when ``PODSCOPE_SECRET_KEY`` is unset (set it when login is
enabled and more than one replica serves the same users), only local hosts are allowed until
``PODSCOPE_ALLOWED_HOSTS`` says otherwise.

Environment variables::

    PODSCOPE_SECRET_KEY        Django secret key (default: random per process)
    PODSCOPE_DEBUG             1 to enable Django debug pages (default 0)
    PODSCOPE_ALLOWED_HOSTS     comma-separated host names (default localhost,127.0.0.1,[::1])
    PODSCOPE_AUTH              1 to require a Django login for the API and websocket (default 0)
    PODSCOPE_WRITE_TOKEN       bearer token for writes (PUT /api/targeting); without it, a write
                               needs a login, or login off and a loopback client (default: none)
    PODSCOPE_METRICS_TOKEN     bearer token for /metrics while login is on (default: none)
    PODSCOPE_SECURE_COOKIES    1 when the hub is served over TLS: cookies marked Secure (default 0)
    PODSCOPE_DB                SQLite file for users and sessions (default ~/.podscope/db.sqlite3)
    REDIS_URL                  read entries from this Redis instead of the embedded worker
    PODSCOPE_PREFIX            Redis key prefix (default podscope, as the workers use)
    PODSCOPE_STORE_SIZE        newest entries kept in memory (default 100000)
    PODSCOPE_DEMO              1 for the read-only, anonymous demo-portal mode (default 0)
    PODSCOPE_MAX_SESSIONS      websocket sessions at once (default 200, demo 50)
    PODSCOPE_MAX_QUERY_CHARS   longest accepted filter (default 4096, demo 512)
    PODSCOPE_FILTERS_PER_MINUTE  filter changes per session per minute (default 120, demo 20)
    PODSCOPE_FRONTEND_DIST     built dashboard assets (default frontend/dist)
    PODSCOPE_DEFAULT_FILTER    the filter a new browser tab starts with (default: none)
    PODSCOPE_GLOBAL_FILTER     KFL every entry must match to be kept at all (default: none)
    PODSCOPE_TAP_REGEX         initial pod targeting: pod-name regex (default: every pod)
    PODSCOPE_TAP_NAMESPACES    initial targeting: comma-separated namespaces (default: all)
    PODSCOPE_TAP_EXCLUDED_NAMESPACES  initial targeting: namespaces left out (default: none)
    PODSCOPE_TRUST_PROXY       1 behind a TLS-terminating proxy: its X-Forwarded-Proto is believed
    PODSCOPE_CSRF_TRUSTED_ORIGINS  comma-separated origins, e.g. https://podscope.example
    PODSCOPE_SHARED_SESSIONS   1 to keep logins in REDIS_URL's Redis, so every replica sees them
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from dashboard.core.config import DEFAULT_STORE_SIZE
from dashboard.core.sessions.registry import DEFAULT_LIMITS, DEMO_LIMITS


def _flag(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={raw!r}: expected 1/0, true/false, yes/no or on/off")


def _positive(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a positive integer") from None
    if value < 1:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a positive integer")
    return value


def _names(name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in os.environ.get(name, "").split(",") if part.strip())


BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("PODSCOPE_SECRET_KEY") or secrets.token_urlsafe(50)
DEBUG = _flag("PODSCOPE_DEBUG")


def _allowed_host(entry: str) -> str:
    """A bare IPv6 address (a pod IP from the downward API) in the brackets Django compares."""
    return f"[{entry}]" if ":" in entry and not entry.startswith("[") else entry


ALLOWED_HOSTS = [
    _allowed_host(host.strip())
    for host in os.environ.get("PODSCOPE_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if host.strip()
]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
    "dashboard.apps.DashboardConfig",
]
MIDDLEWARE = [
    "dashboard.requestcycle.ReleaseRequestUser",  # first: it runs last on the way out
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "dashboard.credentials.WriteTokenMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "dashboard.urls"
ASGI_APPLICATION = "dashboard.asgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("PODSCOPE_DB") or str(Path.home() / ".podscope" / "db.sqlite3"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = _flag("PODSCOPE_SECURE_COOKIES")
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "dashboard": {"handlers": ["console"], "level": "INFO"},
        "django.request": {"handlers": ["console"], "level": "ERROR"},  # every 500, traceback
    },
}

REDIS_URL = os.environ.get("REDIS_URL", "").strip()
FRONTEND_DIST = os.environ.get("PODSCOPE_FRONTEND_DIST") or str(BASE_DIR / "frontend" / "dist")
# The websocket sessions are served from the hub's in-process registry (each replica reads the
# whole stream); the channel layer is only Channels' plumbing, so the in-memory one suffices.
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

_DEMO = _flag("PODSCOPE_DEMO")
_LIMITS = DEMO_LIMITS if _DEMO else DEFAULT_LIMITS
PODSCOPE = {
    "AUTH": _flag("PODSCOPE_AUTH"),
    "WRITE_TOKEN": os.environ.get("PODSCOPE_WRITE_TOKEN", "").strip(),
    "METRICS_TOKEN": os.environ.get("PODSCOPE_METRICS_TOKEN", "").strip(),
    "DEMO": _DEMO,
    "PREFIX": os.environ.get("PODSCOPE_PREFIX", "").strip() or "podscope",
    "STORE_SIZE": _positive("PODSCOPE_STORE_SIZE", DEFAULT_STORE_SIZE),
    "MAX_SESSIONS": _positive("PODSCOPE_MAX_SESSIONS", _LIMITS.max_sessions),
    "MAX_QUERY_CHARS": _positive("PODSCOPE_MAX_QUERY_CHARS", _LIMITS.max_query_chars),
    "FILTERS_PER_MINUTE": _positive("PODSCOPE_FILTERS_PER_MINUTE", _LIMITS.filters_per_minute),
    "DEFAULT_FILTER": os.environ.get("PODSCOPE_DEFAULT_FILTER", "").strip(),
    "GLOBAL_FILTER": os.environ.get("PODSCOPE_GLOBAL_FILTER", "").strip(),
    "TAP_REGEX": os.environ.get("PODSCOPE_TAP_REGEX", "").strip(),
    "TAP_NAMESPACES": _names("PODSCOPE_TAP_NAMESPACES"),
    "TAP_EXCLUDED_NAMESPACES": _names("PODSCOPE_TAP_EXCLUDED_NAMESPACES"),
}

# Behind the chart's TLS ingress: the proxy's scheme is believed, so a login form posted over
# https passes Django's CSRF origin check; the ingress hosts are trusted origins.
if _flag("PODSCOPE_TRUST_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = list(_names("PODSCOPE_CSRF_TRUSTED_ORIGINS"))
# Several hub replicas: logins live in Redis (each replica has its own SQLite users table, with
# the same admin made by the chart), so a login on one replica holds on the others.
if _flag("PODSCOPE_SHARED_SESSIONS") and REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{PODSCOPE['PREFIX']}:django",
        }
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.cache"
