"""A capture on a named interface sees traffic not addressed to it: the bridge a node's pods
talk through, in promiscuous mode while (and only while) the capture runs."""

from __future__ import annotations

import re
import subprocess

import pytest

from capture.sources.live import Sniffer
from lab.servers import TcpServer, tcp_exchange
from lab.topology import Lab
from tests.capture.livecapture import read_for

pytestmark = pytest.mark.root

PORT = 8000


def promiscuity(lab: Lab, interface: str) -> int:
    details = subprocess.run(
        ["ip", "-n", lab.node_ns, "-d", "link", "show", interface],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(r"promiscuity (\d+)", details)
    assert found, details
    return int(found[1])


def test_a_bridge_capture_sees_the_pod_to_pod_traffic_it_forwards(lab: Lab) -> None:
    frontend, api = lab.pod("shop/frontend"), lab.pod("payments/api")
    assert promiscuity(lab, "br0") == 0
    with lab.inside(lab.node_ns):
        sniffer = Sniffer(["br0"], f"tcp port {PORT}").open()
    with sniffer, TcpServer(api.netns, api.ip, PORT, 10):
        tcp_exchange(frontend.netns, api.ip, PORT, 10)  # bridged: never addressed to br0
        frames = read_for(sniffer, 0.5)
        while_open = promiscuity(lab, "br0")
    syns = [f for f in frames if f.data[14 + 20 + 13] & 0x3F == 0x02]
    assert len(syns) == 1, frames
    assert while_open == 1
    assert promiscuity(lab, "br0") == 0  # undone with the socket
