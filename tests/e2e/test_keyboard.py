"""The dashboard with the keyboard only: every control reachable with a visible focus ring, the
map's node selection, zoom and filtering, the filter box, presets, the log and its details."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.dashboard import (
    STREAMING,
    WAIT_MS,
    open_dashboard,
    row_attribute,
    row_namespaces,
    screenshot,
    wait_for_rows,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TAB_ORDER = [
    "pause",
    "targeting-edit",
    "query",
    "apply",
    "presets",
    "history",
    "view-connections",
    "view-events",
    "log",
    "level",
    "width",
    "zoom-in",
    "zoom-out",
    "fit",
    "map",
]
FOCUSED = "document.activeElement.id"
RING = """() => {
    const style = getComputedStyle(document.activeElement);
    return style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
}"""
CHOSEN = "window.podscope.cy.nodes('.keyboard').map(node => node.id())"
ZOOM = "window.podscope.cy.zoom()"


def tab_to(page: Page, element_id: str, limit: int = 30) -> None:
    """Press Tab until the element has the focus."""
    for _ in range(limit):
        if page.evaluate(FOCUSED) == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} is not reachable with Tab")


def test_every_control_is_reachable_with_tab_and_shows_a_focus_ring(
    page: Page, hub_url: str
) -> None:
    open_dashboard(page, hub_url)
    expect(page.locator("#targeting-edit")).to_be_visible(timeout=WAIT_MS)
    reached: list[str] = []
    while TAB_ORDER[-1] not in reached and len(reached) <= len(TAB_ORDER):
        page.keyboard.press("Tab")
        reached.append(page.evaluate(FOCUSED))
        assert page.evaluate(RING), f"#{reached[-1]} has no visible focus ring"
    expected = list(TAB_ORDER)
    if "load-older" in reached:  # shown once the hub holds more than the log loaded
        expected.insert(expected.index("view-connections"), "load-older")
    assert reached == expected
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(FOCUSED) == "fit"


def test_the_map_with_the_keyboard(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    page.wait_for_function(
        "window.podscope.cy.getElementById('namespace:payments').nonempty()", timeout=WAIT_MS
    )
    tab_to(page, "query")
    page.keyboard.type("tcp")
    page.keyboard.press("Enter")
    expect(page.locator("#query-state")).to_have_text("showing: tcp", timeout=WAIT_MS)
    # the map of tcp alone: without the address only an ICMP error names (it changes under keys)
    page.wait_for_function(
        "window.podscope.cy.getElementById('unknown:203.0.113.77').empty()", timeout=WAIT_MS
    )
    tab_to(page, "map")
    info = page.locator("#map-info")
    assert page.locator("#map-info").get_attribute("aria-live") == "polite"

    page.keyboard.press("ArrowRight")
    first = page.evaluate(CHOSEN)
    assert len(first) == 1
    expect(info).to_contain_text(" connections")
    # (the map may still be changing to the tcp filter's: the count is read with the text)
    expect(info).to_contain_text(re.compile(r"\(1 of \d+; Enter filters the log\)"))
    page.keyboard.press("ArrowLeft")  # wraps around to the last node, and back
    assert page.evaluate(CHOSEN) != first
    page.keyboard.press("ArrowRight")
    assert page.evaluate(CHOSEN) == first
    for _ in range(page.evaluate("window.podscope.cy.nodes().length")):
        if page.evaluate(CHOSEN) == ["namespace:payments"]:
            break
        page.keyboard.press("ArrowDown")
    assert page.evaluate(CHOSEN) == ["namespace:payments"]
    expect(info).to_contain_text("namespace payments: ")
    screenshot(page, "keyboard-map")

    page.keyboard.press("0")  # fitted now: the map may have grown since it was drawn
    fitted = page.evaluate(ZOOM)
    page.keyboard.press("-")
    assert page.evaluate(ZOOM) < fitted
    page.keyboard.press("+")
    page.keyboard.press("+")
    assert page.evaluate(ZOOM) > fitted
    page.keyboard.press("0")
    assert page.evaluate(ZOOM) == pytest.approx(fitted)

    page.keyboard.press("Enter")
    payments = '(src.namespace == "payments") or (dst.namespace == "payments")'
    expect(page.locator("#query-state")).to_have_text(
        f"showing: (tcp) and ({payments})", timeout=WAIT_MS
    )
    wait_for_rows(page)
    assert set(row_attribute(page, "protocol")) == {"tcp"}
    assert all("payments" in pair for pair in row_namespaces(page))
    assert page.evaluate(FOCUSED) == "map"
    page.keyboard.press("Escape")
    assert page.evaluate(CHOSEN) == []
    expect(info).to_be_empty()


def test_presets_log_and_details_with_the_keyboard(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    tab_to(page, "presets")
    page.keyboard.press("ArrowDown")  # passing over a preset chooses it, does not apply it
    page.keyboard.press("ArrowDown")
    page.wait_for_timeout(500)
    expect(page.locator("#query-state")).to_have_text("showing: everything")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    expect(page.locator("#query-state")).to_have_text(
        'showing: dst.namespace == ""', timeout=WAIT_MS
    )
    wait_for_rows(page)

    tab_to(page, "log")
    page.keyboard.press("ArrowUp")  # the bottom row in view
    details = page.locator("#details")
    expect(details).to_be_visible()
    selected = page.locator("#log-rows .row.selected")
    expect(selected).to_have_count(1)
    expect(selected).to_have_attribute("aria-selected", "true")
    assert page.locator("#log").get_attribute("aria-activedescendant") == selected.get_attribute(
        "id"
    )
    chosen = selected.get_attribute("data-id")
    page.keyboard.press("ArrowUp")
    assert page.locator("#log-rows .row.selected").get_attribute("data-id") != chosen
    page.keyboard.press("Enter")  # into the details pane: its buttons are next with Tab
    assert page.evaluate(FOCUSED) == "details"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert page.evaluate("document.activeElement.className") == "snippet"
    page.keyboard.press("Enter")
    expect(page.locator("#query-state")).to_have_text(
        f'showing: dst.namespace == "" and {focused}', timeout=WAIT_MS
    )
    tab_to(page, "log")
    page.keyboard.press("ArrowDown")
    expect(details).to_be_visible()
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")  # closes the pane and gives the focus back to the log
    expect(details).to_be_hidden()
    assert page.evaluate(FOCUSED) == "log"


def test_pause_and_targeting_editor_with_the_keyboard(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    tab_to(page, "pause")
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_have_text("paused")
    page.keyboard.press("Space")
    expect(page.locator("#status")).to_have_text(STREAMING)
    tab_to(page, "targeting-edit")
    page.keyboard.press("Enter")
    expect(page.locator("#targeting-form")).to_be_visible()
    assert page.evaluate(FOCUSED) == "targeting-regex"
    page.keyboard.press("Escape")
    expect(page.locator("#targeting-form")).to_be_hidden()
    assert page.evaluate(FOCUSED) == "targeting-edit"
