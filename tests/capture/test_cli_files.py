"""``python -m capture --read``: streams (FIFO, pipe, ``-``), signals, and broken files as one
line with exit code 2, the entries of what came before still written."""

from __future__ import annotations

import array
import fcntl
import gzip
import os
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from scapy.utils import rdpcap

from contract.schema import Entry
from tests.capture.test_cli import REPO, one_connection_pcap, run_cli

__all__ = ["one_connection_pcap"]  # the fixture, used by name below

PCAP_HEADER_BYTES = 24
RECORD_HEADER_BYTES = 16


def cli(*args: str, **popen: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "capture", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=env,
        **popen,
    )


def closes(stdout: str | bytes) -> list[tuple[int | None, int | None]]:
    entries = [Entry.from_json(line) for line in stdout.splitlines()]
    return [
        (e.request_size, e.response_size)
        for e in entries
        if e.tcp is not None and e.tcp.event == "close"
    ]


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert "WARNING" not in stderr
    return lines[0]


def test_a_truncated_gzip_pcap_is_one_line_and_exit_2(
    tmp_path: Path, one_connection_pcap: Path
) -> None:
    zipped = tmp_path / "cut.pcap.gz"
    zipped.write_bytes(gzip.compress(one_connection_pcap.read_bytes())[:-12])
    result = run_cli("--read", str(zipped))
    assert result.returncode == 2, result.stderr
    assert "cut or corrupt" in one_error_line(result.stderr)


def test_a_corrupt_gzip_pcap_is_one_line_and_exit_2(
    tmp_path: Path, one_connection_pcap: Path
) -> None:
    data = bytearray(gzip.compress(one_connection_pcap.read_bytes()))
    data[-8:-4] = bytes(byte ^ 0xFF for byte in data[-8:-4])  # the CRC-32 of the data
    zipped = tmp_path / "corrupt.pcap.gz"
    zipped.write_bytes(bytes(data))
    result = run_cli("--read", str(zipped))
    assert result.returncode == 2, result.stderr
    assert "cut or corrupt" in one_error_line(result.stderr)


def test_a_corrupt_record_mid_file_is_reported_after_the_entries_before_it(
    tmp_path: Path, one_connection_pcap: Path
) -> None:
    content = bytearray(one_connection_pcap.read_bytes())
    position = PCAP_HEADER_BYTES
    for _ in range(3):  # to the fourth record
        length = struct.unpack_from("<I", content, position + 8)[0]
        position += RECORD_HEADER_BYTES + length
    content[position + 8 : position + 12] = struct.pack("<I", 10**9)
    corrupt = tmp_path / "corrupt.pcap"
    corrupt.write_bytes(bytes(content))
    result = run_cli("--read", str(corrupt))
    assert result.returncode == 2
    line = one_error_line(result.stderr)
    assert "record 4" in line
    assert "3 records read before it" in line
    events = [Entry.from_json(text).tcp for text in result.stdout.splitlines()]
    assert [tcp.event for tcp in events if tcp is not None] == ["connect", "ongoing"]


def test_reading_a_fifo(tmp_path: Path, one_connection_pcap: Path) -> None:
    fifo = tmp_path / "capture.fifo"
    os.mkfifo(fifo)
    process = cli("--read", str(fifo))
    with fifo.open("wb") as writer:  # opens once the reader has
        content = one_connection_pcap.read_bytes()
        writer.write(content[:100])
        writer.flush()
        time.sleep(0.3)  # a writer that pauses mid-record
        writer.write(content[100:])
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert closes(stdout) == [(10, 20)]


@pytest.mark.parametrize("path", ["-", "/dev/stdin"])
def test_reading_standard_input_from_a_pipe(one_connection_pcap: Path, path: str) -> None:
    process = cli("--read", path, stdin=subprocess.PIPE)
    stdout, stderr = process.communicate(one_connection_pcap.read_bytes(), timeout=60)
    assert process.returncode == 0, stderr
    assert closes(stdout) == [(10, 20)]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_fifo_with_no_writer_stops_on_a_signal(tmp_path: Path, signum: int) -> None:
    fifo = tmp_path / "idle.fifo"
    os.mkfifo(fifo)
    process = cli("--read", str(fifo))
    wait_until_open(process, fifo)  # and so waiting for a writer, its signal handlers set
    time.sleep(0.5)
    assert process.poll() is None
    process.send_signal(signum)
    try:
        stdout, stderr = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("the reader ignored the signal")
    assert process.returncode == 0, stderr
    assert stdout == b""


def wait_until_open(process: subprocess.Popen[bytes], path: Path, timeout: float = 30.0) -> None:
    """Wait until ``process`` has ``path`` open."""
    deadline = time.monotonic() + timeout
    descriptors = Path(f"/proc/{process.pid}/fd")
    while time.monotonic() < deadline:
        try:
            if any(os.readlink(fd) == str(path) for fd in descriptors.iterdir()):
                return
        except OSError:
            pass  # a descriptor closed while listed
        time.sleep(0.05)
    pytest.fail(f"{path} was never opened")


def wait_until_drained(pipe: int, timeout: float = 30.0) -> None:
    """Wait until the reader of ``pipe`` (its write end) has read everything written to it."""
    deadline = time.monotonic() + timeout
    unread = array.array("i", [0])
    while time.monotonic() < deadline:
        fcntl.ioctl(pipe, termios.FIONREAD, unread)
        if not unread[0]:
            return
        time.sleep(0.05)
    pytest.fail("the pipe was never read")


def test_a_stalled_pipe_stops_on_a_signal(one_connection_pcap: Path) -> None:
    process = cli("--read", "-", stdin=subprocess.PIPE)
    assert process.stdin is not None
    process.stdin.write(one_connection_pcap.read_bytes()[:200])  # header and a few records
    process.stdin.flush()
    wait_until_drained(process.stdin.fileno())  # it read them, and so set its signal handlers
    process.send_signal(signal.SIGTERM)
    try:
        stdout, stderr = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("the reader ignored the signal")
    assert process.returncode == 0, stderr
    assert [Entry.from_json(line).tcp for line in stdout.splitlines()]  # what it read, flushed


def pcapng(blocks: list[bytes]) -> bytes:
    section = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
    return block(0x0A0D0D0A, section) + b"".join(blocks)


def block(kind: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


def enhanced_packet(interface: int, data: bytes, micros: int = 1_700_000_000_000_000) -> bytes:
    head = struct.pack("<IIIII", interface, micros >> 32, micros & 0xFFFFFFFF, len(data), len(data))
    return block(6, head + data)


def test_pcapng_packets_on_an_undefined_interface_are_counted(
    tmp_path: Path, one_connection_pcap: Path
) -> None:
    frames = [bytes(packet) for packet in rdpcap(str(one_connection_pcap))]
    interface = block(1, struct.pack("<HHI", 1, 0, 65535))
    blocks = [interface, *(enhanced_packet(0, data) for data in frames)]
    blocks += [enhanced_packet(3, frames[0]), enhanced_packet(7, frames[1])]
    path = tmp_path / "undefined.pcapng"
    path.write_bytes(pcapng(blocks))
    result = run_cli("--read", str(path))
    assert result.returncode == 0, result.stderr
    assert closes(result.stdout) == [(10, 20)]
    line = one_error_line(result.stderr)
    assert "2 of 8 packets skipped" in line


def test_a_corrupt_pcapng_block_is_podscopes_one_line(tmp_path: Path) -> None:
    interface = block(1, struct.pack("<HHI", 1, 0, 65535))
    broken = struct.pack("<II", 6, 7) + b"\0" * 32  # a block length no block can have
    path = tmp_path / "corrupt.pcapng"
    path.write_bytes(pcapng([interface, broken]))
    result = run_cli("--read", str(path))
    assert result.returncode == 2
    line = one_error_line(result.stderr)
    assert line.startswith("python -m capture: error:")
    assert "bad length 7" in line
