"""KFL2 (CEL) operators and variables on podscope's entries, the meanings podscope picked where
KFL1 and KFL2 disagree, and the fixes of issue 18's fuzzing run."""

from __future__ import annotations

import time
from typing import Any

import pytest

from kfl import KflError, compile_filter
from kfl.variables import VARIABLES
from tests.kfl.wire import DELETE, TIMESTAMP, dns_wire, edited, tcp_wire

TCP = tcp_wire()  # shop/frontend -> api.stripe.com:443, reset, 120 ms, 517/4096 bytes
DNS = dns_wire()  # api.stripe.com -> 54.187.174.169, 54.187.174.170
FULL = edited(TCP, packets=12, requestPackets=7, responsePackets=5)  # full mode counts
LABELLED = edited(TCP, src__labels={"app": "frontend", "app.kubernetes.io/part-of": "shop"})

CASES: list[tuple[str, dict[str, Any], bool]] = [
    # single-quoted strings and CEL escapes
    ("dst.name == 'api.stripe.com'", TCP, True),
    ("'it\\'s' == \"it's\"", TCP, True),
    (r"'\x41\u00e9\101\U0001F600' == 'AéA😀'", TCP, True),
    (r'"\ud83d\ude00" == "😀"', TCP, True),
    # in over lists (as an or of equalities) and maps (keys), and over KFL2 lists
    ("dst.port in [80, 443]", TCP, True),
    ("dst.port in [80, 8443]", TCP, False),
    ("dst.port in ['443']", TCP, True),
    ("dst.port in []", TCP, False),
    ("tcp.flags in ['RST', 'FIN']", TCP, True),
    ("'RST' in tcp.flags", TCP, True),
    ("'FIN' in tcp.flags", TCP, False),
    ("'shop' in namespaces", TCP, True),
    ("'' in namespaces", TCP, False),
    ("'app' in local_labels", LABELLED, True),
    ("'frontend' in local_labels", LABELLED, False),
    ("'app' in src.labels", LABELLED, True),
    ("'app' in local_labels", TCP, False),
    # size()
    ("size(dns_answers) == 2", DNS, True),
    ("dns.answers.size() == 2", DNS, True),
    ("size(dst.name) == 14", TCP, True),
    ("size(local_labels) == 2", LABELLED, True),
    ("size(dns.answers) == 0", TCP, False),  # a missing field: false (KFL1's rule)
    ("size(dns_answers) == 0", TCP, True),  # a KFL2 variable: its zero value []
    # ternary
    ("(dst.port == 443 ? 'tls' : 'plain') == 'tls'", TCP, True),
    ("dst.port == 443 ? tcp : udp", TCP, True),
    ("dst.port == 443 ? tcp : udp", DNS, False),
    # * / % and unary minus
    ("requestSize * 2 == 1034", TCP, True),
    ("responseSize / 1000 == 4", TCP, True),  # integers divide as integers (CEL)
    ("responseSize / 1000.0 == 4.096", TCP, True),
    ("-7 / 2 == -3 && -7 % 2 == -1", TCP, True),  # toward zero, as in CEL
    ("responseSize % 1000 == 96", TCP, True),
    ("-dst.port == -443", TCP, True),
    ("1 + 2 * 3 == 7", TCP, True),
    ("responseSize / (requestSize - 517) > 0", TCP, False),  # division by zero: false
    # map[key], map_get
    ("local_labels['app'] == 'frontend'", LABELLED, True),
    ('src.labels["app.kubernetes.io/part-of"] == "shop"', LABELLED, True),
    ("src.labels.app == 'frontend'", LABELLED, True),
    ("local_labels['missing'] == ''", LABELLED, False),  # a missing key: false (not an error)
    ("map_get(local_labels, 'missing', 'none') == 'none'", LABELLED, True),
    ("map_get(local_labels, 'app', '') == 'frontend'", LABELLED, True),
    ("map_get(remote_labels, 'app', 'x') == 'x'", TCP, True),
    ("map_get(local_labels, [tcp.flags], 'x') == 'x'", LABELLED, True),  # unhashable key
    # timestamp(), duration(), now() and arithmetic on them
    ("timestamp == timestamp('2023-03-13T02:37:46.172Z')", TCP, True),
    ("timestamp > timestamp('2023-03-13T02:37:46Z') - duration('1s')", TCP, True),
    ("timestamp < now() - duration('1h')", TCP, True),
    ("timestamp > now() - duration('1h')", TCP, False),
    ("elapsedTime == duration('120ms')", TCP, True),
    ("elapsed_time == duration('120ms')", TCP, True),
    ("elapsed_time > duration('1m30s') / 1000", TCP, True),
    ("elapsedTime < seconds(1) && elapsed_time == 120000", TCP, True),
    # weeks, months (30 days), years (365 days)
    ("timestamp < now() - weeks(1)", TCP, True),
    ("timestamp < now() - months(1) && timestamp < now() - years(1)", TCP, True),
    ("timestamp > now() - years(-1)", TCP, False),
    ("weeks(1) == days(7) && months(1) == days(30) && years(1) == days(365)", TCP, True),
    # list macros, nested
    ("dns_answers.exists(a, a.endsWith('.170'))", DNS, True),
    ("dns_answers.all(a, a.startsWith('54.187.'))", DNS, True),
    ("dns_answers.all(a, a.endsWith('169'))", DNS, False),
    ("dns_answers.all(a, false)", TCP, True),  # all of [] (KFL2's zero value) holds
    ("dns.answers.all(a, false)", TCP, False),  # a missing field: false
    ("dns_answers.exists_one(a, a.endsWith('0'))", DNS, True),
    ("dns_answers.exists_one(a, a.startsWith('54'))", DNS, False),
    ("dns_answers.filter(a, a.endsWith('9')).size() == 1", DNS, True),
    ("size(tcp.flags.filter(f, f != 'ACK')) == 2", TCP, True),
    ("local_labels.exists(k, k.startsWith('app.'))", LABELLED, True),
    ("tcp.flags.exists(f, tcp.flags.exists_one(g, g == f && f == 'RST'))", TCP, True),
    ("tcp.flags.exists(tcp, tcp == 'SYN')", TCP, True),  # a macro variable hides an alias
    ("[1, 2, 3].filter(n, n > 1).size() == 2", TCP, True),
    # KFL2 variables
    ("src.pod.name == 'frontend-7d4b9c8f6d-x2x9q' && src.pod.namespace == 'shop'", TCP, True),
    ("src.pod.name == 'kube-dns'", edited(DNS, src__pod="", src__service="kube-dns"), True),
    ("dst.pod.namespace == 'kube-system'", DNS, True),
    ("src.service.name == 'frontend' && src.service.namespace == 'shop'", TCP, True),
    ("dst.service.namespace == ''", TCP, True),
    ("'frontend' in services && 'frontend-7d4b9c8f6d-x2x9q' in pods", TCP, True),
    ("node_name == 'worker-1' && node_ip == '172.18.0.2'", TCP, True),
    ("protocol == 'TCP' && protocol.name == 'tcp'", TCP, True),
    ("protocol == 'tcp'", TCP, False),  # KFL2's protocol is upper case
    ("elapsed_time == 120000 && elapsedTime == 120", TCP, True),
    ("conn && tcp_conn && !udp_conn && conn_state == 'closed'", TCP, True),
    ("conn_state == 'open'", edited(TCP, tcp__event="ongoing"), True),
    ("conn || conn_state != ''", DNS, False),
    ("conn_local_bytes == 517 && conn_remote_bytes == 4096", TCP, True),
    ("conn_local_bytes > 0", edited(TCP, requestSize=None), False),  # unknown, never 0
    ("conn_local_pkts == 7 && conn_remote_pkts == 5", FULL, True),
    ("conn_local_pkts > 0", TCP, False),  # connections mode: packets unknown, never 0
    ("conn_remote_pkts == 0", DNS, True),  # not a connection: the zero value
    ("tcp_error_type == 'reset'", TCP, True),
    ("tcp_error_type == ''", edited(TCP, tcp__event="close"), True),
    ("'api.stripe.com' in dns_questions && 'A' in dns_question_types", DNS, True),
    ("dns_response && !dns_request", DNS, True),
    ("dns_request", edited(DNS, dns__latency=0.8), True),
    ("status_code == 3", edited(DNS, dns__rcode="NXDOMAIN"), True),
    ("status_code == 0", TCP, True),
    ("icmp_type == '3' && icmp_version == 4", edited(TCP, icmp={"type": 3, "code": 1}), True),
    ("dst.dns == 'api.stripe.com' && 'api.stripe.com' in dns_resolutions", TCP, True),
    # KFL1 meanings kept where KFL2 differs
    ('dst.name == r"stripe\\.com$"', TCP, True),  # r"..." is a regex (CEL: a raw string)
    ("dst.name == r'^api'", TCP, True),
    ('src.port == "8080"', TCP, True),  # numbers and numeric strings compare (CEL: error)
    ("dns.query == ''", TCP, False),  # a missing field is false (CEL: "")
    ("!(dns.query == '')", TCP, True),
    # issue 18's fuzzing: overflow, and the fast path on values that contradict the schema
    ("requestSize + 0.5 > 0", edited(TCP, requestSize=10**400), False),
    ("requestSize * requestSize > 0", edited(TCP, requestSize=2**62), False),
    ("requestSize > 0", edited(TCP, requestSize=10**400), True),
    ("dst.port == 1", edited(TCP, dst__port=True), False),
    ("dst.port == 1 or dst.port == 2", edited(TCP, dst__port=True), False),
    ("dst.port == 443", edited(TCP, dst__port=[80, 443]), True),  # a list: any element
    ("dst.port == 443", edited(TCP, dst__port="443"), True),  # a numeric string: a number
    ("dst.name.contains('stripe')", edited(TCP, dst__name=["api.stripe.com"]), True),
    ("dst.name.contains('stripe')", edited(TCP, dst__name=["stripe"]), True),
    ("dst.name.contains('x')", edited(TCP, dst__name={"x": 1}), False),
    ("outgoing == true", edited(TCP, outgoing=1), False),
    ('src.namespace == "ns1" and dst.namespace == ""', edited(TCP, src__namespace=["ns1"]), True),
    ("dst.port in [1, 2]", edited(TCP, dst__port=DELETE), False),
]


@pytest.mark.parametrize(("query", "wire", "expected"), CASES)
def test_query_on_entry(query: str, wire: dict[str, Any], expected: bool) -> None:
    assert compile_filter(query)(wire) is expected


ERRORS = [
    ("dst.name in 'stripe'", "'in' needs a list or a map on its right; for text, use .contains()"),
    ("dst.port in 443", "'in' needs a list or a map on its right"),
    ("dst.port in dst.port", "'in' needs a list or a map on its right"),
    ("1 / 0 == 1", "'/' gives no number here (division by zero, or out of range)"),
    ("9223372036854775807 + 1 > 0", "'+' gives no number here"),
    ("tcp.flags == ['RST']", "a list can only follow 'in'"),
    ("dns_answers.exists('a', true)", "exists() takes a variable name first"),
    ("dns_answers.exists(a)", "exists() takes 2 arguments, got 1"),
    ("size(dst.name, 1) > 0", "size() takes 1 argument, got 2"),
    ("map_get(local_labels, 'a') == ''", "map_get() takes 3 arguments, got 2"),
    ("timestamp > timestamp('yesterday')", "is not a timestamp like"),
    ("timestamp > timestamp('2026-03-14T22:00:00')", "with a time zone"),
    ("elapsedTime > duration('5 minutes')", "is not a duration like"),
    ("duration('1h') * duration('1h') > 0", "'*' does not apply to durations here"),
    ("dst.port > 1 / duration('1s')", "cannot divide by a duration"),
    ("+dst.port > 0", "unary '+' is not supported"),
    ("-'a' == 1", "'-' needs a number or a duration"),
    ("'a' * 2 == 1", "'*' needs numbers or durations"),
    ("local_labels[0] == 'x'", 'local_labels is a map of strings: write local_labels["key"]'),
    ("src.pod.nme == 'x'", "unknown field 'src.pod.nme'; did you mean 'src.pod.name'?"),
    ("dst.port ? 1 : 2", "a value alone is not a condition"),
    ("dst.name == 'api", "unclosed string"),
    ("dst.port in", "expected a list or a map after 'in'"),
    ("tcp ? udp", "expected an operator such as '==', 'and' or 'or' before the end of the query"),
    ("dst.port * ", "expected a number after '*'"),
    ("tcp.flags.map(x, x)", "unknown helper .map()"),  # before its arguments: x is not a field
    ("has(dst.name)", "unknown helper has()"),
    ("dst.name.startsWith(dst.ip)", "helper arguments must be constants, not fields"),
    ("http && status_code == 500", "unknown field 'http': a KFL2 variable of L7 payloads"),
    ("redis_key == 'a'", "unknown field 'redis_key': a KFL2 variable of L7 payloads"),
    ("flow_local_pps > 1", "unknown field 'flow_local_pps': a KFL2 variable podscope does not"),
    ("local_process_name == 'nginx'", "unknown field 'local_process_name': a KFL2 variable"),
]


@pytest.mark.parametrize(("query", "message"), ERRORS)
def test_invalid_kfl2_query(query: str, message: str) -> None:
    with pytest.raises(KflError) as caught:
        compile_filter(query)
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("query", "column", "end_column"),
    [
        ('dst.name == "😀" and nope', 22, 26),  # the emoji is 2 UTF-16 code units
        ('"😀😀" == dst.name and dst.nme == "x"', 28, 31),
        ("dst.name == 'é' and nope", 21, 25),  # é is 1 code unit
        ('"😀" == "x" or\n"😀" == nope', 9, 13),  # columns restart on each line
    ],
)
def test_error_columns_count_utf16_code_units_as_the_browser_does(
    query: str, column: int, end_column: int
) -> None:
    with pytest.raises(KflError) as caught:
        compile_filter(query)
    assert (caught.value.column, caught.value.end_column) == (column, end_column)
    assert caught.value.to_dict()["column"] == column


def test_every_kfl2_variable_is_documented_and_compiles_on_any_entry() -> None:
    for name, variable in VARIABLES.items():
        assert variable.description, name
        matcher = compile_filter(f"{name} == {name}")
        for wire in (TCP, DNS, {}, {"src": 1, "dns": [], "tcp": None}, None):
            assert matcher(wire) in {True, False}


def test_now_in_duration_arithmetic_is_the_compile_time() -> None:
    recent = edited(TCP, timestamp=int(time.time() * 1000) - 60_000)
    assert compile_filter("timestamp > now() - duration('5m')")(recent)
    assert not compile_filter("timestamp > now() - duration('30s')")(recent)
    assert int(time.time() * 1000) > TIMESTAMP


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('now() - timestamp > duration("1h")', False),
        ('now() - timestamp > duration("10m")', True),
        ('timestamp + duration("1h") > now()', True),
        ('timestamp + duration("10m") > now()', False),
    ],
)
def test_durations_in_arithmetic_with_timestamps_count_milliseconds(
    query: str, expected: bool
) -> None:
    half_an_hour_ago = edited(TCP, timestamp=int(time.time() * 1000) - 30 * 60 * 1000)
    assert compile_filter(query)(half_an_hour_ago) is expected
