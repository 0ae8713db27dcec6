"""Pod targeting: spec validation, selected pods, per-node BPF scopes (compiled by libpcap),
pods covered and left out, the initial spec from the settings."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from capture.sources.bpf import compile_filter
from capture.sources.frames import DLT_EN10MB
from dashboard.core.naming.index import ClusterIndex
from dashboard.core.targeting.spec import (
    MATCH_NOTHING,
    TargetingCoverage,
    TargetingSpec,
    coverage,
    node_scopes,
    spec_from_settings,
    targeted_pods,
)
from dashboard.errors import TargetingError
from tests.dashboard import objects as k8s


@pytest.fixture
def index() -> ClusterIndex:
    index = ClusterIndex()
    index.replace(
        "Node",
        [
            k8s.node("node-1", "172.18.0.2", "10.244.1.0/24"),
            k8s.node("node-2", "172.18.0.3", "10.244.2.0/24"),
            k8s.node("node-3", "172.18.0.4", "10.244.3.0/24"),
        ],
    )
    index.replace(
        "Pod",
        [
            k8s.pod("cart-1", "shop", "10.244.1.10", node="node-1"),
            k8s.pod("web-1", "shop", "10.244.1.11", node="node-1", extra_ips=("fd00::11",)),
            k8s.pod("coredns-1", "kube-system", "10.244.1.12", node="node-1"),
            k8s.pod("web-2", "shop", "10.244.2.10", node="node-2"),
            k8s.pod("db-2", "shop", "10.244.2.12", node="node-2"),
            k8s.pod(
                "exporter",
                "monitoring",
                "172.18.0.3",
                node="node-2",
                host_network=True,
                ports=(9100, 9101),
            ),
            k8s.pod(
                "job-1",
                "shop",
                "10.244.2.11",
                node="node-2",
                phase="Succeeded",
                finished_ms=k8s.T0_MS + 1000,
            ),
            k8s.pod("pending", "shop", None, node="node-2", phase="Pending"),
        ],
    )
    return index


def test_spec_selects_by_regex_namespaces_and_exclusions(index: ClusterIndex) -> None:
    def names(spec: TargetingSpec) -> list[str]:
        return [pod.name for pod in targeted_pods(index, spec)]

    everything = names(TargetingSpec())
    assert "job-1" not in everything
    assert len(everything) == 7
    assert names(TargetingSpec(pod_regex="^web-")) == ["web-1", "web-2"]
    assert names(TargetingSpec(pod_regex="b-", namespaces=("shop",))) == ["db-2", "web-1", "web-2"]
    assert names(TargetingSpec(namespaces=("kube-system",))) == ["coredns-1"]
    assert "coredns-1" not in names(TargetingSpec(excluded_namespaces=("kube-system",)))


def test_node_scopes(index: ClusterIndex) -> None:
    scopes = node_scopes(index, TargetingSpec(pod_regex="web|exporter"))

    assert scopes == {
        "node-1": "host 10.244.1.11 or host fd00::11",
        "node-2": "(host 172.18.0.3 and port 9100) or (host 172.18.0.3 and port 9101)"
        " or host 10.244.2.10",
        "node-3": MATCH_NOTHING,
    }


def test_node_scopes_when_everything_or_nothing_is_targeted(index: ClusterIndex) -> None:
    assert set(node_scopes(index, TargetingSpec()).values()) == {""}
    assert node_scopes(index, TargetingSpec(namespaces=("shop", "monitoring")))["node-2"] == ""
    assert node_scopes(index, TargetingSpec(namespaces=("shop",)))["node-2"] != ""
    assert set(node_scopes(index, TargetingSpec(pod_regex="^nothing$")).values()) == {MATCH_NOTHING}


def test_scopes_follow_pods_as_they_come_and_go(index: ClusterIndex) -> None:
    spec = TargetingSpec(pod_regex="^web-")
    new = k8s.pod("web-3", "shop", "10.244.3.10", node="node-3")
    index.apply("ADDED", new)
    assert node_scopes(index, spec)["node-3"] == ""

    index.apply("ADDED", k8s.pod("db-3", "shop", "10.244.3.11", node="node-3"))
    assert node_scopes(index, spec)["node-3"] == "host 10.244.3.10"

    index.apply("DELETED", new)
    assert node_scopes(index, spec)["node-3"] == MATCH_NOTHING


def test_host_network_pod_without_ports_scopes_the_node_ip() -> None:
    index = ClusterIndex()
    index.apply("ADDED", k8s.pod("agent", "kube-system", "172.18.0.2", host_network=True, ports=()))
    index.apply("ADDED", k8s.pod("app", "shop", "10.244.1.5"))

    assert node_scopes(index, TargetingSpec(namespaces=("kube-system",))) == {
        "node-1": "host 172.18.0.2"
    }


def frame(dst: str, dport: int = 80) -> bytes:
    layer = IPv6(dst=dst) if ":" in dst else IP(dst=dst)
    return bytes(
        Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
        / layer
        / TCP(dport=dport, flags="S")
    )


def test_scopes_compile_and_pass_exactly_the_targeted_pods(index: ClusterIndex) -> None:
    scopes = node_scopes(index, TargetingSpec(pod_regex="web|exporter"))
    node1 = compile_filter(scopes["node-1"], DLT_EN10MB)
    node2 = compile_filter(scopes["node-2"], DLT_EN10MB)
    node3 = compile_filter(scopes["node-3"], DLT_EN10MB)

    assert node1.matches(frame("10.244.1.11"))
    assert node1.matches(frame("fd00::11"))
    assert not node1.matches(frame("10.244.1.10"))
    assert node2.matches(frame("172.18.0.3", 9101))
    assert not node2.matches(frame("172.18.0.3", 22))
    assert not node3.matches(frame("10.244.3.1"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pod_regex": "web-("}, "bad pod regex 'web-\\(': missing \\)"),
        ({"pod_regex": "x" * 2000}, "at most"),
        ({"namespaces": ["shop"]}, "namespaces must be a tuple"),
        ({"excluded_namespaces": ("",)}, "excluded namespaces must be a tuple"),
    ],
)
def test_bad_specs_are_clear_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(TargetingError, match=message):
        TargetingSpec(**kwargs)  # type: ignore[arg-type]


def test_json_form_round_trips_and_is_validated() -> None:
    spec = TargetingSpec(pod_regex="^web", namespaces=("shop",), excluded_namespaces=("dev",))

    assert TargetingSpec.from_dict(spec.to_dict()) == spec
    assert TargetingSpec.from_dict({}) == TargetingSpec()
    with pytest.raises(TargetingError, match="unknown targeting fields \\['pods'\\]"):
        TargetingSpec.from_dict({"pods": "x"})
    with pytest.raises(TargetingError, match="namespaces must be a list of strings"):
        TargetingSpec.from_dict({"namespaces": "shop"})
    with pytest.raises(TargetingError, match="JSON object"):
        TargetingSpec.from_dict(["x"])


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (  # the finished job and the pod without an IP count on neither side
            TargetingSpec(),
            TargetingCoverage(6, 0, ("kube-system", "monitoring", "shop"), ()),
        ),
        (
            TargetingSpec(namespaces=("shop",)),
            TargetingCoverage(4, 2, ("shop",), ("kube-system", "monitoring")),
        ),
        (  # the hostNetwork exporter is a pod like the others, though it has the node's IP
            TargetingSpec(excluded_namespaces=("monitoring",)),
            TargetingCoverage(5, 1, ("kube-system", "shop"), ("monitoring",)),
        ),
        (
            TargetingSpec(pod_regex="^web-|exporter"),
            TargetingCoverage(3, 3, ("monitoring", "shop"), ("kube-system", "shop")),
        ),
        (
            TargetingSpec(pod_regex="^nothing$"),
            TargetingCoverage(0, 6, (), ("kube-system", "monitoring", "shop")),
        ),
    ],
)
def test_coverage_counts_capturable_pods_targeted_and_left_out(
    index: ClusterIndex, spec: TargetingSpec, expected: TargetingCoverage
) -> None:
    assert coverage(index.pods(), spec) == expected


def test_coverage_follows_pods_as_they_finish_and_get_an_ip(index: ClusterIndex) -> None:
    spec = TargetingSpec(namespaces=("kube-system",))
    assert coverage(index.pods(), spec).not_targeted == 5
    index.apply("ADDED", k8s.pod("pending", "shop", "10.244.2.13", node="node-2"))
    assert coverage(index.pods(), spec).not_targeted == 6
    index.apply(
        "MODIFIED",
        k8s.pod(
            "db-2", "shop", "10.244.2.12", node="node-2", phase="Failed", finished_ms=k8s.T0_MS
        ),
    )
    assert coverage(index.pods(), spec).not_targeted == 5


def test_coverage_json_form() -> None:
    assert TargetingCoverage(2, 1, ("shop",), ("dev",)).to_dict() == {
        "targeted": 2,
        "notTargeted": 1,
        "namespaces": ["shop"],
        "notTargetedNamespaces": ["dev"],
    }


def test_spec_from_settings() -> None:
    settings = {
        "TAP_REGEX": "^web-",
        "TAP_NAMESPACES": ("shop", "payments"),
        "TAP_EXCLUDED_NAMESPACES": ("kube-system",),
    }

    assert spec_from_settings(settings) == TargetingSpec(
        "^web-", ("shop", "payments"), ("kube-system",)
    )
    empty = {"TAP_REGEX": "", "TAP_NAMESPACES": (), "TAP_EXCLUDED_NAMESPACES": ()}
    assert spec_from_settings(empty).targets_everything
    assert spec_from_settings({}).targets_everything


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"TAP_REGEX": "web-("}, r"PODSCOPE_TAP_REGEX: bad pod regex 'web-\(': missing \)"),
        ({"TAP_REGEX": 3}, "PODSCOPE_TAP_REGEX must be a string"),
        ({"TAP_NAMESPACES": "shop"}, "PODSCOPE_TAP_NAMESPACES must be a list of namespaces"),
        ({"TAP_EXCLUDED_NAMESPACES": ("",)}, "PODSCOPE_TAP_EXCLUDED_NAMESPACES must hold"),
    ],
)
def test_bad_settings_are_clear_errors(settings: dict[str, object], message: str) -> None:
    with pytest.raises(TargetingError, match=message):
        spec_from_settings(settings)
