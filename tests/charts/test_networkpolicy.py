"""The optional NetworkPolicies: Redis only for the hub and the nodes, the hub only on its port."""

from __future__ import annotations

from tests.charts.helm import failure, render

VALUES = "ci/network-policy-values.yaml"


def test_no_policies_unless_enabled() -> None:
    assert not [kind for kind, _ in render().kinds() if kind == "NetworkPolicy"]


def test_redis_takes_only_the_hub_pods_and_the_nodes() -> None:
    manifest = render(VALUES)
    policy = manifest.get("NetworkPolicy", "podscope-redis")["spec"]
    redis_labels = manifest.get("Deployment", "podscope-redis")["spec"]["template"]["metadata"]
    assert policy["podSelector"]["matchLabels"].items() <= redis_labels["labels"].items()
    [rule] = policy["ingress"]
    hub_labels = manifest.get("Deployment", "podscope-hub")["spec"]["template"]["metadata"]
    [pods, *blocks] = rule["from"]
    assert pods["podSelector"]["matchLabels"].items() <= hub_labels["labels"].items()
    assert [block["ipBlock"]["cidr"] for block in blocks] == ["10.0.0.0/16", "fd00:10::/64"]
    assert rule["ports"] == [{"port": "redis", "protocol": "TCP"}]


def test_the_hub_takes_connections_on_its_http_port_only() -> None:
    policy = render(VALUES).get("NetworkPolicy", "podscope-hub")["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    assert policy["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]


def test_node_addresses_are_required_with_the_charts_redis() -> None:
    assert "networkPolicy.nodeCidrs" in failure(sets=("networkPolicy.enabled=true",))
    external = render("ci/external-redis-values.yaml", sets=("networkPolicy.enabled=true",)).kinds()
    assert ("NetworkPolicy", "podscope-hub") in external
    assert ("NetworkPolicy", "podscope-redis") not in external
