"""The connectivity map in a real browser: level switch, stable layout, edge width switch."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.e2e.dashboard import WAIT_MS, map_nodes, open_dashboard, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

POSITIONS = "Object.fromEntries(window.podscope.cy.nodes().map(n => [n.id(), n.position()]))"
VERSION = "window.podscope.cy.scratch('version')"


def test_level_switch_draws_workloads_and_pods(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    page.wait_for_function("window.podscope.cy.nodes().length >= 4", timeout=WAIT_MS)
    page.locator("#level").select_option("workload")
    page.wait_for_function(
        "window.podscope.cy.nodes().some(n => n.id().startsWith('workload:shop/'))",
        timeout=WAIT_MS,
    )
    kinds = {node["kind"] for node in map_nodes(page)}
    assert kinds <= {"workload", "external", "node", "service", "unknown"}
    assert "namespace" not in kinds
    screenshot(page, "map-workload")
    page.locator("#level").select_option("pod")
    page.wait_for_function(
        "window.podscope.cy.nodes().some(n => n.data('kind') === 'pod')", timeout=WAIT_MS
    )
    pods = {node["id"] for node in map_nodes(page) if node["kind"] == "pod"}
    workloads = {node["id"] for node in map_nodes(page) if node["kind"] == "workload"}
    # a workload with pods is drawn as its pods (a Service without endpoints stays as it is)
    assert not {w for w in workloads if any(p.startswith(f"pod:{w[9:]}-") for p in pods)}


def test_live_updates_keep_the_nodes_in_place(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    page.wait_for_function("window.podscope.cy.nodes().length >= 4", timeout=WAIT_MS)
    page.wait_for_timeout(3000)
    before = page.evaluate(POSITIONS)
    updates = page.evaluate(VERSION)
    page.wait_for_function(f"{VERSION} > {updates}", timeout=WAIT_MS)
    after = page.evaluate(POSITIONS)
    assert {node: after[node] for node in before if node in after} == {
        node: before[node] for node in before if node in after
    }


def test_edge_width_follows_the_switch(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    page.wait_for_function("window.podscope.cy.edges().length >= 2", timeout=WAIT_MS)
    edge = "window.podscope.cy.getElementById('namespace:shop->external:api.example.com')"
    page.wait_for_function(f"{edge}.nonempty()", timeout=WAIT_MS)
    by_connections = page.evaluate(f"{edge}.data('width')")
    page.locator("#width").select_option("bytes")
    by_bytes = page.evaluate(f"{edge}.data('width')")
    assert by_bytes > by_connections
