"""Integration: the worker captures live in the namespace lab; exact entries in both modes."""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract.schema import Entry
from lab.scenario import (
    EXTERNAL_EXCHANGE,
    FOUND_NAME,
    MISSING_NAME,
    POD_EXCHANGES,
    run_scenario,
)
from lab.servers import TcpServer, connect_refused, tcp_exchange
from lab.topology import EXTERNAL_SERVER, LAB_PREFIX, UNREACHABLE, Lab, remove_stale_labs
from tests.capture.livecapture import live_capture, require_lab

pytestmark = pytest.mark.root


def netns_names() -> set[str]:
    result = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in result.stdout.splitlines() if line.strip()}


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_lab()
    with Lab() as built:
        yield built


def tcp_entries(entries: list[Entry], port: int, event: str) -> list[Entry]:
    return [e for e in entries if e.tcp is not None and e.tcp.event == event and e.src.port == port]


@pytest.mark.parametrize("mode", ["connections", "full"])
def test_live_capture_reports_exact_entries(lab: Lab, mode: str) -> None:
    frontend, api = lab.pod("shop/frontend"), lab.pod("payments/api")
    with live_capture(lab, mode) as capture:
        run = run_scenario(lab)
        capture.wait_for(
            lambda entries: (
                bool(tcp_entries(entries, run.blackhole_port, "timeout"))
                and bool(tcp_entries(entries, run.external.local_port, "close"))
            )
        )
        entries = capture.sink.snapshot()
        snapshot = capture.worker.snapshot()

    assert run.server_requests == tuple([request] for request, _ in POD_EXCHANGES)
    assert run.dns_queries == (FOUND_NAME, MISSING_NAME)
    assert run.lookups == {
        FOUND_NAME: ("NOERROR", [EXTERNAL_SERVER]),
        MISSING_NAME: ("NXDOMAIN", []),
    }
    for exchange, (request, response) in zip(run.pod_exchanges, POD_EXCHANGES, strict=True):
        assert (exchange.sent, exchange.received) == (request, response)
        closes = tcp_entries(entries, exchange.local_port, "close")
        assert len(closes) == 1, "veth + bridge copies must merge into one connection"
        close = closes[0]
        assert (close.request_size, close.response_size) == (request, response)
        assert (close.src.ip, close.dst.ip) == (frontend.ip, api.ip)
        assert close.outgoing
        assert len(tcp_entries(entries, exchange.local_port, "connect")) == 1
        if mode == "full":
            assert close.packets is not None
            assert close.packets >= 6
        else:
            assert close.packets is None

    assert len(tcp_entries(entries, run.refused_port, "refused")) == 1
    assert len(tcp_entries(entries, run.blackhole_port, "timeout")) == 1

    outside_close = tcp_entries(entries, run.external.local_port, "close")
    assert len(outside_close) == 1
    assert (outside_close[0].request_size, outside_close[0].response_size) == EXTERNAL_EXCHANGE
    assert outside_close[0].dst.name == FOUND_NAME

    answers = [e for e in entries if e.dns is not None]
    by_query = {e.dns.query.rstrip("."): e.dns for e in answers if e.dns is not None}
    assert by_query[FOUND_NAME].answers == (EXTERNAL_SERVER,)
    assert by_query[FOUND_NAME].rcode == "NOERROR"
    assert by_query[MISSING_NAME].rcode == "NXDOMAIN"
    assert len(answers) == 2

    assert run.unreachable_errno == errno.EHOSTUNREACH  # the router's ICMP error arrived
    icmp = [e for e in entries if e.icmp is not None]
    assert len(icmp) == 1
    about = icmp[0].icmp.about if icmp[0].icmp is not None else None
    assert about is not None
    assert (about.src.port, about.dst.ip, about.dst.port) == (run.unreachable_port, UNREACHABLE, 80)

    assert snapshot["sniffer"]["kernelDrops"] == 0
    assert snapshot["pipeline"]["duplicates"] > 0
    assert snapshot["pipeline"]["malformed"] == 0


@pytest.mark.parametrize("mode", ["connections", "full"])
def test_ipv6_connections_are_tracked(lab: Lab, mode: str) -> None:
    frontend, cart = lab.pod("shop/frontend"), lab.pod("shop/cart")
    with live_capture(lab, mode) as capture, TcpServer(cart.netns, cart.ip6, 8080, 65_000):
        exchange = tcp_exchange(frontend.netns, cart.ip6, 8080, 12_345)
        refused = connect_refused(frontend.netns, cart.ip6, 9)
        capture.wait_for(lambda entries: bool(tcp_entries(entries, exchange.local_port, "close")))
        capture.wait_for(lambda entries: bool(tcp_entries(entries, refused, "refused")))
        entries = capture.sink.snapshot()
    closes = tcp_entries(entries, exchange.local_port, "close")
    assert [(e.src.ip, e.dst.ip) for e in closes] == [(frontend.ip6, cart.ip6)]
    assert (closes[0].request_size, closes[0].response_size) == (12_345, 65_000)


def test_lab_pods_are_described_like_kubectl_get_pods(lab: Lab) -> None:
    snapshot = lab.snapshot()
    assert snapshot["kind"] == "List"
    items = {
        (p["metadata"]["namespace"], p["metadata"]["labels"]["app"]): p for p in snapshot["items"]
    }
    frontend = items[("shop", "frontend")]
    assert frontend["status"]["podIP"] == lab.pod("shop/frontend").ip
    assert frontend["status"]["podIPs"][1] == {"ip": lab.pod("shop/frontend").ip6}
    owner = frontend["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "ReplicaSet"
    assert frontend["metadata"]["name"].startswith(owner["name"] + "-")
    assert owner["name"].startswith("frontend-")
    assert {ns for ns, _ in items} == {"shop", "payments", "monitoring", "kube-system"}


def test_teardown_removes_everything_even_when_the_body_fails() -> None:
    require_lab()
    lab = Lab()
    seen: set[str] = set()

    def fail_inside() -> None:
        with lab:
            seen.update(netns_names())
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_inside()
    assert lab.node_ns in seen
    assert not {n for n in netns_names() if n.startswith(f"{LAB_PREFIX}{lab.run_id}")}


def test_stale_labs_of_dead_processes_are_removed() -> None:
    require_lab()
    dead_pid = 4_194_304  # above pid_max's ceiling: no process can have it
    assert not Path(f"/proc/{dead_pid}").exists()
    stale = f"{LAB_PREFIX}{dead_pid}-abcdef-node"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    with Lab() as lab:
        assert stale not in netns_names()
        assert lab.node_ns in netns_names()
    assert remove_stale_labs() == []
