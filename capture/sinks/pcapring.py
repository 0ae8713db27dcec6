"""A size-capped ring of pcap files on disk (``full`` mode): oldest file dropped first, exportable.

Frames are appended to ``podscope-<sequence>.pcap`` files in one directory (written and read with
scapy's RawPcapWriter/RawPcapReader). A file is closed when it reaches ``file_bytes`` or when a
frame of another link type arrives (a pcap file has one link type); after each rotation the
oldest files are deleted until the ring fits in ``max_bytes``. Files left by an earlier run in
the same directory stay part of the ring (counted, exportable, dropped first).

:meth:`PcapRing.export` writes the frames of a time window, optionally filtered by a BPF
expression (run in user space by libpcap), to one pcap file.

Exception hierarchy (classes in :mod:`capture.errors`)::

    CaptureError
     └── RingError    an unusable ring directory or size, or an export that cannot be written
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from capture.errors import RingError
from capture.sources.bpf import CompiledFilter, compile_filter
from capture.sources.frames import Frame
from contract.stats import counters

FILE_PATTERN = re.compile(r"^podscope-(\d{10})\.pcap$")
PCAP_HEADER_BYTES = 24
RECORD_HEADER_BYTES = 16
MIN_RING_BYTES = 64 * 1024
SNAPLEN = 262_144


@dataclass(slots=True)
class RingStats:
    """Ring counters: what it holds now and what it wrote, dropped or failed to write."""

    bytes: int = 0
    files: int = 0
    packets_written: int = 0
    files_dropped: int = 0
    write_errors: int = 0

    def to_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return counters(self)


@dataclass(slots=True)
class _RingFile:
    path: Path
    size: int
    linktype: int | None = None
    first: float = -math.inf  # unknown for files left by an earlier run
    last: float = math.inf


class PcapRing:
    """Append frames to a size-capped ring of pcap files; export a time window of them."""

    def __init__(self, directory: str | Path, max_bytes: int, file_bytes: int = 0) -> None:
        if max_bytes < MIN_RING_BYTES:
            raise RingError(f"ring size {max_bytes} bytes is below the {MIN_RING_BYTES} minimum")
        self._directory = Path(directory)
        self._max_bytes = max_bytes
        self._file_bytes = file_bytes or max(MIN_RING_BYTES // 2, max_bytes // 8)
        if self._file_bytes > max_bytes // 2:
            raise RingError(f"ring file size {self._file_bytes} must be at most half the ring")
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
            names = sorted(p.name for p in self._directory.iterdir() if FILE_PATTERN.match(p.name))
        except OSError as exc:
            raise RingError(f"cannot use ring directory {self._directory}: {exc}") from None
        self._files = [
            _RingFile(self._directory / n, (self._directory / n).stat().st_size) for n in names
        ]
        last_match = FILE_PATTERN.match(names[-1]) if names else None
        self._sequence = int(last_match.group(1)) if last_match else 0
        self._writer: _Writer | None = None
        self._stats = RingStats()
        self._drop_oldest()

    @property
    def stats(self) -> RingStats:
        """A copy of the counters."""
        self._stats.bytes = sum(f.size for f in self._files)
        self._stats.files = len(self._files)
        return replace(self._stats)

    def write(self, frame: Frame) -> None:
        """Append one frame; a disk error is counted, never raised."""
        record = RECORD_HEADER_BYTES + len(frame.data)
        try:
            writer = self._writer
            if (
                writer is None
                or writer.file.linktype != frame.linktype
                or (
                    writer.file.size + record > self._file_bytes
                    and writer.file.size > PCAP_HEADER_BYTES
                )
            ):
                writer = self._rotate(frame)
            writer.write(frame)
        except OSError:
            self._stats.write_errors += 1
            return
        self._stats.packets_written += 1

    def flush(self) -> None:
        """Push buffered frames to the current file."""
        if self._writer is not None:
            try:
                self._writer.flush()
            except OSError:
                self._stats.write_errors += 1

    def close(self) -> None:
        """Close the current file (idempotent)."""
        if self._writer is not None:
            try:
                self._writer.close()
            except OSError:
                self._stats.write_errors += 1
            self._writer = None

    def __enter__(self) -> PcapRing:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def export(
        self,
        destination: str | Path | IO[bytes],
        since: float = -math.inf,
        until: float = math.inf,
        bpf: str = "",
    ) -> int:
        """Write the frames seen in ``[since, until]`` matching ``bpf`` to one pcap; return count.

        Raise RingError when the matching frames have different link types, or BpfError.
        """
        self.flush()
        paths = [f.path for f in self._files if f.last >= since and f.first <= until]
        return _export(paths, destination, since, until, bpf)

    def _rotate(self, frame: Frame) -> _Writer:
        self.close()
        self._drop_oldest()
        self._sequence += 1
        ring_file = _RingFile(
            self._directory / f"podscope-{self._sequence:010d}.pcap",
            0,
            linktype=frame.linktype,
            first=frame.timestamp,
            last=frame.timestamp,
        )
        self._files.append(ring_file)
        self._writer = _Writer(ring_file)
        return self._writer

    def _drop_oldest(self) -> None:
        """Delete the oldest closed files until a new full-sized file fits in the ring."""
        while self._files and sum(f.size for f in self._files) + self._file_bytes > self._max_bytes:
            oldest = self._files.pop(0)
            try:
                oldest.path.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                self._stats.write_errors += 1
            self._stats.files_dropped += 1


def export_directory(
    directory: str | Path,
    destination: str | Path | IO[bytes],
    since: float = -math.inf,
    until: float = math.inf,
    bpf: str = "",
) -> int:
    """Export from a ring directory without opening it as a ring (read-only, so it is safe while
    a worker writes there); same selection and errors as :meth:`PcapRing.export`."""
    try:
        names = sorted(p.name for p in Path(directory).iterdir() if FILE_PATTERN.match(p.name))
    except OSError as exc:
        raise RingError(f"cannot read ring directory {directory}: {exc}") from None
    return _export([Path(directory) / name for name in names], destination, since, until, bpf)


def _export(
    paths: list[Path], destination: str | Path | IO[bytes], since: float, until: float, bpf: str
) -> int:
    filters: dict[int, CompiledFilter] = {}
    writer: Any = None
    linktype: int | None = None
    count = 0
    try:
        for path in paths:
            for frame in _read(path):
                if not since <= frame.timestamp <= until:
                    continue
                if bpf:
                    if frame.linktype not in filters:
                        filters[frame.linktype] = compile_filter(bpf, frame.linktype)
                    if not filters[frame.linktype].matches(frame.data):
                        continue
                if writer is None:
                    linktype = frame.linktype
                    writer = _open_export(destination, linktype)
                elif frame.linktype != linktype:
                    raise RingError(
                        f"the frames span link types {linktype} and {frame.linktype}; "
                        "narrow the export with a time window or filter"
                    )
                seconds = int(frame.timestamp)
                micros = round((frame.timestamp - seconds) * 1e6)
                writer.write_packet(frame.data, sec=seconds, usec=micros)
                count += 1
        if writer is None:
            writer = _open_export(destination, linktype or 1)
    except OSError as exc:
        raise RingError(f"cannot export the pcap ring: {exc}") from None
    finally:
        if writer is not None:
            writer.flush()
            if isinstance(destination, str | Path):
                writer.close()
    return count


class _Writer:
    """The ring's current file."""

    def __init__(self, ring_file: _RingFile) -> None:
        from scapy.utils import RawPcapWriter  # noqa: PLC0415 (slow import)

        self.file = ring_file
        self._pcap = RawPcapWriter(
            str(ring_file.path), linktype=ring_file.linktype, snaplen=SNAPLEN
        )
        self._pcap.write_header(None)
        ring_file.size = PCAP_HEADER_BYTES

    def write(self, frame: Frame) -> None:
        seconds = int(frame.timestamp)
        micros = round((frame.timestamp - seconds) * 1e6)
        self._pcap.write_packet(frame.data, sec=seconds, usec=micros)
        self.file.size += RECORD_HEADER_BYTES + len(frame.data)
        self.file.last = frame.timestamp

    def flush(self) -> None:
        self._pcap.flush()

    def close(self) -> None:
        self._pcap.close()


def _open_export(destination: str | Path | IO[bytes], linktype: int) -> Any:
    from scapy.utils import RawPcapWriter  # noqa: PLC0415 (slow import)

    target = destination if not isinstance(destination, str | Path) else os.fspath(destination)
    writer = RawPcapWriter(target, linktype=linktype, snaplen=SNAPLEN)
    writer.write_header(None)
    return writer


def _read(path: Path) -> Iterator[Frame]:
    from scapy.utils import RawPcapReader  # noqa: PLC0415 (slow import)

    try:
        reader = RawPcapReader(str(path))
    except FileNotFoundError:
        return  # dropped from the ring meanwhile
    except Exception as exc:  # noqa: BLE001 (scapy raises plain Scapy_Exception for bad files)
        raise RingError(f"cannot read ring file {path}: {exc}") from None
    with reader:
        linktype = reader.linktype
        for data, meta in reader:
            yield Frame(meta.sec + meta.usec / 1e6, data, linktype)
