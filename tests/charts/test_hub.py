"""The hub Deployment, its Service, Secrets and Ingress: command, env, probes, security."""

from __future__ import annotations

import base64
import string

import pytest
import yaml

from tests.charts.helm import (
    CHART,
    EVERY_EXISTING_SECRET,
    NAMESPACE,
    expand,
    failure,
    helm,
    render,
    template_args,
)

HUB = ("Deployment", "podscope-hub")
SERVICE_NAMES = [
    "podscope",
    f"podscope.{NAMESPACE}",
    f"podscope.{NAMESPACE}.svc",
    f"podscope.{NAMESPACE}.svc.cluster.local",
]


def allowed_hosts(*values: str, sets: tuple[str, ...] = ()) -> list[str]:
    """PODSCOPE_ALLOWED_HOSTS of the hub, split."""
    return render(*values, sets=sets).env_values(*HUB)["PODSCOPE_ALLOWED_HOSTS"].split(",")


def test_hub_serves_on_port_8000_named_http() -> None:
    manifest = render()
    container = manifest.container(*HUB)
    assert container["command"] == [
        "python", "manage.py", "podscope", "serve", "--bind", "0.0.0.0", "--port", "8000"
    ]  # fmt: skip
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    service = manifest.get("Service", "podscope")
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}
    ]
    pod_labels = manifest.get(*HUB)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "hub"


def test_hub_env_defaults() -> None:
    env = render().env_values(*HUB)
    assert env["PODSCOPE_AUTH"] == "0"
    assert env["PODSCOPE_DEMO"] == "0"
    assert env["PODSCOPE_STORE_SIZE"] == "100000"
    assert env["PODSCOPE_PREFIX"] == "podscope"
    for name in (
        "PODSCOPE_DEFAULT_FILTER",
        "PODSCOPE_GLOBAL_FILTER",
        "PODSCOPE_TAP_REGEX",
        "PODSCOPE_TAP_NAMESPACES",
        "PODSCOPE_TAP_EXCLUDED_NAMESPACES",
    ):
        assert env[name] == ""


def test_targeting_and_filters_reach_the_hub_unchanged_by_expansion() -> None:
    env = render("ci/namespaces-targeting-values.yaml").env_values(*HUB)
    assert env["PODSCOPE_TAP_REGEX"] == "^(api|web)-.*$$"
    assert expand(env["PODSCOPE_TAP_REGEX"], {}) == "^(api|web)-.*$"
    assert env["PODSCOPE_TAP_NAMESPACES"] == "shop,payments"
    assert env["PODSCOPE_TAP_EXCLUDED_NAMESPACES"] == "kube-system"
    assert env["PODSCOPE_DEFAULT_FILTER"] == 'tcp.event == "refused" or tcp.event == "timeout"'
    assert env["PODSCOPE_GLOBAL_FILTER"] == "!(dst.port == 53)"


def test_secret_key_comes_from_a_random_chart_secret() -> None:
    manifest = render()
    reference = manifest.env(*HUB)["PODSCOPE_SECRET_KEY"]["valueFrom"]["secretKeyRef"]
    assert reference == {"name": "podscope-hub", "key": "secret-key"}
    encoded = manifest.get("Secret", "podscope-hub")["data"]["secret-key"]
    key = base64.b64decode(encoded).decode()
    assert len(key) == 50
    assert set(key) <= set(string.ascii_letters + string.digits)
    other = render(sets=("hub.storeSize=100000",)).get("Secret", "podscope-hub")
    assert other["data"]["secret-key"] != encoded


def test_hub_is_non_root_with_a_read_only_root_and_no_capabilities() -> None:
    manifest = render()
    pod = manifest.pod_spec(*HUB)["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] != 0
    context = manifest.container(*HUB)["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["privileged"] is False
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}


def test_the_login_database_lives_in_a_writable_empty_dir() -> None:
    manifest = render()
    database = manifest.env_values(*HUB)["PODSCOPE_DB"]
    mounts = {m["mountPath"]: m["name"] for m in manifest.container(*HUB)["volumeMounts"]}
    volumes = {v["name"]: v for v in manifest.pod_spec(*HUB)["volumes"]}
    directory = database.rsplit("/", 1)[0]
    assert "emptyDir" in volumes[mounts[directory]]
    assert "emptyDir" in volumes[mounts[manifest.env_values(*HUB)["HOME"]]]


def test_probes_get_readiness_and_liveness_with_a_host_the_hub_allows() -> None:
    manifest = render()
    container = manifest.container(*HUB)
    for probe, path in (
        (container["readinessProbe"], "/healthz"),
        (container["livenessProbe"], "/livez"),
    ):
        request = probe["httpGet"]
        assert request["path"] == path
        assert request["port"] == "http"
        (header,) = request["httpHeaders"]
        assert header["name"] == "Host"
        assert header["value"] in allowed_hosts()


def test_allowed_hosts_cover_local_names_the_pod_ip_and_the_service() -> None:
    hosts = allowed_hosts()
    assert hosts[:4] == ["localhost", "127.0.0.1", "[::1]", "$(POD_IP)"]
    assert hosts[4:] == SERVICE_NAMES
    env = list(render().env(*HUB))
    assert env.index("POD_IP") < env.index("PODSCOPE_ALLOWED_HOSTS")


def test_ingress_routes_every_host_to_the_hub_service_and_allows_it() -> None:
    manifest = render("ci/demo-with-ingress-values.yaml")
    ingress = manifest.get("Ingress", "podscope")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]
    assert ingress["spec"]["tls"] == [
        {"secretName": "podscope-demo-tls", "hosts": ["demo.podscope.example"]}
    ]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "demo.podscope.example"
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/"
    assert path["pathType"] == "Prefix"
    assert path["backend"] == {"service": {"name": "podscope", "port": {"name": "http"}}}
    hosts = allowed_hosts("ci/demo-with-ingress-values.yaml")
    assert "demo.podscope.example" in hosts
    assert "podscope.internal.example" in hosts
    assert manifest.env_values(*HUB)["PODSCOPE_DEMO"] == "1"
    assert manifest.get(*HUB)["spec"]["replicas"] == 2


def test_no_ingress_by_default() -> None:
    assert render().find("Ingress", "podscope") is None


def test_auth_creates_the_admin_from_its_secret_before_the_hub_starts() -> None:
    manifest = render("ci/auth-values.yaml")
    assert manifest.env_values(*HUB)["PODSCOPE_AUTH"] == "1"
    (init,) = manifest.pod_spec(*HUB)["initContainers"]
    env = {entry["name"]: entry for entry in init["env"]}
    for name, key in (("ADMIN_USERNAME", "username"), ("ADMIN_PASSWORD", "password")):
        reference = env[name]["valueFrom"]["secretKeyRef"]
        assert reference == {"name": "podscope-admin-login", "key": key}
    assert env["PODSCOPE_DB"] == manifest.env(*HUB)["PODSCOPE_DB"]
    assert init["securityContext"] == manifest.container(*HUB)["securityContext"]
    assert init["volumeMounts"] == manifest.container(*HUB)["volumeMounts"]
    assert manifest.find("Secret", "podscope-admin") is None


def test_auth_without_a_secret_makes_an_admin_with_a_random_password() -> None:
    manifest = render(sets=("auth.enabled=true",))
    secret = manifest.get("Secret", "podscope-admin")["data"]
    assert base64.b64decode(secret["username"]) == b"admin"
    assert len(base64.b64decode(secret["password"])) == 24
    (init,) = manifest.pod_spec(*HUB)["initContainers"]
    names = {e["valueFrom"]["secretKeyRef"]["name"] for e in init["env"] if "valueFrom" in e}
    assert names == {"podscope-admin", "podscope-hub"}


def test_no_init_container_without_auth() -> None:
    assert "initContainers" not in render().pod_spec(*HUB)


def test_hub_scheduling_and_resources_come_from_values() -> None:
    manifest = render("ci/auth-values.yaml")
    spec = manifest.pod_spec(*HUB)
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert spec["tolerations"][0]["key"] == "dedicated"
    assert manifest.env_values(*HUB)["PODSCOPE_STORE_SIZE"] == "250000"
    assert manifest.container(*HUB)["resources"]["limits"] == {"memory": "1558Mi"}


def test_image_defaults_to_the_chart_app_version() -> None:
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    assert render().container(*HUB)["image"] == f"ghcr.io/podscope/podscope:{app_version}"
    tagged = render(sets=("image.tag=dev", "image.repository=registry.local/podscope"))
    assert tagged.container(*HUB)["image"] == "registry.local/podscope:dev"
    worker = tagged.container("DaemonSet", "podscope-worker")
    assert worker["image"] == "registry.local/podscope:dev"


def test_behind_the_ingress_the_proxy_scheme_and_hosts_are_trusted() -> None:
    env = render("ci/demo-with-ingress-values.yaml").env_values("Deployment", "podscope-hub")
    assert env["PODSCOPE_TRUST_PROXY"] == "1"
    assert env["PODSCOPE_CSRF_TRUSTED_ORIGINS"] == (
        "https://demo.podscope.example,http://demo.podscope.example"
    )
    plain = render().env_values("Deployment", "podscope-hub")
    assert (plain["PODSCOPE_TRUST_PROXY"], plain["PODSCOPE_CSRF_TRUSTED_ORIGINS"]) == ("0", "")


def test_logins_are_shared_between_hub_replicas() -> None:
    env = render("ci/demo-with-ingress-values.yaml").env_values("Deployment", "podscope-hub")
    assert env["PODSCOPE_SHARED_SESSIONS"] == "1"


@pytest.mark.parametrize("service_type", ["NodePort", "LoadBalancer"])
def test_node_and_load_balancer_addresses_are_allowed_hosts(service_type: str) -> None:
    sets = (f"hub.service.type={service_type}",)
    hosts = render(sets=sets).env_values("Deployment", "podscope-hub")["PODSCOPE_ALLOWED_HOSTS"]
    assert "*" in hosts.split(",")
    named = render(sets=(*sets, "hub.allowedHosts={podscope.example}"))
    named_hosts = named.env_values("Deployment", "podscope-hub")["PODSCOPE_ALLOWED_HOSTS"]
    assert "*" not in named_hosts.split(",")
    assert "podscope.example" in named_hosts.split(",")


def test_ingress_serves_the_root_path_only() -> None:
    error = failure("ci/demo-with-ingress-values.yaml", sets=("ingress.path=/podscope",))
    assert "path" in error


def test_an_existing_secret_key_renders_nothing_random() -> None:
    sets = EVERY_EXISTING_SECRET
    manifest = render(sets=sets)
    assert [kind for kind, _ in manifest.kinds() if kind == "Secret"] == []
    key = manifest.env("Deployment", "podscope-hub")["PODSCOPE_SECRET_KEY"]
    assert key["valueFrom"]["secretKeyRef"] == {"name": "hub-key", "key": "secret-key"}
    first, second = (helm(*template_args((), sets, ())).stdout for _ in range(2))
    assert first == second


@pytest.mark.parametrize(
    ("store_size", "requested", "limit"),
    [(100_000, "511Mi", "767Mi"), (250_000, "1038Mi", "1558Mi")],
)
def test_hub_memory_follows_the_store_size(store_size: int, requested: str, limit: str) -> None:
    manifest = render(sets=(f"hub.storeSize={store_size}",))
    resources = manifest.container("Deployment", "podscope-hub")["resources"]
    assert resources == {
        "requests": {"cpu": "100m", "memory": requested},
        "limits": {"memory": limit},
    }


def test_a_hub_memory_limit_below_the_store_needs_is_refused() -> None:
    error = failure(sets=("hub.storeSize=250000", "hub.resources.limits.memory=1Gi"))
    assert "hub.resources.limits.memory 1Gi is below the about 1038Mi" in error
    fits = render(sets=("hub.storeSize=250000", "hub.resources.limits.memory=2Gi"))
    assert fits.container("Deployment", "podscope-hub")["resources"]["limits"] == {"memory": "2Gi"}
