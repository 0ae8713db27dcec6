"""The pcap ring: size cap (oldest file first), rotation, restart, export window and filter."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import RawPcapReader

from capture.errors import BpfError, RingError
from capture.sinks.pcapring import PcapRing
from capture.sources.frames import DLT_EN10MB, LINKTYPE_RAW, Frame

ETHER = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def tcp_frame(index: int, timestamp: float, linktype: int = DLT_EN10MB) -> Frame:
    packet = IP(src=f"10.0.0.{index % 4 + 1}", dst="10.0.0.9") / TCP(sport=1000 + index)
    data = bytes(ETHER / packet) if linktype == DLT_EN10MB else bytes(packet)
    return Frame(timestamp, data, linktype, "eth0")


def ring_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("podscope-*.pcap"))


def read_back(data: bytes) -> list[tuple[float, bytes]]:
    with RawPcapReader(io.BytesIO(data)) as reader:  # type: ignore[arg-type]
        return [(meta.sec + meta.usec / 1e6, packet) for packet, meta in reader]


def test_ring_never_exceeds_its_size_and_drops_oldest_first(tmp_path: Path) -> None:
    ring = PcapRing(tmp_path, max_bytes=100_000, file_bytes=20_000)
    for index in range(3000):
        ring.write(tcp_frame(index, 1000.0 + index))
        assert ring.stats.bytes <= 100_000
    ring.close()
    stats = ring.stats
    assert stats.packets_written == 3000
    assert stats.files_dropped > 0
    names = ring_files(tmp_path)
    assert names[0] != "podscope-0000000001.pcap"
    assert sum((tmp_path / n).stat().st_size for n in names) == stats.bytes
    exported = io.BytesIO()
    count = ring.export(exported)
    timestamps = [ts for ts, _ in read_back(exported.getvalue())]
    assert count == len(timestamps) < 3000
    assert timestamps == sorted(timestamps)
    assert timestamps[-1] == 1000.0 + 2999


def test_export_selects_a_time_window_and_a_bpf_filter(tmp_path: Path) -> None:
    frames = [tcp_frame(index, 2000.0 + index / 10) for index in range(200)]
    out = tmp_path / "export.pcap"
    with PcapRing(tmp_path / "ring", max_bytes=1_000_000) as ring:
        for frame in frames:
            ring.write(frame)
        count = ring.export(out, since=2005.0, until=2009.95, bpf="src host 10.0.0.1")
    source = bytes([10, 0, 0, 1])
    expected = [f for f in frames if 2005.0 <= f.timestamp <= 2009.95 and f.data[26:30] == source]
    records = read_back(out.read_bytes())
    assert count == len(records) == len(expected) > 0
    assert [packet for _, packet in records] == [f.data for f in expected]
    assert [ts for ts, _ in records] == pytest.approx([f.timestamp for f in expected])


def test_export_of_nothing_is_a_valid_empty_pcap(tmp_path: Path) -> None:
    out = io.BytesIO()
    with PcapRing(tmp_path, max_bytes=1_000_000) as ring:
        ring.write(tcp_frame(1, 10.0))
        assert ring.export(out, since=500.0) == 0
    assert read_back(out.getvalue()) == []


def test_a_new_link_type_starts_a_new_file(tmp_path: Path) -> None:
    ring = PcapRing(tmp_path, max_bytes=1_000_000)
    ring.write(tcp_frame(1, 1.0))
    ring.write(tcp_frame(2, 2.0, LINKTYPE_RAW))
    ring.close()
    assert len(ring_files(tmp_path)) == 2
    with pytest.raises(RingError, match="link types"):
        ring.export(io.BytesIO())
    only_raw = io.BytesIO()
    assert ring.export(only_raw, since=1.5) == 1


def test_files_of_an_earlier_run_stay_in_the_ring(tmp_path: Path) -> None:
    first = PcapRing(tmp_path, max_bytes=100_000, file_bytes=10_000)
    for index in range(50):
        first.write(tcp_frame(index, 100.0 + index))
    first.close()
    second = PcapRing(tmp_path, max_bytes=100_000, file_bytes=10_000)
    second.write(tcp_frame(99, 500.0))
    second.close()
    out = io.BytesIO()
    assert second.export(out) == 51
    assert second.stats.files == len(ring_files(tmp_path))
    assert ring_files(tmp_path)[-1] > "podscope-0000000001.pcap"


def test_bad_export_filter_is_a_bpf_error(tmp_path: Path) -> None:
    with PcapRing(tmp_path, max_bytes=1_000_000) as ring:
        ring.write(tcp_frame(1, 1.0))
        with pytest.raises(BpfError):
            ring.export(io.BytesIO(), bpf="host 999.1.1.1")


def test_disk_errors_are_counted_not_raised(tmp_path: Path) -> None:
    directory = tmp_path / "ring"
    ring = PcapRing(directory, max_bytes=100_000, file_bytes=10_000)
    ring.write(tcp_frame(1, 1.0))
    ring.close()
    for path in directory.iterdir():
        path.unlink()
    directory.rmdir()
    ring.write(tcp_frame(2, 2.0))  # rotation cannot create its file
    ring.write(tcp_frame(3, 3.0))
    assert ring.stats.write_errors == 2
    assert ring.stats.packets_written == 1


@pytest.mark.parametrize(
    ("max_bytes", "file_bytes", "message"),
    [(1000, 0, "minimum"), (100_000, 80_000, "half")],
)
def test_unusable_sizes(tmp_path: Path, max_bytes: int, file_bytes: int, message: str) -> None:
    with pytest.raises(RingError, match=message):
        PcapRing(tmp_path, max_bytes=max_bytes, file_bytes=file_bytes)


def test_unusable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(RingError, match="cannot use ring directory"):
        PcapRing(blocker / "ring", max_bytes=1_000_000)
