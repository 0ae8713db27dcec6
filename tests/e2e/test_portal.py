"""A full hub in a real browser: the tab says why it waits and retries less and less often."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ContextFactory
from tests.e2e.dashboard import STREAMING, WAIT_MS, open_dashboard
from tests.e2e.hubprocess import RECORDED_LAB, HubStartError, running_hub

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def one_seat_hub() -> Iterator[str]:
    """A hub that serves one viewer at a time."""
    try:
        with running_hub(
            "one-seat", ("serve", *RECORDED_LAB), {"PODSCOPE_MAX_SESSIONS": "1"}
        ) as url:
            yield url
    except HubStartError as exc:
        pytest.fail(str(exc))


def test_a_full_hub_says_why_and_retries_with_growing_delays(
    new_context: ContextFactory, one_seat_hub: str
) -> None:
    first = new_context().new_page()
    open_dashboard(first, one_seat_hub)
    second: Page = new_context().new_page()
    attempts: list[float] = []
    second.on("websocket", lambda _: attempts.append(time.monotonic()))
    second.goto(one_seat_hub)
    notice = second.locator("#notice")
    expect(notice).to_have_text(
        re.compile(
            r"^the hub serves at most 1 sessions; try again later: "
            r"this tab tries again in \d+ s \(then less often\)$"
        ),
        timeout=WAIT_MS,
    )
    expect(second.locator("#status")).to_have_text("full")
    expect(notice).to_contain_text("tries again in 4 s", timeout=WAIT_MS)
    assert len(attempts) >= 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.9  # 1 s, not the 0.5 s of old
    assert gaps[1] >= 1.5 * gaps[0]  # then 2 s: growing
    first.close()  # the seat is free: the next try gets in
    expect(second.locator("#status")).to_have_text(STREAMING, timeout=WAIT_MS)
    expect(notice).to_be_hidden()
