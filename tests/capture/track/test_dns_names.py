"""DNS names as dig shows them, and hostile names (compression-pointer loops) counted as
malformed without an entry and without a word from scapy."""

from __future__ import annotations

import struct

import pytest
from scapy.layers.inet import UDP
from scapy.packet import Raw

from capture.pipeline import Pipeline, PipelineConfig
from capture.track.dns import name_text, parse_answer
from contract.schema import Entry, Node
from tests.capture.packets import CLIENT, RESOLVER, Conversation, frame, ip

A, CNAME, IN = 1, 5, 1
ANSWER_FLAGS = 0x8180  # a response, recursion desired and available, NOERROR


def header(questions: int, answers: int) -> bytes:
    return struct.pack("!HHHHHH", 7, ANSWER_FLAGS, questions, answers, 0, 0)


def encoded(*labels: bytes) -> bytes:
    return b"".join(bytes([len(label)]) + label for label in labels) + b"\0"


def record(owner: bytes, rtype: int, data: bytes) -> bytes:
    return owner + struct.pack("!HHIH", rtype, IN, 300, len(data)) + data


def pointer(offset: int) -> bytes:
    return struct.pack("!H", 0xC000 | offset)


def question(name: bytes) -> bytes:
    return name + struct.pack("!HH", A, IN)


SERVER = "10.0.2.7"
SERVER_ADDRESS = bytes([10, 0, 2, 7])
PLAIN_QUESTION = question(encoded(b"www", b"example", b"com"))
LOOPS = {
    # the question's name is a pointer to itself
    "question": header(1, 1) + question(pointer(12)) + record(pointer(12), A, SERVER_ADDRESS),
    # a CNAME's target points to itself: scapy made it "." and named the next connection "."
    "cname": (
        header(1, 2)
        + PLAIN_QUESTION
        + record(pointer(12), CNAME, pointer(12 + len(PLAIN_QUESTION) + 12))
        + record(pointer(12), A, SERVER_ADDRESS)
    ),
}


def dns_frame(payload: bytes, port: int = 40001) -> bytes:
    return frame(ip(RESOLVER, CLIENT) / UDP(sport=53, dport=port) / Raw(payload))


def run(frames: list[bytes]) -> tuple[Pipeline, list[Entry]]:
    pipeline = Pipeline(PipelineConfig(), "w", Node(name="n"))
    entries: list[Entry] = []
    for index, raw in enumerate(frames):
        entries += pipeline.feed(100.0 + index * 0.01, raw, 1)
    return pipeline, entries


@pytest.mark.parametrize("payload", LOOPS.values(), ids=LOOPS.keys())
def test_a_compression_pointer_loop_is_malformed_and_silent(
    payload: bytes, capfd: pytest.CaptureFixture[str]
) -> None:
    conversation = Conversation(server=SERVER)
    pipeline, entries = run([dns_frame(payload), conversation.c("S"), conversation.s("SA")])
    assert pipeline.stats.dns_malformed == 1
    assert [entry.protocol.name for entry in entries] == ["tcp"]
    assert entries[0].dst.name == ""  # not "." from a bogus answer
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ("", "")


def test_names_are_escaped_as_dig_does() -> None:
    asked = encoded(b'a\x00b"c', b"example")
    target = encoded(b"x\ny", b"ex.ample", b"net")
    payload = header(1, 2) + question(asked) + record(pointer(12), CNAME, target)
    payload += record(pointer(12 + len(asked) + 4 + 12), A, SERVER_ADDRESS)
    _, entries = run([dns_frame(payload)])
    (entry,) = entries
    assert entry.dns is not None
    assert entry.dns.query == 'a\\000b\\"c.example'
    assert entry.dns.answers == ("x\\010y.ex\\.ample.net", "10.0.2.7")
    assert 'a\\000b\\"c.example' in entry.summary
    assert "\n" not in entry.summary
    assert "\0" not in entry.summary


@pytest.mark.parametrize(
    ("labels", "text"),
    [
        ((), "."),
        ((b"www", b"example", b"com"), "www.example.com"),
        ((b"a.b",), "a\\.b"),
        ((b"x y",), "x\\032y"),
        ((b"back\\slash",), "back\\\\slash"),
        ((b'"();@$',), '\\"\\(\\)\\;\\@\\$'),
        ((b"\xff\x7f\x00",), "\\255\\127\\000"),
        ((b"caf\xc3\xa9",), "caf\\195\\169"),
    ],
)
def test_name_text(labels: tuple[bytes, ...], text: str) -> None:
    assert name_text(labels) == text


def test_plain_and_scapy_parsing_agree_on_a_plain_name() -> None:
    payload = header(1, 1) + PLAIN_QUESTION + record(pointer(12), A, SERVER_ADDRESS)
    assert parse_answer(payload).query == "www.example.com"
