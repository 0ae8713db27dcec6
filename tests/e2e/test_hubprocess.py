"""The browser tests' hub process: it never outlives the test process, even one killed by a
timeout (which runs no ``finally``)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.e2e.hubprocess import RECORDED_LAB, ROOT

pytestmark = [pytest.mark.slow]

HOLDER = f"""
import time
from tests.e2e.hubprocess import running_hub
with running_hub("orphan-check", ("serve", *{RECORDED_LAB!r})) as url:
    print(url, flush=True)
    time.sleep(600)
"""


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1):
            return True
    except OSError:
        return False


def test_a_killed_test_process_takes_its_hub_with_it() -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        url = holder.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        assert answers(url)
        holder.send_signal(signal.SIGKILL)  # as a timeout's os._exit: no cleanup at all
        holder.wait()
        deadline = time.monotonic() + 10
        while answers(url) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not answers(url), "the hub outlived the process that started it"
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
