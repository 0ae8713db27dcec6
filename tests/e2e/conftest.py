"""Fixtures: a demo hub (capture lab as root, else its recording), a full-mode hub, chromium,
and browser contexts whose console errors and warnings fail the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.e2e.chromium import ChromiumMissingError, launch
from tests.e2e.hubprocess import RECORDED_LAB, HubStartError, running_hub

WIDTH, HEIGHT = 1280, 800  # the narrowest width supported
# The full-mode hub starts new tabs with this filter (PODSCOPE_DEFAULT_FILTER).
FULL_HUB_DEFAULT_FILTER = "tcp"

ContextFactory = Callable[..., BrowserContext]


def _hub(
    name: str, args: tuple[str, ...], env: dict[str, str] | None = None, *, read_all: bool = False
) -> Iterator[str]:
    try:
        with running_hub(name, args, env, read_all=read_all) as url:
            yield url
    except HubStartError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def hub_url() -> Iterator[str]:
    """A ``podscope demo --lab node`` hub: the one-node capture lab live as root (the traffic
    these tests expect), else its recording in a loop."""
    yield from _hub("demo-hub", ("demo", "--lab", "node"))


@pytest.fixture(scope="session")
def full_hub_url() -> Iterator[str]:
    """A hub that read the recorded lab once in ``full`` mode (entries with payload previews);
    it has no targeting (a pcap is not live) and a default filter for new tabs."""
    yield from _hub(
        "full-hub",
        ("serve", "--mode", "full", *RECORDED_LAB),
        {"PODSCOPE_DEFAULT_FILTER": FULL_HUB_DEFAULT_FILTER},
        read_all=True,  # the whole recording is in before any test looks at it
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless; per module, because the sync Playwright API keeps an event
    loop running that later asyncio tests must not meet."""
    with sync_playwright() as playwright:
        try:
            launched = launch(playwright)
        except ChromiumMissingError as exc:
            pytest.fail(str(exc))
        yield launched
        launched.close()


@pytest.fixture
def expected_console() -> list[str]:
    """Console messages a test provokes on purpose (substrings), e.g. a refused request."""
    return []


@pytest.fixture
def new_context(browser: Browser, expected_console: list[str]) -> Iterator[ContextFactory]:
    """Make browser contexts (1280x800 unless told); console errors, warnings and uncaught
    exceptions in any of their pages fail the test, unless in ``expected_console``."""
    problems: list[str] = []
    contexts: list[BrowserContext] = []

    def make(width: int = WIDTH, height: int = HEIGHT) -> BrowserContext:
        context = browser.new_context(viewport={"width": width, "height": height})
        context.on(
            "console",
            lambda message: (
                problems.append(f"{message.type}: {message.text}")
                if message.type in ("error", "warning")
                else None
            ),
        )
        context.on("weberror", lambda error: problems.append(f"page error: {error.error}"))
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    assert [p for p in problems if not any(part in p for part in expected_console)] == []


@pytest.fixture
def page(new_context: ContextFactory) -> Page:
    """A fresh tab at 1280x800 in its own context (console problems fail the test)."""
    return new_context().new_page()
