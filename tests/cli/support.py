"""Paths and small helpers shared by the podscope command's tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(sys.executable).parent  # scripts/tools.sh installs helm and kubectl here
HELM = TOOLS / "helm"


def require_tools() -> None:
    """Fail with the way to install them when helm or kubectl is missing."""
    for name in ("helm", "kubectl"):
        if not (TOOLS / name).is_file():
            pytest.fail(f"{TOOLS / name} is missing: run scripts/tools.sh")
