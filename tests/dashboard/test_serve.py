from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from lab.recording import DEMO_PCAP, DEMO_SNAPSHOT
from tests.e2e.hubprocess import DIE_WITH_PARENT

ROOT = Path(__file__).resolve().parents[2]
PCAP = DEMO_PCAP
SNAPSHOT = DEMO_SNAPSHOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def manage(
    *args: str,
    env: dict[str, str] | None = None,
    wrap: list[str] | None = None,
    ignore_sigint: bool = False,
) -> subprocess.Popen[str]:
    """``manage.py podscope ARGS`` in a child (behind the ``wrap`` command, if any), output
    piped; ``ignore_sigint`` starts it with SIGINT ignored."""
    environment = {  # other tests' Django settings must not leak into the served hub
        k: v for k, v in os.environ.items() if k != "REDIS_URL" and not k.startswith("PODSCOPE_")
    }
    environment.update(env or {})

    ignoring = ["sh", "-c", 'trap "" INT; exec "$@"', "sh"] if ignore_sigint else []
    return subprocess.Popen(
        [
            *DIE_WITH_PARENT,
            *ignoring,
            *(wrap or []),
            sys.executable,
            "manage.py",
            "podscope",
            *args,
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def get_json(port: int, path: str, query: dict[str, str] | None = None) -> Any:
    url = f"http://127.0.0.1:{port}{path}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture
def served() -> Iterator[int]:
    port = free_port()
    process = manage(
        "serve", "--read", str(PCAP), "--cluster-snapshot", str(SNAPSHOT), "--port", str(port)
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if get_json(port, "/api/stats")["accepted"] > 100:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("the hub never served the pcap's entries")
        yield port
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=15)
        assert process.returncode == 0, output


@pytest.mark.slow
def test_serve_reads_a_pcap_with_names_from_a_snapshot(served: int) -> None:
    found = get_json(served, "/api/entries", {"q": 'dst.name == "api.example.com" and tcp'})
    assert found["entries"]
    for entry in found["entries"]:
        assert entry["src"]["namespace"] == "shop"
        assert entry["src"]["workload"] == "frontend"
        assert entry["dst"]["namespace"] == ""
    text = urllib.request.urlopen(f"http://127.0.0.1:{served}/api/export", timeout=5).read()
    assert b"frontend in namespace shop calls:\n  - cart\n  - api.example.com\n" in text


@pytest.mark.slow
async def test_serve_streams_over_a_real_websocket(served: int) -> None:
    url = f"http://127.0.0.1:{served}/ws/live"
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, origin=f"http://127.0.0.1:{served}") as ws:
            hello = await ws.receive_json(timeout=5)
            assert hello["type"] == "hello"
            await ws.send_json({"type": "filter.set", "query": 'src.namespace == "payments"'})
            kinds: dict[str, Any] = {}
            while "entries" not in kinds:
                message = await ws.receive_json(timeout=5)
                kinds.setdefault(message["type"], message)
            assert kinds["filter.ok"]["query"] == 'src.namespace == "payments"'
            entries = kinds["entries"]["entries"]
            assert entries
            assert {entry["src"]["workload"] for entry in entries} == {"api"}
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(url, origin="http://evil.example")


def test_garbage_pcap_is_a_clear_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"not a capture file at all")
    process = manage("serve", "--read", str(garbage), "--port", str(free_port()))
    output, _ = process.communicate(timeout=30)
    assert process.returncode != 0
    assert "cannot capture" in output


def test_redis_url_excludes_an_embedded_capture() -> None:
    process = manage("serve", "--read", str(PCAP), env={"REDIS_URL": "redis://127.0.0.1:1/0"})
    output, _ = process.communicate(timeout=30)
    assert process.returncode != 0
    assert "REDIS_URL is set" in output


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PODSCOPE_GLOBAL_FILTER": "tcp and ("}, "PODSCOPE_GLOBAL_FILTER"),
        ({"PODSCOPE_TAP_REGEX": "(unclosed"}, "PODSCOPE_TAP_REGEX"),
    ],
)
def test_bad_hub_settings_are_one_clear_error(env: dict[str, str], message: str) -> None:
    process = manage("serve", "--read", str(PCAP), "--port", str(free_port()), env=env)
    output, _ = process.communicate(timeout=30)
    assert process.returncode != 0
    assert message in output
    assert "Traceback" not in output


def _wait_for_entries(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        try:
            if get_json(port, "/api/stats")["accepted"] > 0:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("the hub accepted no entry")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
def test_demo_without_the_right_to_make_network_namespaces_replays_and_says_why() -> None:
    """Root in a user namespace (as in a container) may not make network namespaces: the demo
    decides by trying, and falls back to its recording in one line, no traceback."""
    port = free_port()
    process = manage("demo", "--port", str(port), wrap=["unshare", "--user", "--map-root-user"])
    try:
        _wait_for_entries(port, process)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    first = output.splitlines()[0]
    assert first == (
        "no capture lab (cannot create a network namespace: mount --make-shared /run/netns "
        "failed: Operation not permitted); replaying lab-demo.pcap instead"
    )
    assert "Traceback" not in output


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_demo_stops_within_two_seconds_even_with_sigint_ignored(stop: signal.Signals) -> None:
    port = free_port()
    process = manage(
        "demo", "--replay", "--port", str(port), ignore_sigint=True
    )  # as a shell starts a background job
    try:
        _wait_for_entries(port, process)
        started = time.monotonic()
        process.send_signal(stop)
        output, _ = process.communicate(timeout=15)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert took < 2.0, output
    assert process.returncode == 0, output
    assert output.startswith("--replay: replaying lab-demo.pcap (not live)")
