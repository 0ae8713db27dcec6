"""Dedupe: a copy on another interface within the window is a duplicate, nothing else is."""

from __future__ import annotations

from scapy.layers.inet import IP, TCP

from capture.track.dedupe import Deduper, fingerprint
from tests.capture.packets import Conversation, decoded, frame


def test_copy_on_another_interface_within_the_window() -> None:
    dedupe = Deduper(window=0.01)
    packet = decoded(Conversation().c("S"))
    assert not dedupe.is_duplicate(packet, 1.0, "veth1")
    assert dedupe.is_duplicate(packet, 1.0001, "cni0")
    assert not dedupe.is_duplicate(packet, 1.0002, "veth1")  # same interface: a retransmission
    assert not dedupe.is_duplicate(packet, 1.5, "cni0")  # too late to be the same packet


def test_old_fingerprints_are_forgotten() -> None:
    dedupe = Deduper(window=0.01)
    for port in range(100):
        dedupe.is_duplicate(decoded(Conversation(client_port=1000 + port).c("S")), 1.0, "eth0")
    assert len(dedupe) == 100
    dedupe.is_duplicate(decoded(Conversation().c("S")), 2.0, "eth0")
    assert len(dedupe) == 1


def test_fingerprint_ignores_what_a_forwarding_hop_rewrites() -> None:
    segment = TCP(sport=1, dport=2, flags="S")
    before = decoded(frame(IP(src="10.0.0.1", dst="10.0.0.2", ttl=64) / segment))
    after = decoded(frame(IP(src="10.0.0.1", dst="10.0.0.2", ttl=63) / segment))
    other = decoded(frame(IP(src="10.0.0.1", dst="10.0.0.3", ttl=64) / segment))
    assert fingerprint(before) == fingerprint(after)
    assert fingerprint(before) != fingerprint(other)
