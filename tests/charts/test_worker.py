"""The capture worker DaemonSet: host network, minimal capabilities, its exact arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.helm import CHART, VALUE_SET_IDS, VALUE_SETS, expand, option, render

WORKER = ("DaemonSet", "podscope-worker")
RING_DIR = "/var/lib/podscope/ring"


def worker_args(*values: str, sets: tuple[str, ...] = ()) -> list[str]:
    """The worker container's arguments."""
    args: list[str] = render(*values, sets=sets).container(*WORKER)["args"]
    return args


def chart_values(values: tuple[str, ...]) -> dict[str, Any]:
    """values.yaml, overlaid (one level deep per section) with values files."""
    merged: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    for values_file in values:
        for section, overrides in yaml.safe_load((CHART / values_file).read_text()).items():
            if isinstance(overrides, dict):
                merged[section] = {**merged[section], **overrides}
            else:
                merged[section] = overrides
    return merged


def test_worker_runs_on_the_host_network_with_cluster_dns() -> None:
    spec = render().pod_spec(*WORKER)
    assert spec["hostNetwork"] is True
    assert spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert spec["automountServiceAccountToken"] is False
    assert not spec.get("hostPID")
    assert not spec.get("hostIPC")


@pytest.mark.parametrize("values", VALUE_SETS, ids=VALUE_SET_IDS)
def test_worker_has_only_net_raw(values: tuple[str, ...]) -> None:
    context = render(*values).container(*WORKER)["securityContext"]
    assert context["privileged"] is False
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"]["drop"] == ["ALL"]
    assert context["capabilities"]["add"] == ["NET_RAW"]


@pytest.mark.parametrize("values", VALUE_SETS, ids=VALUE_SET_IDS)
def test_worker_gets_exactly_the_enabled_dissectors(values: tuple[str, ...]) -> None:
    expected = chart_values(values)["tap"]["enabledDissectors"]
    args = worker_args(*values)
    assert option(args, "--protocols") == ",".join(expected)
    assert option(args, "--mode") == chart_values(values)["tap"]["mode"]


def test_udp_and_dns_only_turns_tcp_and_icmp_off() -> None:
    protocols = option(worker_args("ci/udp-dns-only-values.yaml"), "--protocols")
    assert protocols is not None
    assert protocols.split(",") == ["udp", "dns"]


def test_udp_alone_is_accepted_in_full_mode() -> None:
    args = worker_args(sets=("tap.enabledDissectors={udp}", "tap.mode=full"))
    assert option(args, "--protocols") == "udp"


def test_worker_command_reads_every_interface_and_publishes_to_redis() -> None:
    manifest = render()
    container = manifest.container(*WORKER)
    args = container["args"]
    assert container["command"] == ["python", "-m", "capture"]
    assert option(args, "--interface") == "any"
    # The URL (with the Redis password) is read from the env, never passed as an argument.
    assert option(args, "--redis-env") == "REDIS_URL"
    assert "--redis" not in args
    assert not any("REDIS_PASSWORD" in arg for arg in args)
    assert option(args, "--prefix") == "podscope"
    assert option(args, "--maxlen") == "100000"
    assert option(args, "--node") == "$(NODE_NAME)"
    assert option(args, "--node-ip") == "$(NODE_IP)"
    env = manifest.env(*WORKER)
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert env["NODE_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
    assert "--bpf" not in args
    assert "--local-cidr" not in args


def test_connections_mode_keeps_no_ring() -> None:
    args = worker_args()
    assert option(args, "--mode") == "connections"
    assert "--ring-dir" not in args
    assert "--ring-bytes" not in args


def test_full_mode_writes_the_ring_into_the_size_limited_volume() -> None:
    manifest = render("ci/full-mode-values.yaml")
    args = manifest.container(*WORKER)["args"]
    assert option(args, "--mode") == "full"
    assert option(args, "--ring-dir") == RING_DIR
    assert option(args, "--ring-bytes") == str(2 * 1024**3 * 8 // 10)
    mounts = {m["name"]: m["mountPath"] for m in manifest.container(*WORKER)["volumeMounts"]}
    volumes = {v["name"]: v for v in manifest.pod_spec(*WORKER)["volumes"]}
    assert mounts["ring"] == RING_DIR
    assert volumes["ring"]["emptyDir"] == {"sizeLimit": "2Gi"}
    assert option(args, "--bpf") == "not port 22"
    local = [args[i + 1] for i, arg in enumerate(args) if arg == "--local-cidr"]
    assert local == ["10.244.0.0/16", "fd00:10:244::/56"]


@pytest.mark.parametrize(
    ("limit", "ring_bytes"),
    [
        ("1Mi", 1024**2 * 8 // 10),
        ("500Mi", 500 * 1024**2 * 8 // 10),
        ("3Ti", 3 * 1024**4 * 8 // 10),
        ("5G", 4_000_000_000),
        ("1500k", 1_200_000),
        ("3000000", 2_400_000),
    ],
)
def test_ring_bytes_are_eighty_percent_of_the_storage_limit(limit: str, ring_bytes: int) -> None:
    manifest = render(sets=("tap.mode=full",), strings=(f"tap.storageLimit={limit}",))
    assert option(manifest.container(*WORKER)["args"], "--ring-bytes") == str(ring_bytes)
    volume = manifest.pod_spec(*WORKER)["volumes"][0]
    assert volume["emptyDir"]["sizeLimit"] == limit


def test_bpf_override_dollars_survive_kubernetes_expansion() -> None:
    bpf = "ether[0] & 1 = 0 and not host $(X)"
    passed = option(worker_args(sets=(f"tap.bpfOverride={bpf}",)), "--bpf")
    assert passed == "ether[0] & 1 = 0 and not host $$(X)"
    assert expand(passed, {"X": "10.0.0.1"}) == bpf


def test_metrics_port_is_opened_only_when_enabled() -> None:
    manifest = render()
    assert option(manifest.container(*WORKER)["args"], "--metrics-port") == "9469"
    # No hostPort (a ports entry on the host network is one): a taken port must not keep the
    # worker Pending, and the worker itself captures on without its /metrics.
    assert "ports" not in manifest.container(*WORKER)
    annotations = manifest.get(*WORKER)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "9469"
    off = render("ci/udp-dns-only-values.yaml")
    assert "--metrics-port" not in off.container(*WORKER)["args"]
    assert "ports" not in off.container(*WORKER)


def test_worker_runs_on_every_linux_node_by_default() -> None:
    manifest = render()
    spec = manifest.pod_spec(*WORKER)
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    for workload in (("Deployment", "podscope-hub"), ("Deployment", "podscope-redis")):
        assert manifest.pod_spec(*workload)["nodeSelector"] == {"kubernetes.io/os": "linux"}


def test_node_selector_values_add_to_the_linux_one() -> None:
    spec = render(sets=("worker.nodeSelector.pool=capture",)).pod_spec(*WORKER)
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux", "pool": "capture"}


def test_worker_resources_and_priority_come_from_values() -> None:
    manifest = render("ci/full-mode-values.yaml")
    assert manifest.container(*WORKER)["resources"] == {
        "requests": {"cpu": "200m", "memory": "256Mi"},
        "limits": {"memory": "1Gi"},
    }
    assert manifest.pod_spec(*WORKER)["priorityClassName"] == "system-node-critical"


def test_worker_probes_read_the_health_file_it_touches() -> None:
    manifest = render()
    container = manifest.container(*WORKER)
    health = option(container["args"], "--health-file")
    assert health is not None
    assert container["readinessProbe"]["exec"]["command"] == ["test", "-e", health]
    assert health in container["livenessProbe"]["exec"]["command"][-1]
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {v["name"]: v for v in manifest.pod_spec(*WORKER)["volumes"]}
    assert "emptyDir" in volumes[mounts[str(Path(health).parent)]]
