"""kube-proxy's iptables layout generated from the lab's Service and EndpointSlice objects."""

from __future__ import annotations

from dashboard.core.naming.index import ClusterIndex
from lab.cluster import (
    API_VIP,
    CLUSTER_CIDR,
    DNS_VIP,
    EMPTY_VIP,
    HOST_NETWORK_PORT,
    NODE_PORT,
    ClusterLab,
)
from lab.kubeproxy import ServicePort, chain_name, iptables_rules, service_ports


def lab_ports() -> list[ServicePort]:
    lab = ClusterLab()  # builds nothing until entered
    return service_ports(lab.services(), lab.endpoint_slices())


def rules_of(chain: str, text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"-A {chain} ")]


def test_service_ports_carry_their_ready_endpoints() -> None:
    ports = {port.label: port for port in lab_ports()}
    assert ports["payments/api:http"].endpoints == (("10.244.1.12", 8000), ("10.244.2.12", 8000))
    assert ports["payments/api:http"].cluster_ip == API_VIP
    assert ports["shop/empty:http"].endpoints == ()
    assert ports["shop/web:http"].node_port == NODE_PORT
    assert ports["kube-system/kube-dns:dns"].protocol == "udp"
    assert ports["kube-system/kube-dns:dns-tcp"].cluster_ip == DNS_VIP


def test_two_endpoints_are_picked_by_statistic_rules_then_the_last_unconditionally() -> None:
    text = iptables_rules(lab_ports(), CLUSTER_CIDR)
    service = chain_name("KUBE-SVC-", "payments/api:http", "tcp")
    picks = [rule for rule in rules_of(service, text) if "KUBE-SEP-" in rule]
    assert len(picks) == 2
    assert "--mode random --probability 0.5000000000" in picks[0]
    assert "statistic" not in picks[1]
    endpoint = picks[0].rsplit("-j ", 1)[1]
    assert rules_of(endpoint, text)[-1].endswith("-j DNAT --to-destination 10.244.1.12:8000")
    assert f"-d {API_VIP}/32 -p tcp -m tcp --dport 80 -j {service}" in "\n".join(
        rules_of("KUBE-SERVICES", text)
    )


def test_a_service_without_endpoints_is_rejected_in_the_filter_table() -> None:
    text = iptables_rules(lab_ports(), CLUSTER_CIDR)
    filter_table = text[text.index("*filter") :]
    (reject,) = [rule for rule in rules_of("KUBE-SERVICES", filter_table) if EMPTY_VIP in rule]
    assert reject.endswith("-j REJECT --reject-with icmp-port-unreachable")
    assert EMPTY_VIP not in text[: text.index("*filter")]


def test_a_node_port_is_masqueraded_and_the_node_ports_rule_comes_last() -> None:
    text = iptables_rules(lab_ports(), CLUSTER_CIDR)
    external = chain_name("KUBE-EXT-", "shop/web:http", "tcp")
    assert rules_of(external, text)[0].endswith("-j KUBE-MARK-MASQ")
    assert f"--dport {NODE_PORT} -j {external}" in "\n".join(rules_of("KUBE-NODEPORTS", text))
    nat = text[: text.index("*filter")]
    assert rules_of("KUBE-SERVICES", nat)[-1].endswith("--dst-type LOCAL -j KUBE-NODEPORTS")
    assert "-j MASQUERADE --random-fully" in "\n".join(rules_of("KUBE-POSTROUTING", text))


def test_chain_names_are_stable_and_fit_iptables() -> None:
    name = chain_name("KUBE-SVC-", "payments/api:http", "tcp")
    assert name == chain_name("KUBE-SVC-", "payments/api:http", "tcp")
    assert name != chain_name("KUBE-SVC-", "payments/api:http", "udp")
    assert len(name) <= 28  # iptables' chain name limit


def test_the_snapshot_names_the_host_network_pod_by_its_port() -> None:
    lab = ClusterLab()
    index = ClusterIndex(cluster_cidrs=[CLUSTER_CIDR])
    items = lab.snapshot()["items"]
    for kind in ("Node", "Service", "Pod", "EndpointSlice"):
        index.replace(kind, [item for item in items if item["kind"] == kind])
    node2 = lab.node(2).ip
    assert index.resolve(node2, HOST_NETWORK_PORT, 0).name == "node-exporter-2"
    assert index.resolve(node2, 22, 0).kind == "node"
    assert index.resolve(API_VIP, 80, 0).service == "api"
    assert index.resolve("10.244.2.12", 8000, 0).service == "api"


def test_the_snapshot_names_workloads_after_their_apps() -> None:
    lab = ClusterLab()
    index = ClusterIndex(cluster_cidrs=[CLUSTER_CIDR])
    items = lab.snapshot()["items"]
    for kind in ("Node", "Service", "Pod", "EndpointSlice"):
        index.replace(kind, [item for item in items if item["kind"] == kind])
    assert index.resolve(lab.pod("frontend").ip, 0, 0).workload == "frontend"
    assert index.resolve(lab.node(2).ip, HOST_NETWORK_PORT, 0).workload == "node-exporter"
