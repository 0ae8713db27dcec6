"""Every example of Kubeshark's KFL2 reference that applies to connection-level entries, run on
schema-valid entries as the capture and the hub produce them (named, labelled), with the
entries each one must match.

The examples come from Kubeshark's two KFL2 references: the docs page ``src/pages/en/v2/kfl2.md``
(kubeshark/docs) and ``skills/kfl/references/kfl2-reference.md`` (kubeshark/kubeshark). The
examples left out are listed in EXCLUDED with the reason: they read L7 payloads (HTTP, gRPC,
Redis, Kafka, AMQP, LDAP, RADIUS, MongoDB, MySQL, PostgreSQL, GraphQL), flows with rates,
L7 detection, process names or the capture source, none of which a connection entry carries.
Each of them is a compile error that names the unknown variable, never a filter that silently
matches nothing.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from contract.schema import DnsInfo, Endpoint, Entry, IcmpInfo, Node, TcpInfo, protocol
from kfl import KflError, compile_filter

NOW_MS = int(time.time() * 1000)
A_MINUTE_MS = 60_000
RECENT = "shop-to-external-db"
IN_THE_HOUR_MS = 1_773_527_400_000  # 2026-03-14T22:30:00Z, inside the reference's time range
NODE = Node(name="worker-1", ip="172.18.0.2")


def _entry(number: int, timestamp: int, name: str, **fields: Any) -> dict[str, Any]:
    """A schema-valid wire entry (validated as the hub validates what it reads)."""
    entry = Entry(
        id=f"worker-1/{number}", worker="worker-1", node=NODE, timestamp=timestamp, **fields
    )
    wire = entry.to_wire()
    assert Entry.from_wire(wire) == entry
    wire["name"] = name  # not a schema key: lets the table name its entries
    return wire


def _pod(ip: str, port: int, namespace: str, pod: str, service: str, **labels: str) -> Endpoint:
    return Endpoint(
        ip=ip,
        port=port,
        name=pod,
        namespace=namespace,
        pod=pod,
        service=service,
        workload=pod.rsplit("-", 1)[0],
        kind="pod",
        labels=labels or None,
    )


ENTRIES = [
    _entry(  # an open, busy connection between two production services
        1,
        IN_THE_HOUR_MS,
        "gateway-to-users",
        protocol=protocol("tcp"),
        src=_pod(
            "192.168.1.10",
            51000,
            "production",
            "web-server-123",
            "api-gateway",
            app="checkout",
            tier="web",
        ),
        dst=_pod(
            "10.244.2.7",
            8080,
            "production",
            "user-service-6f7d",
            "user-service",
            app="users",
            version="canary",
        ),
        elapsed_time=0,
        request_size=2_000_000,
        response_size=48_000,
        tcp=TcpInfo(event="ongoing", state="ESTABLISHED", flags=("SYN", "ACK")),
    ),
    _entry(  # a reset connection from the shop to an external database, a minute ago
        2,
        NOW_MS - A_MINUTE_MS,
        "shop-to-external-db",
        protocol=protocol("tcp"),
        src=_pod(
            "10.244.1.5", 40100, "shop", "frontend-7d4b9c8f6d-x2x9q", "frontend", app="payments"
        ),
        dst=Endpoint(ip="203.0.113.9", port=443, name="db.example.com", kind="external"),
        elapsed_time=6_000,
        request_size=517,
        response_size=0,
        tcp=TcpInfo(event="reset", state="CLOSED", flags=("SYN", "ACK", "RST"), reset_by="server"),
    ),
    _entry(  # a refused connection to port 80 of a kube-system service (no pod behind it)
        3,
        IN_THE_HOUR_MS + 1,
        "refused-port-80",
        protocol=protocol("tcp"),
        src=_pod("10.244.1.8", 40200, "kube-system", "metrics-server-5d9c", "metrics-server"),
        dst=Endpoint(
            ip="10.96.0.20",
            port=80,
            name="legacy.kube-system",
            namespace="kube-system",
            service="legacy",
            kind="service",
        ),
        tcp=TcpInfo(event="refused", state="CLOSED", flags=("SYN", "RST")),
    ),
    _entry(  # a DNS answer for google.com: query and answer both seen
        4,
        IN_THE_HOUR_MS + 2,
        "dns-google",
        protocol=protocol("dns"),
        src=_pod(
            "10.244.1.5", 53000, "shop", "frontend-7d4b9c8f6d-x2x9q", "frontend", app="payments"
        ),
        dst=Endpoint(
            ip="10.96.0.10",
            port=53,
            name="kube-dns.kube-system",
            namespace="kube-system",
            service="kube-dns",
            kind="service",
        ),
        dns=DnsInfo(
            query="google.com", answers=("142.250.74.46",), rcode="NOERROR", qtype="A", latency=1.2
        ),
    ),
    _entry(  # a failed DNS lookup: NXDOMAIN for an AAAA record, the query not seen
        5,
        IN_THE_HOUR_MS + 3,
        "dns-nxdomain",
        protocol=protocol("dns"),
        src=_pod(
            "10.244.2.7", 53001, "production", "user-service-6f7d", "user-service", app="users"
        ),
        dst=Endpoint(
            ip="10.96.0.10",
            port=53,
            name="kube-dns.kube-system",
            namespace="kube-system",
            service="kube-dns",
            kind="service",
        ),
        dns=DnsInfo(query="missing.example.com", answers=(), rcode="NXDOMAIN", qtype="AAAA"),
    ),
    _entry(  # an ICMP port unreachable from a node to a pod
        6,
        IN_THE_HOUR_MS + 4,
        "icmp-unreachable",
        protocol=protocol("icmp"),
        src=Endpoint(ip="172.18.0.3", name="worker-2", kind="node"),
        dst=_pod("10.244.1.8", 0, "kube-system", "metrics-server-5d9c", "metrics-server"),
        icmp=IcmpInfo(type=3, code=3, message="port unreachable"),
    ),
]

# query (as printed in Kubeshark's references) -> names of the entries it matches
EXAMPLES: list[tuple[str, set[str]]] = [
    # docs: Quick Examples
    ('dst.pod.namespace == "production"', {"gateway-to-users"}),
    ('dns && "google.com" in dns_questions', {"dns-google"}),
    ('timestamp > now() - duration("5m")', {"shop-to-external-db"}),
    # docs: Basic Network Filtering
    ("dst.port == 80", {"refused-port-80"}),
    ('src.ip.startsWith("192.168.")', {"gateway-to-users"}),
    (
        "dst.port == 80 || dst.port == 443 || dst.port == 8080",
        {"gateway-to-users", "shop-to-external-db", "refused-port-80"},
    ),
    ("dst.port >= 8000 && dst.port <= 9000", {"gateway-to-users"}),
    # docs: Kubernetes Filtering
    ('src.pod.name == "web-server-123"', {"gateway-to-users"}),
    ('dst.pod.namespace == "production"', {"gateway-to-users"}),
    (
        'src.service.name == "api-gateway" && dst.service.name == "user-service"',
        {"gateway-to-users"},
    ),
    ('"production" in namespaces', {"gateway-to-users", "dns-nxdomain"}),
    ('map_get(local_labels, "app", "") == "payments"', {"shop-to-external-db", "dns-google"}),
    # docs: DNS Filtering
    ("dns && dns_request", {"dns-google"}),
    ('dns && "google.com" in dns_questions', {"dns-google"}),
    ("dns && dns_response && status_code != 0", {"dns-nxdomain"}),
    ('dns && "A" in dns_question_types', {"dns-google"}),
    ("dns && dns_response && size(dns_answers) > 0", {"dns-google"}),
    # docs: DNS Resolution Filtering
    ('dst.dns == "db.example.com"', {"shop-to-external-db"}),
    ('src.dns.contains("example.com") || dst.dns.contains("example.com")', {"shop-to-external-db"}),
    ('"db.example.com" in dns_resolutions', {"shop-to-external-db"}),
    ('dst.dns != "" && !dst.dns.endsWith(".internal")', {"shop-to-external-db"}),
    # docs: Transport and Connection Filtering; reference: L4 Connection Tracking
    ('tcp && tcp_error_type != ""', {"shop-to-external-db", "refused-port-80"}),
    ('conn && conn_state == "open" && conn_local_bytes > 1000000', {"gateway-to-users"}),
    # docs: Negation
    (
        '!(src.pod.namespace == "kube-system")',
        {
            "gateway-to-users",
            "shop-to-external-db",
            "dns-google",
            "dns-nxdomain",
            "icmp-unreachable",
        },
    ),
    # docs: Time-Based Filtering
    ('timestamp > timestamp("2026-03-14T22:00:00Z")', {entry["name"] for entry in ENTRIES}),
    (
        'timestamp >= timestamp("2026-03-14T22:00:00Z") && '
        'timestamp <= timestamp("2026-03-14T23:00:00Z")',
        {"gateway-to-users", "refused-port-80", "dns-google", "dns-nxdomain", "icmp-unreachable"},
    ),
    ('timestamp > now() - duration("5m")', {"shop-to-external-db"}),
    # docs: Complex Filters
    (
        "src.service.namespace != dst.service.namespace",  # "" outside a service
        {"shop-to-external-db", "dns-google", "dns-nxdomain", "icmp-unreachable"},
    ),
    # docs: Labels and Annotations
    ('map_get(local_labels, "app", "") == "checkout"', {"gateway-to-users"}),
    ('map_get(remote_labels, "version", "") == "canary"', {"gateway-to-users"}),
    ('"tier" in local_labels', {"gateway-to-users"}),
    # reference: Kubernetes Variables, Labels
    (
        'src.service.name == "api-gateway" && dst.pod.namespace == "production"',
        {"gateway-to-users"},
    ),
    (
        'map_get(local_labels, "app", "") == "checkout" && "production" in namespaces',
        {"gateway-to-users"},
    ),
]

# query -> why it does not apply to connection entries (each must be a compile error)
EXCLUDED: list[tuple[str, str]] = [
    ('http && method == "GET" && status_code >= 400', "HTTP payload"),
    ("http && response_body_size > 10000", "HTTP payload"),
    ("grpc && grpc_status != 0", "gRPC payload"),
    ("http && elapsed_time > 5000000", "HTTP payload"),
    ('local_process_name == "nginx"', "process names are not captured"),
    ('http && method == "GET"', "HTTP payload"),
    ('http && url.contains("/api")', "HTTP payload"),
    ("http && status_code >= 400 && status_code < 500", "HTTP payload"),
    ("http && status_code >= 500", "HTTP payload"),
    ('http && "authorization" in request.headers', "HTTP payload"),
    ('http && request.headers["content-type"] == "application/json"', "HTTP payload"),
    ('http && url.matches(".*/api/v[0-9]+/.*")', "HTTP payload"),
    ("http && response_body_size > 1000000", "HTTP payload"),
    ("gql && status_code >= 400", "GraphQL payload"),
    ("grpc", "gRPC payload"),
    ('grpc && grpc_method == "SayHello"', "gRPC payload"),
    ("grpc && grpc_status == 5", "gRPC payload"),
    ('grpc && method == "POST" && status_code == 200', "gRPC payload"),
    ('redis && redis_type == "GET"', "Redis payload"),
    ('redis && redis_key.startsWith("session:")', "Redis payload"),
    ('kafka && kafka_api_key_name == "PRODUCE"', "Kafka payload"),
    ('kafka && kafka_request_summary.contains("orders")', "Kafka payload"),
    ("kafka && kafka_size > 10000", "Kafka payload"),
    ('amqp && amqp_method == "basic.publish"', "AMQP payload"),
    ('ldap && ldap_type == "bind"', "LDAP payload"),
    ('radius && radius_code_name == "Access-Request"', "RADIUS payload"),
    ("flow && flow_local_pps > 1000", "flows with rates are not tracked"),
    ("tcp_flow && flow_local_bps > 5000000", "flows with rates are not tracked"),
    ('conn && "HTTP" in conn_l7_detected', "no L7 detection"),
    ('tcp_conn && "HTTP" in conn_l7_detected', "no L7 detection"),
    ("!http", "HTTP payload"),
    ("http && status_code != 200", "HTTP payload"),
    ('http && !path.contains("/health")', "HTTP payload"),
    (
        'src.ip.startsWith("192.168.") && http && method == "POST" && url.contains("/api")',
        "HTTP payload",
    ),
    ('http && status_code >= 500 || (tcp && tcp_error_type != "")', "HTTP payload"),
    ('src.pod.namespace == "production" && http && status_code >= 400', "HTTP payload"),
    ('capture_source == "ebpf_tls"', "one capture source (AF_PACKET)"),
    ('http && method == "POST" && status_code >= 500 && path.contains("/api")', "HTTP payload"),
    ('redis && redis_type == "GET" && redis_key.startsWith("session:")', "Redis payload"),
    (
        'kafka && kafka_api_key_name == "PRODUCE" && kafka_request_summary.contains("orders")',
        "Kafka payload",
    ),
    ('mongodb && mongodb_command == "find" && mongodb_collection == "users"', "MongoDB payload"),
    ('mysql && mysql_query.contains("SELECT") && !mysql_success', "MySQL payload"),
    (
        'postgresql && postgresql_query.contains("SELECT") && !postgresql_success',
        "PostgreSQL payload",
    ),
    ('grpc && grpc_status != 0 && grpc_method.contains("Create")', "gRPC payload"),
]


def entries_now() -> list[dict[str, Any]]:
    """ENTRIES with the recent one a minute before the clock now (a long suite run may have
    started minutes after this module was imported)."""
    now_ms = int(time.time() * 1000)
    return [
        {**entry, "timestamp": now_ms - A_MINUTE_MS} if entry["name"] == RECENT else entry
        for entry in ENTRIES
    ]


@pytest.mark.parametrize(("query", "expected"), EXAMPLES)
def test_reference_example_matches_its_entries(query: str, expected: set[str]) -> None:
    matcher = compile_filter(query)

    assert {entry["name"] for entry in entries_now() if matcher(entry)} == expected


@pytest.mark.parametrize(("query", "reason"), EXCLUDED)
def test_an_excluded_example_is_an_error_naming_what_is_unknown(query: str, reason: str) -> None:
    with pytest.raises(KflError, match="unknown field"):
        compile_filter(query)
