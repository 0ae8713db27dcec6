"""What the dashboard says in a real browser: the facts fit at 1280 px, empty results say so,
how many entries match and are held (older ones on demand), what the header says is (not)
seen, ICMP errors as failed flows and map edges, the presets, edge widths by bytes."""

from __future__ import annotations

import itertools
import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ContextFactory
from tests.e2e.dashboard import (
    WAIT_MS,
    apply_query,
    open_dashboard,
    row_attribute,
    wait_for_rows,
)
from tests.e2e.fakelive import FakeLive

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Per drawn row: is any of the namespace, pod name, port or bytes cut (wider than its box, or
# right of the log's visible part)?
CUT_FACTS = """() => {
    const log = document.querySelector('#log').getBoundingClientRect();
    const cut = [];
    for (const row of document.querySelectorAll('#log-rows .row')) {
        for (const selector of ['.c-src .name', '.c-src .ns', '.c-dst .name', '.c-dst .ns',
                                '.c-port', '.c-bytes']) {
            const cell = row.querySelector(selector);
            if (cell === null || cell.textContent === '') continue;
            const box = cell.getBoundingClientRect();
            if (cell.scrollWidth > cell.clientWidth + 1 || box.right > log.right + 0.5) {
                cut.push(`${selector}: ${cell.textContent}`);
            }
        }
    }
    return cut;
}"""


@pytest.mark.parametrize("width", [1280, 1440, 1920])
def test_namespace_pod_port_and_bytes_are_never_cut(
    new_context: ContextFactory, hub_url: str, width: int
) -> None:
    page = new_context(width=width).new_page()
    open_dashboard(page, hub_url)
    wait_for_rows(page)
    page.wait_for_function("window.podscope.rows() > 20", timeout=WAIT_MS)
    page.wait_for_timeout(300)  # a redraw with the widths of every row
    assert page.evaluate(CUT_FACTS) == []
    assert page.locator("#log-rows .row .ns").count() > 0  # namespaces are shown
    # the full value on hover, where a cell may be cut (the flow's addresses at 1280 px)
    flow = page.locator("#log-rows .row .c-addresses span").first
    title, text = flow.evaluate("cell => [cell.title, cell.textContent]")  # one redraw's
    assert title == text


def test_a_column_can_be_resized_and_fitted_again(page: Page, full_hub_url: str) -> None:
    open_dashboard(page, full_hub_url)  # a recording read once: no new row widens a column
    wait_for_rows(page)
    heading = page.locator("#log-head .c-src")
    before = heading.bounding_box()
    assert before is not None
    grip = heading.locator(".grip").bounding_box()
    assert grip is not None
    y = grip["y"] + grip["height"] / 2
    page.mouse.move(grip["x"] + grip["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(grip["x"] + grip["width"] / 2 + 60, y, steps=4)
    page.mouse.up()
    after = heading.bounding_box()
    assert after is not None
    assert after["width"] == pytest.approx(before["width"] + 60, abs=2)
    cell = page.locator("#log-rows .row .c-src").first.bounding_box()
    assert cell is not None
    assert cell["width"] == pytest.approx(after["width"], abs=1)  # the rows follow the heading
    heading.locator(".grip").dblclick()
    refitted = heading.bounding_box()
    assert refitted is not None
    assert refitted["width"] == pytest.approx(before["width"], abs=2)


def test_empty_results_say_so(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    query = "dns and dst.port == 99"
    page.locator("#query").fill(query)
    page.locator("#query").press("Enter")
    expect(page.locator("#log-empty")).to_have_text(f"no entries match `{query}`", timeout=WAIT_MS)
    expect(page.locator("#map-empty")).to_have_text("nothing to map: no entries match")
    expect(page.locator("#log-count")).to_contain_text("0 match · 0 held")
    apply_query(page, "dns")
    expect(page.locator("#log-empty")).to_be_hidden()
    expect(page.locator("#map-empty")).to_have_text(
        "nothing to map: DNS entries are not connections", timeout=WAIT_MS
    )


def test_the_log_says_how_many_match_and_loads_older_ones(page: Page, full_hub_url: str) -> None:
    query = "tcp and limit(20)"  # the backfill and each older page: 20 entries
    open_dashboard(page, full_hub_url, query)
    wait_for_rows(page)
    count = page.locator("#log-count")
    expect(count).to_have_attribute("data-held", "20", timeout=WAIT_MS)
    matched = int(count.get_attribute("data-matched") or "0")
    assert matched > 60  # the recording's TCP entries: more than three pages
    expect(count).to_contain_text(f"{matched} match · 20 held")
    older = page.locator("#load-older")
    expect(older).to_be_visible()
    newest = row_attribute(page, "entry")[-1]
    older.click()
    expect(count).to_have_attribute("data-held", "40", timeout=WAIT_MS)
    assert page.evaluate("window.podscope.held()") == 40
    while older.is_visible():
        held = int(count.get_attribute("data-held") or "0")
        older.click()
        expect(count).not_to_have_attribute("data-held", str(held), timeout=WAIT_MS)
    expect(count).to_have_attribute("data-held", str(matched))
    expect(count).to_contain_text(f"{matched} match · {matched} held")
    # every page went above the rows held: the newest row is still the last one
    assert page.evaluate("window.podscope.newest()") == newest


def test_a_replay_says_it_is_not_live(page: Page, full_hub_url: str) -> None:
    open_dashboard(page, full_hub_url)
    status = page.locator("#status")
    expect(status).to_have_text("replay")
    assert "not live" in (status.get_attribute("title") or "")
    assert "lab-demo.pcap" in (status.get_attribute("title") or "")
    expect(page.locator("#capture")).to_contain_text("full mode", timeout=WAIT_MS)


def test_the_header_says_what_the_capture_leaves_out_and_each_worker(
    page: Page, hub_url: str
) -> None:
    open_dashboard(page, hub_url)
    expect(page.locator("#capture")).to_have_text(
        "capture: connections mode (no non-DNS UDP, no payloads)", timeout=WAIT_MS
    )
    workers = page.locator("#workers")  # one worker per node of the lab, each up
    expect(workers).to_have_text(re.compile(r"^(worker: \S+ up|\d+ workers: \S+ up(, \S+ up)*)$"))
    assert set((workers.get_attribute("data-states") or "").split()) == {"up"}
    expect(page.locator("#stats")).to_contain_text("connections/s")


def test_lagging_and_gone_workers_and_global_filter_exclusions_are_shown(
    page: Page, hub_url: str
) -> None:
    live = FakeLive(page)
    page.goto(hub_url + "/?q=tcp")
    expect(page.locator("#query-state")).to_have_text("showing: tcp", timeout=WAIT_MS)
    worker = {"mode": "connections", "packets": 0, "kernelDrops": 0, "entriesDropped": 0}
    live.stats(
        {
            "w1": {**worker, "node": "node-a", "age": 2.0},
            "w2": {**worker, "node": "node-b", "age": 40.0},
            "w3": {**worker, "node": "node-c", "age": 300.0},
        },
        excluded=1234,
        query='dst.namespace != "kube-system"',
    )
    expect(page.locator("#workers")).to_have_text(
        "3 workers: node-a up, node-b lagging (last report 40 s ago), "
        "node-c gone (last report 5 min ago)"
    )
    expect(page.locator("#excluded")).to_have_text("global filter excluded 1,234 entries")
    assert "kube-system" in (page.locator("#excluded").get_attribute("title") or "")


ICMP_ROW = re.compile(
    r"^udp 10\.244\.1\.\d+:\d+ -> 203\.0\.113\.77:5353 host unreachable "
    r"\(reported by \d+\.\d+\.\d+\.\d+\)$"
)


def test_an_icmp_error_reads_as_the_failed_flow_and_is_a_failed_edge(
    page: Page, full_hub_url: str
) -> None:
    """The recorded lab: a UDP datagram to an address a router says it cannot reach."""
    open_dashboard(page, full_hub_url)
    apply_query(page, 'icmp and icmp.about.protocol == "udp"')
    row = page.locator("#log-rows .row").last
    expect(row.locator(".c-addresses")).to_have_text(ICMP_ROW)
    expect(row.locator(".c-event")).to_have_text("host unreachable")
    expect(row.locator(".c-port")).to_have_text("5353")
    expect(row.locator(".c-src .ns")).to_have_text("payments")  # the flow's client, named
    expect(row.locator(".c-dst")).to_have_text("203.0.113.77")
    assert "failed" in (row.get_attribute("class") or "")
    failed_edge = "e => e.target().id() === 'unknown:203.0.113.77'"
    page.wait_for_function(
        f"window.podscope.cy.edges('[failed > 0]').some({failed_edge})", timeout=WAIT_MS
    )
    source = page.evaluate(
        "window.podscope.cy.edges().filter(e => e.target().id() === 'unknown:203.0.113.77')"
        "[0].source().id()"
    )
    assert source == "namespace:payments"


def test_presets_answer_the_questions(page: Page, hub_url: str) -> None:
    open_dashboard(page, hub_url)
    page.locator("#presets").select_option(label="Between two namespaces")
    expect(page.locator("#query-state")).to_contain_text(
        '(src.namespace == "shop" and dst.namespace == "payments") or '
        '(src.namespace == "payments" and dst.namespace == "shop")',
        timeout=WAIT_MS,
    )
    wait_for_rows(page)  # the demo's calls go from payments to shop: one way is empty
    page.locator("#presets").select_option(label="Failing connections")
    expect(page.locator("#query-state")).to_contain_text("or icmp", timeout=WAIT_MS)
    page.wait_for_function(
        """() => {
            const rows = [...document.querySelectorAll('#log-rows .row')];
            return rows.some(r => r.dataset.protocol === 'icmp')
                && rows.some(r => r.querySelector('.c-event').textContent === 'refused');
        }""",
        timeout=WAIT_MS,
    )


def test_edge_width_by_bytes_is_a_log_scale_that_tells_edges_apart(
    page: Page, hub_url: str
) -> None:
    open_dashboard(page, hub_url)
    page.locator("#width").select_option("bytes")
    page.wait_for_function("window.podscope.cy.edges().length >= 3", timeout=WAIT_MS)
    page.wait_for_timeout(1500)  # a map update after the switch
    edges = page.evaluate(
        """window.podscope.cy.edges().map(e => [
            e.data('requestBytes') + e.data('responseBytes'), e.data('width')])"""
    )
    amounts = sorted(edges)
    assert len({amount for amount, _ in amounts}) >= 3
    for (small, thin), (big, wide) in itertools.pairwise(amounts):
        if big > small:
            assert wide > thin, edges  # more bytes, a wider edge: never the same width
    assert amounts[0][1] == pytest.approx(1.5)
    assert amounts[-1][1] == pytest.approx(14)
