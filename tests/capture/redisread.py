"""Typed reads of the entries stream for tests (redis-py's own hints leave replies untyped)."""

from __future__ import annotations

from typing import cast

import redis

StreamMessage = tuple[bytes, dict[bytes, bytes]]


def stream_messages(client: redis.Redis, key: str, count: int | None = None) -> list[StreamMessage]:
    """Every message of stream ``key``, oldest first (at most ``count``)."""
    return cast(list[StreamMessage], client.xrange(key, "-", "+", count=count))
