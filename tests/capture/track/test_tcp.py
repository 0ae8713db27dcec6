"""TCP tracker: every event, both modes, byte counts from sequence numbers, odd packet orders."""

from __future__ import annotations

import socket

import pytest

from capture.decode.packets import ACK, FIN, IPPROTO_TCP, PSH, InnerTuple, Packet, split_key
from capture.track.tcp import TcpEvent, TcpTracker, guess_client_first
from tests.capture.packets import (
    CLIENT,
    CLIENT_PORT,
    SERVER,
    SERVER_PORT,
    Conversation,
    decoded,
    segment,
)

CONTROL_ONLY = ("S", "F", "R")


def tracker(full: bool, **overrides: float) -> TcpTracker:
    settings: dict[str, float] = {
        "syn_timeout": 5.0,
        "close_timeout": 10.0,
        "ongoing_interval": 30.0,
        "payload_bytes": 16,
        "max_connections": 1000,
        "tombstone_seconds": 30.0,
        "idle_timeout": 300.0,
    }
    settings.update(overrides)
    return TcpTracker(
        full=full,
        syn_timeout=settings["syn_timeout"],
        close_timeout=settings["close_timeout"],
        ongoing_interval=settings["ongoing_interval"],
        payload_bytes=int(settings["payload_bytes"]),
        max_connections=int(settings["max_connections"]),
        tombstone_seconds=settings["tombstone_seconds"],
        idle_timeout=settings["idle_timeout"],
    )


def run(
    tcp: TcpTracker, frames: list[bytes], start: float = 100.0, step: float = 0.01
) -> list[TcpEvent]:
    """Feed frames (dropping non-control segments when the tracker is in connections mode)."""
    events: list[TcpEvent] = []
    for index, raw in enumerate(frames):
        packet = decoded(raw)
        if not tcp._full and not packet.flags & 0x07:
            continue
        events.extend(tcp.packet(start + index * step, packet))
    return events


def only(events: list[TcpEvent], name: str) -> TcpEvent:
    matching = [event for event in events if event.event == name]
    assert len(matching) == 1, events
    return matching[0]


def exchange(conversation: Conversation, request: bytes, response: bytes) -> list[bytes]:
    """Handshake, one request and response, FIN from the client, FIN from the server, ACK."""
    return [
        *conversation.handshake(),
        conversation.c("PA", request),
        conversation.s("PA", response),
        conversation.c("FA"),
        conversation.s("FA"),
        conversation.c("A"),
    ]


@pytest.mark.parametrize("full", [False, True], ids=["connections", "full"])
def test_connect_then_close_with_exact_bytes(full: bool) -> None:
    tcp = tracker(full)
    events = run(tcp, exchange(Conversation(), b"q" * 300, b"r" * 1200))
    assert [event.event for event in events] == ["connect", "close"]
    connect, close = events
    assert (socket.inet_ntoa(close.client), close.client_port) == (CLIENT, CLIENT_PORT)
    assert (socket.inet_ntoa(close.server), close.server_port) == (SERVER, SERVER_PORT)
    assert (close.request_size, close.response_size) == (300, 1200)
    assert close.state == "CLOSED"
    assert close.start == pytest.approx(100.0)
    assert close.end == pytest.approx(100.06)
    assert not close.partial
    if full:
        assert connect.rtt == pytest.approx(0.01)  # SYN -> SYN-ACK, as in connections mode
        assert close.packets == 7
        assert close.response_packets == 3  # SYN-ACK, the response, the server's FIN
        assert close.retransmits == 0
        assert close.request_preview == b"q" * 16
        assert close.response_preview == b"r" * 16
    else:
        assert connect.rtt == pytest.approx(0.01)  # SYN -> SYN-ACK: the last ACK is filtered
        assert close.packets is None
        assert close.response_packets is None
        assert close.request_preview == b""
    assert tcp.open_connections == 0


@pytest.mark.parametrize("full", [False, True], ids=["connections", "full"])
def test_reset_after_data_counts_bytes_from_rst_seq_and_ack(full: bool) -> None:
    conversation = Conversation()
    frames = [*conversation.handshake(), conversation.c("PA", b"x" * 500)]
    frames += [conversation.s("PA", b"y" * 700), conversation.s("RA")]
    reset = only(run(tracker(full), frames), "reset")
    assert reset.reset_by == "server"
    assert (reset.request_size, reset.response_size) == (500, 700)
    assert reset.state == "RESET"


def test_reset_by_the_client() -> None:
    conversation = Conversation()
    frames = [*conversation.handshake(), conversation.c("RA")]
    assert only(run(tracker(False), frames), "reset").reset_by == "client"


@pytest.mark.parametrize("full", [False, True], ids=["connections", "full"])
def test_refused(full: bool) -> None:
    conversation = Conversation()
    events = run(tracker(full), [conversation.c("S"), conversation.s("RA", ack=1001)])
    refused = only(events, "refused")
    assert refused.reset_by == "server"
    assert refused.end - refused.start == pytest.approx(0.01)
    assert len(events) == 1


def test_timeout_after_retransmitted_syns_is_one_connection() -> None:
    tcp = tracker(False)
    conversation = Conversation()
    syn = conversation.c("S")
    assert run(tcp, [syn]) == []
    assert tcp.packet(101.0, decoded(syn)) == ()  # same ISN: a retransmission
    assert tcp.packet(103.0, decoded(syn)) == ()
    assert tcp.open_connections == 1
    assert tcp.tick(107.9) == []  # 5 s after the *last* SYN is 108
    (timeout,) = tcp.tick(108.0)
    assert timeout.event == "timeout"
    assert timeout.state == "SYN_SENT"
    assert timeout.end - timeout.start == pytest.approx(3.0)  # the attempt's own span
    assert tcp.open_connections == 0


def test_new_isn_on_a_closed_four_tuple_is_a_new_connection() -> None:
    tcp = tracker(False)
    first = Conversation(isn=1000)
    assert [e.event for e in run(tcp, exchange(first, b"a", b"b"))] == ["connect", "close"]
    again = Conversation(isn=900_000)
    events = run(tcp, exchange(again, b"aa", b"bbb"), start=101.0)
    assert [e.event for e in events] == ["connect", "close"]
    assert (events[1].request_size, events[1].response_size) == (2, 3)


def test_new_isn_while_the_first_attempt_is_pending_ends_it() -> None:
    tcp = tracker(False)
    run(tcp, [Conversation(isn=1).c("S")])
    events = run(tcp, [Conversation(isn=77).c("S")], start=101.0)
    assert [e.event for e in events] == ["timeout"]
    assert tcp.open_connections == 1


def test_late_duplicates_after_close_are_ignored() -> None:
    tcp = tracker(True)
    conversation = Conversation()
    frames = exchange(conversation, b"a", b"b")
    events = run(tcp, [*frames, frames[-3], frames[-2], frames[-1]])
    assert [e.event for e in events] == ["connect", "close"]
    assert tcp.open_connections == 0
    assert tcp.late_packets == 4  # the last ACK and the three repeats


def test_simultaneous_close() -> None:
    conversation = Conversation()
    frames = [*conversation.handshake(), conversation.c("PA", b"x" * 10)]
    frames.append(conversation.s("A"))
    client_fin = conversation.c("FA")
    server_fin = conversation.s("FA", ack=conversation.client_next - 1)  # crossed: FIN not seen
    events = run(tracker(False), [*frames, client_fin, server_fin])
    close = only(events, "close")
    assert (close.request_size, close.response_size) == (10, 0)


@pytest.mark.parametrize("full", [False, True], ids=["connections", "full"])
def test_out_of_order_fin_before_the_last_data(full: bool) -> None:
    conversation = Conversation()
    frames = conversation.handshake()
    data = conversation.c("PA", b"x" * 100)
    fin = conversation.c("FA")
    frames += [fin, data, conversation.s("FA")]
    close = only(run(tracker(full), frames), "close")
    assert close.request_size == 100


@pytest.mark.parametrize("full", [False, True], ids=["connections", "full"])
def test_duplicate_packets_make_one_connection(full: bool) -> None:
    frames = exchange(Conversation(), b"abc", b"defg")
    doubled = [raw for raw in frames for _ in range(2)]
    tcp = tracker(full)
    events = run(tcp, doubled)
    assert [e.event for e in events] == ["connect", "close"]
    assert (events[1].request_size, events[1].response_size) == (3, 4)
    if full:
        assert events[1].retransmits == 5  # SYN, SYN-ACK, request, response, client FIN


@pytest.mark.parametrize("full", [False, True], ids=["connections", "full"])
def test_sequence_numbers_wrapping_past_2_32(full: bool) -> None:
    conversation = Conversation(isn=2**32 - 100, server_isn=2**32 - 5)
    frames = exchange(conversation, b"x" * 1000, b"y" * 3000)
    close = only(run(tracker(full), frames), "close")
    assert (close.request_size, close.response_size) == (1000, 3000)


def test_window_scaled_transfer_of_3_gib_in_connections_mode() -> None:
    conversation = Conversation(isn=123_456)
    size = 3 * 2**30
    frames = conversation.handshake()
    frames.append(conversation.s("FA", seq=5001 + size))
    frames.append(conversation.c("FA", ack=5001 + size + 1))
    close = only(run(tracker(False), frames), "close")
    assert close.response_size == size


def synthetic(template: Packet, seq: int, ack: int, flags: int, size: int) -> Packet:
    """A copy of a decoded segment with other numbers: lets a test move gigabytes cheaply."""
    return template._replace(seq=seq % 2**32, ack=ack % 2**32, flags=flags, payload_len=size)


def test_transfer_over_4_gib_in_full_mode_is_unwrapped() -> None:
    tcp = tracker(True)
    conversation = Conversation(isn=10, server_isn=2**32 - 1000)
    run(tcp, conversation.handshake())
    template = decoded(conversation.s("A"))
    chunk, chunks = 2**30, 5
    position = conversation.server_isn + 1
    for index in range(chunks):
        tcp.packet(101.0 + index, synthetic(template, position, 11, ACK | PSH, chunk))
        position += chunk
    assert not tcp.packet(110.0, synthetic(template, position, 11, ACK | FIN, 0))
    events = tcp.packet(110.1, decoded(conversation.c("FA", ack=position + 1)))
    assert only(list(events), "close").response_size == chunks * chunk


def test_one_sided_fin_closes_after_close_timeout() -> None:
    tcp = tracker(False)
    conversation = Conversation()
    run(tcp, [*conversation.handshake(), conversation.c("FA")])
    assert tcp.tick(105.0) == []
    (close,) = tcp.tick(110.1)
    assert close.event == "close"
    assert close.state == "FIN_WAIT"
    assert close.end == pytest.approx(100.03)  # the last FIN seen, not the timer


def test_ongoing_reports_every_interval() -> None:
    tcp = tracker(True, ongoing_interval=10.0)
    conversation = Conversation()
    run(tcp, [*conversation.handshake(), conversation.c("PA", b"z" * 42)])
    assert tcp.tick(105.0) == []
    (first,) = tcp.tick(110.1)
    assert (first.event, first.request_size, first.state) == ("ongoing", 42, "ESTABLISHED")
    assert tcp.tick(115.0) == []
    (second,) = tcp.tick(120.2)
    assert second.event == "ongoing"


def test_flush_reports_open_connections_once() -> None:
    tcp = tracker(False)
    conversation = Conversation()
    run(tcp, conversation.handshake())
    (event,) = tcp.flush(101.0)
    assert event.event == "ongoing"
    assert tcp.flush(102.0) == []


def test_connection_cap_evicts_the_oldest() -> None:
    tcp = tracker(False, max_connections=2)
    for port in (1001, 1002, 1003):
        run(tcp, [Conversation(client_port=port).c("S")])
    assert tcp.open_connections == 2
    assert tcp.evicted == 1


@pytest.mark.parametrize("full", [False, True], ids=["connections", "full"])
def test_connection_open_before_the_capture_is_partial(full: bool) -> None:
    server_first = segment(SERVER, CLIENT, (443, 51000), "FA", 9000, 7000)
    client_fin = segment(CLIENT, SERVER, (51000, 443), "FA", 7000, 9001)
    close = only(run(tracker(full), [server_first, client_fin]), "close")
    assert close.partial
    assert (close.client_port, close.server_port) == (51000, 443)
    # full mode saw every (no) data byte; connections mode cannot know what passed before
    expected = (0, 0) if full else (None, None)
    assert (close.request_size, close.response_size) == expected


def test_partial_reset_is_reported_at_once() -> None:
    rst = segment(CLIENT, SERVER, (8080, 40000), "R", 5, 0)
    reset = only(run(tracker(False), [rst]), "reset")
    assert reset.partial
    assert reset.reset_by == "server"  # 8080 -> 40000: the service port sent it
    assert (reset.client_port, reset.server_port) == (40000, 8080)


def test_mid_stream_data_in_full_mode_counts_what_it_sees() -> None:
    conversation = Conversation(isn=50_000, server_isn=90_000)
    conversation.client_next, conversation.server_next = 60_000, 95_000
    frames = [conversation.c("PA", b"m" * 64), conversation.s("PA", b"n" * 32)]
    frames += [conversation.c("FA"), conversation.s("FA")]
    close = only(run(tracker(True), frames), "close")
    assert close.partial
    assert (close.request_size, close.response_size) == (64, 32)


def test_full_mode_counts_retransmissions_and_keeps_the_preview_in_order() -> None:
    tcp = tracker(True, payload_bytes=12)
    conversation = Conversation()
    frames = conversation.handshake()
    first = conversation.c("PA", b"abcd")
    second = conversation.c("PA", b"efgh")
    third = conversation.c("PA", b"ijklmnop")
    frames += [first, third, second, first, conversation.c("FA"), conversation.s("FA")]
    close = only(run(tcp, frames), "close")
    assert close.request_preview == b"abcdefghijkl"
    assert close.request_size == 16
    assert close.retransmits == 2  # the late 'efgh' and the repeated 'abcd'
    assert close.packets == 9


def test_guess_client_first() -> None:
    assert guess_client_first(43122, 8080)
    assert not guess_client_first(443, 51000)
    assert not guess_client_first(50000, 60000)  # both ephemeral: the lower port serves
    assert not guess_client_first(80, 8080)


def test_icmp_unreachable_ends_a_pending_attempt_as_timeout() -> None:
    tcp = tracker(False)
    run(tcp, [Conversation().c("S")])
    inner = decoded(Conversation().c("S"))
    src, dst, sport, dport = split_key(inner.key)
    (event,) = tcp.unreachable(100.5, InnerTuple(IPPROTO_TCP, src, dst, sport, dport), "ICMP x")
    assert (event.event, event.note) == ("timeout", "ICMP x")
    assert tcp.open_connections == 0


@pytest.mark.parametrize("full", [False, True], ids=["connections", "full"])
def test_capture_starting_at_the_syn_ack_still_knows_the_client_isn(full: bool) -> None:
    conversation = Conversation()
    syn = conversation.c("S")
    del syn  # sent before the capture started
    frames = [conversation.s("SA"), conversation.c("PA", b"x" * 40), conversation.c("FA")]
    frames.append(conversation.s("FA"))
    events = run(tracker(full), frames)
    assert [event.event for event in events] == ["connect", "close"]
    assert events[0].rtt is None
    assert events[1].request_size == 40
    assert not events[1].partial


def test_full_mode_handshake_completed_by_data_when_the_last_ack_is_missed() -> None:
    conversation = Conversation()
    syn, syn_ack, _ = conversation.handshake()
    frames = [syn, syn_ack, conversation.c("PA", b"hello")]
    events = run(tracker(True), frames)
    connect = only(events, "connect")
    assert connect.rtt == pytest.approx(0.01)  # SYN -> SYN-ACK
    assert connect.state == "ESTABLISHED"


def test_full_mode_syn_ack_never_acknowledged_times_out() -> None:
    tcp = tracker(True)
    conversation = Conversation()
    run(tcp, [conversation.c("S"), conversation.s("SA")])
    (event,) = tcp.tick(106.0)
    assert (event.event, event.state) == ("timeout", "SYN_RECEIVED")


def test_expired_tombstone_no_longer_hides_the_four_tuple() -> None:
    tcp = tracker(False, tombstone_seconds=1.0)
    conversation = Conversation()
    run(tcp, exchange(conversation, b"a", b"b"))
    late_fin = conversation.c("FA", seq=conversation.client_next - 1)
    assert tcp.packet(100.5, decoded(late_fin)) == ()
    assert tcp.late_packets == 1
    tcp.packet(102.0, decoded(late_fin))
    assert tcp.open_connections == 1  # after the tombstone: a partial connection


def test_finished_connections_do_not_pile_up_in_the_timers() -> None:
    tcp = tracker(False)
    template = [decoded(raw) for raw in exchange(Conversation(), b"a", b"b")]
    controls = [packet for packet in template if packet.flags & 0x07]
    client_key = template[0].key
    for index in range(5000):
        port = (20000 + index).to_bytes(2, "big")
        for packet in controls:
            from_client = packet.key == client_key
            key = packet.key[:8] + (
                port + packet.key[10:] if from_client else packet.key[8:10] + port
            )
            tcp.packet(100.0 + index * 0.0001, packet._replace(key=key))
    assert tcp.open_connections == 0
    assert len(tcp._ongoing_due) <= 2048  # not one stale deadline per connection of the last 30 s
    assert len(tcp._handshake_deadlines) <= 2048
