"""The names every part of podscope agrees on, defined once: capture modes and export formats.

Protocols are the entry's own vocabulary (:data:`contract.schema.PROTOCOLS`); the worker's
CLI, the hub's ``serve`` command, the ``podscope`` CLI and the chart's schema offer these
values, and each checks its input against them.
"""

from __future__ import annotations

from typing import Literal

CaptureMode = Literal["connections", "full"]
CAPTURE_MODES: tuple[CaptureMode, ...] = ("connections", "full")
"""``connections``: SYN/FIN/RST, DNS and ICMP errors only (the default); ``full``: every packet."""
DEFAULT_CAPTURE_MODE: CaptureMode = "connections"

ExportFormat = Literal["text", "json", "yaml"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("text", "json", "yaml")
"""The forms of the who-calls-whom export (``/api/export``, ``podscope export``)."""
