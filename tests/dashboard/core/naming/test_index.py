"""ClusterIndex: name rules, owner chains, hostNetwork ports, IP reuse, bad input."""

from __future__ import annotations

import threading

import msgspec
import pytest

from contract.schema import Address, Endpoint, Entry, NatInfo, Node, TcpInfo, protocol
from dashboard.core.naming.index import EXTERNAL, UNKNOWN, ClusterIndex, Naming
from tests.dashboard import objects as k8s
from tests.dashboard.objects import T0_MS


class Clock:
    """A settable clock in ms for the index."""

    def __init__(self, now: int = T0_MS) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def make_entry(src: str, dst: str, dst_port: int = 80, *, at: int = T0_MS, name: str = "") -> Entry:
    return Entry(
        id="w/1",
        worker="w",
        node=Node("node-1", "172.18.0.2"),
        timestamp=at,
        protocol=protocol("tcp"),
        src=Endpoint(ip=src, port=43512),
        dst=Endpoint(ip=dst, port=dst_port, name=name),
        tcp=TcpInfo(event="connect"),
    )


@pytest.fixture
def clock() -> Clock:
    return Clock(T0_MS + 10_000)


@pytest.fixture
def index(clock: Clock) -> ClusterIndex:
    index = ClusterIndex(clock=clock)
    index.replace("Node", [k8s.node("node-1", "172.18.0.2", "10.244.1.0/24")])
    return index


def test_pod_of_a_deployment_is_named_with_its_workload(index: ClusterIndex) -> None:
    index.replace("ReplicaSet", [k8s.replica_set("cart-7d9f8c6b5", "shop", "cart")])
    owner = k8s.owner_ref("ReplicaSet", "cart-7d9f8c6b5")
    index.apply("ADDED", k8s.pod("cart-7d9f8c6b5-x2x7q", "shop", "10.244.1.7", owner=owner))

    assert index.resolve("10.244.1.7", 8080, T0_MS + 5) == Naming(
        name="cart-7d9f8c6b5-x2x7q",
        namespace="shop",
        pod="cart-7d9f8c6b5-x2x7q",
        service="",
        workload="cart",
        kind="pod",
        labels={"app": "cart"},
    )


@pytest.mark.parametrize(
    ("owner", "middle", "workload"),
    [
        (None, None, "naked-pod"),
        (k8s.owner_ref("StatefulSet", "redis"), None, "redis"),
        (k8s.owner_ref("DaemonSet", "fluentbit"), None, "fluentbit"),
        (k8s.owner_ref("Job", "backup-28913760", "batch/v1"), None, "backup-28913760"),
        (
            k8s.owner_ref("Job", "backup-28913760", "batch/v1"),
            k8s.job("backup-28913760", "shop", "backup"),
            "backup",
        ),
        (
            k8s.owner_ref("Job", "migrate", "batch/v1"),
            k8s.job("migrate", "shop"),
            "migrate",
        ),
        (k8s.owner_ref("ReplicaSet", "web-5c4f8d"), None, "web"),
        (
            k8s.owner_ref("ReplicaSet", "web-5c4f8d"),
            k8s.replica_set("web-5c4f8d", "shop", "frontend"),
            "frontend",
        ),
    ],
)
def test_workload_follows_the_controller_chain(
    index: ClusterIndex, owner: k8s.Obj | None, middle: k8s.Obj | None, workload: str
) -> None:
    if middle is not None:
        index.apply("ADDED", middle)
    pod = k8s.pod("naked-pod", "shop", "10.244.1.8", owner=owner, template_hash="5c4f8d")
    index.apply("ADDED", pod)

    assert index.resolve("10.244.1.8", 8080, T0_MS).workload == workload


def test_service_ip_and_backing_pods(index: ClusterIndex) -> None:
    index.apply("ADDED", k8s.service("cart", "shop", "10.96.12.34"))
    index.apply("ADDED", k8s.pod("cart-0", "shop", "10.244.1.20"))
    index.apply("ADDED", k8s.endpoint_slice("cart", "shop", [("cart-0", "10.244.1.20")]))

    svc = index.resolve("10.96.12.34", 80, T0_MS)
    backing = index.resolve("10.244.1.20", 8080, T0_MS)

    assert svc == Naming(name="cart.shop", namespace="shop", service="cart", kind="service")
    assert (backing.name, backing.service, backing.kind) == ("cart-0", "cart", "pod")


def test_headless_service_names_its_pods_but_has_no_address(index: ClusterIndex) -> None:
    index.apply("ADDED", k8s.service("db", "shop", "None"))
    index.apply("ADDED", k8s.pod("db-0", "shop", "10.244.1.30"))
    index.apply("ADDED", k8s.endpoint_slice("db", "shop", [("db-0", "10.244.1.30")]))

    assert index.resolve("10.244.1.30", 5432, T0_MS).service == "db"
    assert index.stats()["addresses"] == 2  # the node and the pod; "None" is no address


def test_endpoint_slice_removal_drops_the_service(index: ClusterIndex) -> None:
    index.apply("ADDED", k8s.pod("cart-0", "shop", "10.244.1.20"))
    slice_ = k8s.endpoint_slice("cart", "shop", [("cart-0", "10.244.1.20")])
    index.apply("ADDED", slice_)
    index.apply("DELETED", slice_)

    assert index.resolve("10.244.1.20", 8080, T0_MS).service == ""


def test_load_balancer_ip_resolves_to_the_service(index: ClusterIndex) -> None:
    index.apply("ADDED", k8s.service("web", "shop", "10.96.0.50", load_balancer_ip="192.0.2.7"))

    assert index.resolve("192.0.2.7", 443, T0_MS).name == "web.shop"


def test_node_ip_resolves_to_the_node_outside_any_namespace(index: ClusterIndex) -> None:
    assert index.resolve("172.18.0.2", 10250, T0_MS) == Naming(name="node-1", kind="node")


def test_host_network_pod_only_on_its_declared_ports(index: ClusterIndex) -> None:
    owner = k8s.owner_ref("DaemonSet", "node-exporter")
    exporter = k8s.pod(
        "node-exporter-abcde",
        "monitoring",
        "172.18.0.2",
        host_network=True,
        owner=owner,
        ports=(9100,),
    )
    index.apply("ADDED", exporter)

    on_port = index.resolve("172.18.0.2", 9100, T0_MS)
    other_port = index.resolve("172.18.0.2", 22, T0_MS)

    assert (on_port.kind, on_port.pod, on_port.workload) == (
        "pod",
        exporter["metadata"]["name"],
        "node-exporter",
    )
    assert (other_port.kind, other_port.name) == ("node", "node-1")


def test_host_port_of_a_regular_pod_maps_the_node_port_to_the_pod(index: ClusterIndex) -> None:
    index.apply(
        "ADDED", k8s.pod("ingress-1", "ingress", "10.244.1.40", host_ports=(443,), ports=(443,))
    )

    assert index.resolve("172.18.0.2", 443, T0_MS).pod == "ingress-1"
    assert index.resolve("10.244.1.40", 443, T0_MS).pod == "ingress-1"
    assert index.resolve("172.18.0.2", 80, T0_MS).kind == "node"


def test_reused_ip_is_named_as_of_the_entry_time(index: ClusterIndex, clock: Clock) -> None:
    old = k8s.pod("api-old", "shop", "10.244.1.50", start_ms=T0_MS)
    index.apply("ADDED", old)
    clock.now = T0_MS + 60_000
    index.apply("DELETED", old)
    index.apply("ADDED", k8s.pod("api-new", "shop", "10.244.1.50", start_ms=T0_MS + 70_000))

    assert index.resolve("10.244.1.50", 8080, T0_MS + 30_000).pod == "api-old"
    assert index.resolve("10.244.1.50", 8080, T0_MS + 65_000) == UNKNOWN  # nobody held it
    assert index.resolve("10.244.1.50", 8080, T0_MS + 80_000).pod == "api-new"


def test_replacement_seen_before_the_deletion_closes_the_old_tenure(index: ClusterIndex) -> None:
    index.apply("ADDED", k8s.pod("api-old", "shop", "10.244.1.51", start_ms=T0_MS))
    index.apply("ADDED", k8s.pod("api-new", "shop", "10.244.1.51", start_ms=T0_MS + 70_000))

    assert index.resolve("10.244.1.51", 8080, T0_MS + 69_999).pod == "api-old"
    assert index.resolve("10.244.1.51", 8080, T0_MS + 70_000).pod == "api-new"


@pytest.mark.parametrize("finished_first", [True, False])
def test_completed_pod_keeps_its_ip_in_status_but_not_the_address(
    index: ClusterIndex, finished_first: bool
) -> None:
    done = k8s.pod(
        "job-1-abcde",
        "batch",
        "10.244.1.60",
        phase="Succeeded",
        start_ms=T0_MS,
        finished_ms=T0_MS + 5_000,
    )
    running = k8s.pod("web-1", "batch", "10.244.1.60", start_ms=T0_MS + 8_000)
    index.replace("Pod", [done, running] if finished_first else [running, done])

    assert index.resolve("10.244.1.60", 80, T0_MS + 1_000).pod == "job-1-abcde"
    assert index.resolve("10.244.1.60", 80, T0_MS + 6_000) == UNKNOWN
    assert index.resolve("10.244.1.60", 80, T0_MS + 9_000).pod == "web-1"


def test_deleted_pod_keeps_its_name_service_and_workload_for_old_entries(
    index: ClusterIndex, clock: Clock
) -> None:
    index.apply("ADDED", k8s.replica_set("api-6b7c", "shop", "api"))
    pod = k8s.pod(
        "api-6b7c-q1", "shop", "10.244.1.70", owner=k8s.owner_ref("ReplicaSet", "api-6b7c")
    )
    index.apply("ADDED", pod)
    index.apply("ADDED", k8s.endpoint_slice("api", "shop", [("api-6b7c-q1", "10.244.1.70")]))
    clock.now = T0_MS + 100_000
    index.apply("DELETED", pod)
    index.apply("DELETED", k8s.replica_set("api-6b7c", "shop", "api"))

    old = index.resolve("10.244.1.70", 8080, T0_MS + 50_000)
    assert (old.pod, old.service, old.workload) == ("api-6b7c-q1", "api", "api")
    assert index.resolve("10.244.1.70", 8080, T0_MS + 100_001) == UNKNOWN


def test_recreated_pod_with_the_same_name_is_a_new_holder(
    index: ClusterIndex, clock: Clock
) -> None:
    index.apply("ADDED", k8s.pod("web-0", "shop", "10.244.1.80", start_ms=T0_MS))
    clock.now = T0_MS + 20_000
    index.replace("Pod", [k8s.pod("web-0", "shop", "10.244.1.81", start_ms=T0_MS + 30_000)])

    assert index.resolve("10.244.1.80", 80, T0_MS + 10_000).pod == "web-0"
    assert index.resolve("10.244.1.80", 80, T0_MS + 40_000) == UNKNOWN
    assert index.resolve("10.244.1.81", 80, T0_MS + 40_000).pod == "web-0"


def test_pod_ip_change_releases_the_old_address(index: ClusterIndex, clock: Clock) -> None:
    pod = k8s.pod("web-1", "shop", "10.244.1.90", uid="uid-web-1")
    index.apply("ADDED", pod)
    clock.now = T0_MS + 20_000
    index.apply("MODIFIED", k8s.pod("web-1", "shop", "10.244.1.91", uid="uid-web-1"))

    assert index.resolve("10.244.1.90", 80, T0_MS + 30_000) == UNKNOWN
    assert index.resolve("10.244.1.91", 80, T0_MS + 30_000).pod == "web-1"


def test_outside_addresses_are_external_and_inside_ones_unknown(clock: Clock) -> None:
    index = ClusterIndex(cluster_cidrs=["10.96.0.0/12"], clock=clock)
    index.replace("Node", [k8s.node("node-1", "172.18.0.2", "10.244.1.0/24")])

    assert index.resolve("10.244.1.250", 80, T0_MS) == UNKNOWN  # node pod CIDR
    assert index.resolve("10.100.0.1", 80, T0_MS) == UNKNOWN  # configured service CIDR
    assert index.resolve("93.184.216.34", 443, T0_MS) == EXTERNAL
    assert index.resolve("2606:2800:220:1::1", 443, T0_MS) == EXTERNAL


def test_name_entry_names_both_sides_and_keeps_the_dns_name(index: ClusterIndex) -> None:
    index.apply("ADDED", k8s.pod("client", "shop", "10.244.1.5"))

    named = index.name_entry(make_entry("10.244.1.5", "93.184.216.34", 443, name="example.com"))

    assert (named.src.name, named.src.namespace, named.src.kind) == ("client", "shop", "pod")
    assert named.dst == Endpoint(ip="93.184.216.34", port=443, name="example.com", kind="external")
    assert named.tcp == TcpInfo(event="connect")


def test_name_entry_clears_a_stale_cluster_name_and_is_idempotent(index: ClusterIndex) -> None:
    entry = make_entry("10.244.1.6", "10.244.1.99", 80)
    stale = Endpoint(ip="10.244.1.99", port=80, name="x", namespace="y", pod="x", kind="pod")
    named = index.name_entry(Entry.from_wire({**entry.to_wire(), "dst": _wire(stale)}))

    assert named.dst == Endpoint(ip="10.244.1.99", port=80, name="x", kind="unknown")
    assert index.name_entry(named) is named


def _wire(endpoint: Endpoint) -> dict[str, object]:
    return {
        "ip": endpoint.ip,
        "port": endpoint.port,
        "name": endpoint.name,
        "namespace": endpoint.namespace,
        "pod": endpoint.pod,
        "kind": endpoint.kind,
    }


def test_ipv6_text_from_packets_matches_the_api_form(index: ClusterIndex) -> None:
    index.apply("ADDED", k8s.pod("v6", "shop", "fd00:10:244:1::a"))

    assert index.resolve("fd00:10:244:1:0:0:0:a", 80, T0_MS).pod == "v6"
    assert index.resolve("FD00:10:244:1::A", 80, T0_MS).pod == "v6"


def test_dual_stack_pod_resolves_on_both_addresses(index: ClusterIndex) -> None:
    index.apply("ADDED", k8s.pod("dual", "shop", "10.244.1.77", extra_ips=("fd00::77",)))

    assert index.resolve("10.244.1.77", 80, T0_MS).pod == "dual"
    assert index.resolve("fd00::77", 80, T0_MS).pod == "dual"


def test_replace_deletes_what_the_new_list_lacks(index: ClusterIndex, clock: Clock) -> None:
    index.replace("Pod", [k8s.pod("a", "shop", "10.244.1.1"), k8s.pod("b", "shop", "10.244.1.2")])
    clock.now = T0_MS + 50_000
    accepted = index.replace("Pod", [k8s.pod("b", "shop", "10.244.1.2")])

    assert accepted == 1
    assert [p.name for p in index.pods()] == ["b"]
    assert index.resolve("10.244.1.1", 80, T0_MS + 60_000) == UNKNOWN


def test_replace_of_an_owner_kind_is_accepted_and_of_a_foreign_kind_refused(
    index: ClusterIndex,
) -> None:
    assert index.replace("Deployment", [k8s.deployment("cart", "shop")]) == 1
    with pytest.raises(ValueError, match="ConfigMap"):
        index.replace("ConfigMap", [])


@pytest.mark.parametrize(
    ("event", "obj", "reason"),
    [
        ("ADDED", "not an object", "no kind"),
        ("ADDED", {"metadata": {"name": "x"}}, "no kind"),
        ("ADDED", {"kind": "ConfigMap", "metadata": {"name": "x"}}, "kind ConfigMap"),
        ("BOOKMARK", k8s.pod("p", "shop"), "event type 'BOOKMARK'"),
        ("ADDED", {"kind": "Pod", "metadata": {}}, "invalid Pod"),
        ("ADDED", {"kind": "Pod", "metadata": "x"}, "invalid Pod"),
        ("ADDED", k8s.pod("p", "shop", "10.244.1.300"), "invalid Pod"),
        (
            "ADDED",
            {**k8s.pod("p", "shop"), "spec": {"containers": [{"ports": [{}]}]}},
            "invalid Pod",
        ),
        ("ADDED", {**k8s.node("n", "172.18.0.3"), "spec": {"podCIDR": "x/99"}}, "invalid Node"),
        ("ADDED", {**k8s.pod("p", "shop"), "status": {"startTime": "yesterday"}}, "invalid Pod"),
    ],
)
def test_bad_objects_are_counted_and_dropped(
    index: ClusterIndex, event: str, obj: object, reason: str
) -> None:
    assert index.apply(event, obj) is False
    assert index.stats()["dropped"] == {reason: 1}
    assert index.stats()["lastDrop"]


def test_malformed_items_of_a_list_are_skipped(index: ClusterIndex) -> None:
    good = k8s.pod("good", "shop", "10.244.1.3")
    accepted = index.replace("Pod", [good, {"kind": "Pod", "metadata": {}}])

    assert accepted == 1
    assert index.stats()["dropped"] == {"invalid Pod": 1}


def test_garbage_address_in_an_entry_is_unknown_and_counted(index: ClusterIndex) -> None:
    assert index.resolve("not-an-ip", 80, T0_MS) == UNKNOWN
    assert index.stats()["dropped"] == {"bad address": 1}


def test_history_of_departed_pods_expires_after_the_retention(clock: Clock) -> None:
    index = ClusterIndex(clock=clock, retention_ms=60_000)
    pod = k8s.pod("gone", "shop", "10.244.1.4")
    index.apply("ADDED", pod)
    clock.now = T0_MS + 20_000
    index.apply("DELETED", pod)
    assert index.stats()["departed"] == 1

    clock.now = T0_MS + 200_000
    index.apply("ADDED", k8s.namespace("shop"))  # any change lets the index prune

    assert index.stats()["departed"] == 0
    assert index.resolve("10.244.1.4", 80, T0_MS + 5_000) == EXTERNAL


def test_namespaces_and_nodes_are_listed(index: ClusterIndex) -> None:
    index.replace("Namespace", [k8s.namespace("shop"), k8s.namespace("kube-system")])

    assert index.namespaces() == ["kube-system", "shop"]
    assert [n.name for n in index.nodes()] == ["node-1"]


def test_lookups_stay_consistent_while_the_index_changes(index: ClusterIndex) -> None:
    pods = [k8s.pod(f"p{i}", "shop", f"10.244.1.{i}") for i in range(1, 60)]
    failures: list[str] = []

    def churn() -> None:
        for _ in range(20):
            for pod in pods:
                index.apply("ADDED", pod)
            for pod in pods:
                index.apply("DELETED", pod)

    writer = threading.Thread(target=churn)
    writer.start()
    while writer.is_alive():
        naming = index.resolve("10.244.1.7", 8080, T0_MS + 10**9)
        if naming.kind not in ("pod", "unknown"):
            failures.append(naming.kind)
    writer.join()

    assert failures == []


def test_a_pod_endpoint_carries_its_labels_and_other_endpoints_none(index: ClusterIndex) -> None:
    index.apply("ADDED", k8s.pod("cart-7d9f8c6b5-x2x7q", "shop", "10.244.1.7"))
    entry = Entry(
        id="w/1",
        worker="w",
        node=Node(),
        timestamp=T0_MS + 5,
        protocol=protocol("tcp"),
        src=Endpoint(ip="10.244.1.7", port=40000),
        dst=Endpoint(ip="8.8.8.8", port=53, labels={"stale": "yes"}),
    )

    named = index.name_wire(entry.to_wire())

    assert named["src"]["labels"] == {"app": "cart"}
    assert "labels" not in named["dst"]
    assert index.name_entry(entry).to_wire() == named


def test_name_wire_names_a_wire_dict_exactly_as_name_entry_names_the_entry(
    index: ClusterIndex,
) -> None:
    index.apply("ADDED", k8s.pod("client", "shop", "10.244.1.5"))
    stale = Endpoint(ip="10.244.1.99", port=80, name="x", namespace="y", pod="x", kind="pod")
    entries = [
        make_entry("10.244.1.5", "93.184.216.34", 443, name="example.com"),
        make_entry("10.244.1.5", "10.244.1.99", 80),
        make_entry("172.18.0.2", "10.244.1.5", 8080),
        Entry.from_wire({**make_entry("10.244.1.6", "10.244.1.99").to_wire(), "dst": _wire(stale)}),
    ]
    for entry in entries * 2:  # the second time from the destinations' cache
        named = index.name_wire(entry.to_wire())
        assert msgspec.json.encode(named) == index.name_entry(entry).to_json().encode()


def test_the_service_dialed_names_dst_service_and_the_summary(index: ClusterIndex) -> None:
    index.apply("ADDED", k8s.service("cart", "shop", "10.96.12.34"))
    index.apply("ADDED", k8s.service("carts-v2", "shop", "10.96.12.99"))
    index.apply("ADDED", k8s.pod("cart-0", "shop", "10.244.1.20"))
    index.apply("ADDED", k8s.endpoint_slice("cart", "shop", [("cart-0", "10.244.1.20")]))
    entry = msgspec.structs.replace(
        make_entry("10.244.1.5", "10.244.1.20", 8080),
        nat=NatInfo(dialed=Address("10.96.12.99", 80)),
        summary="10.244.1.5:43512 -> 10.244.1.20:8080 via 10.96.12.99:80 connect",
    )
    named = index.name_entry(entry)
    assert (named.dst.name, named.dst.service, named.dst.kind) == ("cart-0", "carts-v2", "pod")
    assert "via service carts-v2.shop (10.96.12.99:80) connect" in named.summary
    assert index.name_wire(entry.to_wire()) == named.to_wire()
    not_a_service = msgspec.structs.replace(entry, nat=NatInfo(dialed=Address("172.18.0.2", 80)))
    assert index.name_entry(not_a_service).dst.service == "cart"  # its EndpointSlice's


def test_node_of_names_the_node_an_address_belongs_to(clock: Clock) -> None:
    index = ClusterIndex(clock=clock)
    index.replace("Node", [k8s.node("node-1", "172.18.0.2", "10.244.1.0/24"),
                           k8s.node("node-2", "172.18.0.3", "10.244.2.0/24")])  # fmt: skip
    index.replace("Pod", [k8s.pod("cart-1", "shop", "10.244.2.7", node="node-2"),
                          k8s.pod("agent", "kube-system", "172.18.0.3", node="node-2",
                                  host_network=True, host_ip="172.18.0.3")])  # fmt: skip
    at = clock.now
    assert index.node_of("10.244.2.7", at) == "node-2"  # a pod: its node
    assert index.node_of("172.18.0.2", at) == "node-1"  # a node's own address
    assert index.node_of("172.18.0.3", at) == "node-2"  # a hostNetwork pod's: the node
    assert index.node_of("10.244.1.0", at) == "node-1"  # flannel's tunnel address: pod CIDR
    assert index.node_of("10.244.1.1", at) == "node-1"  # the bridge's gateway
    assert index.node_of("203.0.113.9", at) == ""  # outside
    assert index.node_of("not an address", at) == ""
    index.replace("Node", [k8s.node("node-1", "172.18.0.2", "10.244.9.0/24")])
    assert index.node_of("10.244.1.0", at) == ""  # the ranges follow the nodes
    assert index.node_of("10.244.9.0", at) == "node-1"
