"""The header in a real browser: capture stats, targeting (editor, pods left out, absent on a
pcap hub), the hub's default filter, status across a reconnect."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from tests.e2e.conftest import FULL_HUB_DEFAULT_FILTER, ContextFactory
from tests.e2e.dashboard import (
    STREAMING,
    WAIT_MS,
    open_dashboard,
    row_attribute,
    screenshot,
    wait_for_rows,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_capture_stats_are_shown(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    expect(page.locator("#stats")).to_contain_text("entries/s", timeout=WAIT_MS)
    expect(page.locator("#stats")).to_contain_text("kernel drops")
    expect(page.locator("#stats")).to_contain_text("lost 0")  # entries the hub never got


def test_targeting_editor_saves_and_bad_regex_is_refused(
    page: Page, hub_url: str, expected_console: list[str]
) -> None:
    expected_console.append("status of 400 (Bad Request)")
    open_dashboard(page, hub_url)
    summary = page.locator("#targeting")
    not_targeted = page.locator("#not-targeted")
    everything = re.compile(r"^targeting \d+ pods in all namespaces$")
    expect(summary).to_have_text(everything, timeout=WAIT_MS)
    expect(not_targeted).to_be_empty()
    page.locator("#targeting-edit").click()
    page.locator("#targeting-regex").fill("(")
    page.locator("#targeting-form button[type=submit]").click()
    expect(page.locator("#targeting-error")).not_to_be_empty()
    expect(summary).to_contain_text("all namespaces")
    page.locator("#targeting-regex").fill("")
    page.locator("#targeting-namespaces").fill("shop, payments")
    page.locator("#targeting-form button[type=submit]").click()
    expect(summary).to_have_text(re.compile(r"^targeting \d+ pods in namespaces shop, payments$"))
    expect(not_targeted).to_have_text(
        re.compile(r"^\d+ pods? not targeted \(kube-system, monitoring\)$")
    )
    expect(page.locator("#targeting-form")).to_be_hidden()
    screenshot(page, "targeting")
    page.locator("#targeting-edit").click()
    page.locator("#targeting-namespaces").fill("")
    page.locator("#targeting-form button[type=submit]").click()
    expect(summary).to_contain_text("all namespaces")
    expect(not_targeted).to_be_empty()


def test_targeting_shown_in_another_tab_follows_a_change(
    new_context: ContextFactory, page: Page, hub_url: str
) -> None:
    other = new_context().new_page()
    open_dashboard(page, hub_url)
    open_dashboard(other, hub_url)
    page.locator("#targeting-edit").click()
    page.locator("#targeting-form #targeting-excluded").fill("monitoring")
    page.locator("#targeting-form #targeting-excluded").press("Enter")
    try:
        expect(other.locator("#targeting")).to_contain_text("except monitoring", timeout=WAIT_MS)
        expect(other.locator("#not-targeted")).to_contain_text("not targeted (monitoring)")
    finally:  # the hub is shared with the other tests: target everything again
        page.locator("#targeting-edit").click()
        page.locator("#targeting-excluded").fill("")
        page.locator("#targeting-excluded").press("Enter")
        expect(page.locator("#targeting")).to_contain_text("in all namespaces")


def test_a_hub_without_targeting_is_never_asked_for_it_and_applies_its_default_filter(
    page: Page, full_hub_url: str
) -> None:
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    open_dashboard(page, full_hub_url)
    expect(page.locator("#query")).to_have_value(FULL_HUB_DEFAULT_FILTER)
    expect(page.locator("#query-state")).to_have_text(f"showing: {FULL_HUB_DEFAULT_FILTER}")
    wait_for_rows(page)
    assert set(row_attribute(page, "protocol")) == {"tcp"}
    assert f"q={FULL_HUB_DEFAULT_FILTER}" in page.url
    expect(page.locator("#targeting-edit")).to_be_hidden()
    expect(page.locator("#targeting")).to_be_empty()
    page.wait_for_timeout(2500)  # past the first stats message
    assert not [url for url in asked if "/api/targeting" in url]


def test_a_query_in_the_url_wins_over_the_default_filter(page: Page, full_hub_url: str) -> None:
    open_dashboard(page, full_hub_url, "dns")
    expect(page.locator("#query-state")).to_have_text("showing: dns", timeout=WAIT_MS)
    wait_for_rows(page)
    assert set(row_attribute(page, "protocol")) == {"dns"}
    page.locator("#query").fill("")
    page.locator("#query").press("Enter")  # everything: the URL keeps an empty ?q=
    expect(page.locator("#query-state")).to_have_text("showing: everything", timeout=WAIT_MS)
    page.reload()
    expect(page.locator("#query-state")).to_have_text("showing: everything", timeout=WAIT_MS)
    expect(page.locator("#query")).to_have_value("")


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
    expect(page.locator("#status")).to_have_text(STREAMING, timeout=WAIT_MS)
    assert len(sockets) == 2
    expect(page.locator("#query-state")).to_have_text("showing: tcp", timeout=WAIT_MS)
    wait_for_rows(page)
    assert set(row_attribute(page, "protocol")) == {"tcp"}
