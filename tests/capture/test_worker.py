"""The worker loop: offline frames, ring, stats snapshots and metrics, live scope changes."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from prometheus_client import generate_latest
from scapy.layers.inet import IP, TCP
from scapy.packet import Packet, Raw

from capture.pipeline import Pipeline, PipelineConfig
from capture.sinks.pcapring import PcapRing
from capture.sinks.publish import ScopeWatcher
from capture.sources.frames import LINKTYPE_RAW, Frame
from capture.sources.live import Sniffer, SnifferStats
from capture.worker import FilterSpec, Worker, WorkerSettings
from contract.bus import RedisKeys
from contract.schema import Entry, Node
from contract.stats import CaptureMetrics
from lab.servers import TcpServer, tcp_exchange
from lab.topology import Lab, enter_netns
from tests.capture.livecapture import ListSink, live_capture, require_lab

NODE = Node("n1", "10.0.0.1")
CLIENT, SERVER = "10.244.1.10", "10.244.1.11"


def connection(
    start: float, port: int, request: int, response: int, isn: int = 1000
) -> list[Frame]:
    """Frames of one TCP connection: handshake, request, response, close from both sides."""
    server_isn = 50_000

    def c2s(flags: str, seq: int, ack: int = 0, data: bytes = b"") -> Packet:
        return (
            IP(src=CLIENT, dst=SERVER)
            / TCP(sport=port, dport=80, flags=flags, seq=seq % 2**32, ack=ack % 2**32)
            / Raw(data)
        )

    def s2c(flags: str, seq: int, ack: int, data: bytes = b"") -> Packet:
        return (
            IP(src=SERVER, dst=CLIENT)
            / TCP(sport=80, dport=port, flags=flags, seq=seq % 2**32, ack=ack % 2**32)
            / Raw(data)
        )

    packets = [
        c2s("S", isn),
        s2c("SA", server_isn, isn + 1),
        c2s("PA", isn + 1, server_isn + 1, b"q" * request),
        c2s("FA", isn + 1 + request, server_isn + 1),
        s2c("PA", server_isn + 1, isn + 2 + request, b"r" * response),
        s2c("FA", server_isn + 1 + response, isn + 2 + request),
    ]
    return [Frame(start + i * 0.001, bytes(p), LINKTYPE_RAW, "eth0") for i, p in enumerate(packets)]


def worker_for(
    mode: str = "connections", ring: PcapRing | None = None
) -> tuple[Worker, ListSink, list[Mapping[str, Any]], CaptureMetrics]:
    reports: list[Mapping[str, Any]] = []
    sink = ListSink()
    metrics = CaptureMetrics()
    config = PipelineConfig(mode=mode, syn_timeout=1.0)  # type: ignore[arg-type]
    worker = Worker(
        Pipeline(config, "w1", NODE),
        sink,
        WorkerSettings("w1", NODE, FilterSpec(mode=mode)),
        ring=ring,
        metrics=metrics,
        report=lambda _name, snapshot: reports.append(snapshot),
    )
    return worker, sink, reports, metrics


def closes(entries: list[Entry]) -> dict[int, tuple[int | None, int | None]]:
    return {
        e.src.port: (e.request_size, e.response_size)
        for e in entries
        if e.tcp is not None and e.tcp.event == "close"
    }


def test_recorded_frames_become_entries_and_a_final_snapshot() -> None:
    worker, sink, reports, metrics = worker_for()
    frames = connection(100.0, 40001, 300, 7000) + connection(100.5, 40002, 1, 2, isn=2**32 - 5)
    worker.run_frames(iter(frames))
    assert closes(sink.snapshot()) == {40001: (300, 7000), 40002: (1, 2)}
    final = reports[-1]
    assert final["worker"] == "w1"
    assert final["node"] == "n1"
    assert final["pipeline"]["packets"] == len(frames)
    assert final["publisher"] == {"entries": len(sink.snapshot())}
    assert "sniffer" not in final
    exposition = generate_latest(metrics.registry).decode()
    assert f'podscope_capture_packets_total{{node="n1",worker="w1"}} {len(frames)}.0' in exposition


def test_unanswered_syn_times_out_on_packet_time_before_the_end() -> None:
    worker, sink, _, _ = worker_for()
    syn = IP(src=CLIENT, dst="203.0.113.66") / TCP(sport=40003, dport=80, flags="S", seq=7)
    later = connection(110.0, 40004, 5, 5)
    arrived_before_end: list[Entry] = []

    def frames() -> Iterator[Frame]:
        yield Frame(100.0, bytes(syn), LINKTYPE_RAW, "eth0")
        yield from later[:-1]
        arrived_before_end.extend(sink.snapshot())
        yield later[-1]

    worker.run_frames(frames())
    timeouts = [e for e in arrived_before_end if e.tcp is not None and e.tcp.event == "timeout"]
    assert [e.src.port for e in timeouts] == [40003]


def test_stop_event_ends_an_offline_run_and_still_flushes() -> None:
    worker, sink, reports, _ = worker_for()
    stop = threading.Event()
    stop.set()
    endless = (frame for n in range(10_000) for frame in connection(n, 1024 + n % 60000, 1, 1))
    worker.run_frames(endless, stop)
    assert reports
    assert reports[-1]["pipeline"]["packets"] <= 1024
    assert len(closes(sink.snapshot())) < 10_000


def test_full_mode_writes_every_frame_to_the_ring(tmp_path: Path) -> None:
    ring = PcapRing(tmp_path, max_bytes=1_000_000)
    worker, _, reports, _ = worker_for("full", ring)
    frames = connection(100.0, 40005, 10, 10)
    worker.run_frames(iter(frames))
    assert reports[-1]["ring"]["packetsWritten"] == len(frames)
    exported = tmp_path / "out.pcap"
    assert ring.export(exported, bpf="tcp port 40005") == len(frames)


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_lab()
    with Lab() as built:
        yield built


@pytest.mark.root
def test_scope_change_keeps_tracked_connections_and_narrows_capture(lab: Lab) -> None:
    frontend, cart, api = lab.pod("shop/frontend"), lab.pod("shop/cart"), lab.pod("payments/api")
    with (
        live_capture(lab) as capture,
        TcpServer(api.netns, api.ip, 8000, 500),
        TcpServer(cart.netns, cart.ip, 8000, 500),
    ):
        with enter_netns(frontend.netns):
            long_lived = socket.create_connection((api.ip, 8000), timeout=5)
        with long_lived:
            port = long_lived.getsockname()[1]
            long_lived.sendall(b"a" * 1000)
            capture.worker.request_scope(f"host {api.ip}")
            deadline = time.monotonic() + 5
            while capture.worker.scope != f"host {api.ip}" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert capture.worker.scope == f"host {api.ip}"
            long_lived.sendall(b"b" * 234)
            long_lived.shutdown(socket.SHUT_WR)
            while long_lived.recv(65536):
                pass
        out_of_scope = tcp_exchange(frontend.netns, cart.ip, 8000, 10)
        in_scope = tcp_exchange(frontend.netns, api.ip, 8000, 10)
        capture.worker.request_scope("host nonsense..")
        capture.wait_for(lambda entries: in_scope.local_port in closes(entries))
        time.sleep(0.5)
        entries = capture.sink.snapshot()
        assert capture.worker.scope_errors == 1
        assert "nonsense" in capture.worker.last_scope_error
        assert capture.sniffer.expression == FilterSpec().expression(f"host {api.ip}")
    found = closes(entries)
    assert found[port] == (1234, 500)
    assert found[in_scope.local_port] == (10, 500)
    assert out_of_scope.local_port not in {e.src.port for e in entries}


@pytest.mark.root
@pytest.mark.redis
def test_scope_from_redis_reaches_the_kernel_filter(lab: Lab) -> None:
    url, keys = "redis://127.0.0.1:6379/15", RedisKeys(f"wtest-{secrets.token_hex(4)}")
    client: redis.Redis = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    api = lab.pod("payments/api")
    try:
        with live_capture(lab) as capture:
            watcher = ScopeWatcher(
                url, "lab-node-1", capture.worker.request_scope, prefix=keys.prefix
            ).start()
            try:
                client.set(keys.scope("lab-node-1"), f"host {api.ip}")
                client.publish(keys.scope_channel, "lab-node-1")
                deadline = time.monotonic() + 10
                while capture.worker.scope != f"host {api.ip}" and time.monotonic() < deadline:
                    time.sleep(0.05)
            finally:
                watcher.close()
            assert capture.sniffer.expression == FilterSpec().expression(f"host {api.ip}")
    finally:
        client.delete(keys.scope("lab-node-1"))
        client.close()


class BrokenPipeline:
    """A pipeline with a bug: raises on frames of one port, works otherwise."""

    def __init__(self) -> None:
        self.real = Pipeline(PipelineConfig(), "w1", NODE)

    def feed(
        self, timestamp: float, frame: bytes | memoryview, linktype: int, interface: str = ""
    ) -> list[Entry]:
        if bytes(frame)[20:22] == b"\x9c\x47":  # source port 40007
            raise RuntimeError("bug")
        return self.real.feed(timestamp, frame, linktype, interface)

    def tick(self, now: float) -> list[Entry]:
        return self.real.tick(now)

    def flush(self, now: float) -> list[Entry]:
        return self.real.flush(now)

    @property
    def stats(self) -> Any:
        return self.real.stats


def test_a_pipeline_error_is_counted_and_capture_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    sink = ListSink()
    reports: list[Mapping[str, Any]] = []
    worker = Worker(
        BrokenPipeline(),
        sink,
        WorkerSettings("w1", NODE),
        report=lambda _name, snapshot: reports.append(snapshot),
    )
    worker.run_frames(iter(connection(100.0, 40007, 1, 1) + connection(101.0, 40008, 3, 4)))
    assert closes(sink.snapshot()) == {40008: (3, 4)}
    assert worker.pipeline_errors == 3  # the client's three frames of port 40007
    assert reports[-1]["pipelineErrors"] == 3
    assert "pipeline failed" in caplog.text


class IdleSniffer:
    """A sniffer that sees no traffic: read waits out its timeout."""

    expression = "tcp"

    def read(self, timeout: float) -> list[Frame]:
        time.sleep(timeout)
        return []

    def stats(self) -> SnifferStats:
        return SnifferStats()


def test_live_worker_reports_a_snapshot_at_once() -> None:
    worker, _, reports, _ = worker_for()
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_live, args=(cast(Sniffer, IdleSniffer()), stop))
    thread.start()
    try:
        deadline = time.monotonic() + 2.0  # well before the 5 s stats interval
        while not reports and time.monotonic() < deadline:
            time.sleep(0.01)
        assert reports, "no stats snapshot in the first 2 s"
        assert reports[0]["worker"] == "w1"
        assert reports[0]["sniffer"]["packets"] == 0
    finally:
        stop.set()
        thread.join(5)
