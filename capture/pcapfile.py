"""Offline capture: the frames of a pcap or pcapng file (gzip allowed), via scapy raw readers.

Only the record headers are parsed here (scapy's RawPcapReader / RawPcapNgReader); frames are
decoded by the pipeline like live ones.

Exception hierarchy::

    OSError
     └── PcapError    a file that is missing, unreadable or not a capture (the message says which)

A file that ends in the middle of a record yields the records before it: a capture still being
written, or cut by a full disk, is read as far as it goes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from scapy.error import Scapy_Exception
from scapy.utils import RawPcapNgReader, RawPcapReader

from capture.frames import Frame


class PcapError(OSError):
    """A pcap/pcapng file that cannot be read."""


def read_frames(path: str | os.PathLike[str]) -> Iterator[Frame]:
    """The frames of the capture file at ``path``; raise PcapError now if it is not one."""
    try:
        reader = RawPcapReader(os.fspath(path))
    except Scapy_Exception as exc:
        raise PcapError(f"{os.fspath(path)}: not a pcap or pcapng file ({exc})") from None
    except OSError as exc:
        raise PcapError(f"{os.fspath(path)}: cannot read: {exc.strerror or exc}") from None
    return _frames(reader)


def _frames(reader: Any) -> Iterator[Frame]:
    with reader:
        if isinstance(reader, RawPcapNgReader):
            yield from _pcapng_frames(reader)
        else:
            yield from _pcap_frames(reader)


def _pcap_frames(reader: Any) -> Iterator[Frame]:
    linktype = reader.linktype
    scale = 1e-9 if reader.nano else 1e-6
    new = tuple.__new__  # a Frame without NamedTuple.__new__'s Python frame: this loop is hot
    for data, meta in reader:
        yield new(Frame, (meta.sec + meta.usec * scale, data, linktype, ""))


def _pcapng_frames(reader: Any) -> Iterator[Frame]:
    timestamp = 0.0
    for data, meta in reader:
        if meta.tshigh is not None:  # simple packet blocks carry no time: keep the last one
            timestamp = ((meta.tshigh << 32) | meta.tslow) / meta.tsresol
        name = meta.ifname
        interface = name.decode("utf-8", "replace") if isinstance(name, bytes) else ""
        yield Frame(timestamp, data, meta.linktype, interface.rstrip("\0"))
