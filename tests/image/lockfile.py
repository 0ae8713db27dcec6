"""Read requirements.lock, the image's pinned dependencies (scripts/lock.py writes it)."""

from __future__ import annotations

import re
from pathlib import Path

LOCK = Path(__file__).resolve().parents[2] / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", re.MULTILINE)


def normalized(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(text: str) -> dict[str, str]:
    """Version of each package the lock pins, by normalized name."""
    return {normalized(name): version for name, version in PIN.findall(text)}


def hashes(text: str) -> dict[str, list[str]]:
    """The sha256 hashes listed for each pinned package."""
    found: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        match = PIN.match(line)
        if match:
            current = normalized(match[1])
            found[current] = []
        for digest in re.findall(r"--hash=sha256:([0-9a-f]{64})", line):
            found[current].append(digest)
    return found
