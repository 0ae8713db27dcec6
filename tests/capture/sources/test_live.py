"""The AF_PACKET sniffer in the lab: link types, interfaces, live filter swaps, drops, errors."""

from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
import time

import pytest

from capture.errors import BpfError, InterfaceError
from capture.sources.frames import DLT_EN10MB, LINKTYPE_RAW, Frame
from capture.sources.live import Sniffer
from lab.servers import TcpServer, tcp_exchange
from lab.topology import EXTERNAL_SERVER, GATEWAY, Lab, enter_netns
from tests.capture.livecapture import read_for

pytestmark = pytest.mark.root


def tcp_ports(frame: Frame) -> tuple[int, int]:
    offset = 14 if frame.linktype == DLT_EN10MB else 0
    ihl = (frame.data[offset] & 0x0F) * 4
    sport, dport = struct.unpack_from("!HH", frame.data, offset + ihl)
    return sport, dport


def test_any_sees_every_interface_as_raw_ip(lab: Lab) -> None:
    frontend, api = lab.pod("shop/frontend"), lab.pod("payments/api")
    with lab.inside(lab.node_ns):
        sniffer = Sniffer(["any"], "tcp port 8000", skip_bridge_copies=False).open()
    with sniffer, TcpServer(api.netns, api.ip, 8000, 10):
        before = time.time()
        exchange = tcp_exchange(frontend.netns, api.ip, 8000, 10)
        frames = read_for(sniffer, 0.3)
    mine = [f for f in frames if exchange.local_port in tcp_ports(f)]
    assert mine
    assert {f.linktype for f in mine} == {LINKTYPE_RAW}
    assert all(f.data[0] >> 4 == 4 for f in mine)
    assert {f.interface for f in mine} == {"veth0", "veth2"}  # the two pods' bridge ports
    assert all(before - 1 < f.timestamp < time.time() + 1 for f in mine)
    stats = sniffer.stats()
    assert stats.packets == len(frames)
    assert stats.kernel_drops == 0
    assert stats.bridge_copies_skipped == 0


def syn_interfaces(frames: list[Frame], local_port: int) -> list[str]:
    """Where the client's SYN of one connection was captured."""
    return sorted(
        f.interface
        for f in frames
        if tcp_ports(f)[0] == local_port and f.data[(f.data[0] & 0x0F) * 4 + 13] == 0x02
    )


def test_bridge_copies_are_read_once(lab: Lab) -> None:
    frontend, api = lab.pod("shop/frontend"), lab.pod("payments/api")
    with lab.inside(lab.node_ns):
        sniffer = Sniffer(["any"], "tcp").open()
    with (
        sniffer,
        TcpServer(api.netns, api.ip, 8000, 10),
        TcpServer(lab.node_ns, GATEWAY, 8100, 10),
        TcpServer(lab.ext_ns, EXTERNAL_SERVER, 443, 10),
    ):
        pod_to_pod = tcp_exchange(frontend.netns, api.ip, 8000, 10)
        pod_to_host = tcp_exchange(frontend.netns, GATEWAY, 8100, 10)
        host_to_pod = tcp_exchange(lab.node_ns, api.ip, 8000, 10)
        pod_to_outside = tcp_exchange(frontend.netns, EXTERNAL_SERVER, 443, 10)
        frames = read_for(sniffer, 0.3)
        stats = sniffer.stats()
    assert syn_interfaces(frames, pod_to_pod.local_port) == ["veth0"]
    assert syn_interfaces(frames, pod_to_host.local_port) == ["veth0"]
    assert syn_interfaces(frames, host_to_pod.local_port) == ["br0"]
    assert syn_interfaces(frames, pod_to_outside.local_port) == ["uplink", "veth0"]  # routed
    assert stats.bridge_copies_skipped > 0
    assert stats.link_errors == 0


def test_new_interfaces_are_named(lab: Lab) -> None:
    api = lab.pod("payments/api")
    with lab.inside(lab.node_ns):
        sniffer = Sniffer(["any"], "tcp port 8000").open()
    with sniffer, TcpServer(api.netns, api.ip, 8000, 10):
        netns = f"{lab.node_ns[: -len('node')]}late"
        subprocess.run(["ip", "netns", "add", netns], check=True)
        try:
            commands = [
                ["link", "add", "veth9", "type", "veth", "peer", "name", "eth0", "netns", netns],
                ["link", "set", "veth9", "master", "br0", "up"],
            ]
            for command in commands:
                subprocess.run(["ip", "-n", lab.node_ns, *command], check=True)
            for command in (
                ["addr", "add", "10.244.1.99/24", "dev", "eth0"],
                ["link", "set", "eth0", "up"],
            ):
                subprocess.run(["ip", "-n", netns, *command], check=True)
            exchange = tcp_exchange(netns, api.ip, 8000, 10)
            frames = read_for(sniffer, 0.3)
        finally:
            subprocess.run(["ip", "netns", "del", netns], check=True)
    assert syn_interfaces(frames, exchange.local_port) == ["veth9"]


def test_named_interface_keeps_its_ethernet_header(lab: Lab) -> None:
    frontend, api = lab.pod("shop/frontend"), lab.pod("payments/api")
    with lab.inside(lab.node_ns):
        sniffer = Sniffer(["veth0"], "tcp port 8000").open()
    with sniffer, TcpServer(api.netns, api.ip, 8000, 10):
        assert sniffer.linktypes == frozenset({DLT_EN10MB})
        tcp_exchange(frontend.netns, api.ip, 8000, 10)
        frames = read_for(sniffer, 0.3)
    assert frames
    assert {f.linktype for f in frames} == {DLT_EN10MB}
    assert {f.interface for f in frames} == {"veth0"}
    assert all(f.data[12:14] == b"\x08\x00" for f in frames)


def test_filter_is_replaced_on_the_open_sockets(lab: Lab) -> None:
    frontend, api = lab.pod("shop/frontend"), lab.pod("payments/api")
    with lab.inside(lab.node_ns):
        sniffer = Sniffer(["any"], "tcp port 8000").open()
    with sniffer, TcpServer(api.netns, api.ip, 8001, 10):
        tcp_exchange(frontend.netns, api.ip, 8001, 10)
        assert read_for(sniffer, 0.3) == []
        sniffer.set_filter("tcp port 8001")
        exchange = tcp_exchange(frontend.netns, api.ip, 8001, 10)
        frames = read_for(sniffer, 0.3)
        with pytest.raises(BpfError):
            sniffer.set_filter("tcp port")
        assert sniffer.expression == "tcp port 8001"
        tcp_exchange(frontend.netns, api.ip, 8001, 10)
        still = read_for(sniffer, 0.3)
    assert frames
    assert all(exchange.local_port in tcp_ports(f) for f in frames)
    assert still
    assert sniffer.stats().filter_changes == 1


def test_loopback_outgoing_copies_are_skipped(lab: Lab) -> None:
    pod = lab.pod("monitoring/prom")
    with lab.inside(pod.netns):
        sniffer = Sniffer(["any"], "tcp port 9090").open()
    with sniffer, TcpServer(pod.netns, "127.0.0.1", 9090, 10):
        exchange = tcp_exchange(pod.netns, "127.0.0.1", 9090, 10)
        frames = read_for(sniffer, 0.3)
    syns = [f for f in frames if tcp_ports(f) == (exchange.local_port, 9090) and f.data[33] == 2]
    assert len(syns) == 1
    assert sniffer.stats().loopback_outgoing_skipped == len(frames)


def test_kernel_drops_are_counted(lab: Lab) -> None:
    frontend, api = lab.pod("shop/frontend"), lab.pod("payments/api")
    with lab.inside(lab.node_ns):
        sniffer = Sniffer(["veth0"], "udp port 7777", buffer_bytes=4096).open()
    with sniffer:
        with enter_netns(frontend.netns):
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sender:
            for _ in range(2000):
                sender.sendto(b"d" * 200, (api.ip, 7777))
        frames = read_for(sniffer, 0.3)
        stats = sniffer.stats()
    assert stats.kernel_drops > 0
    assert stats.packets == len(frames) < 2000
    assert stats.kernel_packets == 2000


def test_missing_interface_is_a_clear_error(lab: Lab) -> None:
    with lab.inside(lab.node_ns), pytest.raises(InterfaceError, match="no such interface 'eth9'"):
        Sniffer(["eth9"]).open()


@pytest.mark.parametrize(
    ("interfaces", "message"),
    [((), "no interface"), (("any", "veth0"), "alone"), (("a" * 20,), "invalid")],
)
def test_unusable_interface_lists(lab: Lab, interfaces: tuple[str, ...], message: str) -> None:
    with lab.inside(lab.node_ns), pytest.raises(InterfaceError, match=message):
        Sniffer(interfaces).open()


def test_bad_filter_fails_open_and_leaves_nothing_open(lab: Lab) -> None:
    with lab.inside(lab.node_ns):
        sniffer = Sniffer(["veth0", "veth1"], "port 99999")
        with pytest.raises(BpfError, match="port"):
            sniffer.open()
    assert sniffer.linktypes == frozenset()


def test_interface_down_is_counted_and_removal_is_an_error(lab: Lab) -> None:
    frontend, api = lab.pod("shop/frontend"), lab.pod("payments/api")
    with lab.inside(lab.node_ns):
        sniffer = Sniffer(["veth0"], "tcp port 8000").open()

    def link(*args: str) -> None:
        subprocess.run(lab.command(lab.node_ns, ["ip", "link", *args]), check=True)

    with sniffer, TcpServer(api.netns, api.ip, 8000, 5):
        link("set", "veth0", "down")
        assert read_for(sniffer, 0.2) == []
        assert sniffer.stats().interface_down == 1
        link("set", "veth0", "up")
        deadline = time.monotonic() + 10
        frames: list[Frame] = []
        while not frames and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                tcp_exchange(frontend.netns, api.ip, 8000, 5, timeout=1.0)
            frames = read_for(sniffer, 0.2)
        assert frames, "capture resumes when the interface is up again"
        link("del", "veth0")
        with pytest.raises(InterfaceError, match="no such interface 'veth0'"):
            read_for(sniffer, 0.3)


def test_ring_blocks_are_reused_in_order(lab: Lab) -> None:
    frontend, api = lab.pod("shop/frontend"), lab.pod("payments/api")
    with lab.inside(lab.node_ns):
        sniffer = Sniffer(["veth0"], "udp port 7777", buffer_bytes=4 * 2**20).open()
    received: list[int] = []
    with sniffer:
        with enter_netns(frontend.netns):
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sender:
            for round_number in range(40):  # each round retires at least one of the 4 blocks
                for index in range(25):
                    sender.sendto(struct.pack("!I", round_number * 25 + index), (api.ip, 7777))
                frames = read_for(sniffer, 0.03)
                received += [struct.unpack_from("!I", f.data, 14 + 28)[0] for f in frames]
        received += [struct.unpack_from("!I", f.data, 14 + 28)[0] for f in read_for(sniffer, 0.1)]
        assert sniffer.stats().kernel_drops == 0
    assert received == list(range(1000))
