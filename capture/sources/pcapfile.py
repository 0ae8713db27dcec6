"""Offline capture: the frames of a pcap or pcapng file, plain or gzip, from a file or a stream.

Read as tcpdump reads: a regular file, a FIFO, a pipe, ``/dev/stdin`` or ``-`` (standard input),
all without seeking. A stream is waited on in short polls, so a FIFO with no writer yet, or a
writer that pauses, never blocks the reader past a ``stop`` event (SIGINT/SIGTERM): the frames
simply end. Formats: classic pcap in either byte order, micro- or nanosecond time; pcapng
(section, interface description, enhanced, simple and obsolete packet blocks; the others are
skipped). Only record headers are parsed: frames are decoded by the pipeline like live ones.

Errors (``capture.errors``)::

    OSError
     └── PcapError    a file that is missing, unreadable or not a capture (raised by
                      read_frames), or, while iterating, a record no capture can have, a
                      compressed stream that is cut or corrupt: the file is unreadable from
                      there on, and the message says where (one line)

A file that ends in the middle of a pcap record is read as far as it goes (a capture still being
written, or cut by a full disk): the cut record is yielded with the bytes it has, and the decoder
counts it as malformed if its headers are incomplete. pcapng packets on an interface the file
never described cannot be decoded: they are counted in ``undefined_interface``.
"""

from __future__ import annotations

import gzip
import io
import os
import select
import stat
import struct
import sys
import threading
import zlib
from collections.abc import Iterator
from typing import IO, NamedTuple

from capture.errors import PcapError
from capture.sources.frames import Frame

STDIN = "-"
"""The path that means standard input."""

_GZIP_MAGIC = b"\x1f\x8b"
_BLOCK_BYTES = 1 << 20
_MAX_RECORD_BYTES = 262_144  # libpcap's largest snapshot length
_MAX_BLOCK_BYTES = 16 << 20  # larger pcapng blocks than this are corruption, not packets
_POLL_SECONDS = 0.2
_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAPNG_SECTION = b"\x0a\x0d\x0d\x0a"
_PCAPNG_BYTE_ORDER = 0x1A2B3C4D
_IDB, _OPB, _SPB, _EPB = 1, 2, 3, 6
_OPTION_IF_NAME, _OPTION_IF_TSRESOL, _OPTION_IF_TSOFFSET = 2, 9, 14
_DECOMPRESSION_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


class _StoppedError(Exception):
    """The stop event was set while waiting for a stream."""


class _Interface(NamedTuple):
    """A pcapng interface description: what its packets need."""

    linktype: int
    snaplen: int
    name: str
    scale: float  # seconds per timestamp unit
    offset: int  # seconds added to every timestamp


class _PolledStream(io.RawIOBase):
    """A non-seekable file descriptor read only when poll says it is readable, so that a wait
    can end when ``stop`` is set."""

    def __init__(self, fd: int, stop: threading.Event | None) -> None:
        super().__init__()
        self._fd = fd
        self._stop = stop
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._poll.poll(_POLL_SECONDS * 1000):
            if self._stop is not None and self._stop.is_set():
                raise _StoppedError
        if self._stop is not None and self._stop.is_set():
            raise _StoppedError
        return os.readv(self._fd, [buffer])

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


class CaptureFile(Iterator[Frame]):
    """The frames of one capture file, in order; counts what it could not yield.

    Iterating it iterates its reader's generator directly (no Python call per frame here).
    """

    def __init__(self, name: str, reader: _Reader | None = None) -> None:
        self.name = name
        self._reader = reader
        self._frames = iter(()) if reader is None else reader.frames(name)

    @property
    def records(self) -> int:
        """Records read (yielded or counted as skipped)."""
        return 0 if self._reader is None else self._reader.records

    @property
    def undefined_interface(self) -> int:
        """pcapng packets on an interface id the file never described (not yielded)."""
        return 0 if self._reader is None else self._reader.undefined_interface

    def __iter__(self) -> Iterator[Frame]:
        return self._frames

    def __next__(self) -> Frame:
        return next(self._frames)

    def close(self) -> None:
        """Release the file (also done at the end of the frames)."""
        if self._reader is not None:
            self._reader.close()


class _Reader:
    """Reads one capture stream: its header, then its records (a generator that refers to the
    reader but not to the CaptureFile, so that dropping the CaptureFile closes the file)."""

    def __init__(self, stream: IO[bytes], source: IO[bytes] | None) -> None:
        self.records = 0
        self.undefined_interface = 0
        self._stream = stream
        self._source = source  # what ``stream`` decompresses, closed with it
        self._records: Iterator[Frame] = iter(())

    def start(self) -> None:
        """Read the file header; raise PcapError if it is not a capture's."""
        magic = _read_exactly(self._stream, 4)
        if magic == _PCAPNG_SECTION:
            self._records = self._pcapng(self._section_header())
        elif magic in _PCAP_MAGICS:
            endian, scale = _PCAP_MAGICS[magic]
            header = _read_exactly(self._stream, 20)
            if len(header) < 20:
                raise PcapError("pcap file header cut short")
            linktype = struct.unpack_from(endian + "I", header, 16)[0] & 0xFFFF
            self._records = self._pcap(endian, scale, linktype)
        else:
            raise PcapError("empty" if not magic else f"starts with {magic.hex()}")

    def frames(self, name: str) -> Iterator[Frame]:
        """The records, closing the file when they end or are dropped unfinished; a wait on a
        stream that ``stop`` ended ends them; errors are PcapError naming the file ``name``."""
        try:
            yield from self._records
        except _StoppedError:
            return
        except _DECOMPRESSION_ERRORS as exc:
            raise PcapError(
                f"{name}: compressed data cut or corrupt after record {self.records} ({exc})"
            ) from None
        except PcapError as exc:
            raise PcapError(f"{name}: {exc}") from None
        except OSError as exc:
            raise PcapError(f"{name}: read failed: {exc.strerror or exc}") from None
        finally:
            self.close()

    def close(self) -> None:
        """Release the stream."""
        self._stream.close()
        if self._source is not None:
            self._source.close()

    def _pcap(self, endian: str, scale: float, linktype: int) -> Iterator[Frame]:
        """Classic pcap records, cut from blocks of up to 1 MiB (per-record reads cost more)."""
        record = struct.Struct(endian + "III4x")  # seconds, fraction, captured length
        unpack_from = record.unpack_from
        new = tuple.__new__  # a Frame without NamedTuple.__new__'s Python frame: this loop is hot
        read = self._stream.read1  # type: ignore[attr-defined]
        buffer = b""
        position = count = 0
        while True:
            self.records = count  # kept here, not per record: this loop is hot
            more = read(_BLOCK_BYTES)
            if not more:
                if position + 16 <= len(buffer):  # the file ends inside this record
                    seconds, fraction, _ = unpack_from(buffer, position)
                    self.records = count + 1
                    yield Frame(seconds + fraction * scale, buffer[position + 16 :], linktype, "")
                return
            buffer = buffer[position:] + more if position < len(buffer) else more
            position = 0
            end = len(buffer)
            while position + 16 <= end:
                seconds, fraction, length = unpack_from(buffer, position)
                if length > _MAX_RECORD_BYTES:
                    self.records = count
                    raise PcapError(
                        f"record {count + 1}: {length} bytes is not a packet (corrupt "
                        f"file; {count} records read before it, nothing after)"
                    )
                start = position + 16
                stop = start + length
                if stop > end:
                    break
                count += 1
                yield new(Frame, (seconds + fraction * scale, buffer[start:stop], linktype, ""))
                position = stop

    def _pcapng(self, endian: str) -> Iterator[Frame]:
        interfaces: list[_Interface] = []
        timestamp = 0.0
        while True:
            head = _read_exactly(self._stream, 8)
            if len(head) < 8:
                return
            if head[:4] == _PCAPNG_SECTION:
                endian = self._section_header(head[4:])
                interfaces = []
                continue
            kind, length = struct.unpack(endian + "II", head)
            if length < 12 or length % 4 or length > _MAX_BLOCK_BYTES:
                raise PcapError(f"pcapng block after record {self.records}: bad length {length}")
            body = _read_exactly(self._stream, length - 8)
            if len(body) < length - 8:
                return  # the file ends inside this block
            body = body[:-4]  # the trailing copy of the length
            if kind == _IDB:
                interfaces.append(_interface(body, endian))
                continue
            packet = _packet(kind, body, endian, interfaces)
            if packet is None:
                continue  # a block that carries no packet
            self.records += 1
            interface_id, stamp, data = packet
            if interface_id >= len(interfaces):
                self.undefined_interface += 1
                continue
            interface = interfaces[interface_id]
            if stamp is not None:  # simple packet blocks carry no time: keep the last one
                timestamp = stamp * interface.scale + interface.offset
            yield Frame(timestamp, data, interface.linktype, interface.name)

    def _section_header(self, length_field: bytes | None = None) -> str:
        """Read a section header block (its type already read); return its byte order."""
        head = (length_field or _read_exactly(self._stream, 4)) + _read_exactly(self._stream, 4)
        if len(head) < 8:
            raise PcapError("pcapng section header cut short")
        for endian in ("<", ">"):
            length, order = struct.unpack(endian + "II", head)
            if order == _PCAPNG_BYTE_ORDER:
                break
        else:
            raise PcapError("pcapng section header with an unknown byte order")
        if length < 28 or length % 4 or length > _MAX_BLOCK_BYTES:
            raise PcapError(f"pcapng section header: bad length {length}")
        if len(_read_exactly(self._stream, length - 12)) < length - 12:
            raise PcapError("pcapng section header cut short")
        return endian


def _packet(
    kind: int, body: bytes, endian: str, interfaces: list[_Interface]
) -> tuple[int, int | None, bytes] | None:
    """A packet block's interface id, raw timestamp (None: simple block) and data."""
    if kind == _EPB:
        if len(body) < 20:
            raise PcapError("pcapng enhanced packet block too short")
        interface_id, high, low, captured = struct.unpack_from(endian + "IIII", body)
        return interface_id, high << 32 | low, _block_data(body, 20, captured)
    if kind == _SPB:
        if len(body) < 4:
            raise PcapError("pcapng simple packet block too short")
        (original,) = struct.unpack_from(endian + "I", body)
        snaplen = interfaces[0].snaplen if interfaces else 0
        captured = min(original, snaplen or original, len(body) - 4)
        return 0, None, body[4 : 4 + captured]
    if kind == _OPB:
        if len(body) < 20:
            raise PcapError("pcapng packet block too short")
        interface_id, _, high, low, captured = struct.unpack_from(endian + "HHIII", body)
        return interface_id, high << 32 | low, _block_data(body, 20, captured)
    return None


def _block_data(body: bytes, start: int, captured: int) -> bytes:
    if start + captured > len(body):
        raise PcapError(f"pcapng packet of {captured} bytes overruns its block")
    return body[start : start + captured]


def _interface(body: bytes, endian: str) -> _Interface:
    """A pcapng interface description block's link type, name and time scale."""
    if len(body) < 8:
        raise PcapError("pcapng interface description too short")
    linktype, _, snaplen = struct.unpack_from(endian + "HHI", body)
    name, scale, offset = "", 1e-6, 0
    position = 8
    while position + 4 <= len(body):
        code, size = struct.unpack_from(endian + "HH", body, position)
        value = body[position + 4 : position + 4 + size]
        if code == 0:
            break
        if code == _OPTION_IF_NAME:
            name = value.decode("utf-8", "replace").rstrip("\0")
        elif code == _OPTION_IF_TSRESOL and value:
            exponent = value[0] & 0x7F
            scale = 2.0**-exponent if value[0] & 0x80 else 10.0**-exponent
        elif code == _OPTION_IF_TSOFFSET and size == 8:
            (offset,) = struct.unpack_from(endian + "q", value)
        position += 4 + (size + 3) // 4 * 4
    return _Interface(linktype, snaplen, name, scale, offset)


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    """Up to ``size`` bytes: fewer only at the end of the stream."""
    data = stream.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    missing = size - len(data)
    while missing:
        more = stream.read(missing)
        if not more:
            break
        parts.append(more)
        missing -= len(more)
    return b"".join(parts)


def read_frames(path: str | os.PathLike[str], stop: threading.Event | None = None) -> CaptureFile:
    """The frames of the capture at ``path`` (``-``: standard input); raise PcapError now if it
    is not one. Waiting on a stream ends, with no more frames, once ``stop`` is set."""
    name = os.fspath(path)
    try:
        raw = _open(name, stop)
    except OSError as exc:
        raise PcapError(f"{name}: cannot read: {exc.strerror or exc}") from None
    buffered = io.BufferedReader(raw, _BLOCK_BYTES)
    stream: IO[bytes] = buffered
    try:
        if buffered.peek(2)[:2] == _GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[assignment]
        reader = _Reader(stream, None if stream is buffered else buffered)
        reader.start()
    except _StoppedError:
        stream.close()
        buffered.close()
        return CaptureFile(name)
    except (*_DECOMPRESSION_ERRORS, OSError) as exc:
        stream.close()
        buffered.close()
        raise PcapError(f"{name}: not a pcap or pcapng file ({exc})") from None
    return CaptureFile(name, reader)


def _open(name: str, stop: threading.Event | None) -> io.RawIOBase:
    """The raw stream of ``name``: a plain file, or a polled one for FIFOs, pipes and ttys."""
    # O_NONBLOCK: opening a FIFO with no writer does not wait (reads poll first)
    fd = os.dup(sys.stdin.fileno()) if name == STDIN else os.open(name, os.O_RDONLY | os.O_NONBLOCK)
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode):
        return io.FileIO(fd, "rb")
    if stat.S_ISDIR(mode):
        os.close(fd)
        raise IsADirectoryError(21, "Is a directory")
    os.set_blocking(fd, True)  # reads follow a poll that says data is there
    return _PolledStream(fd, stop)
