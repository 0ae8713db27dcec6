"""Table-driven tests of KFL's meaning: query, entry, expected result."""

from __future__ import annotations

import time
from typing import Any

import pytest

from kfl import compile_filter
from tests.kfl.wire import DELETE, TIMESTAMP, dns_wire, edited, tcp_wire

TCP = tcp_wire()
DNS = dns_wire()
NS1_TO_NS2 = edited(TCP, src__namespace="ns1", dst__namespace="ns2")
NS2_TO_NS1 = edited(TCP, src__namespace="ns2", dst__namespace="ns1")
NS1_TO_NS1 = edited(TCP, src__namespace="ns1", dst__namespace="ns1")
BETWEEN_NAMESPACES = (
    '(src.namespace=="ns1" and dst.namespace=="ns2") or '
    '(src.namespace=="ns2" and dst.namespace=="ns1")'
)

CASES: list[tuple[str, dict[str, Any], bool]] = [
    # DESIGN.md and issue 2 examples
    ("tcp", TCP, True),
    ("tcp", DNS, False),
    ("!tcp", TCP, False),
    ("!tcp", DNS, True),
    ('dst.namespace==""', TCP, True),
    ('dst.namespace==""', DNS, False),
    ('dst.name=="www.domain.com"', TCP, False),
    ('dst.name=="www.domain.com"', edited(TCP, dst__name="www.domain.com"), True),
    (BETWEEN_NAMESPACES, NS1_TO_NS2, True),
    (BETWEEN_NAMESPACES, NS2_TO_NS1, True),
    (BETWEEN_NAMESPACES, NS1_TO_NS1, False),
    (BETWEEN_NAMESPACES, TCP, False),
    ("timestamp == 1678675066172", TCP, True),
    ("timestamp == 1678675066173", TCP, False),
    ('src.port == "8080"', TCP, True),
    ("src.port == 8080", TCP, True),
    ('tcp.flags == "RST"', TCP, True),
    ("tcp.rtt", TCP, True),
    ("outgoing", TCP, True),
    ("outgoing", edited(TCP, outgoing=False), False),
    ("!(dns.query == 1)", TCP, True),
    ("dns.query == 1 or true", TCP, True),
    # precedence: ! > comparison > and > or
    ("udp and tcp or tcp", TCP, True),
    ("tcp or udp and false", TCP, True),
    ("!tcp and udp", DNS, False),
    ("!(tcp and udp)", TCP, True),
    ("!tcp or tcp", TCP, True),
    ("not tcp || tcp && false", DNS, True),
    ("tcp && (udp || dns)", TCP, False),
    ("!!tcp", TCP, True),
    ("not not not tcp", TCP, False),
    # literals and keywords
    ("", TCP, True),
    ("   \n\t ", DNS, True),
    ("true", TCP, True),
    ("false", TCP, False),
    ("!false", TCP, True),
    ("tcp.rtt == null", TCP, False),
    ("tcp.rtt == nil", edited(TCP, tcp__rtt=None), True),
    ("tcp.rtt != null", TCP, True),
    ("outgoing == true", TCP, True),
    ("outgoing != false", TCP, True),
    ('summary == "shop/frontend \\u2192 api.stripe.com:443 reset"', TCP, True),
    ('dst.name == "api.stripe.com" && src.name != "x"', TCP, True),
    # missing fields make only their own comparison false
    ('dns.query == "api.stripe.com"', TCP, False),
    ('dns.query != "api.stripe.com"', TCP, False),
    ("icmp.type >= 0", TCP, False),
    ("icmp.type < 0", TCP, False),
    ('!(dns.query != "x")', TCP, True),
    ("dns.query", TCP, False),
    ("tcp.retransmits == 0 or tcp", TCP, True),
    ('dst.name.startsWith("api")', edited(TCP, dst__name=DELETE), False),
    # numbers compare as numbers, exactly; numeric strings equal numbers
    ("src.port == 8080.0", TCP, True),
    ('src.port == "8080.0"', TCP, True),
    ('src.port >= "8000"', TCP, True),
    ('dst.port < "1000"', TCP, True),
    ("dst.name == 8080", edited(TCP, dst__name="8080"), True),
    ('dst.name == "8080"', edited(TCP, dst__name="8080"), True),
    ("dst.name > 8000", edited(TCP, dst__name="8080"), True),
    ("requestSize == 9007199254740993", edited(TCP, requestSize=9007199254740993), True),
    ("requestSize == 9007199254740992", edited(TCP, requestSize=9007199254740993), False),
    ("timestamp > 1678675066171", TCP, True),
    ("tcp.rtt == 1.5", TCP, True),
    ("tcp.rtt > 1", TCP, True),
    ("tcp.rtt <= 1.49", TCP, False),
    ("elapsedTime != 120", TCP, False),
    ("dst.port == -443", TCP, False),
    # other type mismatches are simply false (and != is the negation of == for present fields)
    ('src.port == "abc"', TCP, False),
    ('src.port != "abc"', TCP, True),
    ('src.port > "abc"', TCP, False),
    ("outgoing == 1", TCP, False),
    ('outgoing == "true"', TCP, False),
    ("src.namespace > 5", TCP, False),
    ("src.namespace == true", TCP, False),
    ('src.namespace < "zzz"', TCP, True),
    ('src.namespace >= "shop"', TCP, True),
    ("tcp.flags > 3", TCP, False),
    # lists: any element matches; != means no element equals
    ('tcp.flags == "FIN"', TCP, False),
    ('tcp.flags != "FIN"', TCP, True),
    ('tcp.flags != "RST"', TCP, False),
    ('tcp.flags == r"^R"', TCP, True),
    ('tcp.flags.startsWith("SY")', TCP, True),
    ('dns.answers == "54.187.174.170"', DNS, True),
    ('dns.answers.contains(".170")', DNS, True),
    ('dns.answers.endsWith(".171")', DNS, False),
    ('dns.answers[1] == "54.187.174.170"', DNS, True),
    ('dns.answers[0] == "54.187.174.170"', DNS, False),
    ('dns.answers[7] == "54.187.174.170"', DNS, False),
    ('tcp.flags[2] == "RST"', TCP, True),
    ("dns.answers", DNS, True),
    ("dns.answers", edited(DNS, dns__answers=[]), False),
    ('tcp.flags == "RST"', edited(TCP, tcp__flags=[]), False),
    ('tcp.flags != "RST"', edited(TCP, tcp__flags=[]), True),
    # paths
    ('src["namespace"] == "shop"', TCP, True),
    ('node["name"] == "worker-1"', TCP, True),
    ('tcp["flags"][0] == "SYN"', TCP, True),
    ("tcp.resetBy", TCP, True),
    ("tcp.partial", TCP, False),
    ('tcp.resetBy == "server"', TCP, True),
    ('protocol.abbr == "TCP"', TCP, True),
    ("elapsedTime", TCP, True),
    # aliases are tokens: a field under the same name still works
    ('dns.query == "api.stripe.com"', DNS, True),
    ('dns and dns.query.endsWith(".com")', DNS, True),
    ('dns.rcode == "NOERROR" and !tcp', DNS, True),
    ('tcp.event == "reset"', TCP, True),
    ("icmp", TCP, False),
    ("udp", edited(TCP, protocol={"name": "udp", "abbr": "UDP"}), True),
    ("tcp == true", TCP, True),
    # regex: unanchored RE2 search
    ('dst.name == r"stripe"', TCP, True),
    ('dst.name == r"^api\\.stripe\\.com$"', TCP, True),
    ('dst.name == r"^stripe"', TCP, False),
    ('dst.name != r"stripe"', TCP, False),
    ('dst.name != r"google"', TCP, True),
    ('dst.name == r"(a+)+$"', edited(TCP, dst__name="a" * 60 + "!"), False),
    ('dst.name == r"(x+x+)+y"', edited(TCP, dst__name="x" * 1000), False),
    ('src.port == r"^80"', TCP, True),
    ('r"stripe" == dst.name', TCP, True),
    ('dst.name == r"\\"quoted\\""', edited(TCP, dst__name='say "quoted"'), True),
    # helpers
    ('dst.name.startsWith("api.")', TCP, True),
    ('dst.name.endsWith(".com")', TCP, True),
    ('dst.name.contains("stripe")', TCP, True),
    ('dst.name.contains("STRIPE")', TCP, False),
    ('dst.name.matches("^api")', TCP, True),
    ('dst.name.matches(r"^[a-z]+\\.stripe")', TCP, True),
    ('src.port.startsWith("80")', TCP, True),
    ('tcp and dst.port > 1024 and dst.name.endsWith(".com")', TCP, False),
    (
        'tcp and dst.port > 1024 and dst.name.endsWith(".com")',
        edited(TCP, dst__port=8443),
        True,
    ),
    ('dst.ip == cidr("54.187.0.0/16")', TCP, True),
    ('dst.ip == cidr("10.0.0.0/8")', TCP, False),
    ('dst.ip != cidr("10.0.0.0/8")', TCP, True),
    ('src.ip == cidr("10.244.1.5")', TCP, True),
    ('dst.ip == cidr("2001:db8::/32")', edited(TCP, dst__ip="2001:db8::1"), True),
    ('dst.ip == cidr("2001:db8::/32")', TCP, False),
    ('dst.name == cidr("10.0.0.0/8")', TCP, False),
    ('dns.answers == cidr("54.187.174.0/24")', DNS, True),
    ('timestamp == datetime("3/13/2023, 2:37:46.172 AM")', TCP, True),
    ('timestamp < datetime("3/13/2023, 2:37:46 PM")', TCP, True),
    ('timestamp == datetime("2023-03-13T02:37:46.172Z")', TCP, True),
    ('timestamp == datetime("2023-03-13T03:37:46.172+01:00")', TCP, True),
    ("elapsedTime < seconds(1)", TCP, True),
    ("elapsedTime > seconds(0.1)", TCP, True),
    ("elapsedTime < minutes(1) - seconds(59)", TCP, True),
    ("timestamp >= now() - days(1)", TCP, False),
    ("timestamp >= seconds(-30)", TCP, False),
    # arithmetic
    ("requestSize + responseSize == 4613", TCP, True),
    ("elapsedTime - 20 == 100", TCP, True),
    ("responseSize - requestSize > 0", TCP, True),
    ("dns.latency + 1 > 0", TCP, False),
    ("2 + 3 == 5", TCP, True),
    # equalities merged into set lookups keep KFL's meaning
    ("dst.port == 80 or dst.port == 443", TCP, True),
    ('dst.port == 80 or dst.port == "443"', TCP, True),
    ("dst.port == 80 or dst.port == 443.0", TCP, True),
    ("dst.port == 80 or dst.port == 8080", TCP, False),
    ("tcp or udp or icmp", TCP, True),
    ("udp or icmp", TCP, False),
    ('src.namespace == "shop" and dst.port == 443', TCP, True),
    ('src.namespace == "shop" and dst.port == 443 and dst.namespace == "x"', TCP, False),
    (
        '(src.namespace == "shop" and dst.port == 443) or (src.namespace == "x" and dst.port == 1)',
        TCP,
        True,
    ),
    (
        '(src.namespace == "x" and dst.port == 443) or (src.namespace == "shop" and dst.port == 1)',
        TCP,
        False,
    ),
    ('(dns.query == "api.stripe.com" and dns.rcode == "NOERROR") or dns.query == "x"', DNS, True),
    ('dns.query == "x" or dns.query == "api.stripe.com"', TCP, False),
    ("dst.port == 443 and dst.port == 80", TCP, False),
    ('src.namespace == "shop" and (dst.port == 1 or dst.port == 443)', TCP, True),
    (
        'dst.name == "api.stripe.com" or dst.name == "grafana.com"',
        edited(TCP, dst__name=["x"]),
        False,
    ),
    ("tcp.rtt == 1.5 or tcp.rtt == 2", TCP, True),
    ("outgoing == true or outgoing == false", TCP, True),
    # and of two or three plain-field tests fused into one closure
    ('tcp and dst.name.endsWith(".com")', TCP, True),
    ('tcp and dst.name.endsWith(".com")', edited(TCP, dst__name=DELETE), False),
    ('tcp and dst.name.endsWith(".com")', edited(TCP, dst=None), False),
    ('tcp and dst.port < 1024 and dst.name.endsWith(".org")', TCP, False),
    ('tcp and dst.port < 1024 and src.name.startsWith("frontend")', TCP, True),
    ("dst.port == 443 and outgoing == true", TCP, True),
    ("dst.port == 443 and outgoing != true", TCP, False),
    # constants on the left, fields on both sides
    ("8080 == src.port", TCP, True),
    ('"shop" == src.namespace', TCP, True),
    ("1000 < dst.port", TCP, False),
    ("1000 > dst.port", TCP, True),
    ("src.namespace == dst.namespace", TCP, False),
    ("src.namespace == dst.namespace", edited(TCP, dst__namespace="shop"), True),
    ("src.namespace != dst.namespace", TCP, True),
    ("requestSize < responseSize", TCP, True),
    ("src.port == dns.latency", TCP, False),
    ('"a" == "a"', TCP, True),
    ('"a" < "b" and 2 > 1', TCP, True),
    ('"api.stripe.com" == r"stripe"', TCP, True),
    ("(tcp.rtt > 1) == true", TCP, True),
    ("(tcp.rtt > 1) != (src.port == 8080)", TCP, False),
]


@pytest.mark.parametrize(("query", "wire", "expected"), CASES)
def test_query_on_entry(query: str, wire: dict[str, Any], expected: bool) -> None:
    assert compile_filter(query)(wire) is expected


@pytest.mark.parametrize("query", ["timestamp >= now() - seconds(30)", "timestamp >= seconds(-30)"])
def test_recent_time_styles_match_now_and_not_a_minute_ago(query: str) -> None:
    now_ms = time.time_ns() // 1_000_000
    recent = compile_filter(query)
    assert recent(edited(TCP, timestamp=now_ms))
    assert not recent(edited(TCP, timestamp=now_ms - 60_000))


def test_future_offsets_are_relative_to_compile_time() -> None:
    now_ms = time.time_ns() // 1_000_000
    assert compile_filter("timestamp < now() + hours(1)")(edited(TCP, timestamp=now_ms))
    assert compile_filter("timestamp < minutes(1)")(edited(TCP, timestamp=now_ms))
    assert not compile_filter("timestamp > now()")(edited(TCP, timestamp=TIMESTAMP))


@pytest.mark.parametrize(
    ("query", "limit"),
    [
        ("tcp", None),
        ("", None),
        ("limit(100)", 100),
        ("tcp and limit(5)", 5),
        ("limit(5) and tcp and dst.port == 443", 5),
        ("limit(1) && (tcp || udp)", 1),
    ],
)
def test_limit(query: str, limit: int | None) -> None:
    compiled = compile_filter(query)
    assert compiled.limit == limit
    assert compiled.query == query
    assert compiled(TCP)


def test_limit_keeps_the_rest_of_the_query() -> None:
    assert not compile_filter("udp and limit(5)")(TCP)
    assert compile_filter("limit(5) and dst.port == 443 and outgoing")(TCP)


@pytest.mark.parametrize(
    "wire",
    [
        {},
        {"src": None},
        {"src": "shop"},
        {"src": ["ns1"], "dst": {"namespace": ["ns2"]}},
        {"protocol": {"name": 7}, "dst": {"port": "2000", "name": 5}},
        {"tcp": {"flags": "RST"}, "dns": {"answers": {"0": "x"}}},
    ],
)
def test_malformed_entries_never_raise(wire: dict[str, Any]) -> None:
    for query in [
        BETWEEN_NAMESPACES,
        'tcp and dst.port > 1024 and dst.name.endsWith(".com")',
        'tcp.flags == "RST" or dns.answers[0] == "x" or dns.answers.contains("x")',
        "src.namespace == dst.namespace or requestSize + 1 > 0 or tcp.rtt",
        'dst.ip == cidr("10.0.0.0/8") or dst.name == r"x" or timestamp > seconds(-1)',
    ]:
        assert compile_filter(query)(wire) in {True, False}


def test_filter_repr_names_query_and_limit() -> None:
    assert repr(compile_filter("tcp and limit(3)")) == "Filter('tcp and limit(3)', limit=3)"


@pytest.mark.parametrize(
    "query", [q for q, wire, _ in CASES if wire is DNS and q.startswith("dns.answers")]
)
def test_tuples_are_lists(query: str) -> None:
    """The hub stores JSON arrays as tuples (Entry.to_stored_wire): same answers."""
    as_tuple = edited(DNS, dns__answers=tuple(DNS["dns"]["answers"]))
    assert compile_filter(query)(as_tuple) == compile_filter(query)(DNS)
