"""VantageHold: which reports wait for the client's node, for how long, and the bound."""

from __future__ import annotations

import msgspec
import pytest

from contract.schema import Address, Entry, NatInfo, Node
from dashboard.core.ingest.vantage import VantageHold
from tests.dashboard.fakeclock import FakeClock
from tests.dashboard.hubentries import tcp_entry

NODES = {"10.244.1.10": "node-1", "10.244.2.20": "node-2"}


def node_of(ip: str, at_ms: int) -> str:
    """The test cluster: a client pod on each node, anything else outside."""
    return NODES.get(ip, "")


def report(on: str, client: str = "10.244.1.10", *, nat: NatInfo | None = None) -> Entry:
    """A connection's report made by ``on``'s worker."""
    entry = tcp_entry(1, src=(client, 40000), dst=("10.244.2.30", 8080))
    return msgspec.structs.replace(entry, node=Node(on), nat=nat)


def test_only_a_server_nodes_report_of_a_client_with_a_worker_waits() -> None:
    hold: VantageHold[str] = VantageHold(node_of)
    server_side = report("node-2")
    assert not hold.wants(server_side)  # a single reporting node: nothing to wait for
    hold.set_reporting_nodes(["node-1", "node-2", ""])
    assert hold.wants(server_side)
    assert not hold.wants(report("node-1"))  # the client's own node
    assert not hold.wants(report("node-2", nat=NatInfo(dialed=Address("10.96.0.5", 80))))
    assert not hold.wants(report("node-2", client="203.0.113.9"))  # client outside
    hold.set_reporting_nodes(["node-2", "node-3"])
    assert not hold.wants(server_side)  # the client's node has no worker


def test_held_items_fall_due_in_order_after_the_hold() -> None:
    clock = FakeClock()
    hold: VantageHold[str] = VantageHold(node_of, hold_seconds=1.0, clock=clock)
    assert hold.hold("a") == []
    clock.now += 0.4
    hold.hold("b")
    assert hold.due() == []
    clock.now += 0.6
    assert hold.due() == ["a"]
    assert len(hold) == 1
    clock.now += 0.4
    assert hold.due() == ["b"]
    assert (hold.stats.held, hold.stats.early, len(hold)) == (2, 0, 0)


def test_a_full_hold_lets_the_oldest_go_early() -> None:
    hold: VantageHold[int] = VantageHold(node_of, capacity=3, clock=FakeClock())
    early = [item for n in range(5) for item in hold.hold(n)]
    assert early == [0, 1]
    assert (len(hold), hold.stats.early) == (3, 2)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="hold_seconds"):
        VantageHold(node_of, hold_seconds=-1)
    with pytest.raises(ValueError, match="capacity"):
        VantageHold(node_of, capacity=0)
