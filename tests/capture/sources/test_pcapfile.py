"""Reading pcap and pcapng files: link types, timestamps, interfaces and clear errors."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import CookedLinuxV2, Ether
from scapy.utils import wrpcap, wrpcapng

from capture.errors import PcapError
from capture.sources.frames import DLT_EN10MB, DLT_LINUX_SLL2, Frame
from capture.sources.pcapfile import read_frames


def packets(count: int = 3) -> list[Ether]:
    result = []
    for index in range(count):
        packet = Ether() / IP(dst=f"10.0.0.{index + 1}") / TCP()
        packet.time = 1_700_000_000.25 + index
        result.append(packet)
    return result


def test_pcap_frames_carry_time_bytes_and_link_type(tmp_path: Path) -> None:
    path = tmp_path / "a.pcap"
    written = packets()
    wrpcap(str(path), written)
    frames = list(read_frames(path))
    assert [frame.data for frame in frames] == [bytes(packet) for packet in written]
    assert [frame.timestamp for frame in frames] == pytest.approx(
        [1_700_000_000.25 + i for i in range(3)]
    )
    assert {frame.linktype for frame in frames} == {DLT_EN10MB}
    assert all(isinstance(frame, Frame) and frame.interface == "" for frame in frames)


def test_pcapng_frames_carry_the_interface_name(tmp_path: Path) -> None:
    path = tmp_path / "a.pcapng"
    written = packets(2)
    for packet in written:
        packet.sniffed_on = "veth42"
    wrpcapng(str(path), written)
    frames = list(read_frames(str(path)))
    assert [frame.interface for frame in frames] == ["veth42", "veth42"]
    assert frames[1].timestamp == pytest.approx(1_700_000_001.25)


def test_linux_cooked_v2_link_type(tmp_path: Path) -> None:
    path = tmp_path / "any.pcap"
    wrpcap(str(path), [CookedLinuxV2(proto=0x0800, ifindex=2) / IP() / TCP()])
    assert next(read_frames(path)).linktype == DLT_LINUX_SLL2


def test_nanosecond_pcap(tmp_path: Path) -> None:
    path = tmp_path / "nano.pcap"
    data = bytes(packets(1)[0])
    header = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, DLT_EN10MB)
    record = struct.pack("<IIII", 10, 500_000_000, len(data), len(data))
    path.write_bytes(header + record + data)
    (frame,) = read_frames(path)
    assert frame.timestamp == pytest.approx(10.5)


def test_gzipped_pcap(tmp_path: Path) -> None:
    plain = tmp_path / "a.pcap"
    wrpcap(str(plain), packets())
    zipped = tmp_path / "a.pcap.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    assert len(list(read_frames(zipped))) == 3


def test_truncated_last_record_is_read_as_far_as_it_goes(tmp_path: Path) -> None:
    path = tmp_path / "cut.pcap"
    written = packets()
    wrpcap(str(path), written)
    path.write_bytes(path.read_bytes()[:-30])
    frames = list(read_frames(path))
    assert [frame.data for frame in frames[:2]] == [bytes(packet) for packet in written[:2]]
    assert frames[2].data == bytes(written[2])[:-30]


def test_missing_file_is_a_pcap_error(tmp_path: Path) -> None:
    with pytest.raises(PcapError, match="cannot read"):
        read_frames(tmp_path / "missing.pcap")


@pytest.mark.parametrize(
    "content",
    [b"", b"not a capture file at all", b"\xd4\xc3\xb2\xa1\x02", gzip.compress(b"nope")],
)
def test_garbage_is_a_pcap_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage.pcap"
    path.write_bytes(content)
    with pytest.raises(PcapError, match="not a pcap"):
        read_frames(path)


def test_records_across_read_blocks_match_scapy(tmp_path: Path) -> None:
    path = tmp_path / "big.pcap"
    written = [Ether() / IP(id=index) / TCP() / (b"p" * (index % 1500)) for index in range(1500)]
    wrpcap(str(path), written)
    assert path.stat().st_size > 1 << 20
    frames = list(read_frames(path))
    assert [frame.data for frame in frames] == [bytes(packet) for packet in written]


def test_corrupt_record_length_stops_with_a_pcap_error(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.pcap"
    wrpcap(str(path), packets())
    content = bytearray(path.read_bytes())
    second = 24 + 16 + len(bytes(packets()[0]))
    content[second + 8 : second + 12] = struct.pack("<I", 10**9)
    path.write_bytes(bytes(content))
    frames = read_frames(path)
    assert next(frames).data == bytes(packets()[0])
    with pytest.raises(PcapError, match="record 2"):
        next(frames)


def test_pcapng_nanosecond_interfaces_sections_and_undefined_interfaces(tmp_path: Path) -> None:
    def block(kind: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    def section() -> bytes:
        return block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))

    def interface(name: bytes, resolution: int) -> bytes:
        options = struct.pack("<HH", 2, len(name)) + name + b"\0" * (-len(name) % 4)
        options += struct.pack("<HHB3x", 9, 1, resolution) + struct.pack("<HH", 0, 0)
        return block(1, struct.pack("<HHI", DLT_EN10MB, 0, 65535) + options)

    def packet(interface_id: int, stamp: int, data: bytes) -> bytes:
        head = struct.pack("<IIIII", interface_id, stamp >> 32, stamp & 0xFFFFFFFF, len(data),
                           len(data))  # fmt: skip
        return block(6, head + data)

    data = [bytes(packet) for packet in packets(3)]
    content = section() + interface(b"eth0", 9) + packet(0, 1_500_000_000, data[0])
    content += packet(1, 0, data[1])  # no interface 1 in this section
    content += section() + interface(b"veth1", 6) + packet(0, 2_500_000, data[2])
    path = tmp_path / "two-sections.pcapng"
    path.write_bytes(content)
    capture = read_frames(path)
    frames = list(capture)
    assert [(f.interface, f.data) for f in frames] == [("eth0", data[0]), ("veth1", data[2])]
    assert [f.timestamp for f in frames] == pytest.approx([1.5, 2.5])
    assert (capture.records, capture.undefined_interface) == (3, 1)
