"""What a hub's HTTP API sends back when it refuses a request: ``{"error": {...}}``.

Shared by the commands that talk to a hub (``export``, ``target``), which turn it into their
own error messages.
"""

from __future__ import annotations

import json
from typing import Any


def error_object(body: bytes) -> dict[str, Any]:
    """The ``error`` object of a hub's JSON answer; empty when the body is not one."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return {}
    return error if isinstance(error, dict) else {}
