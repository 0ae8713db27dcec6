"""Test helper: Django configured with the hub's settings, and a fresh hub per test."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
os.environ.setdefault("PODSCOPE_ALLOWED_HOSTS", "localhost,testserver")
os.environ.setdefault("PODSCOPE_DB", str(Path(tempfile.mkdtemp(prefix="podscope-test-")) / "db"))
django.setup()

from dashboard import instance  # noqa: E402
from dashboard.core.hub import Hub  # noqa: E402

HOST_HEADERS = [(b"host", b"localhost"), (b"origin", b"http://localhost")]


@contextmanager
def installed(hub: Hub) -> Iterator[Hub]:
    """Make ``hub`` the process's hub for the duration of the block."""
    instance.install(hub)
    try:
        yield hub
    finally:
        instance.install(None)
