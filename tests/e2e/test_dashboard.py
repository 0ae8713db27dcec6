"""The dashboard in a real browser: filters, errors, the URL, the map, pause, separate streams."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ContextFactory
from tests.e2e.dashboard import (
    STREAMING,
    WAIT_MS,
    apply_query,
    click_map_node,
    map_nodes,
    open_dashboard,
    row_attribute,
    row_namespaces,
    screenshot,
    wait_for_rows,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_tcp_shows_only_tcp_rows(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    apply_query(page, "tcp")
    protocols = row_attribute(page, "protocol")
    assert set(protocols) == {"tcp"}
    screenshot(page, "log-tcp")


def test_not_tcp_shows_no_tcp_row(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    apply_query(page, "!tcp")
    protocols = row_attribute(page, "protocol")
    assert protocols, "no rows at all"
    assert "tcp" not in protocols


def test_invalid_query_shows_the_error_at_its_column_and_keeps_the_results(
    page: Page, hub_url: str
) -> None:
    open_dashboard(page, hub_url)
    apply_query(page, "tcp")
    page.locator("#query").fill("tcp and (")
    error = page.locator("#query-error")
    expect(error).to_be_visible(timeout=WAIT_MS)
    expect(error.locator(".error-message")).to_contain_text("line 1, column 10")
    assert error.locator("mark").get_attribute("data-start") == "9"
    page.locator("#query").press("Enter")
    expect(page.locator("#query-state")).to_have_text("still showing: tcp", timeout=WAIT_MS)
    assert "q=tcp" in page.url
    protocols = row_attribute(page, "protocol")
    assert set(protocols) == {"tcp"}
    screenshot(page, "invalid-query")


def test_an_error_after_an_emoji_marks_the_right_span(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    page.locator("#query").fill('dst.name == "😀" and nope')
    error = page.locator("#query-error")
    expect(error).to_be_visible(timeout=WAIT_MS)
    expect(error.locator(".error-message")).to_contain_text("line 1, column 22")
    expect(error.locator("mark")).to_have_text("nope")


def test_a_kfl2_query_filters_the_log(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    apply_query(page, "protocol == 'TCP' && conn_state in ['open', 'closed']")
    protocols = row_attribute(page, "protocol")
    assert set(protocols) == {"tcp"}


def test_the_url_carries_the_query(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    apply_query(page, 'dst.namespace == ""')
    assert re.search(r"[?&]q=dst\.namespace(\+|%20)%3D%3D(\+|%20)%22%22", page.url)
    page.reload()
    expect(page.locator("#query")).to_have_value('dst.namespace == ""')
    expect(page.locator("#query-state")).to_have_text('showing: dst.namespace == ""')
    wait_for_rows(page)
    assert set(row_attribute(page, "dstNamespace")) == {""}


def test_map_shows_the_namespaces_and_the_external_node(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    page.wait_for_function("window.podscope.cy.nodes().length >= 4", timeout=WAIT_MS)
    nodes = {node["id"]: node for node in map_nodes(page)}
    for namespace in ("shop", "payments", "monitoring"):
        assert f"namespace:{namespace}" in nodes
    external = nodes["external:api.example.com"]
    assert external["kind"] == "external"
    assert external["label"] == "api.example.com"
    shape = page.evaluate(
        "window.podscope.cy.getElementById('external:api.example.com').style('shape')"
    )
    assert shape != "ellipse"
    screenshot(page, "map")


def test_clicking_a_map_node_filters_the_log(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    page.wait_for_function(
        "window.podscope.cy.getElementById('namespace:payments').nonempty()", timeout=WAIT_MS
    )
    page.wait_for_timeout(500)
    click_map_node(page, "namespace:payments")
    expected = '(src.namespace == "payments") or (dst.namespace == "payments")'
    expect(page.locator("#query-state")).to_have_text(f"showing: {expected}", timeout=WAIT_MS)
    wait_for_rows(page)
    assert all("payments" in pair for pair in row_namespaces(page))
    screenshot(page, "map-click")


def test_pause_stops_new_rows(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    wait_for_rows(page)
    page.locator("#pause").click()
    expect(page.locator("#status")).to_have_text("paused")
    page.wait_for_timeout(1000)
    received = page.evaluate("window.podscope.received")
    page.wait_for_timeout(3000)
    assert page.evaluate("window.podscope.received") == received
    page.locator("#pause").click()
    expect(page.locator("#status")).to_have_text(STREAMING)
    page.wait_for_function(f"window.podscope.received > {received}", timeout=WAIT_MS)


def test_second_context_with_another_filter_sees_its_own_stream(
    new_context: ContextFactory, page: Page, hub_url: str
) -> None:
    other = new_context(1400, 850).new_page()
    open_dashboard(page, hub_url, "tcp")
    open_dashboard(other, hub_url, "dns")
    wait_for_rows(page)
    wait_for_rows(other)
    page.wait_for_timeout(2000)
    assert set(row_attribute(page, "protocol")) == {"tcp"}
    assert set(row_attribute(other, "protocol")) == {"dns"}
