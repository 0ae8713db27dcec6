"""requirements.lock: every dependency of pyproject.toml pinned, with hashes, and nothing loose."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from tests.image.lockfile import LOCK, hashes, normalized, pinned

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_pins_every_dependency_of_the_project_in_its_range() -> None:
    pins = pinned(LOCK.read_text())
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    for text in dependencies:
        requirement = Requirement(text)
        name = normalized(requirement.name)
        assert name in pins, f"{name} is not in {LOCK.name}: run scripts/lock.py"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} vs {text}"


def test_every_pin_carries_a_hash() -> None:
    text = LOCK.read_text()
    listed = hashes(text)
    assert listed.keys() == pinned(text).keys()
    assert all(listed.values()), [name for name, digests in listed.items() if not digests]


def test_reads_pins_and_hashes() -> None:
    text = "a_b==1.0 \\\n    --hash=sha256:" + "0" * 64 + "\nC.d==2\n"
    assert pinned(text) == {"a-b": "1.0", "c-d": "2"}
    assert hashes(text) == {"a-b": ["0" * 64], "c-d": []}
