"""Test helper: a ``manage.py podscope serve`` hub reading a Redis stream, in a child process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get_json(port: int, path: str) -> Any:
    """The JSON body of ``GET path`` (an HTTPError for an error status)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return json.loads(response.read())


def rss_mib(pid: int) -> float:
    """The resident memory of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@dataclass(frozen=True)
class ServedHub:
    """A hub process and the port it serves on."""

    process: subprocess.Popen[str]
    port: int


@contextmanager
def redis_hub(
    redis_url: str, prefix: str, *, args: Sequence[str] = (), **env: str
) -> Iterator[ServedHub]:
    """A hub on a free port reading ``{prefix}:entries`` from ``redis_url`` (``args``: more
    ``serve`` options); SIGTERMed after."""
    port = free_port()
    environment = {
        k: v for k, v in os.environ.items() if k != "REDIS_URL" and not k.startswith("PODSCOPE_")
    }
    environment.update(
        REDIS_URL=redis_url, PODSCOPE_PREFIX=prefix, PODSCOPE_ALLOWED_HOSTS="127.0.0.1", **env
    )
    process = subprocess.Popen(
        [sys.executable, "manage.py", "podscope", "serve", "--port", str(port), *args],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                get_json(port, "/livez")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.communicate()[0]
                    raise AssertionError(f"the hub did not start: {output}") from None
                time.sleep(0.2)
        yield ServedHub(process, port)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
