"""Write requirements.lock: the image's Python dependencies, pinned, with their wheels' sha256.

Run from the repository root after changing ``[project] dependencies`` in pyproject.toml::

    .venv/bin/python scripts/lock.py

pip resolves the project for CPython 3.11 on linux x86_64 (binary wheels only), then resolves
the same pins again for linux aarch64. pip evaluates environment markers for the Python running
it, so a dependency that only an older 3.11 needs (Debian's is 3.11.2) is added when its
marker holds for 3.11.0, and the resolution runs again. The lock lists every wheel's hash for
both machines, so the Dockerfile's ``pip install --require-hashes`` installs exactly these files.
No package index setting of this machine is used: only the default index (PyPI).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
PLATFORMS = {
    "x86_64": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "aarch64": ("manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64"),
}
HEADER = """\
# The image's Python dependencies: every package the Dockerfile installs, pinned, with the
# sha256 of its wheels for CPython 3.11 on linux x86_64 and aarch64.
# Made by scripts/lock.py from pyproject.toml: run it again after changing the dependencies.
"""


class LockError(Exception):
    """pip could not resolve the dependencies, or the two platforms disagree."""


# The oldest Python the image may run: markers are evaluated for it too.
OLDEST_PYTHON = {"python_version": "3.11", "python_full_version": "3.11.0"}
MAX_ROUNDS = 5


def resolve(
    platform_tags: tuple[str, ...], constraints: Path | None, extra: list[str]
) -> dict[str, Any]:
    """pip's installation report for the project on these platform tags (nothing installed)."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed"]
        command += ["--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp"]
        for tag in platform_tags:
            command += ["--platform", tag]
        if constraints is not None:
            command += ["--constraint", str(constraints)]
        command += ["--quiet", "--report", str(report), str(ROOT), *extra]
        # Only PyPI: no config file or find-links of this machine may pick the files.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k == "PIP_CERT"}
        env["PIP_CONFIG_FILE"] = os.devnull
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise LockError(f"pip could not resolve {platform_tags[0]}:\n{result.stderr}")
        loaded: dict[str, Any] = json.loads(report.read_text())
        return loaded


def normalized(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return name.lower().replace("_", "-").replace(".", "-")


def needed_on_oldest_python(report: dict[str, Any]) -> list[str]:
    """Requirements of the resolved packages whose marker holds on OLDEST_PYTHON but that pip
    left out (it evaluated the marker for the Python running it)."""
    resolved = {normalized(item["metadata"]["name"]) for item in report["install"]}
    environment = {key: str(value) for key, value in default_environment().items()}
    environment |= {**OLDEST_PYTHON, "extra": ""}
    missing = []
    for item in report["install"]:
        for text in item["metadata"].get("requires_dist", []):
            requirement = Requirement(text)
            if requirement.marker is None or normalized(requirement.name) in resolved:
                continue
            if requirement.marker.evaluate(environment):
                requirement.marker = None
                missing.append(str(requirement))
    return missing


def resolve_all(platform_tags: tuple[str, ...], constraints: Path | None) -> dict[str, Any]:
    """Resolve, adding what the oldest Python needs, until nothing is missing."""
    extra: list[str] = []
    for _ in range(MAX_ROUNDS):
        report = resolve(platform_tags, constraints, extra)
        missing = needed_on_oldest_python(report)
        if not missing:
            return report
        extra += missing
    raise LockError(f"still missing after {MAX_ROUNDS} rounds: {missing}")


def pins(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """(version, sha256) of each resolved dependency, by normalized name (the project left out)."""
    found: dict[str, tuple[str, str]] = {}
    for item in report["install"]:
        name = normalized(item["metadata"]["name"])
        if name == "podscope":
            continue
        digest = item["download_info"]["archive_info"]["hashes"]["sha256"]
        found[name] = (item["metadata"]["version"], digest)
    return found


def lock_text(by_platform: list[dict[str, tuple[str, str]]]) -> str:
    """The lock file: one ``name==version`` per package with every platform's hash."""
    first = by_platform[0]
    for other in by_platform[1:]:
        versions = {name: version for name, (version, _) in other.items()}
        expected = {name: version for name, (version, _) in first.items()}
        if versions != expected:
            raise LockError(f"the platforms resolved differently: {expected} != {versions}")
    lines = [HEADER]
    for name in sorted(first):
        hashes = sorted({resolved[name][1] for resolved in by_platform})
        lines.append(f"{name}=={first[name][0]} \\\n")
        lines.append(" \\\n".join(f"    --hash=sha256:{digest}" for digest in hashes) + "\n")
    return "".join(lines)


def main() -> int:
    """Resolve for each platform, the first one's pins constraining the others; write LOCK."""
    x86 = pins(resolve_all(PLATFORMS["x86_64"], None))
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as constraints:
        constraints.write("".join(f"{name}=={version}\n" for name, (version, _) in x86.items()))
        constraints.flush()
        arm = pins(resolve_all(PLATFORMS["aarch64"], Path(constraints.name)))
    LOCK.write_text(lock_text([x86, arm]))
    print(f"lock: wrote {len(x86)} packages to {LOCK.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LockError as error:
        print(f"lock: {error}", file=sys.stderr)
        sys.exit(1)
