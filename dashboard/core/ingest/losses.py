"""Entries a worker published that the hub never read, counted exactly from their numbers.

Each worker's publisher numbers its entries 1, 2, 3... in a run that is random per publisher
start (the stream fields of :mod:`contract.bus`). :class:`LossCounter` keeps, per worker, the
run and the highest number read, and counts every number skipped: entries the worker dropped
from its full queue, entries trimmed from the stream (``MAXLEN``) before the hub read them, and
entries lost with a Redis that came back empty. A number at or below the highest is a
redelivery (publishing is at least once) and counts nothing.

What the hub cannot know is not counted: the entries of a worker before the first one this hub
read (they were trimmed before it started, or it started late), and the last entries of a run
that ended (until the worker's next run, whose first number says how many of its own are gone).
Worker names are bounded: past ``MAX_WORKERS`` the others share one ``(other workers)`` line.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from contract.bus import NUMBER_FIELD, RUN_FIELD, WORKER_FIELD

MAX_WORKERS = 1_024
OTHER_WORKERS = "(other workers)"


@dataclass(slots=True)
class LossCounter:
    """Gaps in each worker's numbering (see the module docstring)."""

    lost: Counter[str] = field(default_factory=Counter)
    unnumbered: int = 0  # messages without a number (an older worker, a hand-made XADD)
    _last: dict[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Entries lost, every worker together."""
        return sum(self.lost.values())

    def see(self, worker: str, run: str, number: int) -> None:
        """Take one message's numbering."""
        last = self._last.get(worker)
        if last is None:
            if len(self._last) >= MAX_WORKERS:
                worker = OTHER_WORKERS
                last = self._last.get(worker)
            if last is None:
                self._last[worker] = (run, number)
                return
        last_run, last_number = last
        if run != last_run:  # the worker restarted: numbers below this one are gone
            self.lost[worker] += max(0, number - 1)
        elif number > last_number:
            self.lost[worker] += number - last_number - 1
        else:
            return  # a redelivery
        self._last[worker] = (run, number)

    def see_fields(self, fields: dict[Any, Any]) -> None:
        """Take a stream message's ``worker``, ``run`` and ``n`` fields (bytes, as read)."""
        try:
            worker = fields[WORKER_FIELD].decode("utf-8", "replace")
            run = fields[RUN_FIELD].decode("utf-8", "replace")
            number = int(fields[NUMBER_FIELD])
        except (KeyError, AttributeError, ValueError):
            self.unnumbered += 1
            return
        self.see(worker, run, number)

    def to_dict(self) -> dict[str, Any]:
        """``{"total", "workers": {name: lost}, "unnumbered"}``."""
        return {"total": self.total, "workers": dict(self.lost), "unnumbered": self.unnumbered}
