"""The chart's Redis command, run by a real redis-server, accepts the URL the hub and workers get
from a non-loopback address (as pods reach it through its Service)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.charts.helm import NAMESPACE, Manifest, expand, render

PASSWORD = "Sx7pQ2vLm9RtK4wZ"
SERVICE_ADDRESS = f"podscope-redis.{NAMESPACE}.svc:6379"


def own_address() -> str:
    """This machine's non-loopback IPv4 address (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            pytest.skip("no route off the loopback interface")
        address: str = probe.getsockname()[0]
    if address.startswith("127."):
        pytest.skip("no non-loopback address")
    return address


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def connect(url: str) -> redis.Redis:
    """A client of ``url`` once the server answers (5 s at most)."""
    client = redis.Redis.from_url(url, socket_timeout=2)
    deadline = time.monotonic() + 5
    while True:
        try:
            client.ping()
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        else:
            return client


def run_chart_redis(manifest: Manifest, port: int, directory: Path) -> subprocess.Popen[bytes]:
    """The chart's Redis command and args, with its REDIS_PASSWORD env, on ``port`` (options
    after the chart's own reach redis-server)."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is missing: run scripts/setup.sh")
    container = manifest.container("Deployment", "podscope-redis")
    env = {"PATH": os.environ["PATH"]}
    if any(entry["name"] == "REDIS_PASSWORD" for entry in container.get("env", [])):
        env["REDIS_PASSWORD"] = PASSWORD
    argv = [expand(arg, env) for arg in [*container["command"], *container["args"]]]
    return subprocess.Popen(
        [*argv, "--port", str(port), "--dir", str(directory)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("sets", [(), ("redis.auth.enabled=false",)], ids=["password", "open"])
def test_hub_url_reaches_the_chart_redis(sets: tuple[str, ...], tmp_path: Path) -> None:
    address = f"{own_address()}:{free_port()}"
    manifest = render(sets=sets)
    hub_url = manifest.env("Deployment", "podscope-hub")["REDIS_URL"]["value"]
    url = expand(hub_url, {"REDIS_PASSWORD": PASSWORD}).replace(SERVICE_ADDRESS, address)
    server = run_chart_redis(manifest, int(address.rsplit(":", 1)[1]), tmp_path)
    try:
        client = connect(url)
        client.xadd("podscope:entries", {"entry": "{}"})
        assert client.xlen("podscope:entries") == 1
        if sets == ():
            anonymous = redis.Redis.from_url(f"redis://{address}/0", socket_timeout=2)
            with pytest.raises(redis.AuthenticationError):
                anonymous.ping()
            # What any process on the node can read: the server's command line.
            command_line = Path(f"/proc/{server.pid}/cmdline").read_bytes()
            assert b"redis-server" in command_line
            assert PASSWORD.encode() not in command_line
    finally:
        server.terminate()
        server.wait(10)
