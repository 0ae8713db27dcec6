"""The hub's identity: read-only access to exactly the kinds its watcher lists and watches."""

from __future__ import annotations

import yaml

from dashboard.core.naming.watch import WATCHED_KINDS
from tests.charts.helm import CHART, NAMESPACE, RELEASE, helm, render

EXPECTED_RESOURCES = {
    "": {"pods", "services", "nodes", "namespaces"},
    "discovery.k8s.io": {"endpointslices"},
    "apps": {"replicasets"},
    "batch": {"jobs"},
}
# Cluster-scoped: named by namespace and release.
ROLE = f"{NAMESPACE}-podscope"


def test_cluster_role_only_gets_lists_and_watches_the_listed_resources() -> None:
    rules = render().get("ClusterRole", ROLE)["rules"]
    granted: dict[str, set[str]] = {}
    for rule in rules:
        assert sorted(rule["verbs"]) == ["get", "list", "watch"]
        assert set(rule) == {"apiGroups", "resources", "verbs"}
        for group in rule["apiGroups"]:
            granted.setdefault(group, set()).update(rule["resources"])
    assert granted == EXPECTED_RESOURCES


def test_binding_gives_the_role_to_the_hub_service_account() -> None:
    manifest = render()
    binding = manifest.get("ClusterRoleBinding", ROLE)
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": ROLE,
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "podscope", "namespace": NAMESPACE}
    ]
    assert manifest.get("ServiceAccount", "podscope")
    assert manifest.pod_spec("Deployment", "podscope-hub")["serviceAccountName"] == "podscope"


def test_only_the_hub_gets_a_kubernetes_token() -> None:
    manifest = render()
    for workload in (("DaemonSet", "podscope-worker"), ("Deployment", "podscope-redis")):
        assert manifest.pod_spec(*workload)["automountServiceAccountToken"] is False
    assert "automountServiceAccountToken" not in manifest.pod_spec("Deployment", "podscope-hub")


def test_named_service_account_is_created_and_bound() -> None:
    manifest = render("ci/auth-values.yaml")
    account = manifest.get("ServiceAccount", "podscope-reader")
    assert account["metadata"]["annotations"] == {"example.com/owner": "platform"}
    binding = manifest.get("ClusterRoleBinding", ROLE)
    assert binding["subjects"][0]["name"] == "podscope-reader"
    hub = manifest.pod_spec("Deployment", "podscope-hub")
    assert hub["serviceAccountName"] == "podscope-reader"


def test_existing_service_account_gets_no_rbac_objects() -> None:
    manifest = render(sets=("serviceAccount.create=false", "serviceAccount.name=prebound"))
    kinds = {kind for kind, _ in manifest.kinds()}
    assert kinds.isdisjoint({"ServiceAccount", "ClusterRole", "ClusterRoleBinding"})
    assert manifest.pod_spec("Deployment", "podscope-hub")["serviceAccountName"] == "prebound"


def test_granted_kinds_are_the_ones_the_hub_watches() -> None:
    granted = set().union(*EXPECTED_RESOURCES.values())
    assert granted == {f"{kind.lower()}s" for kind in WATCHED_KINDS}


def cluster_scoped_names(namespace: str) -> dict[str, str]:
    """Kind to name of the cluster-scoped objects of the chart released in ``namespace``."""
    result = helm("template", RELEASE, str(CHART), "--namespace", namespace)
    assert result.returncode == 0, result.stderr
    objects = [obj for obj in yaml.safe_load_all(result.stdout) if obj]
    return {
        obj["kind"]: obj["metadata"]["name"]
        for obj in objects
        if obj["kind"] in ("ClusterRole", "ClusterRoleBinding")
    }


def test_releases_of_one_name_in_two_namespaces_do_not_collide() -> None:
    first, second = cluster_scoped_names("team-a"), cluster_scoped_names("team-b")
    assert first == {"ClusterRole": "team-a-podscope", "ClusterRoleBinding": "team-a-podscope"}
    assert second == {"ClusterRole": "team-b-podscope", "ClusterRoleBinding": "team-b-podscope"}
