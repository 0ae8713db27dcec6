"""The live log in a real browser: click-to-filter, details, follow-tail, autocomplete, presets."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.dashboard import (
    WAIT_MS,
    apply_query,
    open_dashboard,
    row_attribute,
    screenshot,
    wait_for_rows,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_clicking_a_value_adds_it_to_the_filter(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    apply_query(page, "tcp")
    value = page.evaluate(
        """() => {  // read and click in one step: the tail moves between two steps
            const cell = document.querySelector('#log-rows .row .v[data-field="src.namespace"]');
            cell.click();
            return cell.textContent;
        }"""
    )
    expected = f'tcp and src.namespace == "{value}"'
    expect(page.locator("#query-state")).to_have_text(f"showing: {expected}", timeout=WAIT_MS)
    wait_for_rows(page)
    assert set(row_attribute(page, "srcNamespace")) == {value}
    assert set(row_attribute(page, "protocol")) == {"tcp"}


def test_row_details_show_every_field_with_its_filter(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    apply_query(page, "tcp")
    page.locator("#log-rows .row .c-time").first.click()
    details = page.locator("#details")
    expect(details).to_be_visible()
    fields = details.locator("tr td:first-child").all_inner_texts()
    for path in ("id", "timestamp", "protocol.name", "src.ip", "dst.port", "tcp.event"):
        assert path in fields
    screenshot(page, "details")
    details.locator("button.snippet", has_text="protocol.name").click()
    expect(page.locator("#query-state")).to_have_text(
        'showing: tcp and protocol.name == "tcp"', timeout=WAIT_MS
    )


def test_scrolling_up_stops_following_until_jump(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    page.wait_for_function("window.podscope.rows() > 80", timeout=30_000)
    log = page.locator("#log")
    # the log has drawn those rows and followed them down (before that, it has nothing to scroll)
    page.wait_for_function(
        "() => document.querySelector('#log').scrollTop > 22 * 40", timeout=WAIT_MS
    )
    jump = page.locator("#jump")
    expect(jump).to_be_hidden()
    log.evaluate("element => { element.scrollTop = 0; }")
    expect(jump).to_be_visible()
    first = page.locator("#log-rows .row").first.get_attribute("data-id")
    received = page.evaluate("window.podscope.received")
    page.wait_for_function(f"window.podscope.received > {received}", timeout=WAIT_MS)
    assert log.evaluate("element => element.scrollTop") < 22 * 5
    assert page.locator("#log-rows .row").first.get_attribute("data-id") == first
    jump.click()
    expect(jump).to_be_hidden()
    at_bottom = "e => e.scrollTop + e.clientHeight >= e.scrollHeight - 22"
    assert log.evaluate(at_bottom)


def test_autocomplete_completes_field_names(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    box = page.locator("#query")
    box.press_sequentially("dst.names")
    suggestion = page.locator("#suggest li", has_text="dst.namespace")
    expect(suggestion).to_be_visible()
    box.press("Tab")
    expect(box).to_have_value("dst.namespace")
    expect(page.locator("#suggest")).to_be_hidden()


def test_presets_and_history_apply_queries(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    page.locator("#presets").select_option(label="Cluster → external")
    expect(page.locator("#query-state")).to_have_text('showing: dst.namespace == ""')
    apply_query(page, "dns")
    page.locator("#history").select_option('dst.namespace == ""')
    expect(page.locator("#query-state")).to_have_text('showing: dst.namespace == ""')
    wait_for_rows(page)
    assert set(row_attribute(page, "dstNamespace")) == {""}


def test_details_show_the_payload_as_a_hex_dump(page: Page, full_hub_url: str) -> None:
    open_dashboard(page, full_hub_url, 'payload.request != ""')
    wait_for_rows(page)
    page.locator("#log-rows .row .c-time").first.click()
    dumps = page.locator("#details pre.hex")
    expect(dumps).to_have_count(2)
    request = dumps.first.inner_text()
    assert request.startswith("00000000  71 71 71 71 71 71 71 71 71 71 71 71 71 71 71 71  qqqq")
    assert page.locator("#details h4").all_inner_texts() == ["request payload", "response payload"]
    screenshot(page, "details-payload")


def test_a_row_pressed_while_new_rows_arrive_still_opens_its_details(
    page: Page, hub_url: str
) -> None:
    open_dashboard(page, hub_url)
    apply_query(page, "tcp")
    received = page.evaluate("window.podscope.received")
    box = page.evaluate(  # in one step: a locator's element can be redrawn before it is measured
        """() => {
            const rect = [...document.querySelectorAll('#log-rows .row .c-time')].at(-1)
                .getBoundingClientRect();
            return {x: rect.x, y: rect.y, width: rect.width, height: rect.height};
        }"""
    )
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.wait_for_function(f"window.podscope.received > {received}", timeout=WAIT_MS)
    page.wait_for_timeout(300)  # well past the log's 100 ms tail redraw
    page.mouse.up()
    expect(page.locator("#details")).to_be_visible()


# Animation frames wait until the test runs them, so the test decides when the log redraws.
HELD_FRAMES = """
    window.heldFrames = [];
    window.requestAnimationFrame = (callback) => window.heldFrames.push(callback);
    window.runHeldFrames = () => {
        const callbacks = window.heldFrames.splice(0);
        callbacks.forEach((callback) => callback(performance.now()));
    };
"""


def test_a_scroll_before_the_redraw_draws_no_row_past_the_end_of_the_log(
    page: Page, hub_url: str
) -> None:
    page.add_init_script(HELD_FRAMES)
    page.goto(hub_url + "/?q=tcp")
    # polled on a timer: Playwright's default polling waits for animation frames
    page.wait_for_function("window.podscope.received > 0", polling=50, timeout=WAIT_MS)
    page.evaluate("window.runHeldFrames()")  # the log draws what arrived, at its tail
    received = page.evaluate("window.podscope.received")
    page.wait_for_function(f"window.podscope.received > {received}", polling=50, timeout=WAIT_MS)
    overhang = page.evaluate(  # new rows, not redrawn yet; a scroll event comes first
        """() => {
            document.querySelector('#log').dispatchEvent(new Event('scroll'));
            const end = document.querySelector('#log-spacer').getBoundingClientRect().bottom;
            const last = document.querySelector('#log-rows .row:last-child');
            return last.getBoundingClientRect().bottom - end;
        }"""
    )
    assert overhang <= 0
