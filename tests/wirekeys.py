"""Test helper: every key of a JSON document that is not camelCase, with its path."""

from __future__ import annotations

import re
from typing import Any

SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")


def snake_case_keys(document: Any, path: str = "$") -> list[str]:
    """The paths of the snake_case keys anywhere in ``document`` (dicts and lists walked)."""
    found: list[str] = []
    if isinstance(document, dict):
        for key, value in document.items():
            where = f"{path}.{key}"
            if isinstance(key, str) and SNAKE.match(key):
                found.append(where)
            found += snake_case_keys(value, where)
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += snake_case_keys(value, f"{path}[{index}]")
    return found
