"""Redis wiring: the chart's Redis or an external one, the password only through a Secret."""

from __future__ import annotations

import base64

from tests.charts.helm import NAMESPACE, Manifest, Obj, option, render

HUB = ("Deployment", "podscope-hub")
WORKER = ("DaemonSet", "podscope-worker")
REDIS = ("Deployment", "podscope-redis")
CHART_REDIS_URL = f"redis://:$(REDIS_PASSWORD)@podscope-redis.{NAMESPACE}.svc:6379/0"


def redis_env(manifest: Manifest, workload: tuple[str, str]) -> tuple[Obj | None, str]:
    """A workload's REDIS_PASSWORD entry (None when absent) and REDIS_URL value; the password
    must come first, or Kubernetes would not expand $(REDIS_PASSWORD) in the URL."""
    env = manifest.env(*workload)
    names = list(env)
    password = env.get("REDIS_PASSWORD")
    if password is not None:
        assert names.index("REDIS_PASSWORD") < names.index("REDIS_URL")
    return password, env["REDIS_URL"]["value"]


def test_chart_redis_with_a_generated_password() -> None:
    manifest = render()
    for workload in (HUB, WORKER):
        password, url = redis_env(manifest, workload)
        assert password is not None
        reference = password["valueFrom"]["secretKeyRef"]
        assert reference == {"name": "podscope-redis", "key": "redis-password"}
        assert url == CHART_REDIS_URL
    generated = manifest.get("Secret", "podscope-redis")["data"]["redis-password"]
    assert len(base64.b64decode(generated)) == 32
    redis = manifest.container(*REDIS)
    # The password reaches redis-server on its standard input, never in an argument.
    assert "--requirepass" not in redis["args"]
    assert not any("$(REDIS_PASSWORD)" in arg for arg in [*redis["command"], *redis["args"]])
    assert "requirepass" in redis["args"][0]
    assert {e["name"]: e for e in redis["env"]}["REDIS_PASSWORD"] == password


def test_chart_redis_keeps_nothing_on_disk() -> None:
    manifest = render()
    redis = manifest.container(*REDIS)
    assert redis["image"] == "redis:7.4-alpine"
    assert '--save "" --appendonly no' in " ".join(redis["args"])
    open_redis = render(sets=("redis.auth.enabled=false",)).container(*REDIS)
    assert option(open_redis["args"], "--save") == ""
    assert option(open_redis["args"], "--appendonly") == "no"
    assert redis["securityContext"]["readOnlyRootFilesystem"] is True
    assert manifest.pod_spec(*REDIS)["securityContext"]["runAsNonRoot"] is True
    service = manifest.get("Service", "podscope-redis")
    pod_labels = manifest.get(*REDIS)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["port"] == 6379


def test_chart_redis_without_a_password() -> None:
    manifest = render(sets=("redis.auth.enabled=false",))
    for workload in (HUB, WORKER):
        password, url = redis_env(manifest, workload)
        assert password is None
        assert url == f"redis://podscope-redis.{NAMESPACE}.svc:6379/0"
    assert "--requirepass" not in manifest.container(*REDIS)["args"]
    assert manifest.find("Secret", "podscope-redis") is None


def test_chart_redis_with_an_existing_secret() -> None:
    manifest = render(
        sets=("redis.auth.existingSecret=team-redis", "redis.auth.existingSecretKey=pw")
    )
    password, url = redis_env(manifest, WORKER)
    assert password is not None
    assert password["valueFrom"]["secretKeyRef"] == {"name": "team-redis", "key": "pw"}
    assert url == CHART_REDIS_URL
    assert manifest.find("Secret", "podscope-redis") is None


def test_external_redis_gets_its_password_from_the_named_secret() -> None:
    manifest = render("ci/external-redis-values.yaml")
    for workload in (HUB, WORKER):
        password, url = redis_env(manifest, workload)
        assert password is not None
        assert password["valueFrom"]["secretKeyRef"] == {"name": "shared-redis", "key": "password"}
        assert url == "rediss://:$(REDIS_PASSWORD)@redis.data.svc:6380/2"
    assert manifest.find(*REDIS) is None
    assert manifest.find("Service", "podscope-redis") is None
    assert manifest.find("Secret", "podscope-redis") is None
    args = manifest.container(*WORKER)["args"]
    assert option(args, "--prefix") == "podscope-prod"
    assert option(args, "--maxlen") == "500000"
    assert manifest.env_values(*HUB)["PODSCOPE_PREFIX"] == "podscope-prod"


def test_external_redis_user_name_is_kept_before_the_password() -> None:
    manifest = render(
        "ci/external-redis-values.yaml", sets=("redis.external.url=redis://podscope@r:6379/1",)
    )
    assert redis_env(manifest, HUB)[1] == "redis://podscope:$(REDIS_PASSWORD)@r:6379/1"


def test_external_redis_without_a_password() -> None:
    manifest = render(
        "ci/external-redis-values.yaml", sets=("redis.external.passwordSecret.name=",)
    )
    password, url = redis_env(manifest, WORKER)
    assert password is None
    assert url == "rediss://redis.data.svc:6380/2"


def test_no_password_appears_outside_its_secret() -> None:
    manifest = render()
    password = base64.b64decode(manifest.get("Secret", "podscope-redis")["data"]["redis-password"])
    others = [obj for obj in manifest.objects if obj["kind"] != "Secret"]
    assert password.decode() not in repr(others)
