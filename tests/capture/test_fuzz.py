"""Fuzz: random bytes and mutated real frames of every link type never break the pipeline."""

from __future__ import annotations

import random
import struct
import time

import pytest
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_RR
from scapy.layers.inet6 import ICMPv6DestUnreach, IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1Q, Ether, Loopback
from scapy.packet import Packet as ScapyPacket
from scapy.packet import Raw

from capture.pipeline import Pipeline, PipelineConfig
from capture.sources import frames
from contract.schema import Entry, Node

BUDGET_SECONDS = 1.0
SEED = 20261124

OPTIONS = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("WScale", 7)]
SYN = TCP(sport=43122, dport=8080, flags="S", seq=1000, options=OPTIONS)
DNS_ANSWER = UDP(sport=53, dport=5353) / DNS(
    id=7, qr=1, qd=[DNSQR(qname="www.example.com")],
    an=[DNSRR(rrname="www.example.com", type="CNAME", rdata="edge.example.net"),
        DNSRR(rrname="edge.example.net", rdata="93.184.216.34")],
)  # fmt: skip
LAYER3: list[ScapyPacket] = [
    IP(src="10.0.1.5", dst="10.0.2.7") / SYN,
    IP(src="10.0.2.7", dst="10.0.1.5") / TCP(sport=8080, dport=43122, flags="SA", seq=5, ack=1001),
    IP(src="10.0.1.5", dst="10.0.2.7", options=[IPOption_RR()]) / TCP(flags="PA") / Raw(b"x" * 64),
    IP(src="10.0.1.5", dst="10.0.2.7") / TCP(sport=43122, dport=8080, flags="FA", seq=1001),
    IP(src="10.96.0.10", dst="10.0.1.5") / DNS_ANSWER,
    IP(src="10.0.0.1", dst="10.0.1.5") / ICMP(type=3, code=3) / IP(src="10.0.1.5") / UDP(),
    IP(flags="MF") / UDP(sport=1, dport=53) / Raw(b"y" * 40),
    IPv6(src="fd00::1", dst="fd00::2") / IPv6ExtHdrHopByHop() / SYN,
    IPv6(src="fd00::2", dst="fd00::1") / ICMPv6DestUnreach(code=4) / IPv6() / UDP(),
    IPv6() / IPv6ExtHdrFragment(m=1) / UDP(dport=53) / DNS(qd=[DNSQR(qname="a.b")]),
]


def framings(packet: ScapyPacket) -> list[tuple[bytes, int]]:
    """One IP packet under every link type the decoder knows."""
    l3 = bytes(packet)
    ethertype = 0x86DD if l3[0] >> 4 == 6 else 0x0800
    family = 30 if ethertype == 0x86DD else 2
    return [
        (bytes(Ether() / packet), frames.DLT_EN10MB),
        (bytes(Ether() / Dot1Q(vlan=7) / packet), frames.DLT_EN10MB),
        (bytes(CookedLinux(proto=ethertype) / packet), frames.DLT_LINUX_SLL),
        (bytes(CookedLinuxV2(proto=ethertype, ifindex=4) / packet), frames.DLT_LINUX_SLL2),
        (l3, frames.LINKTYPE_RAW),
        (l3, frames.DLT_RAW),
        (bytes(Loopback(type=family) / packet), frames.DLT_NULL),
        (struct.pack("!I", family) + l3, frames.DLT_LOOP),
    ]


CORPUS = [framed for packet in LAYER3 for framed in framings(packet)]
LINKTYPES = sorted({linktype for _, linktype in CORPUS} | {9999})


def mutate(rng: random.Random, data: bytes) -> bytes:
    mutated = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        if choice < 0.5 and mutated:
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        elif choice < 0.7:
            del mutated[rng.randrange(len(mutated) + 1) :]
        elif choice < 0.85:
            mutated += rng.randbytes(rng.randint(1, 40))
        elif len(mutated) > 2:
            position = rng.randrange(len(mutated) - 1)
            mutated[position : position + 2] = rng.choice([b"\x00\x00", b"\xff\xff", b"\x00\x14"])
    return bytes(mutated)


@pytest.mark.parametrize("mode", ["connections", "full"])
def test_fuzzed_frames_never_raise_and_stats_add_up(mode: str) -> None:
    rng = random.Random(SEED)
    pipeline = Pipeline(PipelineConfig(mode=mode, max_connections=50, max_udp_flows=50),  # type: ignore[arg-type]
                        "fuzz", Node("fuzz"))  # fmt: skip
    entries: list[Entry] = []
    now = 1_000.0
    fed = 0
    deadline = time.monotonic() + BUDGET_SECONDS
    while time.monotonic() < deadline:
        for _ in range(200):
            now += rng.random() * 0.5
            if rng.random() < 0.2:
                data, linktype = rng.randbytes(rng.randint(0, 120)), rng.choice(LINKTYPES)
            else:
                data, linktype = rng.choice(CORPUS)
                data = mutate(rng, data) if rng.random() < 0.9 else data
            interface = rng.choice(["", "eth0", "veth1"])
            entries.extend(pipeline.feed(now, data, linktype, interface))
            fed += 1
        entries.extend(pipeline.tick(now))
    entries.extend(pipeline.flush(now + 3600))
    stats = pipeline.stats
    assert stats.packets == fed
    parts = (stats.decoded, stats.malformed, stats.unsupported, stats.fragments, stats.filtered,
             stats.duplicates, stats.nat_copies)  # fmt: skip
    assert stats.packets == sum(parts)
    assert stats.malformed > 0
    assert stats.decoded > 0
    assert stats.entries == len(entries)
    assert stats.connections_open == 0
    for entry in entries:
        assert Entry.from_json(entry.to_json()) == entry
