"""Fixtures of the live-capture tests: a lab built for the test and torn down after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lab.topology import Lab
from tests.capture.livecapture import require_lab


@pytest.fixture
def lab() -> Iterator[Lab]:
    """The network-namespace lab (skipped where it cannot be built)."""
    require_lab()
    with Lab() as built:
        yield built
