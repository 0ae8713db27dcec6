"""UDP flows: counts each way, idle timeout, flush and the flow cap."""

from __future__ import annotations

from scapy.layers.inet import UDP
from scapy.packet import Raw

from capture.track.udp import UdpTracker
from tests.capture.packets import CLIENT, SERVER, decoded, frame, ip


def datagram(src: str, dst: str, ports: tuple[int, int], size: int) -> bytes:
    return frame(ip(src, dst) / UDP(sport=ports[0], dport=ports[1]) / Raw(b"u" * size))


def test_flow_counts_each_way_and_reports_when_idle() -> None:
    udp = UdpTracker(idle_timeout=30.0, max_flows=10)
    udp.packet(1.0, decoded(datagram(CLIENT, SERVER, (4000, 9000), 100)))
    udp.packet(1.5, decoded(datagram(SERVER, CLIENT, (9000, 4000), 250)))
    udp.packet(2.0, decoded(datagram(CLIENT, SERVER, (4000, 9000), 50)))
    assert udp.open_flows == 1
    assert udp.tick(31.5) == []  # idle since 2.0: due at 32.0
    (flow,) = udp.tick(32.0)
    assert (flow.client_port, flow.server_port) == (4000, 9000)
    assert (flow.packets, flow.request_size, flow.response_size) == (3, 150, 250)
    assert flow.response_packets == 1
    assert (flow.start, flow.end) == (1.0, 2.0)
    assert udp.open_flows == 0


def test_flush_reports_open_flows_and_ipv6_works() -> None:
    udp = UdpTracker(idle_timeout=30.0, max_flows=10)
    udp.packet(1.0, decoded(datagram("fd00::1", "fd00::2", (1, 2), 10)))
    (flow,) = udp.flush(5.0)
    assert len(flow.client) == 16
    assert udp.flush(6.0) == []


def test_flow_cap_evicts_and_counts() -> None:
    udp = UdpTracker(idle_timeout=30.0, max_flows=2)
    for port in (1, 2, 3):
        udp.packet(1.0, decoded(datagram(CLIENT, SERVER, (port, 9000), 1)))
    assert (udp.open_flows, udp.evicted) == (2, 1)
