"""DNS answers, query matching, DNS over TCP streams and the per-client name index."""

from __future__ import annotations

import socket

import pytest
from scapy.layers.dns import DNS, DNSQR, DNSRR

from capture.errors import DnsError
from capture.track.dns import DnsTracker, NameIndex, TcpDnsStreams, is_response, parse_answer

CLIENT = socket.inet_aton("10.0.1.5")
RESOLVER = socket.inet_aton("10.96.0.10")


def answer(query_id: int = 7, rcode: int = 0, records: list[DNSRR] | None = None) -> bytes:
    message = DNS(id=query_id, qr=1, rcode=rcode, qd=[DNSQR(qname="www.example.com")],
                  an=records or [])  # fmt: skip
    return bytes(message)


def query(query_id: int = 7) -> bytes:
    return bytes(DNS(id=query_id, rd=1, qd=[DNSQR(qname="www.example.com")]))


A_AND_CNAME = [
    DNSRR(rrname="www.example.com", type="CNAME", rdata="edge.example.net", ttl=30),
    DNSRR(rrname="edge.example.net", type="A", rdata="93.184.216.34", ttl=30),
    DNSRR(rrname="edge.example.net", type="AAAA", rdata="2606:2800:220:1::1", ttl=30),
]


def test_answer_with_cname_a_and_aaaa() -> None:
    parsed = parse_answer(answer(records=A_AND_CNAME))
    assert parsed.query == "www.example.com"
    assert parsed.qtype == "A"
    assert parsed.rcode == "NOERROR"
    assert parsed.answers == ("edge.example.net", "93.184.216.34", "2606:2800:220:1::1")
    assert [address for address, _ in parsed.addresses] == [
        socket.inet_aton("93.184.216.34"),
        socket.inet_pton(socket.AF_INET6, "2606:2800:220:1::1"),
    ]


@pytest.mark.parametrize(("rcode", "name"), [(3, "NXDOMAIN"), (2, "SERVFAIL"), (5, "REFUSED")])
def test_error_rcodes_are_named(rcode: int, name: str) -> None:
    parsed = parse_answer(answer(rcode=rcode))
    assert (parsed.rcode, parsed.answers) == (name, ())


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x00\x07\x81", query(), answer()[:20], answer(records=A_AND_CNAME)[:-6],
     bytes(DNS(id=1, qr=1, qd=[]))],
    ids=["empty", "short", "query", "cut-question", "cut-answer", "no-question"],
)  # fmt: skip
def test_bad_answers_raise_dns_error(payload: bytes) -> None:
    with pytest.raises(DnsError):
        parse_answer(payload)


def test_is_response() -> None:
    assert is_response(answer())
    assert not is_response(query())


def test_latency_from_the_matching_query() -> None:
    dns = DnsTracker(query_timeout=10.0, max_queries=100)
    assert dns.message(10.0, query(7), (CLIENT, 5353), (RESOLVER, 53)) is None
    assert dns.message(10.001, query(8), (CLIENT, 5354), (RESOLVER, 53)) is None
    event = dns.message(10.004, answer(7), (RESOLVER, 53), (CLIENT, 5353))
    assert event is not None
    assert event.latency == pytest.approx(0.004)
    assert (event.client, event.client_port, event.server_port) == (CLIENT, 5353, 53)
    assert event.start == 10.0
    other_port = dns.message(10.005, answer(8), (RESOLVER, 53), (CLIENT, 9999))
    assert other_port is not None
    assert other_port.latency is None


def test_repeated_answers_with_new_ids_match_their_own_queries() -> None:
    dns = DnsTracker(query_timeout=10.0, max_queries=100)
    dns.message(1.0, query(1), (CLIENT, 1000), (RESOLVER, 53))
    dns.message(2.0, query(2), (CLIENT, 1000), (RESOLVER, 53))
    second = dns.message(2.5, answer(2, records=A_AND_CNAME), (RESOLVER, 53), (CLIENT, 1000))
    first = dns.message(3.0, answer(1, records=A_AND_CNAME), (RESOLVER, 53), (CLIENT, 1000))
    assert second is not None
    assert first is not None
    assert second.latency == pytest.approx(0.5)
    assert first.latency == pytest.approx(2.0)
    assert first.answer is second.answer  # parsed once


def test_unanswered_queries_expire_and_are_counted() -> None:
    dns = DnsTracker(query_timeout=1.0, max_queries=100)
    dns.message(10.0, query(1), (CLIENT, 1000), (RESOLVER, 53))
    dns.message(12.0, query(2), (CLIENT, 1001), (RESOLVER, 53))
    assert dns.unanswered == 1
    event = dns.message(12.1, answer(1), (RESOLVER, 53), (CLIENT, 1000))
    assert event is not None
    assert event.latency is None


def test_malformed_dns_is_counted_not_raised() -> None:
    dns = DnsTracker(query_timeout=1.0, max_queries=100)
    assert dns.message(1.0, b"\x01", (RESOLVER, 53), (CLIENT, 1)) is None
    assert dns.message(1.0, b"\x00\x01\x81\x80" + bytes(8) + b"\xff" * 30, (RESOLVER, 53),
                       (CLIENT, 1)) is None  # fmt: skip
    assert dns.malformed == 2


def test_tcp_streams_cut_messages_across_segments() -> None:
    streams = TcpDnsStreams(max_streams=10)
    one, two = answer(1), answer(2)
    wire = len(one).to_bytes(2, "big") + one + len(two).to_bytes(2, "big") + two
    assert streams.segment(b"k", 100, wire[:10]) == []
    assert streams.segment(b"k", 100, wire[:10]) == []  # retransmission: skipped
    assert streams.segment(b"k", 110, wire[10:]) == [one, two]
    assert streams.lost == 0


def test_tcp_stream_gap_is_counted() -> None:
    streams = TcpDnsStreams(max_streams=10)
    streams.segment(b"k", 100, b"\x00\x30abc")
    assert streams.segment(b"k", 200, b"\x00\x01x") == [b"x"]
    assert streams.lost == 1


def test_name_index_is_per_client_and_expires() -> None:
    names = NameIndex(max_names=10, min_ttl=60.0, max_ttl=3600.0)
    parsed = parse_answer(answer(records=A_AND_CNAME))
    names.learn(CLIENT, parsed, now=100.0)
    address = socket.inet_aton("93.184.216.34")
    assert names.lookup(CLIENT, address, 120.0) == "www.example.com"
    assert names.lookup(socket.inet_aton("10.0.1.6"), address, 120.0) == ""
    assert names.lookup(CLIENT, address, 161.0) == ""  # ttl 30 stretched to 60 s, then gone
    assert len(names) == 1


def test_name_index_is_bounded() -> None:
    names = NameIndex(max_names=2, min_ttl=60.0, max_ttl=3600.0)
    parsed = parse_answer(answer(records=A_AND_CNAME))
    names.learn(CLIENT, parsed, now=1.0)
    names.learn(socket.inet_aton("10.0.1.6"), parsed, now=1.0)
    assert len(names) == 2
    assert names.lookup(CLIENT, socket.inet_aton("93.184.216.34"), 2.0) == ""
