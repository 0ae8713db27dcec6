"""Fixtures: the podscope command as a subprocess, a fake API server with its kubeconfig, and a
hub serving the recorded lab."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli.kubeapi import FakeCluster
from tests.cli.support import ROOT, SAMPLES, free_port, require_tools

HUB_START_SECONDS = 60
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


def _accepted(url: str) -> int:
    with urllib.request.urlopen(f"{url}/api/stats", timeout=2) as response:
        accepted: int = json.load(response)["accepted"]
        return accepted


@pytest.fixture(scope="session")
def hub_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A hub (``manage.py podscope serve``) that read the recorded lab once, all entries in."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    workdir = tmp_path_factory.mktemp("hub")
    env = {
        **os.environ,
        "PODSCOPE_DB": str(workdir / "db.sqlite3"),
        "PODSCOPE_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    env.pop("REDIS_URL", None)
    argv = [
        sys.executable,
        "manage.py",
        "podscope",
        "serve",
        "--read",
        str(SAMPLES / "lab-demo.pcap"),
        "--cluster-snapshot",
        str(SAMPLES / "lab-demo-snapshot.json"),
        "--port",
        str(port),
    ]
    with (workdir / "hub.log").open("w") as log:
        hub = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_read(hub, url)
            yield url
        finally:
            hub.send_signal(signal.SIGTERM)
            try:
                hub.wait(timeout=20)
            except subprocess.TimeoutExpired:
                hub.kill()
                hub.wait()


def _wait_until_read(hub: subprocess.Popen[bytes], url: str) -> None:
    """Until the hub has accepted entries and the count stopped growing (the pcap is read)."""
    deadline = time.monotonic() + HUB_START_SECONDS
    previous = -1
    while True:
        if hub.poll() is not None:
            pytest.fail(f"the hub exited with {hub.returncode}")
        try:
            accepted = _accepted(url)
        except OSError:
            accepted = -1
        if accepted > 0 and accepted == previous:
            return
        if time.monotonic() > deadline:
            pytest.fail("the hub did not read the recorded lab in time")
        previous = accepted
        time.sleep(1.0)
