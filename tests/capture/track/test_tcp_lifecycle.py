"""TCP tracker lifecycle edge cases: timers in packet-time order, one entry per attempt, the end
of the capture, durations that never shrink, idle expiry, eviction, RTT and unknown sizes."""

from __future__ import annotations

import pytest

from capture.pipeline import Pipeline, PipelineConfig
from capture.track.tcp import TcpEvent
from contract.schema import Entry, Node
from tests.capture.packets import Conversation, decoded, segment
from tests.capture.track.test_tcp import run, tracker

KERNEL_SYN_RETRIES = (0.0, 1.0, 3.0, 7.0, 15.0, 31.0, 63.0, 127.0)
"""When Linux sends a SYN and its retries (tcp_syn_retries = 6, doubling from 1 s)."""


def pipeline(**overrides: object) -> Pipeline:
    config = PipelineConfig(**overrides)  # type: ignore[arg-type]
    return Pipeline(config, "w", Node(name="n"))


def feed_at(target: Pipeline, timed: list[tuple[float, bytes]]) -> list[Entry]:
    entries: list[Entry] = []
    for ts, raw in timed:
        entries.extend(target.feed(ts, raw, 1))
    return entries


def tcp_events(entries: list[Entry]) -> list[str]:
    return [entry.tcp.event for entry in entries if entry.tcp is not None]


def test_a_syn_retried_after_the_timeout_first_ends_the_attempt_it_retries() -> None:
    # a quiet pcap: no other packet runs the timers between the SYNs
    syn = Conversation().c("S")
    target = pipeline(syn_timeout=5.0)
    start = 1000.0
    entries = feed_at(target, [(start + at, syn) for at in KERNEL_SYN_RETRIES[:5]])
    entries += target.flush(start + 15.0)
    assert tcp_events(entries) == ["timeout"]
    (timeout,) = entries
    assert timeout.tcp is not None
    assert timeout.tcp.state == "SYN_SENT"
    assert timeout.elapsed_time == 7000  # first to last SYN before the 5 s without an answer


def test_one_attempt_is_one_timeout_however_long_the_kernel_retries() -> None:
    syn = Conversation().c("S")
    target = pipeline(syn_timeout=5.0, tombstone_seconds=30.0)
    entries = feed_at(target, [(1000.0 + at, syn) for at in KERNEL_SYN_RETRIES])
    entries += target.flush(1000.0 + 200.0)
    assert tcp_events(entries) == ["timeout"]
    assert target.stats.late_packets == 4  # the retries after the attempt was reported


def test_a_new_isn_after_a_timed_out_attempt_is_a_new_attempt() -> None:
    first, second = Conversation(isn=1000), Conversation(isn=9000)
    target = pipeline(syn_timeout=5.0)
    entries = feed_at(target, [(1000.0, first.c("S")), (1010.0, second.c("S"))])
    entries += target.flush(1012.0)
    assert tcp_events(entries) == ["timeout", "timeout"]


@pytest.mark.parametrize("full", [False, True], ids=["connections", "full"])
def test_a_handshake_in_progress_at_the_end_is_a_timeout(full: bool) -> None:
    conversation = Conversation()
    frames = [conversation.c("S"), conversation.s("SA")] if full else [conversation.c("S")]
    tcp = tracker(full)
    assert run(tcp, frames) == []
    (event,) = tcp.flush(101.0)
    assert event.event == "timeout"
    assert event.end == pytest.approx(100.0 + 0.01 * (len(frames) - 1))
    assert tcp.open_connections == 0


def test_a_timeout_spans_the_attempt_not_the_wait() -> None:
    tcp = tracker(False, syn_timeout=5.0)
    syn = decoded(Conversation().c("S"))
    for at in (0.0, 1.0, 2.04):
        tcp.packet(100.0 + at, syn)
    (event,) = tcp.tick(110.0)
    assert event.event == "timeout"
    assert event.end - event.start == pytest.approx(2.04)


@pytest.mark.parametrize("full", [False, True], ids=["connections", "full"])
def test_durations_of_one_connection_never_shrink(full: bool) -> None:
    tcp = tracker(full, ongoing_interval=10.0)
    run(tcp, Conversation().handshake())
    reports: list[TcpEvent] = []
    for now in (110.1, 120.2, 130.3, 140.4):
        reports += tcp.tick(now)
    reports += tcp.flush(140.45)
    durations = [event.end - event.start for event in reports]
    assert [event.event for event in reports] == ["ongoing"] * 5
    assert durations == sorted(durations)
    assert durations[-1] == pytest.approx(40.45)


def test_full_mode_expires_a_connection_whose_end_was_lost() -> None:
    tcp = tracker(True, ongoing_interval=10.0, idle_timeout=60.0)
    conversation = Conversation()
    run(tcp, [*conversation.handshake(), conversation.c("PA", b"x" * 10)])
    events: list[TcpEvent] = []
    for now in range(110, 200, 10):
        events += tcp.tick(float(now))
    assert [event.event for event in events] == ["ongoing"] * 5 + ["expired"]
    expired = events[-1]
    assert expired.note == "idle 70 s"  # checked at its ongoing reports, every 10 s
    assert expired.end == events[-2].end  # not before the last ongoing report
    assert expired.request_size == 10
    assert tcp.open_connections == 0
    assert tcp.expired == 1
    assert tcp.flush(300.0) == []


def test_connections_mode_never_expires_a_silent_connection() -> None:
    tcp = tracker(False, ongoing_interval=10.0, idle_timeout=60.0)
    run(tcp, Conversation().handshake())
    events: list[TcpEvent] = []
    for now in range(110, 400, 10):
        events += tcp.tick(float(now))
    assert {event.event for event in events} == {"ongoing"}
    assert tcp.open_connections == 1


def test_a_full_table_reports_the_connection_it_evicts() -> None:
    tcp = tracker(False, max_connections=2)
    run(tcp, Conversation(client_port=1001).handshake())
    run(tcp, Conversation(client_port=1002).handshake(), start=101.0)
    (evicted,) = run(tcp, [Conversation(client_port=1003).c("S")], start=102.0)
    assert (evicted.event, evicted.client_port, evicted.note) == ("expired", 1001, "table full")
    assert evicted.request_size == 0  # its start was seen: what it sent since is not counted
    assert (tcp.evicted, tcp.expired, tcp.open_connections) == (1, 1, 2)


def test_rtt_means_syn_to_syn_ack_in_both_modes() -> None:
    conversation = Conversation()
    timed = [(100.0, conversation.c("S")), (100.010, conversation.s("SA"))]
    timed.append((100.500, conversation.c("A")))
    rtts = []
    for mode in ("connections", "full"):
        target = pipeline(mode=mode)
        connect = next(e for e in feed_at(target, timed) if e.tcp and e.tcp.event == "connect")
        assert connect.tcp is not None
        rtts.append(connect.tcp.rtt)
    assert rtts == [pytest.approx(10.0), pytest.approx(10.0)]


def test_connections_mode_reports_unknown_sizes_as_null() -> None:
    server_fin = segment("10.0.2.7", "10.0.1.5", (443, 51000), "FA", 9000, 7000)
    client_fin = segment("10.0.1.5", "10.0.2.7", (51000, 443), "FA", 7000, 9001)
    (close,) = feed_at(pipeline(), [(100.0, server_fin), (100.1, client_fin)])
    assert (close.request_size, close.response_size) == (None, None)
    wire = close.to_wire()
    assert "requestSize" not in wire
    assert "responseSize" not in wire
    assert Entry.from_wire(wire) == close
    assert "close unknown / unknown" in close.summary


def test_a_syn_with_a_malformed_option_still_starts_its_connection() -> None:
    conversation = Conversation()
    bad_option = b"\x02\x04\x05\xb4\x03\x09\x07\x01"  # MSS, then a window scale of length 9
    bad_syn = _with_options(conversation.c("S"), bad_option)
    target = pipeline()
    entries = feed_at(target, [(100.0, bad_syn), (100.01, conversation.s("SA"))])
    assert target.stats.malformed == 0
    (connect,) = entries
    assert connect.tcp is not None
    assert connect.tcp.rtt == pytest.approx(10.0)


def _with_options(raw: bytes, options: bytes) -> bytes:
    """An Ethernet/IPv4/TCP frame with ``options`` appended to its TCP header (lengths fixed,
    checksums left stale: the decoder does not check them)."""
    assert len(options) % 4 == 0
    ip_start, tcp_start = 14, 34
    tcp_header_end = tcp_start + (raw[tcp_start + 12] >> 4) * 4
    data = bytearray(raw[:tcp_header_end] + options + raw[tcp_header_end:])
    total = int.from_bytes(data[ip_start + 2 : ip_start + 4]) + len(options)
    data[ip_start + 2 : ip_start + 4] = total.to_bytes(2)
    offset = (tcp_header_end - tcp_start + len(options)) // 4
    data[tcp_start + 12] = offset << 4 | (data[tcp_start + 12] & 0x0F)
    return bytes(data)
