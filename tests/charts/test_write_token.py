"""The write token: a random chart Secret (or an existing one) that reaches the hub as
PODSCOPE_WRITE_TOKEN, and that ``podscope target`` finds through the hub's env."""

from __future__ import annotations

import base64
import string

from tests.charts.helm import EVERY_EXISTING_SECRET, failure, helm, render, template_args

HUB = ("Deployment", "podscope-hub")


def _reference(*sets: str) -> dict[str, str]:
    env = render(sets=sets).env(*HUB)
    reference: dict[str, str] = env["PODSCOPE_WRITE_TOKEN"]["valueFrom"]["secretKeyRef"]
    return reference


def test_the_chart_makes_a_random_token_and_gives_it_to_the_hub() -> None:
    manifest = render()
    secret = manifest.get("Secret", "podscope-write-token")
    assert secret["type"] == "Opaque"
    assert secret["metadata"]["labels"]["app.kubernetes.io/instance"] == "podscope"
    token = base64.b64decode(secret["data"]["token"]).decode()
    assert len(token) == 40
    assert set(token) <= set(string.ascii_letters + string.digits)
    assert _reference() == {"name": "podscope-write-token", "key": "token"}
    other = render(sets=("hub.storeSize=100000",)).get("Secret", "podscope-write-token")
    assert other["data"]["token"] != secret["data"]["token"]  # random at each install


def test_only_the_hub_container_gets_the_token() -> None:
    manifest = render("ci/auth-values.yaml")
    assert "PODSCOPE_WRITE_TOKEN" in manifest.env(*HUB, "hub")
    [init] = manifest.pod_spec(*HUB)["initContainers"]
    assert "PODSCOPE_WRITE_TOKEN" not in {entry["name"] for entry in init["env"]}
    worker = manifest.env("DaemonSet", "podscope-worker")
    assert "PODSCOPE_WRITE_TOKEN" not in worker


def test_an_existing_secret_replaces_the_charts() -> None:
    sets = ("hub.writeToken.existingSecret=team-token",)
    assert render(sets=sets).find("Secret", "podscope-write-token") is None
    assert _reference(*sets) == {"name": "team-token", "key": "token"}
    keyed = (*sets, "hub.writeToken.existingSecretKey=podscope")
    assert _reference(*keyed) == {"name": "team-token", "key": "podscope"}
    # The key names a key of the existing Secret only; the chart's own keeps its key.
    assert _reference("hub.writeToken.existingSecretKey=podscope")["key"] == "token"


def test_every_existing_secret_together_renders_the_same_twice() -> None:
    sets = EVERY_EXISTING_SECRET
    first, second = (helm(*template_args((), sets, ())) for _ in range(2))
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout


def test_the_name_follows_the_release() -> None:
    manifest = render(sets=("fullnameOverride=scope",))
    assert manifest.find("Secret", "scope-write-token") is not None
    reference = manifest.env("Deployment", "scope-hub")["PODSCOPE_WRITE_TOKEN"]
    assert reference["valueFrom"]["secretKeyRef"]["name"] == "scope-write-token"


def test_an_empty_key_is_refused() -> None:
    error = failure(sets=("hub.writeToken.existingSecretKey=",))
    assert "writeToken" in error
    assert "existingSecretKey" in error
