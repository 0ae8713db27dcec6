"""The worker's liveness file: touched on each stats report, never fatal."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from capture.sinks.health import HealthFile


def test_each_report_touches_the_file_then_reports(tmp_path: Path) -> None:
    path = tmp_path / "alive"
    seen: list[tuple[str, Mapping[str, Any]]] = []
    report = HealthFile(path).reporting(lambda worker, snapshot: seen.append((worker, snapshot)))
    report("w1", {"packets": 1})
    assert path.exists()
    os.utime(path, (0, 0))
    report("w1", {"packets": 2})
    assert path.stat().st_mtime > 0
    assert seen == [("w1", {"packets": 1}), ("w1", {"packets": 2})]


def test_an_unwritable_file_is_counted_not_raised(tmp_path: Path) -> None:
    health = HealthFile(tmp_path / "missing-folder" / "alive")
    report = health.reporting(None)
    report("w1", {})
    report("w1", {})
    assert health.failures == 2
