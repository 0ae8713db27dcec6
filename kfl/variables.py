"""KFL2's variables (Kubeshark V2's CEL names) as names over podscope's connection entries.

A variable either renames an entry field (``node_name`` is ``node.name``: compiled like the
field, fast paths included) or is computed from the entry (``elapsed_time`` is ``elapsedTime``
in microseconds). As in KFL2, a variable always has a value: an entry without the data gets
the variable's zero value (``""``, ``0``, ``false``, ``[]``, ``{}``), while an entry *field*
that is missing keeps KFL1's rule (its comparison is false). A computed value that cannot be
computed from a malformed entry is MISSING, so its comparison is false.

``members`` lists the fields whose non-empty values make up a list variable (``namespaces`` is
``src.namespace`` and ``dst.namespace``), so that ``"shop" in namespaces`` compiles to
``src.namespace == "shop" || dst.namespace == "shop"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kfl.values import MISSING

Entry = Any
Compute = Callable[[Entry], object]
LOOKUP_ERRORS = (KeyError, IndexError, TypeError)

CONNECTION_PROTOCOLS = frozenset({"tcp", "udp"})
OPEN_EVENTS = frozenset({"connect", "ongoing"})
ERROR_EVENTS = frozenset({"reset", "refused", "timeout"})
DNS_RCODES = {
    "NOERROR": 0,
    "FORMERR": 1,
    "SERVFAIL": 2,
    "NXDOMAIN": 3,
    "NOTIMP": 4,
    "REFUSED": 5,
    "YXDOMAIN": 6,
    "YXRRSET": 7,
    "NXRRSET": 8,
    "NOTAUTH": 9,
    "NOTZONE": 10,
}


@dataclass(frozen=True, slots=True)
class Variable:
    """A KFL2 variable: ``renames`` an entry field, or is ``computed`` from the entry."""

    name: str
    kind: str  # "str", "int", "bool", "list[str]" or "map[str]"
    description: str
    renames: str | None = None
    computed: Compute | None = None
    members: tuple[str, ...] = ()


def _section(entry: Entry, key: str) -> dict[str, Any] | None:
    """``entry[key]`` when it is an object, else None."""
    try:
        value = entry[key]
    except (KeyError, IndexError, TypeError):
        return None
    return value if type(value) is dict else None


def _text(section: dict[str, Any] | None, key: str) -> str:
    """A string field of a section, ``""`` when absent or not a string."""
    if section is None:
        return ""
    value = section.get(key, "")
    return value if type(value) is str else ""


def _protocol(entry: Entry) -> str:
    return _text(_section(entry, "protocol"), "name")


def _pod_name(side: str) -> Compute:
    def compute(entry: Entry) -> object:
        endpoint = _section(entry, side)
        return _text(endpoint, "pod") or _text(endpoint, "service")

    return compute


def _service_namespace(side: str) -> Compute:
    def compute(entry: Entry) -> object:
        endpoint = _section(entry, side)
        return _text(endpoint, "namespace") if _text(endpoint, "service") else ""

    return compute


def _resolved_name(side: str) -> Compute:
    """The DNS name the client resolved for an external endpoint (``dst.dns``)."""

    def compute(entry: Entry) -> object:
        endpoint = _section(entry, side)
        return _text(endpoint, "name") if _text(endpoint, "kind") == "external" else ""

    return compute


def _both_ends(compute_side: Callable[[dict[str, Any] | None], str]) -> Compute:
    """The distinct non-empty values of both endpoints, source first."""

    def compute(entry: Entry) -> object:
        first = compute_side(_section(entry, "src"))
        second = compute_side(_section(entry, "dst"))
        values = (first, second) if first != second else (first,)
        return tuple(value for value in values if value)

    return compute


def _labels(side: str) -> Compute:
    def compute(entry: Entry) -> object:
        endpoint = _section(entry, side)
        labels = endpoint.get("labels", {}) if endpoint is not None else {}
        return labels if type(labels) is dict else MISSING

    return compute


def _elapsed_microseconds(entry: Entry) -> object:
    try:
        value = entry["elapsedTime"]
    except LOOKUP_ERRORS:
        return 0
    return value * 1000 if value.__class__ is int or value.__class__ is float else MISSING


def _is_connection(entry: Entry) -> object:
    return _protocol(entry) in CONNECTION_PROTOCOLS


def _is_protocol(name: str) -> Compute:
    return lambda entry: _protocol(entry) == name


def _connection_state(entry: Entry) -> object:
    protocol = _protocol(entry)
    if protocol == "udp":
        return "closed"  # a UDP row is reported when its flow has gone idle
    if protocol != "tcp":
        return ""
    return "open" if _text(_section(entry, "tcp"), "event") in OPEN_EVENTS else "closed"


def _connection_count(key: str) -> Compute:
    def compute(entry: Entry) -> object:
        try:
            protocol = entry["protocol"]["name"]
        except LOOKUP_ERRORS:
            return 0
        if protocol.__class__ is not str or protocol not in CONNECTION_PROTOCOLS:
            return 0
        try:
            value = entry[key]
        except LOOKUP_ERRORS:
            return 0
        return value if value.__class__ is int else MISSING  # null: unknown, never 0

    return compute


def _tcp_error_type(entry: Entry) -> object:
    try:
        event = entry["tcp"]["event"]
    except LOOKUP_ERRORS:
        return ""
    return event if event.__class__ is str and event in ERROR_EVENTS else ""


def _dns_list(key: str) -> Compute:
    def compute(entry: Entry) -> object:
        dns = _section(entry, "dns")
        if dns is None:
            return ()
        value = dns.get(key, ())
        if type(value) is str:
            return (value,) if value else ()
        return tuple(value) if type(value) is list or type(value) is tuple else MISSING

    return compute


def _dns_request(entry: Entry) -> object:
    dns = _section(entry, "dns")
    return dns is not None and dns.get("latency") is not None


def _dns_response(entry: Entry) -> object:
    return _section(entry, "dns") is not None


def _status_code(entry: Entry) -> object:
    dns = _section(entry, "dns")
    if dns is None:
        return 0
    return DNS_RCODES.get(_text(dns, "rcode"), MISSING)


def _icmp_type(entry: Entry) -> object:
    icmp = _section(entry, "icmp")
    if icmp is None:
        return ""
    kind = icmp.get("type")
    return str(kind) if type(kind) is int else MISSING


def _icmp_version(entry: Entry) -> object:
    if _section(entry, "icmp") is None:
        return 0
    return 6 if ":" in _text(_section(entry, "src"), "ip") else 4


def _side_variables(side: str, role: str, other: str) -> list[Variable]:
    return [
        Variable(
            f"{side}.pod.name",
            "str",
            f"{role} pod name, else its service name (KFL2's fallback)",
            computed=_pod_name(side),
        ),
        Variable(
            f"{side}.pod.namespace",
            "str",
            f"{role} namespace (of its pod, else of its service); same as {side}.namespace",
            renames=f"{side}.namespace",
        ),
        Variable(f"{side}.service.name", "str", f"{role} service name", renames=f"{side}.service"),
        Variable(
            f"{side}.service.namespace",
            "str",
            f'{role} service namespace, "" without a service',
            computed=_service_namespace(side),
        ),
        Variable(
            f"{side}.dns",
            "str",
            f"DNS name the client resolved for the {role.lower()} (external endpoints)",
            computed=_resolved_name(side),
        ),
        Variable(
            f"{other}_labels",
            "map[str]",
            f"Kubernetes labels of the {role.lower()} pod ({side}.labels), {{}} without",
            computed=_labels(side),
        ),
    ]


VARIABLES: dict[str, Variable] = {
    variable.name: variable
    for variable in [
        *_side_variables("src", "Source", "local"),
        *_side_variables("dst", "Destination", "remote"),
        Variable(
            "namespaces",
            "list[str]",
            "namespaces of both ends",
            computed=_both_ends(lambda end: _text(end, "namespace")),
            members=("src.namespace", "dst.namespace"),
        ),
        Variable(
            "pods",
            "list[str]",
            "pod names of both ends",
            computed=_both_ends(lambda end: _text(end, "pod")),
            members=("src.pod", "dst.pod"),
        ),
        Variable(
            "services",
            "list[str]",
            "service names of both ends",
            computed=_both_ends(lambda end: _text(end, "service")),
            members=("src.service", "dst.service"),
        ),
        Variable(
            "dns_resolutions",
            "list[str]",
            "DNS names resolved for either end",
            computed=_both_ends(
                lambda end: _text(end, "name") if _text(end, "kind") == "external" else ""
            ),
        ),
        Variable("node_name", "str", "node that captured the entry", renames="node.name"),
        Variable("node_ip", "str", "IP of the node that captured the entry", renames="node.ip"),
        Variable("protocol", "str", '"TCP", "UDP", "DNS" or "ICMP"', renames="protocol.abbr"),
        Variable("elapsed_time", "int", "duration in microseconds", computed=_elapsed_microseconds),
        Variable("conn", "bool", "a TCP or UDP connection", computed=_is_connection),
        Variable("tcp_conn", "bool", "a TCP connection", computed=_is_protocol("tcp")),
        Variable("udp_conn", "bool", "a UDP connection", computed=_is_protocol("udp")),
        Variable(
            "conn_state",
            "str",
            '"open" (connect, ongoing) or "closed"; "" for DNS and ICMP',
            computed=_connection_state,
        ),
        Variable(
            "conn_local_bytes",
            "int",
            "bytes the client sent (requestSize)",
            computed=_connection_count("requestSize"),
        ),
        Variable(
            "conn_remote_bytes",
            "int",
            "bytes the server sent (responseSize)",
            computed=_connection_count("responseSize"),
        ),
        Variable(
            "conn_local_pkts",
            "int",
            "packets the client sent (requestPackets, full mode)",
            computed=_connection_count("requestPackets"),
        ),
        Variable(
            "conn_remote_pkts",
            "int",
            "packets the server sent (responsePackets, full mode)",
            computed=_connection_count("responsePackets"),
        ),
        Variable(
            "tcp_error_type",
            "str",
            '"reset", "refused", "timeout" or ""',
            computed=_tcp_error_type,
        ),
        Variable(
            "dns_questions",
            "list[str]",
            "the name asked (dns.query)",
            computed=_dns_list("query"),
            members=("dns.query",),
        ),
        Variable(
            "dns_answers", "list[str]", "addresses or names answered", computed=_dns_list("answers")
        ),
        Variable(
            "dns_question_types",
            "list[str]",
            "record type asked (dns.qtype)",
            computed=_dns_list("qtype"),
            members=("dns.qtype",),
        ),
        Variable("dns_request", "bool", "the DNS query was seen", computed=_dns_request),
        Variable("dns_response", "bool", "a DNS answer", computed=_dns_response),
        Variable(
            "status_code",
            "int",
            "DNS rcode as a number (0 NOERROR, 3 NXDOMAIN...); 0 for others",
            computed=_status_code,
        ),
        Variable("icmp_type", "str", 'ICMP type number as text ("3", "11")', computed=_icmp_type),
        Variable("icmp_version", "int", "4 or 6 for ICMP errors, else 0", computed=_icmp_version),
    ]
}


def variable(name: str) -> Variable | None:
    """The KFL2 variable called ``name`` (a dotted path such as ``dst.pod.name``), if any."""
    return VARIABLES.get(name)


L7_PREFIXES = (
    "http",
    "grpc",
    "gql",
    "redis",
    "kafka",
    "amqp",
    "ldap",
    "radius",
    "diameter",
    "mongodb",
    "mysql",
    "postgresql",
    "tls",
    "ws",
    "sctp",
)
L7_NAMES = frozenset(
    {"method", "url", "path", "query_string", "request", "response", "http_version"}
)
NOT_CAPTURED = {
    "tcp_error_message": "use tcp_error_type or tcp.event",
    "local_node_name": "use node.name, the node that captured the entry",
    "remote_node_name": "use node.name, the node that captured the entry",
}


def unavailable(name: str) -> str | None:
    """Why a Kubeshark KFL2 variable has no value on a connection entry, or None for a name
    KFL2 does not define (see README, "Coming from Kubeshark")."""
    if name in NOT_CAPTURED:
        return NOT_CAPTURED[name]
    word = name.split("_", 1)[0]
    if word in L7_PREFIXES or name in L7_NAMES:
        return "a KFL2 variable of L7 payloads; podscope's entries are connections"
    if word in {"flow", "capture"} or name.startswith(("tcp_flow", "udp_flow")):
        return "a KFL2 variable podscope does not track (flows with rates, capture source)"
    if name.endswith(("_annotations", "_process_name", "_resolution_status", "_length")):
        return "a KFL2 variable podscope does not capture"
    return None
