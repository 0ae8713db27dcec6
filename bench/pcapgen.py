"""Write a synthetic Ethernet pcap of N packets, fast (struct, no scapy objects).

Traffic mix, in time order: many short TCP connections (handshake with options, a request, a
1-3 segment response, FIN both ways; a few refused, timed-out or reset ones), a few bulk
transfers running throughout (1448-byte segments, an ACK every second segment), and DNS
query/answer pairs (one per ``DNS_EVERY`` short connections). Like pods in a cluster, clients
come from a pool of ``CLIENT_POOL`` addresses and servers from ``SERVER_POOL`` (each with one of
a few service ports); client ports are random ephemeral ones. Checksums are left zero.

Usage: python -m bench.pcapgen OUT.pcap [PACKETS]
"""

from __future__ import annotations

import random
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
MSS = 1448
DNS_EVERY = 40
BULK_FLOWS = 4
CLIENT_POOL = 2000
SERVER_POOL = 300
BATCH_CONNECTIONS = 32
BATCH_SECONDS = 0.05
SYN_OPTIONS = b"\x02\x04\x05\xb4\x04\x02\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x00\x01\x03\x03\x07"
ETHERNET = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
RESOLVER = bytes([10, 96, 0, 10])
SERVICE_PORTS = (80, 443, 8080, 5432, 6379, 9090)

_IP = struct.Struct("!BBHHHBBH4s4s")
_TCP = struct.Struct("!HHIIBBHHH")
_UDP = struct.Struct("!HHHH")
_RECORD = struct.Struct("<IIII")
_ZEROS = bytes(65536)


@dataclass
class Mix:
    """How many packets of each kind were written."""

    packets: int = 0
    short_connections: int = 0
    bulk_packets: int = 0
    dns_pairs: int = 0


def tcp_frame(
    src: bytes, dst: bytes, ports: tuple[int, int], seq: int, ack: int, flags: int, size: int = 0
) -> bytes:
    """An Ethernet/IPv4/TCP frame with ``size`` zero bytes of payload (SYNs carry options)."""
    options = SYN_OPTIONS if flags & SYN else b""
    header_len = 20 + len(options)
    ip = _IP.pack(0x45, 0, 20 + header_len + size, 0, 0x4000, 64, 6, 0, src, dst)
    tcp = _TCP.pack(ports[0], ports[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                    (header_len // 4) << 4, flags, 65535, 0, 0)  # fmt: skip
    return ETHERNET + ip + tcp + options + _ZEROS[:size]


def udp_frame(src: bytes, dst: bytes, ports: tuple[int, int], payload: bytes) -> bytes:
    """An Ethernet/IPv4/UDP frame."""
    ip = _IP.pack(0x45, 0, 28 + len(payload), 0, 0x4000, 64, 17, 0, src, dst)
    return ETHERNET + ip + _UDP.pack(ports[0], ports[1], 8 + len(payload), 0) + payload


def dns_message(query_id: int, name: str, address: bytes | None) -> bytes:
    """A DNS query (``address`` None) or its A answer, in wire format."""
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.split(".")) + b"\0"
    question = labels + b"\x00\x01\x00\x01"
    if address is None:
        return struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + question
    answer = b"\xc0\x0c\x00\x01\x00\x01" + struct.pack("!IH", 30, 4) + address
    return struct.pack("!HHHHHH", query_id, 0x8180, 1, 1, 0, 0) + question + answer


def _address(rng: random.Random, prefix: int) -> bytes:
    return bytes([10, prefix, rng.randrange(256), rng.randrange(1, 255)])


def _short_connection(
    rng: random.Random, t: float, pools: tuple[list[bytes], list[bytes]]
) -> Iterator[tuple[float, bytes]]:
    client, server = rng.choice(pools[0]), rng.choice(pools[1])
    forward = (rng.randrange(32768, 61000), rng.choice(SERVICE_PORTS))
    backward = (forward[1], forward[0])
    rtt = rng.uniform(0.0002, 0.002)
    isn, server_isn = rng.getrandbits(32), rng.getrandbits(32)
    kind = rng.random()
    yield t, tcp_frame(client, server, forward, isn, 0, SYN)
    if kind < 0.03:
        yield t + rtt, tcp_frame(server, client, backward, 0, isn + 1, RST | ACK)
        return
    if kind < 0.05:
        yield t + 1, tcp_frame(client, server, forward, isn, 0, SYN)
        return
    yield t + rtt, tcp_frame(server, client, backward, server_isn, isn + 1, SYN | ACK)
    request, response = rng.randrange(80, 900), rng.randrange(200, 4000)
    c_seq, s_seq = isn + 1, server_isn + 1
    t += 2 * rtt
    yield t, tcp_frame(client, server, forward, c_seq, s_seq, ACK)
    yield t, tcp_frame(client, server, forward, c_seq, s_seq, PSH | ACK, request)
    c_seq += request
    t += rtt + rng.uniform(0.0005, 0.01)
    sent = 0
    while sent < response:
        size = min(MSS, response - sent)
        yield t, tcp_frame(server, client, backward, s_seq + sent, c_seq, PSH | ACK, size)
        sent += size
    s_seq += response
    t += rtt
    yield t, tcp_frame(client, server, forward, c_seq, s_seq, ACK)
    if kind < 0.07:
        yield t + rtt, tcp_frame(server, client, backward, s_seq, c_seq, RST | ACK)
        return
    yield t, tcp_frame(client, server, forward, c_seq, s_seq, FIN | ACK)
    yield t + rtt, tcp_frame(server, client, backward, s_seq, c_seq + 1, FIN | ACK)
    yield t + 2 * rtt, tcp_frame(client, server, forward, c_seq + 1, s_seq + 1, ACK)


class _Bulk:
    """One long transfer: data from server to client, an ACK every second segment."""

    def __init__(self, rng: random.Random, index: int) -> None:
        self.client, self.server = _address(rng, 1), _address(rng, 3)
        self.forward = (40000 + index, 9000)
        self.seq, self.ack = rng.getrandbits(32), rng.getrandbits(32)
        self.segments = 0

    def packets(self, t: float, count: int, span: float) -> Iterator[tuple[float, bytes]]:
        backward = (self.forward[1], self.forward[0])
        for index in range(count):
            at = t + span * index / count
            yield at, tcp_frame(self.server, self.client, backward, self.seq, self.ack, ACK, MSS)
            self.seq += MSS
            self.segments += 1
            if self.segments % 2 == 0:
                yield at, tcp_frame(self.client, self.server, self.forward, self.ack, self.seq, ACK)


def generate(path: str, packets: int, seed: int = 7) -> Mix:
    """Write ``packets`` packets (a little more, whole connections) to ``path``; return the mix."""
    rng = random.Random(seed)
    bulks = [_Bulk(rng, index) for index in range(BULK_FLOWS)]
    names = [f"svc{index}.example.com" for index in range(200)]
    pools = (
        [_address(rng, 1) for _ in range(CLIENT_POOL)],
        [_address(rng, 2) for _ in range(SERVER_POOL)],
    )
    mix = Mix()
    t = 1_700_000_000.0
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        carried: list[tuple[float, bytes]] = []
        while mix.packets < packets:
            batch, carried = carried, []
            for _ in range(BATCH_CONNECTIONS):
                start = t + rng.uniform(0, BATCH_SECONDS)
                batch.extend(_short_connection(rng, start, pools))
                mix.short_connections += 1
                if mix.short_connections % DNS_EVERY == 0:
                    batch.extend(_dns_pair(rng, start, names, pools[0]))
                    mix.dns_pairs += 1
            bulk_count = BATCH_CONNECTIONS * 10 // (2 * BULK_FLOWS)
            for bulk in bulks:
                before = len(batch)
                batch.extend(bulk.packets(t, bulk_count, BATCH_SECONDS))
                mix.bulk_packets += len(batch) - before
            batch.sort(key=lambda item: item[0])
            t += BATCH_SECONDS
            for at, frame in batch:
                if at >= t:  # belongs to a later batch: keeps the file in time order
                    carried.append((at, frame))
                    continue
                seconds = int(at)
                micros = int((at - seconds) * 1e6)
                out.write(_RECORD.pack(seconds, micros, len(frame), len(frame)) + frame)
                mix.packets += 1
    return mix


def _dns_pair(
    rng: random.Random, t: float, names: list[str], clients: list[bytes]
) -> Iterator[tuple[float, bytes]]:
    client = rng.choice(clients)
    forward = (rng.randrange(32768, 61000), 53)
    query_id = rng.randrange(65536)
    name = rng.choice(names)
    answer = bytes([93, 184, rng.randrange(256), rng.randrange(1, 255)])
    yield t - 0.001, udp_frame(client, RESOLVER, forward, dns_message(query_id, name, None))
    yield (
        t - 0.0005,
        udp_frame(RESOLVER, client, (53, forward[0]), dns_message(query_id, name, answer)),
    )


def main(argv: list[str]) -> None:
    """Command line: OUT.pcap [PACKETS]."""
    if len(argv) < 2:
        sys.exit(__doc__)
    count = int(argv[2]) if len(argv) > 2 else 1_000_000
    mix = generate(argv[1], count)
    print(f"wrote {mix.packets} packets to {argv[1]}: {mix}")


if __name__ == "__main__":
    main(sys.argv)
