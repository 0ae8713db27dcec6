"""Numbers for people, the same in every part of podscope: byte counts and durations.

The worker writes them into each entry's ``summary`` and the hub into the Grafana node graph's
labels; the browser formats the same way (``frontend/src/format.js``).
"""

from __future__ import annotations


def human_bytes(size: int) -> str:
    """A byte count for people: ``512 B``, ``1.2 KB``, ``34 MB`` (powers of 1000)."""
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1000
        if value < 999.95 or unit == "TB":
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable: the loop returns at TB")


def human_duration(seconds: float) -> str:
    """A duration for people: ``120 ms``, ``3.4 s``, ``5.2 min``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"
