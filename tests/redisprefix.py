"""Test helper: a Redis key prefix of one test alone, its keys deleted afterwards."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import redis

TEST_REDIS_URL = "redis://127.0.0.1:6379/9"
"""The shared Redis's database for tests (each test under its own key prefix)."""


@contextmanager
def private_prefix(stem: str, url: str = TEST_REDIS_URL) -> Iterator[str]:
    """``{stem}-{random}``: a key prefix no other test uses; its keys are deleted afterwards."""
    name = f"{stem}-{secrets.token_hex(4)}"
    try:
        yield name
    finally:
        client = redis.Redis.from_url(url)
        for key in client.scan_iter(f"{name}:*"):
            client.delete(key)
        client.close()
