"""helm argv from tap's options (exact), helm's error text, and the real helm reading the flags."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from cli.helm import Release, helm_reason, install_argv, uninstall_argv, value_flags
from cli.tap import DEFAULT_CHART
from cli.values import TapValues
from tests.cli.support import HELM, require_tools

RELEASE = Release("podscope", "observability", "kind-dev")
CHART = Path("/charts/podscope")


def test_install_argv_with_every_option() -> None:
    values = TapValues(
        pod_regex="^(shop|pay)-",
        namespaces=("shop", "payments"),
        excluded_namespaces=("kube-system",),
        mode="full",
        dissectors=("tcp", "dns"),
        extra_sets=("hub.replicas=2", "tap.mode=connections"),
    )
    assert install_argv("/bin/helm", RELEASE, CHART, values, 120) == [
        "/bin/helm",
        "upgrade",
        "--install",
        "podscope",
        "/charts/podscope",
        "--namespace",
        "observability",
        "--create-namespace",
        "--reset-values",
        "--wait",
        "--timeout",
        "120s",
        "--kube-context",
        "kind-dev",
        "--set-json",
        'tap.regex="^(shop|pay)-"',
        "--set",
        "tap.namespaces={shop,payments}",
        "--set",
        "tap.excludedNamespaces={kube-system}",
        "--set",
        "tap.enabledDissectors={tcp,dns}",
        "--set",
        "tap.mode=full",
        "--set",
        "hub.replicas=2",
        "--set",
        "tap.mode=connections",
    ]


def test_options_left_out_set_nothing() -> None:
    argv = install_argv("helm", RELEASE, CHART, TapValues(), 300)
    assert argv[-2:] == ["--kube-context", "kind-dev"]
    assert "--set" not in argv
    assert "--set-json" not in argv


def test_the_regex_is_one_json_string_whatever_it_contains() -> None:
    flags = value_flags(TapValues(pod_regex='a,b{2}\\d"é'))
    assert flags == ["--set-json", 'tap.regex="a,b{2}\\\\d\\"\\u00e9"']


def test_uninstall_argv() -> None:
    assert uninstall_argv("helm", RELEASE, 60) == [
        "helm",
        "uninstall",
        "podscope",
        "--namespace",
        "observability",
        "--wait",
        "--timeout",
        "60s",
        "--kube-context",
        "kind-dev",
    ]


def test_helm_reason_keeps_the_error_and_what_follows_it() -> None:
    stderr = (
        'level=INFO msg="Unsolicited response received on idle HTTP channel"\n'
        "Error: INSTALLATION FAILED: resource Deployment/p/hub not ready\n"
        "context deadline exceeded\n"
    )
    assert helm_reason(stderr) == (
        "INSTALLATION FAILED: resource Deployment/p/hub not ready; context deadline exceeded"
    )


def test_helm_reason_without_an_error_line_keeps_the_last_lines() -> None:
    assert helm_reason("level=INFO msg=x\npanic: boom\n") == "panic: boom"
    assert helm_reason("") == "no error message"


def _render(values: TapValues) -> list[dict[str, Any]]:
    """The real chart rendered by the real helm with the flags tap would pass."""
    require_tools()
    argv = [str(HELM), "template", "podscope", str(DEFAULT_CHART), *value_flags(values)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def _container(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    obj = next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)
    container: dict[str, Any] = obj["spec"]["template"]["spec"]["containers"][0]
    return container


def test_real_helm_reads_the_flags_as_meant() -> None:
    regex = r"^(shop|pay),x{2}\d=[a-z]"
    values = TapValues(
        pod_regex=regex,
        namespaces=("shop", "payments"),
        excluded_namespaces=("kube-system",),
        mode="full",
        dissectors=("tcp", "dns"),
    )
    objects = _render(values)
    hub = _container(objects, "Deployment", "podscope-hub")
    env = {item["name"]: item.get("value") for item in hub["env"]}
    assert env["PODSCOPE_TAP_REGEX"] == regex
    assert env["PODSCOPE_TAP_NAMESPACES"] == "shop,payments"
    assert env["PODSCOPE_TAP_EXCLUDED_NAMESPACES"] == "kube-system"
    worker_args = _container(objects, "DaemonSet", "podscope-worker")["args"]
    assert "full" in worker_args
    assert "tcp,dns" in worker_args


def test_a_users_set_wins_over_the_options() -> None:
    values = TapValues(pod_regex="^a", namespaces=("shop",), extra_sets=("tap.regex=^b",))
    hub = _container(_render(values), "Deployment", "podscope-hub")
    env = {item["name"]: item.get("value") for item in hub["env"]}
    assert env["PODSCOPE_TAP_REGEX"] == "^b"
    assert env["PODSCOPE_TAP_NAMESPACES"] == "shop"


def test_real_helm_reads_the_image_flags_as_meant() -> None:
    values = TapValues(image_repository="registry.example:5000/team/podscope", image_tag="0100")
    objects = _render(values)
    for kind, name in (("Deployment", "podscope-hub"), ("DaemonSet", "podscope-worker")):
        image = _container(objects, kind, name)["image"]
        assert image == "registry.example:5000/team/podscope:0100"
