"""Which objects each values set renders."""

from __future__ import annotations

from tests.charts.helm import render

DEFAULT_OBJECTS = [
    ("ClusterRole", "observability-podscope"),
    ("ClusterRoleBinding", "observability-podscope"),
    ("DaemonSet", "podscope-worker"),
    ("Deployment", "podscope-hub"),
    ("Deployment", "podscope-redis"),
    ("Secret", "podscope-hub"),
    ("Secret", "podscope-metrics-token"),
    ("Secret", "podscope-redis"),
    ("Secret", "podscope-write-token"),
    ("Service", "podscope"),
    ("Service", "podscope-redis"),
    ("ServiceAccount", "podscope"),
    ("ServiceAccount", "podscope-worker"),
]
CHART_REDIS = {
    ("Deployment", "podscope-redis"),
    ("Secret", "podscope-redis"),
    ("Service", "podscope-redis"),
}


def test_default_objects() -> None:
    assert render().kinds() == DEFAULT_OBJECTS


def test_external_redis_drops_the_chart_redis() -> None:
    kinds = render("ci/external-redis-values.yaml").kinds()
    assert kinds == sorted(set(DEFAULT_OBJECTS) - CHART_REDIS)


def test_ingress_adds_an_ingress() -> None:
    kinds = render("ci/demo-with-ingress-values.yaml").kinds()
    assert kinds == sorted([*DEFAULT_OBJECTS, ("Ingress", "podscope")])


def test_generated_admin_secret_only_with_auth() -> None:
    kinds = render(sets=("auth.enabled=true",)).kinds()
    assert kinds == sorted([*DEFAULT_OBJECTS, ("Secret", "podscope-admin")])


def test_service_monitor_only_when_asked() -> None:
    kinds = render(sets=("metrics.serviceMonitor.enabled=true",)).kinds()
    assert kinds == sorted([*DEFAULT_OBJECTS, ("ServiceMonitor", "podscope")])


def test_names_follow_the_release() -> None:
    kinds = render(sets=("fullnameOverride=scope",)).kinds()
    assert ("DaemonSet", "scope-worker") in kinds
    assert ("Service", "scope") in kinds
