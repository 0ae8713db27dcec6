"""``python -m capture``: help, exit codes, one-line errors, pcap to jsonl/Redis, live+SIGTERM."""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import RawPcapReader, rdpcap, wrpcap

from contract.schema import Entry
from lab.servers import TcpServer, tcp_exchange
from lab.topology import Lab, enter_netns
from tests.capture.livecapture import require_lab
from tests.capture.redisread import stream_messages
from tests.wirekeys import snake_case_keys

REPO = Path(__file__).resolve().parents[2]
ETHER = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def run_cli(*args: str, wrapper: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [*wrapper, sys.executable, "-m", "capture", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
        check=False,
    )


def assert_usage_error(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert text in lines[0]


@pytest.fixture
def one_connection_pcap(tmp_path: Path) -> Path:
    client, server, port = "10.244.1.10", "10.244.1.11", 40000
    packets = [
        IP(src=client, dst=server) / TCP(sport=port, dport=80, flags="S", seq=100),
        IP(src=server, dst=client) / TCP(sport=80, dport=port, flags="SA", seq=500, ack=101),
        IP(src=client, dst=server)
        / TCP(sport=port, dport=80, flags="PA", seq=101, ack=501)
        / Raw(b"x" * 10),
        IP(src=client, dst=server) / TCP(sport=port, dport=80, flags="FA", seq=111, ack=501),
        IP(src=server, dst=client)
        / TCP(sport=80, dport=port, flags="PA", seq=501, ack=112)
        / Raw(b"y" * 20),
        IP(src=server, dst=client) / TCP(sport=80, dport=port, flags="FA", seq=521, ack=112),
    ]
    frames = []
    for index, packet in enumerate(packets):
        frame = ETHER / packet
        frame.time = 1_700_000_000 + index / 1000
        frames.append(frame)
    path = tmp_path / "one.pcap"
    wrpcap(str(path), frames)
    return path


def test_help_documents_every_option() -> None:
    result = run_cli("-h")
    assert result.returncode == 0
    for option in (
        "--interface", "--read", "--mode", "--bpf", "--protocols", "--redis", "--prefix",
        "--maxlen", "--format", "--node", "--redis-env", "--health-file", "--worker",
        "--ring-dir", "--ring-bytes",
        "--metrics-port", "--buffer-bytes", "--syn-timeout", "--ongoing-interval",
        "--local-cidr", "--export", "--since", "--until", "Exit codes",
    ):  # fmt: skip
        assert option in result.stdout


def test_pcap_to_jsonl(one_connection_pcap: Path) -> None:
    result = run_cli("--read", str(one_connection_pcap), "--node", "n1", "--worker", "w1")
    assert result.returncode == 0, result.stderr
    entries = [Entry.from_json(line) for line in result.stdout.splitlines()]
    closing = [e for e in entries if e.tcp is not None and e.tcp.event == "close"]
    assert [(e.request_size, e.response_size) for e in closing] == [(10, 20)]
    assert all(e.id.startswith("w1/") and e.node.name == "n1" for e in entries)
    assert closing[0].timestamp == 1_700_000_000_000


def test_user_bpf_applies_to_recorded_frames(one_connection_pcap: Path) -> None:
    result = run_cli("--read", str(one_connection_pcap), "--bpf", "port 81")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("--read", "{garbage}"), "not a pcap or pcapng file"),
        (("--read", "{missing}"), "cannot read"),
        (("--read", "{pcap}", "--bpf", "host 1.2.3."), "bad capture filter 'host 1.2.3.'"),
        (("--read", "{pcap}", "--redis", "http://nowhere"), "bad Redis URL"),
        (("--read", "{pcap}", "--redis-env", "PODSCOPE_TEST_UNSET"), "variable is empty"),
        (("--read", "{pcap}", "--protocols", "tcp,http"), "--protocols"),
        (("--read", "{pcap}", "--ring-dir", "{tmp}/ring"), "--ring-dir needs --mode full"),
        (("--read", "{pcap}", "--protocols", "udp"), "would capture nothing"),
    ],
)
def test_setup_errors_are_one_line_and_exit_2(
    tmp_path: Path, one_connection_pcap: Path, args: tuple[str, ...], text: str
) -> None:
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"this is not a capture file at all")
    values = {
        "garbage": str(garbage),
        "missing": str(tmp_path / "missing.pcap"),
        "pcap": str(one_connection_pcap),
        "tmp": str(tmp_path),
    }
    assert_usage_error(run_cli(*(arg.format(**values) for arg in args)), text)


def test_busy_metrics_port_leaves_the_capture_running(one_connection_pcap: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        result = run_cli("--read", str(one_connection_pcap), "--metrics-port", str(port))
    assert result.returncode == 0, result.stderr
    assert f"capturing without /metrics: port {port}" in result.stderr
    assert '"event":"close"' in result.stdout.replace(" ", "")


def test_health_file_is_touched_while_capturing(tmp_path: Path, one_connection_pcap: Path) -> None:
    health = tmp_path / "alive"
    result = run_cli("--read", str(one_connection_pcap), "--health-file", str(health))
    assert result.returncode == 0, result.stderr
    assert health.exists()


def test_usage_errors_from_argparse_exit_2() -> None:
    assert run_cli("--mode", "sideways", "--read", "x").returncode == 2
    assert run_cli("--format", "jsonl").returncode == 2  # no source


@pytest.mark.root
def test_missing_interface_exits_2() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: without it the permission error comes first")
    assert_usage_error(run_cli("--interface", "nosuch0"), "no such interface 'nosuch0'")


@pytest.mark.root
def test_no_capture_permission_exits_2() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root, to drop CAP_NET_RAW from it")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    without_net_raw = ("setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw", "--")
    result = run_cli("--interface", "lo", wrapper=without_net_raw)
    assert_usage_error(result, "needs root or the CAP_NET_RAW capability")


@pytest.mark.redis
def test_pcap_to_redis_stream_and_stats(one_connection_pcap: Path) -> None:
    url, prefix = "redis://127.0.0.1:6379/15", f"clitest-{secrets.token_hex(4)}"
    client: redis.Redis = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    try:
        result = run_cli(
            "--read", str(one_connection_pcap), "--redis", url, "--prefix", prefix,
            "--worker", "w9", "--node", "n9",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        messages = stream_messages(client, f"{prefix}:entries")
        entries = [Entry.from_json(fields[b"entry"]) for _, fields in messages]
        assert [e.tcp.event for e in entries if e.tcp is not None] == ["connect", "close"]
        snapshot = json.loads(client.hget(f"{prefix}:workers", "w9") or b"{}")
        assert snapshot["node"] == "n9"
        assert snapshot["pipeline"]["packets"] == 6
        assert snapshot["publisher"]["published"] == len(entries)
        assert "connectionsOpen" in snapshot["pipeline"]
        assert snake_case_keys(snapshot) == []
    finally:
        client.delete(f"{prefix}:entries", f"{prefix}:workers")
        client.close()


def test_entries_never_published_are_counted_and_exit_1(one_connection_pcap: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    result = run_cli("--read", str(one_connection_pcap), "--redis", url)
    assert result.returncode == 1
    assert "2 entries were not published (Redis unreachable or too slow)" in result.stderr


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_lab()
    with Lab() as built:
        yield built


def wait_for_line(process: subprocess.Popen[str], text: str, timeout: float = 30.0) -> None:
    """Read the process's stderr until a line contains ``text`` (it is up and capturing)."""
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        if not select.select([process.stderr], [], [], remaining)[0]:
            break
        line = process.stderr.readline()
        if text in line:
            return
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"no {text!r} on the worker's stderr")


@pytest.mark.root
def test_live_cli_flushes_open_connections_on_sigterm(lab: Lab) -> None:
    frontend, api = lab.pod("shop/frontend"), lab.pod("payments/api")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "capture", "-i", "any", "--worker", "live", "--log-level", "info"]
    with TcpServer(api.netns, api.ip, 8000, 300):
        process = subprocess.Popen(
            lab.command(lab.node_ns, argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
        )
        wait_for_line(process, "capturing on any")
        done = tcp_exchange(frontend.netns, api.ip, 8000, 4321)
        with enter_netns(frontend.netns):
            still_open = socket.create_connection((api.ip, 8000), timeout=5)
        with still_open:
            open_port = still_open.getsockname()[1]
            time.sleep(0.5)
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    entries = [Entry.from_json(line) for line in stdout.splitlines()]
    by_port: dict[int, list[Entry]] = {}
    for entry in entries:
        by_port.setdefault(entry.src.port, []).append(entry)
    finished = [e for e in by_port[done.local_port] if e.tcp is not None and e.tcp.event == "close"]
    assert [(e.request_size, e.response_size) for e in finished] == [(4321, 300)]
    assert open_port in by_port  # reported by the final flush


def test_full_mode_ring_is_exported_by_time_and_filter(
    tmp_path: Path, one_connection_pcap: Path
) -> None:
    ring = tmp_path / "ring"
    written = run_cli("--read", str(one_connection_pcap), "--mode", "full", "--ring-dir", str(ring))
    assert written.returncode == 0, written.stderr
    everything, server_side = tmp_path / "all.pcap", tmp_path / "server.pcap"
    result = run_cli("--export", str(everything), "--ring-dir", str(ring))
    assert result.returncode == 0, result.stderr
    assert "exported 6 packets" in result.stderr
    result = run_cli(
        "--export", str(server_side), "--ring-dir", str(ring), "--bpf", "src host 10.244.1.11",
        "--since", "1700000000.0015",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with RawPcapReader(str(server_side)) as reader:
        assert len(list(reader)) == 2  # SYN-ACK is before --since; the reply and its FIN
    with RawPcapReader(str(everything)) as reader:
        assert [bytes(data) for data, _ in reader] == [
            bytes(frame) for frame in rdpcap(str(one_connection_pcap))
        ]


def test_export_needs_a_ring_dir(tmp_path: Path) -> None:
    assert_usage_error(run_cli("--export", str(tmp_path / "x.pcap")), "--export needs --ring-dir")
