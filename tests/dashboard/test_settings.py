"""Settings read from the environment: one-line errors, Secure cookies, 500s in the log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with the hub's settings and ``env`` added to a clean environment."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PODSCOPE_")}
    environment.update(DJANGO_SETTINGS_MODULE="dashboard.settings", **env)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_bad_setting_is_one_line_not_a_traceback() -> None:
    for command in (
        [sys.executable, "manage.py", "podscope", "serve", "--port", "0"],
        [sys.executable, "-m", "daphne", "dashboard.asgi:application"],
    ):
        result = subprocess.run(
            command,
            cwd=ROOT,
            env={**os.environ, "PODSCOPE_DEBUG": "maybe"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 1
        assert result.stderr.splitlines() == [
            "podscope: error: PODSCOPE_DEBUG='maybe': expected 1/0, true/false, yes/no or on/off"
        ]


def test_cookies_are_secure_when_served_over_tls() -> None:
    show = "import django; django.setup(); from django.conf import settings as s; "
    show += "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)"
    assert python(show).stdout.split() == ["False", "False"]
    assert python(show, PODSCOPE_SECURE_COOKIES="1").stdout.split() == ["True", "True"]


def test_server_errors_are_logged_with_their_traceback() -> None:
    code = (
        "import django, logging; django.setup()\n"
        "try:\n    1 / 0\nexcept ZeroDivisionError:\n"
        "    logging.getLogger('django.request').error('Internal Server Error: /x', exc_info=True)"
    )
    result = python(code)
    assert "Internal Server Error: /x" in result.stderr
    assert "ZeroDivisionError" in result.stderr
