"""Run a container of the rendered chart with docker, under the pod's own settings.

``run_args`` turns a pod spec and one of its containers into ``docker run`` arguments: the
user and group, the read-only root, the dropped and added capabilities, no privilege escalation,
a tmpfs of the emptyDir's size limit where the container mounts an emptyDir, the environment
(``valueFrom`` filled from the given Secrets and pod fields, ``$(VAR)`` expanded as the kubelet
does), the command and args, and the grace period as docker's stop timeout. The engine has no
bridge, so every container shares the host's network (the worker does in the chart too; the hub
and Redis reach each other on a loopback address of their own, so nothing else on the machine is
in the way). Anything the translation does not know (a privileged container, another volume
type) is an error, never silently left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.charts.helm import expand

Obj = dict[str, Any]
DEFAULT_GRACE_SECONDS = 30
QUANTITY_UNITS = {"": 1, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "k": 1000, "M": 1000**2}


class TranslationError(Exception):
    """The pod uses a setting this translation does not carry over."""


@dataclass(frozen=True)
class PodInputs:
    """What the kubelet would fill in: Secret values and downward-API fields."""

    secrets: Mapping[tuple[str, str], str] = field(default_factory=dict)
    fields: Mapping[str, str] = field(default_factory=dict)
    hosts: Mapping[str, str] = field(default_factory=dict)


def quantity_bytes(text: str) -> int:
    """Bytes of a Kubernetes quantity such as 64Mi."""
    digits = text.rstrip("KMGkiB")
    unit = text[len(digits) :]
    if unit not in QUANTITY_UNITS or not digits.isdigit():
        raise TranslationError(f"quantity {text!r} is not digits with Ki, Mi, Gi, k or M")
    return int(digits) * QUANTITY_UNITS[unit]


def environment(container: Obj, inputs: PodInputs) -> dict[str, str]:
    """The container's env as the process sees it, in order, with $(VAR) expanded."""
    values: dict[str, str] = {}
    for entry in container.get("env", []):
        name = entry["name"]
        if "value" in entry:
            values[name] = expand(entry["value"], values)
            continue
        source = entry["valueFrom"]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            key = (ref["name"], ref["key"])
            if key not in inputs.secrets:
                raise TranslationError(f"env {name}: no test value for Secret {key}")
            values[name] = inputs.secrets[key]
        elif "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            if path not in inputs.fields:
                raise TranslationError(f"env {name}: no test value for field {path}")
            values[name] = inputs.fields[path]
        else:
            raise TranslationError(f"env {name}: unsupported valueFrom {sorted(source)}")
    return values


def security_args(pod: Obj, container: Obj) -> list[str]:
    """User, group, read-only root, capabilities and no-new-privileges."""
    pod_context: Obj = pod.get("securityContext", {})
    context: Obj = container.get("securityContext", {})
    if context.get("privileged"):
        raise TranslationError(f"container {container['name']} is privileged")
    args: list[str] = []
    user = context.get("runAsUser", pod_context.get("runAsUser"))
    group = context.get("runAsGroup", pod_context.get("runAsGroup"))
    if user is not None:
        args += ["--user", f"{user}:{group}" if group is not None else str(user)]
    if "fsGroup" in pod_context:
        args += ["--group-add", str(pod_context["fsGroup"])]
    if context.get("readOnlyRootFilesystem"):
        args.append("--read-only")
    if context.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    capabilities: Obj = context.get("capabilities", {})
    args += [arg for name in capabilities.get("drop", []) for arg in ("--cap-drop", name)]
    args += [arg for name in capabilities.get("add", []) for arg in ("--cap-add", name)]
    return args


def volume_args(pod: Obj, container: Obj) -> list[str]:
    """A tmpfs, as large as the emptyDir's size limit, at each emptyDir mount."""
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    args: list[str] = []
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "emptyDir" not in volume:
            raise TranslationError(f"volume {mount['name']}: only emptyDir is translated")
        limit = volume["emptyDir"].get("sizeLimit")
        options = "rw,mode=1777" + (f",size={quantity_bytes(limit)}" if limit else "")
        args += ["--tmpfs", f"{mount['mountPath']}:{options}"]
    return args


def run_args(pod: Obj, container: Obj, inputs: PodInputs, name: str, image: str) -> list[str]:
    """``docker run`` arguments (after ``run``) for one container of a rendered pod."""
    env = environment(container, inputs)
    args = ["--detach", "--name", name, "--network", "host"]
    args += ["--stop-timeout", str(pod.get("terminationGracePeriodSeconds", 30))]
    args += security_args(pod, container) + volume_args(pod, container)
    for host, address in inputs.hosts.items():
        args += ["--add-host", f"{host}:{address}"]
    for key, value in env.items():
        args += ["--env", f"{key}={value}"]
    command = [expand(part, env) for part in container.get("command", [])]
    if command:
        args += ["--entrypoint", command[0]]
    args.append(image)
    args += command[1:] + [expand(part, env) for part in container.get("args", [])]
    return args
