"""The hub's settings as the chart sets them, each in a fresh Django process: a login over https
behind the ingress, a login that holds on a second replica, and IPv6 pod IPs as allowed hosts."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis

from tests.charts.helm import render

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET_KEY = "a-secret-key-shared-by-the-replicas-" + "x" * 20
ADMIN = {"ADMIN_USERNAME": "admin", "ADMIN_PASSWORD": "Pw-9f3kQ2x"}

LOGIN_OVER_HTTPS = """
import django
django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
call_command("migrate", interactive=False, verbosity=0)
get_user_model().objects.create_user("viewer", password="Pw-9f3kQ2x")
client = Client(enforce_csrf_checks=True)
https = {"HTTP_HOST": "demo.example", "HTTP_X_FORWARDED_PROTO": "https"}
page = client.get("/login/", **https)
token = page.cookies["csrftoken"].value
answer = client.post(
    "/login/",
    {"username": "viewer", "password": "Pw-9f3kQ2x", "csrfmiddlewaretoken": token},
    HTTP_ORIGIN="https://demo.example",
    HTTP_REFERER="https://demo.example/login/",
    **https,
)
print(answer.status_code)
"""
LOGIN = """
import django
django.setup()
from django.test import Client
client = Client()
assert client.login(username="admin", password="Pw-9f3kQ2x")
print(client.cookies["sessionid"].value)
"""
SESSION_USER = """
import sys
import django
django.setup()
from django.contrib.auth import get_user
from django.http import HttpRequest
from importlib import import_module
from django.conf import settings
request = HttpRequest()
request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key=sys.argv[1])
print(get_user(request).is_authenticated)
"""
ALLOWED = """
import django
django.setup()
from django.conf import settings
from django.http.request import validate_host
print(validate_host("[fd00:10:244::7]", settings.ALLOWED_HOSTS))
"""


def django_run(code: str, env: dict[str, str], *args: str) -> str:
    """Run code in a fresh process with the hub's settings and this env; its stdout."""
    full = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "PYTHONPATH": str(ROOT),
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize(("trust", "status"), [("1", "302"), ("0", "403")])
def test_login_over_https_behind_the_ingress(tmp_path: Path, trust: str, status: str) -> None:
    env = {
        "PODSCOPE_DB": str(tmp_path / "db.sqlite3"),
        "PODSCOPE_AUTH": "1",
        "PODSCOPE_ALLOWED_HOSTS": "demo.example",
        "PODSCOPE_TRUST_PROXY": trust,
    }
    assert django_run(LOGIN_OVER_HTTPS, env) == status


@pytest.mark.redis
def test_a_login_holds_on_another_hub_replica(tmp_path: Path) -> None:
    admin_script = render("ci/auth-values.yaml").pod_spec("Deployment", "podscope-hub")
    [init] = admin_script["initContainers"]
    prefix = f"podscope-test-{uuid.uuid4().hex[:8]}"
    replicas = []
    for name in ("a", "b"):
        env = {
            **ADMIN,
            "PODSCOPE_DB": str(tmp_path / f"{name}.sqlite3"),
            "PODSCOPE_SECRET_KEY": SECRET_KEY,
            "PODSCOPE_AUTH": "1",
            "PODSCOPE_SHARED_SESSIONS": "1",
            "PODSCOPE_PREFIX": prefix,
            "REDIS_URL": REDIS_URL,
            "PODSCOPE_ALLOWED_HOSTS": "testserver",
        }
        # The chart's init container: migrate, then the admin from its Secret.
        django_run(f"import django\ndjango.setup()\n{init['args'][0]}", env)
        replicas.append(env)
    try:
        session = django_run(LOGIN, replicas[0])
        assert django_run(SESSION_USER, replicas[1], session) == "True"
        assert django_run(SESSION_USER, replicas[1], "no-such-session") == "False"
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)


def test_a_bare_ipv6_pod_ip_is_an_allowed_host() -> None:
    env = {"PODSCOPE_ALLOWED_HOSTS": "localhost,fd00:10:244::7"}
    assert django_run(ALLOWED, env) == "True"
