"""The struct fast path for DNS answers must agree with scapy's parser wherever it answers."""

from __future__ import annotations

import socket

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR, DNSRR, DNSRRSOA

from capture.errors import DnsError
from capture.track.dns import DnsAnswer, _parse_plain, _parse_with_scapy

labels = st.text("abcdefghijklmnopqrstuvwxyzABC0123456789-_", min_size=1, max_size=63)
names = st.lists(labels, max_size=4).map(lambda parts: ".".join(parts) or ".")
ttls = st.sampled_from([0, 30, 2**31 - 1, 2**31, 2**32 - 1])
ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
ipv6 = st.binary(min_size=16, max_size=16).map(lambda b: socket.inet_ntop(socket.AF_INET6, b))


@st.composite
def records(draw: st.DrawFn, query: str) -> DNSRR:
    kind = draw(st.sampled_from(["A", "AAAA", "CNAME"]))
    data = {"A": ipv4, "AAAA": ipv6, "CNAME": st.one_of(st.just(query), names)}[kind]
    owner = draw(st.one_of(st.just(query), names))
    return DNSRR(rrname=owner, type=kind, ttl=draw(ttls), rdata=draw(data))


@st.composite
def answers(draw: st.DrawFn) -> bytes:
    query = draw(names)
    answer_records = draw(st.lists(records(query), max_size=6))
    authority = []
    if draw(st.booleans()):
        authority.append(
            DNSRRSOA(
                rrname=draw(st.sampled_from([query, "cluster.local"])),
                mname=draw(names),
                rname=draw(names),
                serial=draw(st.integers(0, 2**31 - 1)),
            )
        )
    message = DNS(
        id=draw(st.integers(0, 65535)),
        qr=1,
        rcode=draw(st.sampled_from([0, 2, 3, 5, 11, 15])),
        qd=[DNSQR(qname=query, qtype=draw(st.sampled_from([1, 28, 5, 33, 255, 999])))],
        an=answer_records,
        ns=authority,
    )
    return bytes(message)


@st.composite
def mutated(draw: st.DrawFn, message: bytes) -> bytes:
    data = bytearray(message)
    action = draw(st.sampled_from(["flip", "truncate", "extend", "counts", "none"]))
    if action == "flip" and len(data) > 12:
        for index in draw(st.lists(st.integers(12, len(data) - 1), min_size=1, max_size=3)):
            data[index] = draw(st.integers(0, 255))
    elif action == "truncate":
        data = data[: draw(st.integers(12, len(data)))]
    elif action == "extend":
        data += bytes(draw(st.integers(1, 4)))
    elif action == "counts":
        data[draw(st.integers(4, 11))] = draw(st.integers(0, 2))
    data[2] |= 0x80  # still a response
    return bytes(data)


def scapy_result(message: bytes) -> DnsAnswer | str:
    try:
        return _parse_with_scapy(message)
    except DnsError:
        return "DnsError"


@settings(max_examples=300)
@given(answers())
def test_fast_path_agrees_with_scapy_on_answers(message: bytes) -> None:
    fast = _parse_plain(message)
    if fast is not None:
        assert fast == scapy_result(message)


@settings(max_examples=300)
@given(answers().flatmap(mutated))
def test_fast_path_agrees_with_scapy_on_mutated_answers(message: bytes) -> None:
    fast = _parse_plain(message)
    if fast is not None:
        assert fast == scapy_result(message)


def test_plain_answers_take_the_fast_path() -> None:
    message = bytes(
        DNS(
            id=7,
            qr=1,
            qd=[DNSQR(qname="api.example.com")],
            an=[DNSRR(rrname="api.example.com", type="A", ttl=30, rdata="203.0.113.10")],
        )
    )
    fast = _parse_plain(message)
    assert fast is not None
    assert fast == _parse_with_scapy(message)
    assert fast.answers == ("203.0.113.10",)
