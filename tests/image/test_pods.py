"""The image run as the chart runs it: Redis, the hub and the worker, entries end to end.

The worker captures live on every interface of the host network; the test makes TCP
connections on its own loopback address and finds them at the hub, over HTTP and over the
websocket. SIGTERM must stop the hub and the worker well inside the pod's grace period.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from tests.image.conftest import BuiltImage, chart_redis_image
from tests.image.engine import DockerEngine
from tests.image.release import HUB_PORT, Release, free_port

ENTRY_SECONDS = 60
# "Well inside" the chart's 30 s grace period (docker's stop timeout here).
STOP_SECONDS = 10
# Capabilities in /proc/<pid>/status: CAP_NET_RAW is bit 13.
NET_RAW_ONLY = 1 << 13


def serve_once(address: str) -> tuple[int, threading.Thread]:
    """A TCP server on ``address`` that reads one connection to its end; its port."""
    server = socket.socket()
    server.bind((address, 0))
    server.listen(1)
    server.settimeout(ENTRY_SECONDS)

    def accept() -> None:
        with server:
            try:
                connection, _ = server.accept()
            except TimeoutError:  # nobody connected: the test that made it says what failed
                return
            with connection:
                while connection.recv(65536):
                    pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port: int = server.getsockname()[1]
    return port, thread


def connect_and_send(address: str, port: int, size: int) -> None:
    """One TCP connection from ``address`` to itself: send ``size`` bytes, then close."""
    with socket.create_connection((address, port), timeout=5, source_address=(address, 0)) as c:
        c.sendall(b"x" * size)


def find_entry(release: Release, query: str, seconds: float) -> dict[str, Any] | None:
    """The first entry the hub's API returns for a KFL query within ``seconds`` (None if none
    came), checking meanwhile that the worker still runs."""
    deadline = time.monotonic() + seconds
    path = "/api/entries?q=" + urllib.parse.quote(query)
    while True:
        status, body = release.get(path)
        assert status == 200, body
        if body["entries"]:
            entry: dict[str, Any] = body["entries"][0]
            return entry
        release.assert_running(release.name("worker"))
        if time.monotonic() > deadline:
            return None
        time.sleep(0.5)


def started(engine: DockerEngine, image: BuiltImage) -> Iterator[Release]:
    """Redis, hub and worker of one rendering of the chart, removed afterwards."""
    release = Release.render(engine, image.tag)
    try:
        release.start_redis(chart_redis_image())
        release.start_hub()
        release.start_worker()
        yield release
    finally:
        release.remove()


@pytest.fixture(scope="module")
def release(engine: DockerEngine, image: BuiltImage) -> Iterator[Release]:
    """One release shared by the tests that only look at it."""
    yield from started(engine, image)


@pytest.fixture
def fresh_release(engine: DockerEngine, image: BuiltImage) -> Iterator[Release]:
    """A release of the test's own (for a test that stops its containers)."""
    yield from started(engine, image)


@pytest.fixture(scope="module")
def traffic(release: Release) -> dict[str, Any]:
    """One 1000-byte TCP connection on the release's address, as the hub reports it.

    The worker opens its capture a moment after it starts, maybe in the middle of a connection
    (whose close then has no sizes to report): connect again until one connection's close is
    reported, which carries the sizes.
    """
    deadline = time.monotonic() + ENTRY_SECONDS
    while time.monotonic() < deadline:
        port, server = serve_once(release.address)
        connect_and_send(release.address, port, 1000)
        server.join(5)
        found = find_entry(release, f'dst.port == {port} and tcp.event == "close"', 3.0)
        if found is not None:
            return found
    _, stats = release.get("/api/stats")  # what the hub read, and which workers it heard
    worker_log = release.logs(release.name("worker"))
    raise AssertionError(f"no connection's close came; hub stats {stats}; worker log {worker_log}")


def test_worker_entries_reach_the_hub(release: Release, traffic: dict[str, Any]) -> None:
    assert traffic["protocol"]["name"] == "tcp"
    assert traffic["src"]["ip"] == traffic["dst"]["ip"] == release.address
    assert traffic["node"]["name"] == "image-test-node"
    assert traffic["requestSize"] == 1000


def test_hub_answers_healthz_under_its_pod_settings(release: Release) -> None:
    status, body = release.get("/healthz")
    assert (status, body["status"]) == (200, "ok")
    hub = release.name("hub")
    assert release.engine.docker("exec", hub, "id", "-u").stdout.strip() == "10001"
    assert (
        "true"
        in release.engine.docker(
            "inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", hub
        ).stdout
    )


def test_worker_runs_with_net_raw_only(release: Release) -> None:
    status = release.engine.docker("exec", release.name("worker"), "cat", "/proc/1/status").stdout
    effective = next(line for line in status.splitlines() if line.startswith("CapEff:"))
    assert int(effective.split()[1], 16) == NET_RAW_ONLY


async def test_websocket_streams_the_entry(release: Release, traffic: dict[str, Any]) -> None:
    port = traffic["dst"]["port"]
    url = f"http://{release.address}:{HUB_PORT}/ws/live"
    headers = {"Host": "localhost", "Origin": "http://localhost"}
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers) as ws:
        hello = json.loads((await ws.receive(timeout=10)).data)
        assert hello["type"] == "hello"
        await ws.send_json({"type": "filter.set", "query": f"dst.port == {port}"})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            message = json.loads((await ws.receive(timeout=10)).data)
            if message["type"] == "entries":
                await ws.send_json({"type": "ack", "seq": message["seq"]})
                if any(entry["dst"]["port"] == port for entry in message["entries"]):
                    return
    raise AssertionError("the websocket never sent the entry")


def test_worker_probes_pass_and_no_password_is_on_a_command_line(release: Release) -> None:
    worker = release.manifest.container("DaemonSet", "podscope-worker")
    for probe in ("readinessProbe", "livenessProbe"):
        command = worker[probe]["exec"]["command"]
        done = release.engine.docker("exec", release.name("worker"), *command, check=False)
        assert done.returncode == 0, f"{probe}: {done.stderr}"
    password = release.inputs.secrets[("podscope-redis", "redis-password")]
    for component in ("redis", "hub", "worker"):
        name = release.name(component)
        command_line = release.engine.docker("exec", name, "cat", "/proc/1/cmdline").stdout
        assert password not in command_line, component


def test_sigterm_stops_each_well_inside_the_grace_period(fresh_release: Release) -> None:
    for component in ("hub", "worker"):
        name = fresh_release.name(component)
        started = time.monotonic()
        fresh_release.engine.docker("stop", name, timeout=60)
        elapsed = time.monotonic() - started
        code = fresh_release.engine.docker("inspect", "--format", "{{.State.ExitCode}}", name)
        logs = fresh_release.logs(name)
        assert elapsed < STOP_SECONDS, f"{component} took {elapsed:.1f} s: {logs}"
        assert int(code.stdout) != 137, f"{component} was killed, not stopped: {logs}"


@pytest.mark.parametrize("component", ["hub", "worker"])
def test_sigterm_while_starting_stops_at_once(release: Release, component: str) -> None:
    if component == "hub":
        name = release.run_hub("starting-hub", free_port(release.address))
    else:
        name = release.start("DaemonSet", "podscope-worker", "starting-worker", release.image, [])
    try:
        started = time.monotonic()
        release.engine.docker("stop", name, timeout=60)  # before it has set a handler
        elapsed = time.monotonic() - started
        assert elapsed < STOP_SECONDS, f"{component} ignored SIGTERM for {elapsed:.1f} s"
    finally:
        release.engine.docker("rm", "--force", name, check=False)
