"""``podscope tap`` and ``clean`` as a user runs them: the real helm and kubectl against the fake
API server. The flow is real up to the port-forward, which needs a kubelet stream that the fake
cannot give: kubectl's own refusal is the expected end there."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Run
from tests.cli.kubeapi import FakeCluster

NO_KUBELET = "the fake API server has no kubelet to stream a port-forward from"
WRITES = ("PATCH", "PUT", "DELETE")


def _one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def _writes(cluster: FakeCluster) -> list[tuple[str, str]]:
    """Requests that change the cluster (a SelfSubjectAccessReview is a POST that does not)."""
    return [
        (method, path)
        for method, path in cluster.requests
        if method in WRITES or (method == "POST" and "selfsubjectaccessreviews" not in path)
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["(shop"], "podscope: bad pod regex '(shop': missing ): (shop"),
        (["--set", "tap.mode"], "podscope: bad --set 'tap.mode': expected key=value"),
        (["-n", "Shop"], "podscope: bad namespace 'Shop'"),
        (["--dissectors", "tcp,http"], "podscope: bad --dissectors 'tcp,http'"),
        (["--release", "Pod_Scope"], "podscope: bad release name 'Pod_Scope'"),
        (["--chart", "/nonexistent"], "podscope: bad --chart '/nonexistent'"),
        (["--port", "70000"], "podscope tap: argument --port: bad port '70000'"),
        (["--mode", "all"], "podscope tap: argument --mode: invalid choice: 'all'"),
    ],
)
def test_bad_options_are_refused_before_anything_runs(
    podscope: Run, cluster: FakeCluster, kubeconfig: Path, args: list[str], message: str
) -> None:
    done = podscope("tap", "--no-browser", *args, kubeconfig=kubeconfig)
    assert done.returncode == 2
    assert _one_line(done.stderr).startswith(message)
    assert cluster.requests == []


@pytest.mark.parametrize("content", [None, ""])
def test_no_kube_context(podscope: Run, tmp_path: Path, content: str | None) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    if content is not None:
        kubeconfig.write_text(content)
    for command in (["tap", "--no-browser"], ["clean"]):
        done = podscope(*command, kubeconfig=kubeconfig)
        assert done.returncode == 2
        line = _one_line(done.stderr)
        assert line.startswith("podscope: no kube context: ")
        assert f"kubeconfig {kubeconfig}" in line


def test_no_permission_stops_before_helm(podscope: Run, tmp_path: Path) -> None:
    cluster = FakeCluster(allow=lambda attributes: attributes["resource"] != "clusterroles")
    cluster.start()
    try:
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        done = podscope("tap", "--no-browser", "--install-namespace", "obs", kubeconfig=kubeconfig)
    finally:
        cluster.stop()
    assert done.returncode == 2
    assert _one_line(done.stderr) == (
        "podscope: no permission to create clusterroles.rbac.authorization.k8s.io "
        "(cluster-wide) (kube context 'fake'): installing podscope needs these; "
        "ask a cluster admin or use another --context"
    )
    assert _writes(cluster) == []
    assert ("GET", "/version") not in cluster.requests  # helm never ran


@pytest.mark.parametrize(
    ("code", "message"),
    [(500, "etcdserver: request timed out"), (403, 'user "dev" cannot patch resource')],
)
def test_a_failing_install_reports_helms_reason(
    podscope: Run, cluster: FakeCluster, kubeconfig: Path, code: int, message: str
) -> None:
    # The namespace is there already, so helm makes the first write.
    cluster.put(
        "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "podscope"}}
    )
    cluster.fail_writes(code, message)
    done = podscope("tap", "--no-browser", "--timeout", "30", kubeconfig=kubeconfig)
    assert done.returncode == 1
    line = _one_line(done.stderr)
    assert line.startswith("podscope: helm upgrade --install failed: ")
    assert message in line
    assert "installing podscope (release podscope, namespace podscope" in done.stdout


def test_a_hub_that_never_gets_ready_fails_the_install(podscope: Run, tmp_path: Path) -> None:
    cluster = FakeCluster(ready=False)
    cluster.start()
    try:
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        done = podscope("tap", "--no-browser", "--timeout", "3", kubeconfig=kubeconfig)
    finally:
        cluster.stop()
    assert done.returncode == 1
    line = _one_line(done.stderr)
    assert line.startswith("podscope: helm upgrade --install failed: ")
    assert "Deployment/podscope/podscope-hub not ready" in line


def _release(cluster: FakeCluster) -> list[dict[str, Any]]:
    """helm's release records in the fake cluster, decoded (base64, gzip, JSON)."""
    records = []
    for secret in cluster.objects("secrets"):
        if secret["metadata"].get("labels", {}).get("owner") == "helm":
            packed = base64.b64decode(base64.b64decode(secret["data"]["release"]))
            records.append(json.loads(gzip.decompress(packed)))
    return records


def _hub_env(cluster: FakeCluster) -> dict[str, str]:
    hub = next(d for d in cluster.objects("deployments") if d["metadata"]["name"] == "podscope-hub")
    container = hub["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item.get("value", "") for item in container["env"]}


def _secret_data(cluster: FakeCluster, name: str) -> dict[str, str]:
    [secret] = [s for s in cluster.objects("secrets") if s["metadata"]["name"] == name]
    data: dict[str, str] = secret["data"]
    return data


def test_tap_installs_upgrades_and_clean_removes(
    podscope: Run, cluster: FakeCluster, kubeconfig: Path
) -> None:
    tap = ("tap", "^shop-", "-n", "shop", "--mode", "full", "--no-browser", "--timeout", "60")
    done = podscope(*tap, kubeconfig=kubeconfig)
    assert done.returncode == 1
    assert _one_line(done.stderr) == (
        f"podscope: kubectl port-forward failed: error: error upgrading connection: {NO_KUBELET}"
    )
    assert ("POST", "/api/v1/namespaces/podscope/pods/podscope-hub-0/portforward") in (
        cluster.requests
    )
    [record] = _release(cluster)
    assert (record["name"], record["version"], record["info"]["status"]) == (
        "podscope",
        1,
        "deployed",
    )
    # tap made the namespace, with the Pod Security level the host-network worker needs.
    [namespace] = [n for n in cluster.objects("namespaces") if n["metadata"]["name"] == "podscope"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert "created namespace podscope with Pod Security level privileged" in done.stdout
    assert record["config"]["tap"] == {"regex": "^shop-", "namespaces": ["shop"], "mode": "full"}
    env = _hub_env(cluster)
    assert (env["PODSCOPE_TAP_REGEX"], env["PODSCOPE_TAP_NAMESPACES"]) == ("^shop-", "shop")
    token = _secret_data(cluster, "podscope-write-token")
    metrics_token = _secret_data(cluster, "podscope-metrics-token")

    again = podscope("tap", "--no-browser", "--timeout", "60", kubeconfig=kubeconfig)
    assert again.returncode == 1
    assert "created namespace" not in again.stdout
    assert _secret_data(cluster, "podscope-write-token") == token  # kept across the upgrade
    assert _secret_data(cluster, "podscope-metrics-token") == metrics_token
    assert sorted(r["version"] for r in _release(cluster)) == [1, 2]
    assert _hub_env(cluster)["PODSCOPE_TAP_REGEX"] == ""  # options left out: chart defaults

    removed = podscope("clean", kubeconfig=kubeconfig)
    assert (removed.returncode, removed.stderr) == (0, "")
    assert removed.stdout == (
        "removed podscope: release podscope in namespace podscope (context fake)\n"
    )
    assert _release(cluster) == []
    assert cluster.objects("deployments") == []
    nothing = podscope("clean", kubeconfig=kubeconfig)
    assert (nothing.returncode, nothing.stderr) == (0, "")
    assert nothing.stdout.startswith("nothing to clean: no release podscope in namespace podscope")


def test_dry_run_prints_the_helm_command_and_changes_nothing(
    podscope: Run, cluster: FakeCluster, kubeconfig: Path
) -> None:
    args = ("-n", "shop,payments", "--image", "registry.example/podscope:dev", "--dry-run")
    done = podscope("tap", "^api-", *args, kubeconfig=kubeconfig)
    assert (done.returncode, done.stderr) == (0, "")
    command = done.stdout.splitlines()[-1]
    assert " upgrade --install podscope " in command
    assert "--kube-context fake" in command
    assert "'tap.namespaces={shop,payments}'" in command
    assert "--set-string image.repository=registry.example/podscope" in command
    assert "--set-string image.tag=dev" in command
    assert cluster.requests == []
