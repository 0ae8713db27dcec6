"""The optional NetworkPolicies: Redis only for the hub and the nodes, the hub only on its port
and, when listed, only from networkPolicy.hub.from; consistent with the ports the pods use."""

from __future__ import annotations

from typing import Any

import pytest

from tests.charts.helm import Manifest, Obj, failure, render

VALUES = "ci/network-policy-values.yaml"
ENABLED = ("networkPolicy.enabled=true", "networkPolicy.nodeCidrs={10.0.0.0/16}")
INGRESS_NGINX = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}
}


def _selects(policy: Obj, labels: dict[str, Any]) -> bool:
    return bool(policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items())


def _pod_labels(manifest: Manifest, kind: str, name: str) -> dict[str, Any]:
    labels: dict[str, Any] = manifest.get(kind, name)["spec"]["template"]["metadata"]["labels"]
    return labels


def _port_names(container: Obj) -> set[str]:
    return {port["name"] for port in container.get("ports", [])}


def test_no_policies_unless_enabled() -> None:
    assert not [kind for kind, _ in render().kinds() if kind == "NetworkPolicy"]


def test_redis_takes_only_the_hub_pods_and_the_nodes() -> None:
    manifest = render(VALUES)
    policy = manifest.get("NetworkPolicy", "podscope-redis")
    assert _selects(policy, _pod_labels(manifest, "Deployment", "podscope-redis"))
    [rule] = policy["spec"]["ingress"]
    [pods, *blocks] = rule["from"]
    hub_labels = _pod_labels(manifest, "Deployment", "podscope-hub")
    assert pods["podSelector"]["matchLabels"].items() <= hub_labels.items()
    assert [block["ipBlock"]["cidr"] for block in blocks] == ["10.0.0.0/16", "fd00:10::/64"]
    assert rule["ports"] == [{"port": "redis", "protocol": "TCP"}]


def test_the_hub_takes_any_source_on_its_http_port_by_default() -> None:
    policy = render(sets=ENABLED).get("NetworkPolicy", "podscope-hub")["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    assert policy["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]


def test_the_hub_takes_only_the_listed_peers() -> None:
    manifest = render(VALUES)
    policy = manifest.get("NetworkPolicy", "podscope-hub")
    assert _selects(policy, _pod_labels(manifest, "Deployment", "podscope-hub"))
    [rule] = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert rule["from"] == [
        INGRESS_NGINX,
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        },
    ]


def test_the_opened_ports_are_the_ones_the_pods_serve_and_probe_on() -> None:
    manifest = render(VALUES)
    hub = manifest.container("Deployment", "podscope-hub")
    assert "http" in _port_names(hub)
    for probe in ("readinessProbe", "livenessProbe"):  # from the node: always let through
        assert hub[probe]["httpGet"]["port"] == "http"
    service = manifest.get("Service", "podscope")["spec"]["ports"]
    assert [port["targetPort"] for port in service] == ["http"]
    redis = manifest.container("Deployment", "podscope-redis")
    assert "redis" in _port_names(redis)
    assert redis["readinessProbe"]["tcpSocket"]["port"] == "redis"


def test_no_policy_claims_the_host_network_workers() -> None:
    """A NetworkPolicy does not cover host-network pods: the workers' metrics port is the
    nodes' to guard, and no policy pretends otherwise."""
    manifest = render(VALUES)
    assert manifest.pod_spec("DaemonSet", "podscope-worker")["hostNetwork"] is True
    worker = _pod_labels(manifest, "DaemonSet", "podscope-worker")
    policies = [obj for obj in manifest.objects if obj["kind"] == "NetworkPolicy"]
    assert len(policies) == 2
    assert not [policy for policy in policies if _selects(policy, worker)]


def test_node_addresses_are_required_with_the_charts_redis() -> None:
    assert "networkPolicy.nodeCidrs" in failure(sets=("networkPolicy.enabled=true",))
    external = render("ci/external-redis-values.yaml", sets=("networkPolicy.enabled=true",)).kinds()
    assert ("NetworkPolicy", "podscope-hub") in external
    assert ("NetworkPolicy", "podscope-redis") not in external


def test_peers_without_the_policies_are_refused() -> None:
    error = failure(sets=("networkPolicy.hub.from[0].ipBlock.cidr=10.1.0.0/16",))
    assert (
        "networkPolicy.hub.from is set but networkPolicy.enabled is false: set "
        "networkPolicy.enabled=true"
    ) in error


@pytest.mark.parametrize(
    "peer",
    [
        "networkPolicy.hub.from[0].ipBlock.except[0]=10.1.2.0/24",  # an ipBlock needs its cidr
        "networkPolicy.hub.from[0].serviceSelector.app=x",  # no such peer
    ],
)
def test_a_malformed_peer_is_refused(peer: str) -> None:
    assert "networkPolicy/hub/from/0" in failure(sets=(*ENABLED, peer))
