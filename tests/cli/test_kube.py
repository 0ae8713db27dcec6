"""Kube context resolution, the install's permission checks and the wait for the hub, against
the fake API server with the real kubernetes client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cli import kube
from cli.errors import (
    EXIT_FAILURE,
    EXIT_USAGE,
    HubError,
    KubeApiError,
    NoKubeContextError,
    NoPermissionError,
)
from tests.cli.kubeapi import FakeCluster
from tests.e2e.hubprocess import free_port


def _use(monkeypatch: pytest.MonkeyPatch, kubeconfig: Path) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))


def test_the_current_context_is_used(monkeypatch: pytest.MonkeyPatch, kubeconfig: Path) -> None:
    _use(monkeypatch, kubeconfig)
    context = kube.resolve_context(None)
    assert (context.name, context.kubeconfig) == ("fake", str(kubeconfig))
    assert context.server.startswith("http://127.0.0.1:")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "No configuration found"),
        ("", "is empty"),
        ("apiVersion: v1\nkind: Config\ncontexts: []\n", "current-context"),
        ("{{{ not yaml", "while parsing"),
    ],
)
def test_no_usable_kubeconfig(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str | None, reason: str
) -> None:
    path = tmp_path / "kubeconfig"
    if content is not None:
        path.write_text(content)
    _use(monkeypatch, path)
    with pytest.raises(NoKubeContextError, match=reason) as caught:
        kube.resolve_context(None)
    assert caught.value.message.startswith("no kube context: ")
    assert "\n" not in caught.value.message
    assert caught.value.exit_code == EXIT_USAGE


def test_an_unknown_context_names_the_known_ones(
    monkeypatch: pytest.MonkeyPatch, kubeconfig: Path
) -> None:
    _use(monkeypatch, kubeconfig)
    with pytest.raises(NoKubeContextError, match=r"context 'prod' is not in .*contexts: fake"):
        kube.resolve_context("prod")


def _denying(*denied: str) -> Any:
    return lambda attributes: attributes["resource"] not in denied


def test_every_denied_permission_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cluster = FakeCluster(allow=_denying("clusterroles", "daemonsets"))
    cluster.start()
    try:
        _use(monkeypatch, cluster.write_kubeconfig(tmp_path / "kubeconfig"))
        context = kube.resolve_context(None)
        with kube.api_client(context) as api, pytest.raises(NoPermissionError) as caught:
            kube.check_install_permissions(api, context, "observability")
    finally:
        cluster.stop()
    assert caught.value.message.startswith(
        "no permission to create daemonsets.apps in namespace observability, "
        "clusterroles.rbac.authorization.k8s.io (cluster-wide) (kube context 'fake')"
    )
    asked = {
        (r["verb"], r.get("group", ""), r["resource"], r.get("namespace")) for r in cluster.reviews
    }
    assert ("create", "apps", "deployments", "observability") in asked
    assert ("create", "rbac.authorization.k8s.io", "clusterrolebindings", None) in asked
    portforward = [r for r in cluster.reviews if r.get("subresource") == "portforward"]
    assert portforward == [
        {
            "verb": "create",
            "group": "",
            "resource": "pods",
            "subresource": "portforward",
            "namespace": "observability",
        }
    ]


def test_all_allowed_passes(monkeypatch: pytest.MonkeyPatch, kubeconfig: Path) -> None:
    _use(monkeypatch, kubeconfig)
    context = kube.resolve_context(None)
    with kube.api_client(context) as api:
        kube.check_install_permissions(api, context, "podscope")


def test_an_unreachable_api_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cluster = FakeCluster()
    cluster.port = free_port()  # never started: nothing listens there
    _use(monkeypatch, cluster.write_kubeconfig(tmp_path / "kubeconfig"))
    context = kube.resolve_context(None)
    with kube.api_client(context) as api, pytest.raises(KubeApiError) as caught:
        kube.check_install_permissions(api, context, "podscope")
    assert caught.value.message.startswith(f"cannot reach the API server {cluster.url}")
    assert "Connection refused" in caught.value.message
    assert caught.value.exit_code == EXIT_FAILURE


def _hub(cluster: FakeCluster, labels: dict[str, str]) -> None:
    meta = {"name": "podscope-hub", "namespace": "podscope", "labels": labels}
    spec = {
        "replicas": 1,
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {"containers": []}},
    }
    cluster.put("deployments", {"metadata": meta, "spec": spec})
    port = {"name": "http", "port": 8000}
    service = {"metadata": {**meta, "name": "podscope"}, "spec": {"ports": [port]}}
    cluster.put("services", service)


HUB_LABELS = {"app.kubernetes.io/instance": "podscope", "app.kubernetes.io/component": "hub"}


def test_the_ready_hubs_service_is_found(
    monkeypatch: pytest.MonkeyPatch, cluster: FakeCluster, kubeconfig: Path
) -> None:
    _hub(cluster, HUB_LABELS)
    _use(monkeypatch, kubeconfig)
    context = kube.resolve_context(None)
    with kube.api_client(context) as api:
        service = kube.wait_for_hub(api, context, "podscope", "podscope", 5)
    assert service == kube.HubService("podscope", "http")


def test_a_hub_never_ready_times_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cluster = FakeCluster(ready=False)
    cluster.start()
    try:
        _hub(cluster, HUB_LABELS)
        _use(monkeypatch, cluster.write_kubeconfig(tmp_path / "kubeconfig"))
        context = kube.resolve_context(None)
        with kube.api_client(context) as api, pytest.raises(HubError, match="not ready within"):
            kube.wait_for_hub(api, context, "podscope", "podscope", 1.5)
    finally:
        cluster.stop()


def test_another_releases_hub_is_not_taken(
    monkeypatch: pytest.MonkeyPatch, cluster: FakeCluster, kubeconfig: Path
) -> None:
    _hub(cluster, {**HUB_LABELS, "app.kubernetes.io/instance": "other"})
    _use(monkeypatch, kubeconfig)
    context = kube.resolve_context(None)
    with kube.api_client(context) as api, pytest.raises(HubError, match="no hub Deployment"):
        kube.wait_for_hub(api, context, "podscope", "podscope", 5)


def test_an_answer_the_client_cannot_read_is_an_api_error(
    monkeypatch: pytest.MonkeyPatch, cluster: FakeCluster, kubeconfig: Path
) -> None:
    meta = {"name": "podscope-hub", "namespace": "podscope", "labels": HUB_LABELS}
    cluster.put("deployments", {"metadata": meta, "spec": {"replicas": 1}})  # no selector
    _use(monkeypatch, kubeconfig)
    context = kube.resolve_context(None)
    with kube.api_client(context) as api, pytest.raises(KubeApiError, match="cannot read"):
        kube.wait_for_hub(api, context, "podscope", "podscope", 5)
