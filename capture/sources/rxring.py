"""A TPACKET_V3 receive ring: the kernel writes captured frames into memory shared with us.

Instead of one ``recvmsg`` system call per frame, the kernel fills fixed-size blocks of an
``mmap``-ed ring and hands over a whole block at once (when it is full, or ``retire_ms`` after
its first frame); :meth:`RxRing.frames` walks the ready blocks and gives each back to the
kernel. A full ring drops frames in the kernel, counted by ``PACKET_STATISTICS``.

Layouts (``linux/if_packet.h``, 64-bit): a block starts with ``tpacket_block_desc`` (status at
byte 8, frame count at 12, offset of the first frame at 16); each frame with ``tpacket3_hdr``
(next offset, seconds, nanoseconds, captured and wire length, status, mac and network offsets),
followed by the ``sockaddr_ll`` (interface index, hardware type, packet type) at byte 48.
"""

from __future__ import annotations

import mmap
import socket
import struct
from collections.abc import Iterator
from typing import NamedTuple

SOL_PACKET = 263
PACKET_RX_RING = 5
PACKET_VERSION = 10
TPACKET_V3 = 2
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
FRAME_SIZE = 2048
"""The kernel's frame-size bookkeeping unit; V3 frames are variable-length within a block."""
SOCKADDR_OFFSET = 48

_BLOCK_HEADER = struct.Struct("8xIII")  # -> (block_status, num_pkts, offset_to_first_pkt)
_FRAME = struct.Struct("IIIIIIHH")  # next, sec, nsec, snaplen, len, status, mac, net
_ADDRESS = struct.Struct("4xiHB")  # ifindex, hatype, pkttype
_STATUS = struct.Struct("I")
_REQ3 = struct.Struct("7I")


class RingFrame(NamedTuple):
    """One frame as the ring holds it (``data`` is a copy, safe after the block is returned)."""

    timestamp: float
    data: bytes
    wire_length: int
    ifindex: int
    hatype: int
    pkttype: int


class RxRing:
    """The TPACKET_V3 receive ring of one AF_PACKET socket (set up before the socket is bound)."""

    def __init__(
        self, sock: socket.socket, total_bytes: int, block_bytes: int = 1 << 20, retire_ms: int = 10
    ) -> None:
        page = mmap.PAGESIZE
        block_bytes = max(page, min(block_bytes, _round_down_pow2(total_bytes)))
        block_bytes -= block_bytes % page
        self.block_count = max(1, total_bytes // block_bytes)
        self.block_bytes = block_bytes
        frames_per_block = block_bytes // FRAME_SIZE
        sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        request = _REQ3.pack(
            block_bytes, self.block_count, FRAME_SIZE, frames_per_block * self.block_count,
            retire_ms, 0, 0,
        )  # fmt: skip
        sock.setsockopt(SOL_PACKET, PACKET_RX_RING, request)
        self._map = mmap.mmap(
            sock.fileno(), block_bytes * self.block_count, mmap.MAP_SHARED,
            mmap.PROT_READ | mmap.PROT_WRITE,
        )  # fmt: skip
        self._view = memoryview(self._map)
        self._next_block = 0

    def frames(self) -> Iterator[RingFrame]:
        """Frames of every ready block, oldest first; each block goes back after its frames.

        A frame starts at its link-layer header (``SOCK_RAW``) or, for ``SOCK_DGRAM`` sockets,
        at its network header: the kernel puts either at the frame's ``mac`` offset.
        """
        view = self._view
        for _ in range(self.block_count):
            base = self._next_block * self.block_bytes
            status, count, offset = _BLOCK_HEADER.unpack_from(view, base)
            if not status & TP_STATUS_USER:
                return
            position = base + offset
            for _ in range(count):
                nxt, sec, nsec, snaplen, length, _st, mac, _net = _FRAME.unpack_from(view, position)
                ifindex, hatype, pkttype = _ADDRESS.unpack_from(view, position + SOCKADDR_OFFSET)
                start = position + mac
                yield RingFrame(
                    sec + nsec * 1e-9, bytes(view[start : start + snaplen]), length,
                    ifindex, hatype, pkttype,
                )  # fmt: skip
                position += nxt
            _STATUS.pack_into(view, base + 8, TP_STATUS_KERNEL)
            self._next_block = (self._next_block + 1) % self.block_count

    def close(self) -> None:
        """Unmap the ring (the socket is closed by its owner)."""
        self._view.release()
        self._map.close()


def _round_down_pow2(value: int) -> int:
    return 1 << (max(1, value).bit_length() - 1)
