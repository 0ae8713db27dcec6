"""The rtnetlink link table: names, bridges and their ports."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator

import pytest

from capture.sources.links import Link, LinkTable
from lab.topology import Lab
from tests.capture.livecapture import require_lab


def test_this_namespace_lists_loopback_by_index() -> None:
    table = LinkTable()
    try:
        assert table.name(socket.if_nametoindex("lo")) == "lo"
        assert table.name(2**31 - 1) == ""
        assert {link.name for link in table.links.values()} == {
            name for _, name in socket.if_nameindex()
        }
        assert table.bridge_ports <= set(table.links)
    finally:
        table.close()


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_lab()
    with Lab() as built:
        yield built


@pytest.mark.root
def test_bridges_and_ports_follow_the_namespace(lab: Lab) -> None:
    with lab.inside(lab.node_ns):
        table = LinkTable()  # the socket stays in the node namespace
    try:
        by_name = {link.name: link for link in table.links.values()}
        bridge = by_name["br0"]
        assert bridge.kind == "bridge"
        assert table.bridges == {bridge.index}
        ports = {name for name, link in by_name.items() if link.index in table.bridge_ports}
        assert ports == {f"veth{n}" for n in range(len(lab.pods))}
        assert by_name["uplink"] == Link(by_name["uplink"].index, "uplink", 0, "veth")
        subprocess.run(["ip", "-n", lab.node_ns, "link", "set", "veth0", "nomaster"], check=True)
        table.refresh()
        assert by_name["veth0"].index not in table.bridge_ports
    finally:
        table.close()
