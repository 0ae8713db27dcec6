"""The worker's liveness file, for its pod's probe: touched with every stats snapshot.

The capture loop takes a stats snapshot every few seconds (``WorkerSettings.stats_interval``);
each one touches the file, so a probe that finds it older than a minute knows the loop is stuck.
A file that cannot be written is logged once and never stops the capture.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("capture")

Report = Callable[[str, Mapping[str, Any]], None]


class HealthFile:
    """Touches ``path`` on every ``beat``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.failures = 0

    def beat(self) -> None:
        """Mark the loop alive now (the file's modification time)."""
        try:
            self.path.touch()
        except OSError as exc:
            self.failures += 1
            if self.failures == 1:
                log.warning("cannot touch the health file %s: %s", self.path, exc)

    def reporting(self, report: Report | None) -> Report:
        """A stats report that beats, then hands the snapshot to ``report`` (if any)."""

        def beat_and_report(worker: str, snapshot: Mapping[str, Any]) -> None:
            self.beat()
            if report is not None:
                report(worker, snapshot)

        return beat_and_report
