"""The log as a list of connections in a real browser: a connection is one row updated in place,
its events in the details, an events view one click away; times in words."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.dashboard import STREAMING, WAIT_MS, apply_query, open_dashboard
from tests.e2e.fakelive import FakeLive, tcp

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CONNECTION = "w1/1764000000000/10.244.1.10:41000-10.244.2.20:8080"


def test_a_connection_is_one_row_that_updates_in_place(page: Page, hub_url: str) -> None:
    live = FakeLive(page, matched=2)
    page.goto(hub_url + "/?q=tcp")
    expect(page.locator("#status")).to_have_text(STREAMING, timeout=WAIT_MS)
    expect(page.locator("#query-state")).to_have_text("showing: tcp", timeout=WAIT_MS)
    live.entries([tcp(1, "connect", CONNECTION)])
    rows = page.locator("#log-rows .row")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".c-event")).to_have_text("open")
    expect(rows.first.locator(".c-bytes")).to_have_text("")  # not known while it is open
    rows.first.locator(".c-time").click()
    expect(page.locator("#details")).to_be_visible()

    live.entries([tcp(2, "close", CONNECTION)])
    expect(rows).to_have_count(1)  # the same row, now closed
    expect(rows.first.locator(".c-event")).to_have_text("closed")
    expect(rows.first.locator(".c-bytes")).to_have_text("300 B / 2.0 KB")
    expect(rows.first).to_have_attribute("data-events", "2")
    expect(page.locator("#log-count")).to_contain_text("(1 row)")
    # the details follow the row: its events, oldest first
    events = page.locator("#details table.events tr")
    expect(events).to_have_count(2)
    assert [events.nth(i).locator("td").nth(1).inner_text() for i in range(2)] == [
        "connect",
        "close",
    ]

    live.entries([tcp(3, "refused", "w1/1764000000100/10.244.1.10:41001-10.244.2.20:8080")])
    expect(rows).to_have_count(2)
    page.locator("#view-events").click()  # one click: every entry its own row
    expect(rows).to_have_count(3)
    assert [rows.nth(i).locator(".c-event").inner_text() for i in range(3)] == [
        "connect",
        "close",
        "refused",
    ]
    page.locator("#view-connections").click()
    expect(rows).to_have_count(2)


def test_times_in_the_details_are_in_words_with_the_epoch_as_a_snippet(
    page: Page, hub_url: str
) -> None:
    live = FakeLive(page, matched=1)
    page.goto(hub_url + "/?q=tcp")
    expect(page.locator("#query-state")).to_have_text("showing: tcp", timeout=WAIT_MS)
    live.entries([tcp(1, "close", CONNECTION)])
    page.locator("#log-rows .row .c-time").first.click()
    timestamp = page.locator("#details table.fields tr", has_text="timestamp")
    value = timestamp.locator("td").nth(1).inner_text()
    assert re.fullmatch(
        r"2025-11-2\d \d\d:\d\d:\d\d\.000 \(\d+ (days|h|min) ago\) = 1764000000000", value
    )
    expect(timestamp.locator("button.snippet")).to_have_text("timestamp == 1764000000000")
    elapsed = page.locator("#details table.fields tr", has_text="elapsedTime")
    expect(elapsed.locator("td").nth(1)).to_have_text("40 ms = 40")


def test_real_connections_are_rows_with_their_events(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    apply_query(page, "tcp and dst.port == 8080")
    page.wait_for_function(
        "[...document.querySelectorAll('#log-rows .row')].some(r => r.dataset.events === '2')",
        timeout=WAIT_MS,
    )
    states = page.locator("#log-rows .row").evaluate_all(
        "rows => rows.map(r => [r.dataset.id, r.querySelector('.c-event').textContent])"
    )
    keys = [key for key, _ in states]
    assert len(keys) == len(set(keys))  # one row per connection
    assert {state for _, state in states} <= {"open", "closed", "reset"}
    assert "closed" in {state for _, state in states}


def test_a_connection_two_nodes_reported_is_one_row_by_its_isn(page: Page, hub_url: str) -> None:
    """The client's node saw the connect, the server's node (behind a SNAT) the close."""
    live = FakeLive(page, matched=2)
    page.goto(hub_url + "/?q=tcp")
    expect(page.locator("#query-state")).to_have_text("showing: tcp", timeout=WAIT_MS)
    isn = {"isn": 123456789, "serverIsn": 987654321}
    connect = tcp(1, "connect", CONNECTION, worker="w1")
    connect["tcp"].update(isn)
    close = tcp(2, "close", "w2/1764000000001/10.244.1.0:21628-10.244.2.20:8080", worker="w2")
    close["tcp"].update(isn)
    close["src"] = {**close["src"], "ip": "10.244.1.0", "port": 21628}
    live.entries([connect, close])
    rows = page.locator("#log-rows .row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-events", "2")
    expect(rows.first.locator(".c-event")).to_have_text("closed")
