"""Fixtures: a demo hub (capture lab as root, else its recording), a full-mode hub, chromium."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HUB_START_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _accepted(url: str) -> int:
    with urllib.request.urlopen(f"{url}/api/stats", timeout=2) as response:
        accepted: int = json.load(response)["accepted"]
        return accepted


def _running_hub(name: str, *args: str) -> Iterator[str]:
    """Run ``manage.py podscope <args>`` on a free port until it accepted entries; SIGTERM it."""
    if not (ROOT / "frontend" / "dist" / "index.html").is_file():
        pytest.fail("frontend/dist is not built: run scripts/setup.sh")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PODSCOPE_DB": str(ARTIFACTS / f"e2e-{name}.sqlite3"),
        "PODSCOPE_ALLOWED_HOSTS": "127.0.0.1,localhost",  # other tests set their own
    }
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / f"e2e-{name}.log").open("w")
    hub = subprocess.Popen(
        [sys.executable, "manage.py", "podscope", *args, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + HUB_START_SECONDS
        while True:
            if hub.poll() is not None:
                pytest.fail(f"the {name} hub exited with {hub.returncode}; see artifacts/")
            try:
                if _accepted(url) > 0:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the {name} hub accepted no entries in time; see artifacts/")
            time.sleep(0.5)
        yield url
    finally:
        hub.send_signal(signal.SIGTERM)
        try:
            hub.wait(timeout=20)
        except subprocess.TimeoutExpired:
            hub.kill()
            hub.wait()
        log.close()


@pytest.fixture(scope="session")
def hub_url() -> Iterator[str]:
    """A ``podscope demo`` hub: the capture lab live as root, else its recording in a loop."""
    yield from _running_hub("demo-hub", "demo")


@pytest.fixture(scope="session")
def full_hub_url() -> Iterator[str]:
    """A hub that read the recorded lab once in ``full`` mode (entries with payload previews)."""
    yield from _running_hub(
        "full-hub",
        "serve",
        "--mode",
        "full",
        "--read",
        str(ROOT / "samples" / "lab-demo.pcap"),
        "--cluster-snapshot",
        str(ROOT / "samples" / "lab-demo-snapshot.json"),
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless (never a downloaded browser); per module, because the sync
    Playwright API keeps an event loop running that later asyncio tests must not meet."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/setup.sh")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def expected_console() -> list[str]:
    """Console messages a test provokes on purpose (substrings), e.g. a refused request."""
    return []


@pytest.fixture
def page(browser: Browser, expected_console: list[str]) -> Iterator[Page]:
    """A fresh tab at 1280x800 (the narrowest width supported); unexpected console errors fail."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    problems: list[str] = []
    tab.on(
        "console",
        lambda message: (
            problems.append(f"{message.type}: {message.text}")
            if message.type in ("error", "warning")
            else None
        ),
    )
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    yield tab
    context.close()
    assert [p for p in problems if not any(part in p for part in expected_console)] == []
