"""A settable clock for the hub parts that take a ``clock`` callable (seconds)."""

from __future__ import annotations


class FakeClock:
    """Returns ``now``, which the test sets or advances."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
