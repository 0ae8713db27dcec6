"""The metrics token: a random chart Secret (or an existing one) that reaches the hub as
PODSCOPE_METRICS_TOKEN, and the optional ServiceMonitor that scrapes the hub's /metrics with it."""

from __future__ import annotations

import base64
import string

import pytest

from tests.charts.helm import NAMESPACE, Manifest, Obj, render

HUB = ("Deployment", "podscope-hub")
MONITOR = ("ServiceMonitor", "podscope")
WITH_MONITOR = ("metrics.serviceMonitor.enabled=true",)


def _reference(manifest: Manifest, workload: str = "podscope-hub") -> dict[str, str]:
    env = manifest.env("Deployment", workload)
    reference: dict[str, str] = env["PODSCOPE_METRICS_TOKEN"]["valueFrom"]["secretKeyRef"]
    return reference


def _endpoint(manifest: Manifest, name: str = "podscope") -> Obj:
    endpoints: list[Obj] = manifest.get("ServiceMonitor", name)["spec"]["endpoints"]
    [endpoint] = endpoints
    return endpoint


@pytest.mark.parametrize("auth", ["false", "true"])
def test_the_chart_makes_a_random_token_and_gives_it_to_the_hub(auth: str) -> None:
    """Made with login off too: a scraper set up with it keeps working when login is turned on."""
    manifest = render(sets=(f"auth.enabled={auth}",))
    secret = manifest.get("Secret", "podscope-metrics-token")
    assert secret["type"] == "Opaque"
    assert secret["metadata"]["labels"]["app.kubernetes.io/instance"] == "podscope"
    token = base64.b64decode(secret["data"]["token"]).decode()
    assert len(token) == 40
    assert set(token) <= set(string.ascii_letters + string.digits)
    assert _reference(manifest) == {"name": "podscope-metrics-token", "key": "token"}
    write = manifest.get("Secret", "podscope-write-token")["data"]["token"]
    assert secret["data"]["token"] != write  # a token of its own
    other = render(sets=(f"auth.enabled={auth}", "hub.storeSize=100000"))
    assert other.get("Secret", "podscope-metrics-token")["data"]["token"] != secret["data"]["token"]


def test_only_the_hub_container_gets_the_token() -> None:
    manifest = render("ci/auth-values.yaml")
    assert "PODSCOPE_METRICS_TOKEN" in manifest.env(*HUB, "hub")
    [init] = manifest.pod_spec(*HUB)["initContainers"]
    assert "PODSCOPE_METRICS_TOKEN" not in {entry["name"] for entry in init["env"]}
    assert "PODSCOPE_METRICS_TOKEN" not in manifest.env("DaemonSet", "podscope-worker")


def test_an_existing_secret_replaces_the_charts() -> None:
    sets = ("metrics.token.existingSecret=prometheus-scrape", *WITH_MONITOR)
    manifest = render(sets=sets)
    assert manifest.find("Secret", "podscope-metrics-token") is None
    assert _reference(manifest) == {"name": "prometheus-scrape", "key": "token"}
    keyed = render(sets=(*sets, "metrics.token.existingSecretKey=bearer"))
    expected = {"name": "prometheus-scrape", "key": "bearer"}
    assert _reference(keyed) == expected
    assert _endpoint(keyed)["authorization"]["credentials"] == expected
    # The key names a key of the existing Secret only; the chart's own keeps its key.
    own = render(sets=("metrics.token.existingSecretKey=bearer", *WITH_MONITOR))
    assert _reference(own)["key"] == "token"
    assert _endpoint(own)["authorization"]["credentials"]["key"] == "token"


def test_the_name_follows_the_release() -> None:
    manifest = render(sets=("fullnameOverride=scope", *WITH_MONITOR))
    assert manifest.find("Secret", "scope-metrics-token") is not None
    assert _reference(manifest, "scope-hub")["name"] == "scope-metrics-token"
    assert _endpoint(manifest, "scope")["authorization"]["credentials"]["name"] == (
        "scope-metrics-token"
    )


def test_no_service_monitor_unless_asked() -> None:
    assert render().find(*MONITOR) is None
    assert render("ci/namespaces-targeting-values.yaml").find(*MONITOR) is None


def test_the_service_monitor_scrapes_the_hub_service_with_the_hubs_token() -> None:
    manifest = render(sets=("auth.enabled=true", *WITH_MONITOR))
    monitor = manifest.get(*MONITOR)
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["namespace"] == NAMESPACE
    spec = monitor["spec"]
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    # Its selector picks the hub's Service, and no other Service of the release.
    wanted = spec["selector"]["matchLabels"]
    services = [obj for obj in manifest.objects if obj["kind"] == "Service"]
    picked = [
        svc["metadata"]["name"]
        for svc in services
        if wanted.items() <= svc["metadata"]["labels"].items()
    ]
    assert picked == ["podscope"]
    [port] = manifest.get("Service", "podscope")["spec"]["ports"]
    endpoint = _endpoint(manifest)
    assert endpoint == {
        "port": port["name"],
        "path": "/metrics",
        "interval": "30s",
        "authorization": {"type": "Bearer", "credentials": _reference(manifest)},
    }
    # The Secret it names is the chart's, in the ServiceMonitor's namespace (where the operator
    # reads it).
    secret = manifest.get("Secret", endpoint["authorization"]["credentials"]["name"])
    assert secret["metadata"]["namespace"] == NAMESPACE
    assert endpoint["authorization"]["credentials"]["key"] in secret["data"]


def test_the_service_monitor_takes_its_interval_and_labels() -> None:
    sets = (
        *WITH_MONITOR,
        "metrics.serviceMonitor.interval=1m30s",
        "metrics.serviceMonitor.labels.release=kube-prometheus-stack",
    )
    manifest = render(sets=sets)
    labels = manifest.get(*MONITOR)["metadata"]["labels"]
    assert labels["release"] == "kube-prometheus-stack"
    assert labels["app.kubernetes.io/instance"] == "podscope"
    assert _endpoint(manifest)["interval"] == "1m30s"


def test_the_auth_example_scrapes_with_the_token() -> None:
    """ci/auth-values.yaml, the login example, comes with its ServiceMonitor."""
    manifest = render("ci/auth-values.yaml")
    credentials = _endpoint(manifest)["authorization"]["credentials"]
    assert credentials == _reference(manifest)


@pytest.mark.parametrize(("auth", "annotated"), [("false", True), ("true", False)])
def test_the_hubs_scrape_annotations_only_where_a_scrape_without_token_works(
    auth: str, annotated: bool
) -> None:
    manifest = render(sets=(f"auth.enabled={auth}", "hub.podAnnotations.team=net"))
    annotations = manifest.get(*HUB)["spec"]["template"]["metadata"]["annotations"]
    assert ("prometheus.io/scrape" in annotations) is annotated
    assert annotations["team"] == "net"  # the user's own stay either way
