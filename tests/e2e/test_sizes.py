"""Sizes the worker could not know (connections mode, a connection open before the capture)
read "unknown" in the log, never 0 B."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from tests.e2e.dashboard import WAIT_MS, apply_query, open_dashboard
from tests.e2e.hubprocess import HubStartError, running_hub

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ETHER = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
CLIENT, SERVER = "10.244.1.10", "10.244.1.11"


def capture(path: Path) -> None:
    """A connection seen from its FINs only (open before the capture), then one seen whole."""
    packets = [
        IP(src=SERVER, dst=CLIENT) / TCP(sport=443, dport=51000, flags="FA", seq=9000, ack=7000),
        IP(src=CLIENT, dst=SERVER) / TCP(sport=51000, dport=443, flags="FA", seq=7000, ack=9001),
        IP(src=CLIENT, dst=SERVER) / TCP(sport=40000, dport=80, flags="S", seq=100),
        IP(src=SERVER, dst=CLIENT) / TCP(sport=80, dport=40000, flags="SA", seq=500, ack=101),
        IP(src=CLIENT, dst=SERVER) / TCP(sport=40000, dport=80, flags="FA", seq=111, ack=501),
        IP(src=SERVER, dst=CLIENT) / TCP(sport=80, dport=40000, flags="FA", seq=521, ack=112),
    ]
    frames = []
    for index, packet in enumerate(packets):
        frame = ETHER / packet
        frame.time = 1_700_000_000 + index / 100
        frames.append(frame)
    wrpcap(str(path), frames)


@pytest.fixture(scope="module")
def sizes_hub_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("sizes") / "partial.pcap"
    capture(path)
    try:
        with running_hub("sizes-hub", ("serve", "--read", str(path)), read_all=True) as url:
            yield url
    except HubStartError as exc:
        pytest.fail(str(exc))


def test_unknown_sizes_read_unknown(page: Page, sizes_hub_url: str) -> None:
    open_dashboard(page, sizes_hub_url)
    apply_query(page, 'tcp.event == "close"')
    rows = page.locator("#log-rows .row")
    expect(rows).to_have_count(2, timeout=WAIT_MS)
    partial = rows.filter(has_text="51000")
    whole = rows.filter(has_text="40000")
    expect(partial.locator(".c-bytes")).to_have_text("unknown / unknown")
    expect(whole.locator(".c-bytes")).to_have_text("10 B / 20 B")
