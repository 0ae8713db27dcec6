"""helm as ``podscope tap`` and ``clean`` run it: the argv built from the options, and its errors.

Values reach helm so that its ``--set`` parser cannot misread them: the pod regex (free text
with commas, braces and backslashes) as a JSON string with ``--set-json``; namespaces and
dissectors (DNS labels and known names) as ``--set`` lists ``{a,b}``; the user's own ``--set``
last, so they win (helm applies ``--set`` after ``--set-json``, and a later ``--set`` after an
earlier one). Options left out are not set, and ``--reset-values`` drops what an earlier tap
set: each tap installs exactly its own options over the chart's defaults (without it, helm
would keep the previous release's values whenever no value flag is given).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cli.errors import HelmError, ToolMissingError
from cli.values import TapValues

GRACE_SECONDS = 60  # on top of helm's own --timeout before helm itself is given up on
NOT_FOUND = "release: not found"


@dataclass(frozen=True, slots=True)
class Release:
    """A helm release: its name, namespace and the kube context it lives in."""

    name: str
    namespace: str
    context: str


def value_flags(values: TapValues) -> list[str]:
    """The ``--set-json``/``--set`` flags for ``values``, the user's ``--set`` last."""
    flags: list[str] = []
    if values.pod_regex:
        flags += ["--set-json", f"tap.regex={json.dumps(values.pod_regex)}"]
    for key, names in (
        ("tap.namespaces", values.namespaces),
        ("tap.excludedNamespaces", values.excluded_namespaces),
        ("tap.enabledDissectors", values.dissectors),
    ):
        if names:
            flags += ["--set", f"{key}={{{','.join(names)}}}"]
    if values.mode is not None:
        flags += ["--set", f"tap.mode={values.mode}"]
    for key, value in (
        ("image.repository", values.image_repository),
        ("image.tag", values.image_tag),
    ):
        if value:
            flags += ["--set-string", f"{key}={value}"]
    for assignment in values.extra_sets:
        flags += ["--set", assignment]
    return flags


def install_argv(
    helm: str, release: Release, chart: Path, values: TapValues, timeout_s: int
) -> list[str]:
    """``helm upgrade --install`` of ``chart`` as ``release`` with exactly ``values``, waiting
    for it to be ready."""
    return [
        helm,
        "upgrade",
        "--install",
        release.name,
        str(chart),
        "--namespace",
        release.namespace,
        "--create-namespace",
        "--reset-values",
        "--wait",
        "--timeout",
        f"{timeout_s}s",
        "--kube-context",
        release.context,
        *value_flags(values),
    ]


def uninstall_argv(helm: str, release: Release, timeout_s: int) -> list[str]:
    """``helm uninstall`` of ``release``, waiting for its objects to be gone."""
    return [
        helm,
        "uninstall",
        release.name,
        "--namespace",
        release.namespace,
        "--wait",
        "--timeout",
        f"{timeout_s}s",
        "--kube-context",
        release.context,
    ]


def install(helm: str, release: Release, chart: Path, values: TapValues, timeout_s: int) -> None:
    """Install or upgrade ``release``; HelmError with helm's reason if it fails."""
    done = _run(install_argv(helm, release, chart, values, timeout_s), timeout_s)
    if done.returncode != 0:
        raise HelmError(f"helm upgrade --install failed: {helm_reason(done.stderr)}")


def uninstall(helm: str, release: Release, timeout_s: int) -> bool:
    """Uninstall ``release``: True if it was removed, False if it was not installed."""
    done = _run(uninstall_argv(helm, release, timeout_s), timeout_s)
    if done.returncode == 0:
        return True
    if NOT_FOUND in done.stderr:
        return False
    raise HelmError(f"helm uninstall failed: {helm_reason(done.stderr)}")


def helm_reason(stderr: str) -> str:
    """helm's error, from its first ``Error:`` line on, as one line (its log lines dropped)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.startswith("Error:")), None)
    if start is None:
        kept = [line for line in lines if not line.startswith("level=")] or lines
        return "; ".join(kept[-10:]) or "no error message"
    return "; ".join(lines[start:]).removeprefix("Error: ")


def _run(argv: list[str], timeout_s: int) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout_s + GRACE_SECONDS,
            check=False,
        )
    except (FileNotFoundError, PermissionError) as exc:
        raise ToolMissingError(f"cannot run helm ({argv[0]}): {exc.strerror}") from None
    except subprocess.TimeoutExpired:
        raise HelmError(
            f"helm {argv[1]} did not finish within {timeout_s + GRACE_SECONDS} s"
        ) from None
