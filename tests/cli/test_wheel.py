"""podscope installed from its wheel: the chart ships inside it, so ``tap`` finds its chart."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.cli.support import ROOT


def project_copy(target: Path) -> Path:
    """The files a wheel is built from, copied (setuptools builds in the source folder)."""
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for pattern in include["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        shutil.copytree(
            ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, target / name)
    return target


@pytest.mark.slow
def test_the_wheel_carries_the_chart_that_tap_uses(tmp_path: Path) -> None:
    source = project_copy(tmp_path / "source")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("podscope-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    chart = ROOT / "charts" / "podscope"
    for path in chart.rglob("*"):
        if path.is_file():
            assert f"charts/podscope/{path.relative_to(chart)}" in names
    target = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), wheel],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    # From elsewhere than the checkout, with only the installed copy of podscope importable.
    found = subprocess.run(
        [sys.executable, "-c", "from cli.tap import DEFAULT_CHART, check_chart; "
         "print(check_chart(DEFAULT_CHART))"],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target), "PYTHONSAFEPATH": "1"},
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()) == target / "charts" / "podscope"
