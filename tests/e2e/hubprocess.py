"""A ``manage.py podscope`` hub in a child process on a free port, for browser tests and scripts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from lab.recording import DEMO_PCAP, DEMO_SNAPSHOT

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
HUB_START_SECONDS = 60
# `podscope serve` options to read the recorded lab once, named by its cluster snapshot.
RECORDED_LAB = (
    "--read",
    str(DEMO_PCAP),
    "--cluster-snapshot",
    str(DEMO_SNAPSHOT),
)


DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "TERM", "--"]
"""A command prefix: the kernel sends the child SIGTERM when the test process dies, so no hub
outlives a test run killed by a timeout (which skips every ``finally``)."""


class HubStartError(RuntimeError):
    """The hub exited, or accepted no entry in time (its output is in artifacts/)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def accepted(url: str) -> int:
    """How many entries the hub at ``url`` accepted so far."""
    with urllib.request.urlopen(f"{url}/api/stats", timeout=2) as response:
        count: int = json.load(response)["accepted"]
        return count


@contextmanager
def running_hub(
    name: str,
    args: tuple[str, ...],
    env: Mapping[str, str] | None = None,
    *,
    read_all: bool = False,
) -> Iterator[str]:
    """Run ``manage.py podscope <args>`` until it accepted entries; yield its URL; SIGTERM it.

    With ``read_all`` (a hub reading a recording once), wait until its count of accepted
    entries stops growing: everything is in. Its output goes to ``artifacts/e2e-<name>.log``;
    ``env`` adds environment variables.
    """
    if not (ROOT / "frontend" / "dist" / "index.html").is_file():
        raise HubStartError("frontend/dist is not built: run scripts/setup.sh")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "PODSCOPE_DB": str(ARTIFACTS / f"e2e-{name}.sqlite3"),
        "PODSCOPE_ALLOWED_HOSTS": "127.0.0.1,localhost",  # other tests set their own
        **(env or {}),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / f"e2e-{name}.log").open("w") as log:
        hub = subprocess.Popen(
            [*DIE_WITH_PARENT, sys.executable, "manage.py", "podscope", *args, "--port", str(port)],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_it_accepts(hub, name, url, read_all)
            yield url
        finally:
            hub.send_signal(signal.SIGTERM)
            try:
                hub.wait(timeout=10)
            except subprocess.TimeoutExpired:
                hub.kill()
                hub.wait()


def _wait_until_it_accepts(
    hub: subprocess.Popen[bytes], name: str, url: str, read_all: bool
) -> None:
    deadline = time.monotonic() + HUB_START_SECONDS
    previous = -1
    while True:
        if hub.poll() is not None:
            raise HubStartError(f"the {name} hub exited with {hub.returncode}; see artifacts/")
        try:
            count = accepted(url)
        except OSError:
            count = -1
        if count > 0 and (not read_all or count == previous):
            return
        if time.monotonic() > deadline:
            raise HubStartError(f"the {name} hub did not take its entries in time; see artifacts/")
        previous = count
        time.sleep(1.0 if read_all else 0.5)
