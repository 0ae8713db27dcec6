"""Page helpers for the e2e tests: apply a query, read the log rows and the map."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.hubprocess import ARTIFACTS

WAIT_MS = 15_000
STREAMING = re.compile(r"^(live|replay)$")


def open_dashboard(page: Page, url: str, query: str = "") -> None:
    """Load the dashboard (with ``?q=`` when given) and wait until it streams (live, or a
    replay of a recording)."""
    page.goto(url + (f"/?q={query}" if query else "/"))
    expect(page.locator("#status")).to_have_text(STREAMING, timeout=WAIT_MS)


def apply_query(page: Page, query: str) -> None:
    """Type a query, press Enter, and wait until the hub accepted it and rows came."""
    page.locator("#query").fill(query)
    page.locator("#query").press("Enter")
    expect(page.locator("#query-state")).to_have_text(f"showing: {query}", timeout=WAIT_MS)
    wait_for_rows(page)


def wait_for_rows(page: Page) -> None:
    """Wait until the log shows at least one row."""
    expect(page.locator("#log-rows .row").first).to_be_visible(timeout=WAIT_MS)


def row_attribute(page: Page, name: str) -> list[str]:
    """One data attribute of every rendered log row."""
    values: list[str] = page.locator("#log-rows .row").evaluate_all(
        f"rows => rows.map(row => row.dataset.{name})"
    )
    return values


def row_namespaces(page: Page) -> list[tuple[str, str]]:
    """(source, destination) namespace of every rendered row, read in one go (the log redraws
    every 100 ms while following the tail, so two separate reads may see different rows)."""
    pairs: list[list[str]] = page.locator("#log-rows .row").evaluate_all(
        "rows => rows.map(row => [row.dataset.srcNamespace, row.dataset.dstNamespace])"
    )
    return [(source, destination) for source, destination in pairs]


def map_nodes(page: Page) -> list[dict[str, Any]]:
    """The data of every node drawn on the map."""
    nodes: list[dict[str, Any]] = page.evaluate(
        "window.podscope.cy.nodes().map(node => node.data())"
    )
    return nodes


def click_map_node(page: Page, node_id: str) -> None:
    """Click one map node where cytoscape drew it."""
    position = page.evaluate(
        "id => window.podscope.cy.getElementById(id).renderedPosition()", node_id
    )
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + position["x"], box["y"] + position["y"])


def screenshot(page: Page, name: str) -> None:
    """Save a PNG of the page under artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"e2e-{name}.png"))
