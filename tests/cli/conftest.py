"""Fixtures: the podscope command as a subprocess, a fake API server with its kubeconfig, and a
hub serving the recorded lab."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli.kubeapi import FakeCluster
from tests.cli.support import ROOT, require_tools
from tests.e2e.hubprocess import RECORDED_LAB, HubStartError, running_hub

COMMAND_SECONDS = 120

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    """A running fake API server that allows everything and rolls everything out at once."""
    fake = FakeCluster()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def kubeconfig(tmp_path: Path, cluster: FakeCluster) -> Path:
    """A kubeconfig whose current context ``fake`` is the fake API server."""
    return cluster.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def podscope(tmp_path: Path) -> Run:
    """Run ``python -m cli ARGS`` (the podscope command) with ``KUBECONFIG`` as given."""
    require_tools()

    def run(
        *args: str, kubeconfig: Path | None = None, timeout: float = COMMAND_SECONDS
    ) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig or tmp_path / "missing-kubeconfig"),
            "HOME": str(tmp_path),  # helm's cache and config, kept out of the real home
        }
        return subprocess.run(
            [sys.executable, "-m", "cli", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def hub_url() -> Iterator[str]:
    """A hub (``manage.py podscope serve``) that read the recorded lab once, all entries in."""
    try:
        with running_hub("cli-export", ("serve", *RECORDED_LAB), read_all=True) as url:
            yield url
    except HubStartError as exc:
        pytest.fail(str(exc))
