"""The header in a real browser: capture stats, targeting editor, status across a reconnect."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from tests.e2e.dashboard import WAIT_MS, open_dashboard, row_attribute, wait_for_rows

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_capture_stats_are_shown(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    expect(page.locator("#stats")).to_contain_text("entries/s", timeout=WAIT_MS)
    expect(page.locator("#stats")).to_contain_text("kernel drops")


def test_targeting_editor_saves_and_bad_regex_is_refused(
    page: Page, hub_url: str, expected_console: list[str]
) -> None:
    expected_console.append("status of 400 (Bad Request)")
    open_dashboard(page, hub_url)
    summary = page.locator("#targeting")
    expect(summary).to_contain_text("all namespaces", timeout=WAIT_MS)
    page.locator("#targeting-edit").click()
    page.locator("#targeting-regex").fill("(")
    page.locator("#targeting-form button[type=submit]").click()
    expect(page.locator("#targeting-error")).not_to_be_empty()
    expect(summary).to_contain_text("all namespaces")
    page.locator("#targeting-regex").fill("")
    page.locator("#targeting-namespaces").fill("shop, payments")
    page.locator("#targeting-form button[type=submit]").click()
    expect(summary).to_contain_text("namespaces shop, payments")
    expect(page.locator("#targeting-form")).to_be_hidden()
    page.locator("#targeting-edit").click()
    page.locator("#targeting-namespaces").fill("")
    page.locator("#targeting-form button[type=submit]").click()
    expect(summary).to_contain_text("all namespaces")


def test_a_dropped_socket_reconnects_with_the_same_filter(page: Page, hub_url: str) -> None:
    sockets: list[WebSocketRoute] = []

    def relay(socket: WebSocketRoute) -> None:
        socket.connect_to_server()
        sockets.append(socket)

    page.route_web_socket(re.compile(r"/ws/live$"), relay)
    open_dashboard(page, hub_url, "tcp")
    wait_for_rows(page)
    sockets[-1].close(code=1011, reason="test drops the connection")
    expect(page.locator("#status")).to_have_text("reconnecting", timeout=WAIT_MS)
    expect(page.locator("#status")).to_have_text("live", timeout=WAIT_MS)
    assert len(sockets) == 2
    expect(page.locator("#query-state")).to_have_text("showing: tcp", timeout=WAIT_MS)
    wait_for_rows(page)
    assert set(row_attribute(page, "protocol")) == {"tcp"}
