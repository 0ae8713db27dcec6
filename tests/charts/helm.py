"""Run the real helm on charts/podscope and look into the objects it renders.

``render`` and ``failure`` run ``helm template`` (cached per argument list, ~0.2 s each);
:class:`Manifest` finds objects, containers and their env in the parsed YAML.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "podscope"
HELM = ROOT / ".venv" / "bin" / "helm"
RELEASE = "podscope"
NAMESPACE = "observability"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
# The defaults, then each ci values file (chart-relative), with their test ids.
VALUE_SETS: list[tuple[str, ...]] = [(), *((str(p.relative_to(CHART)),) for p in CI_VALUES)]
EVERY_EXISTING_SECRET = (
    "hub.existingSecret=hub-key",
    "hub.writeToken.existingSecret=team-token",
    "metrics.token.existingSecret=prometheus-scrape",
    "redis.auth.existingSecret=redis-pass",
    "auth.enabled=true",
    "auth.adminSecret=admin-login",
)
"""Values that name an existing Secret for everything the chart would otherwise make."""
VALUE_SET_IDS = ["defaults", *(p.stem for p in CI_VALUES)]

Obj = dict[str, Any]
# Kubernetes' expansion in env values, command and args: $$ is a literal $, $(NAME) a variable.
KUBERNETES_REFERENCE = re.compile(r"\$\$|\$\((\w+)\)")


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``helm ARGS``; fail the test with the way to install helm when it is missing."""
    if not HELM.is_file():
        pytest.fail(f"{HELM} is missing: run scripts/tools.sh (setup.sh does) to install helm")
    return subprocess.run(
        [str(HELM), *args], capture_output=True, text=True, timeout=60, check=False
    )


def template_args(
    values: tuple[str, ...], sets: tuple[str, ...], strings: tuple[str, ...]
) -> list[str]:
    """``helm template`` arguments: values files (chart-relative), --set and --set-string pairs."""
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for name in values:
        args += ["--values", str(CHART / name)]
    for pair in sets:
        args += ["--set", pair]
    for pair in strings:
        args += ["--set-string", pair]
    return args


@cache
def _render(values: tuple[str, ...], sets: tuple[str, ...], strings: tuple[str, ...]) -> Manifest:
    result = helm(*template_args(values, sets, strings))
    if result.returncode != 0:
        pytest.fail(f"helm template failed: {result.stderr}")
    documents = yaml.load_all(result.stdout, Loader=yaml.CSafeLoader)
    return Manifest([doc for doc in documents if doc])


def render(*values: str, sets: tuple[str, ...] = (), strings: tuple[str, ...] = ()) -> Manifest:
    """The chart rendered with these values files, --set and --set-string pairs, parsed (shared
    between tests: do not modify it)."""
    return _render(values, sets, strings)


def failure(*values: str, sets: tuple[str, ...] = ()) -> str:
    """helm template's error output for values it must refuse (the test fails if it renders)."""
    result = helm(*template_args(values, sets, ()))
    if result.returncode == 0:
        pytest.fail(f"helm template accepted values {values} {sets}")
    return result.stderr


@dataclass(frozen=True)
class Manifest:
    """The objects of one rendering."""

    objects: list[Obj]

    def kinds(self) -> list[tuple[str, str]]:
        """(kind, name) of every object, sorted."""
        return sorted((obj["kind"], obj["metadata"]["name"]) for obj in self.objects)

    def find(self, kind: str, name: str) -> Obj | None:
        """The object of this kind and name, or None."""
        for obj in self.objects:
            if obj["kind"] == kind and obj["metadata"]["name"] == name:
                return obj
        return None

    def get(self, kind: str, name: str) -> Obj:
        """The object of this kind and name (the test fails when it is missing)."""
        obj = self.find(kind, name)
        if obj is None:
            pytest.fail(f"no {kind} {name} among {self.kinds()}")
        return obj

    def pod_spec(self, kind: str, name: str) -> Obj:
        """The pod template's spec of a Deployment or DaemonSet."""
        spec: Obj = self.get(kind, name)["spec"]["template"]["spec"]
        return spec

    def container(self, kind: str, name: str, container: str = "") -> Obj:
        """A container of a workload (its only or first one when not named)."""
        containers: list[Obj] = self.pod_spec(kind, name)["containers"]
        for candidate in containers:
            if not container or candidate["name"] == container:
                return candidate
        pytest.fail(f"{kind} {name} has no container {container}")

    def env(self, kind: str, name: str, container: str = "") -> dict[str, Obj]:
        """A container's env entries by name, in their order."""
        return {entry["name"]: entry for entry in self.container(kind, name, container)["env"]}

    def env_values(self, kind: str, name: str) -> dict[str, str]:
        """A container's plain env values (entries taken from a Secret or field are left out)."""
        return {
            key: entry["value"] for key, entry in self.env(kind, name).items() if "value" in entry
        }


def option(args: list[str], flag: str) -> str | None:
    """The value following ``flag`` in an argument list, or None when the flag is absent."""
    if flag not in args:
        return None
    return args[args.index(flag) + 1]


def expand(text: str, variables: dict[str, str]) -> str:
    """``text`` as the kubelet passes it to the process: ``$$`` becomes ``$`` and ``$(NAME)``
    the variable's value (left as written when the variable is not defined)."""

    def substitute(match: re.Match[str]) -> str:
        name = match[1]
        if name is None:
            return "$"
        return variables.get(name, match[0])

    return KUBERNETES_REFERENCE.sub(substitute, text)
