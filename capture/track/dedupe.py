"""The same packet captured on two interfaces (veth and bridge of one node) counted once.

A packet's fingerprint is its IP header without the fields a forwarding hop rewrites (TTL or hop
limit, IPv4 header checksum) plus its transport header and first payload bytes. A second copy
is one with the same fingerprint seen on a *different* interface within ``window`` seconds: a
TCP retransmission on the same interface is never a duplicate, and a copy arriving on the other
interface later than the window is treated as a new packet.
"""

from __future__ import annotations

from collections import deque

from capture.decode.packets import Packet

_PAYLOAD_BYTES = 16


def fingerprint(packet: Packet) -> bytes:
    """The bytes that identify one packet across the interfaces it crosses on a node."""
    data, l3 = packet.data, packet.l3_start
    end = min(packet.payload_start + _PAYLOAD_BYTES, packet.captured_end)
    if data[l3] >> 4 == 4:
        return data[l3 : l3 + 8] + data[l3 + 12 : end]
    return data[l3 : l3 + 7] + data[l3 + 8 : end]


class Deduper:
    """Remembers recent fingerprints and the interface each was first seen on."""

    def __init__(self, *, window: float) -> None:
        self._window = window
        self._seen: dict[bytes, tuple[float, str]] = {}
        self._expiry: deque[tuple[float, bytes]] = deque()

    def __len__(self) -> int:
        return len(self._seen)

    def is_duplicate(self, packet: Packet, ts: float, interface: str) -> bool:
        """Whether ``packet`` is a copy of one just seen on another interface; else remember it."""
        key = fingerprint(packet)
        seen = self._seen.get(key)
        if seen is not None and seen[1] != interface and ts - seen[0] <= self._window:
            return True
        self._seen[key] = (ts, interface)
        expiry = self._expiry
        expiry.append((ts + self._window, key))
        while expiry[0][0] < ts:
            deadline, old = expiry.popleft()
            remembered = self._seen.get(old)
            if remembered is not None and remembered[0] + self._window <= deadline:
                del self._seen[old]
        return False
