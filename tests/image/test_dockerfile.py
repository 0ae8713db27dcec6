"""The Dockerfile, read as text: what it copies and installs, and the stand-in bases it needs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests.image.standins import StandinError, base_images, debian_mirror

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def copied_folders() -> set[str]:
    """Folders the Dockerfile copies from the build context (COPY X/ ...)."""
    return set(re.findall(r"^COPY\s+(\w+)/\s+/app/", DOCKERFILE.read_text(), flags=re.MULTILINE))


def test_copies_every_package_of_the_project() -> None:
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = {pattern.rstrip("*") for pattern in include["packages"]["find"]["include"]}
    assert packages <= copied_folders(), f"the Dockerfile must COPY {packages - copied_folders()}"


def test_installs_python_dependencies_only_from_the_lock() -> None:
    joined = DOCKERFILE.read_text().replace("\\\n", " ")
    installs = re.findall(r"pip install[^\n]*", joined)
    assert installs, "no pip install in the Dockerfile"
    for install in installs:
        assert "--require-hashes" in install
        assert "requirements.lock" in install


def test_names_the_base_images_the_stand_ins_make(tmp_path: Path) -> None:
    assert base_images(DOCKERFILE) == ["node:20-bookworm-slim", "python:3.11-slim-bookworm"]
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM a:1 AS build\nFROM build\nFROM --platform=x b:2\nFROM a:1\n")
    assert base_images(dockerfile) == ["a:1", "b:2"]


def test_finds_this_machines_debian_mirror() -> None:
    try:
        mirror = debian_mirror()
    except StandinError as error:
        pytest.fail(str(error))
    assert mirror.startswith(("http://", "https://"))
