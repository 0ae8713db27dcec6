"""The chart's pods (Redis, hub, worker) started from the built image under their own settings.

The chart is rendered with its default values (a free worker metrics port, and a capture filter
for this test's own address); each container runs as :mod:`tests.image.chartrun` translates it,
on one loopback address of this test's own:
Redis listens there on its chart port, the chart's Redis Service name resolves to it, the hub
binds it instead of 0.0.0.0, and the pod and node IPs are it.
"""

from __future__ import annotations

import http.client
import json
import random
import secrets
import socket
import time
from dataclasses import dataclass
from typing import Any

from tests.charts.helm import NAMESPACE, Manifest, render
from tests.image.chartrun import PodInputs, run_args
from tests.image.engine import DockerEngine

HUB_PORT = 8000
READY_SECONDS = 90


class ReleaseError(Exception):
    """A container did not start or answer in time."""


def free_port(address: str) -> int:
    """A TCP port nobody listens on at ``address`` right now."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        port: int = probe.getsockname()[1]
        return port


def loopback_address() -> str:
    """A random 127.x.y.z address (every one of them reaches this machine's loopback)."""
    return f"127.{random.randint(64, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"


@dataclass
class Release:
    """One rendering of the chart and the containers started from it."""

    engine: DockerEngine
    image: str
    address: str
    manifest: Manifest
    inputs: PodInputs
    prefix: str

    @classmethod
    def render(cls, engine: DockerEngine, image: str) -> Release:
        """Render the chart for a fresh loopback address, Secrets and names."""
        address = loopback_address()
        metrics_port = free_port(address)
        # The worker captures this release's address only: the machine's loopback carries
        # every other test's traffic too, which would only load the hub.
        manifest = render(
            sets=(f"metrics.workerPort={metrics_port}",),
            strings=(f"tap.bpfOverride=host {address}",),
        )
        inputs = PodInputs(
            secrets={
                ("podscope-hub", "secret-key"): secrets.token_urlsafe(40),
                ("podscope-redis", "redis-password"): secrets.token_urlsafe(24),
                ("podscope-write-token", "token"): secrets.token_urlsafe(30),
                ("podscope-metrics-token", "token"): secrets.token_urlsafe(30),
            },
            fields={
                "status.podIP": address,
                "status.hostIP": address,
                "spec.nodeName": "image-test-node",
            },
            hosts={f"podscope-redis.{NAMESPACE}.svc": address},
        )
        return cls(engine, image, address, manifest, inputs, secrets.token_hex(4))

    def name(self, component: str) -> str:
        """The container name of a component in this release."""
        return f"podscope-{self.prefix}-{component}"

    def start(self, kind: str, workload: str, component: str, image: str, extra: list[str]) -> str:
        """Start a workload's (first) container; its container name."""
        pod = self.manifest.pod_spec(kind, workload)
        container = self.manifest.container(kind, workload)
        args = run_args(pod, container, self.inputs, self.name(component), image)
        self.engine.docker("run", *args, *extra)
        return self.name(component)

    def start_redis(self, redis_image: str) -> str:
        """The chart's Redis, listening on this release's address only."""
        name = self.start(
            "Deployment", "podscope-redis", "redis", redis_image, ["--bind", self.address]
        )
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.address, 6379), timeout=1):
                    return name
            except OSError:
                self.assert_running(name)
                time.sleep(0.2)
        raise ReleaseError(f"Redis did not listen in {READY_SECONDS} s: {self.logs(name)}")

    def run_hub(self, component: str, port: int) -> str:
        """Start the chart's hub bound to this release's address and ``port`` (not 0.0.0.0)."""
        pod = self.manifest.pod_spec("Deployment", "podscope-hub")
        container = dict(self.manifest.container("Deployment", "podscope-hub"))
        command = list(container["command"])
        command[command.index("--bind") + 1] = self.address
        command[command.index("--port") + 1] = str(port)
        container["command"] = command
        args = run_args(pod, container, self.inputs, self.name(component), self.image)
        self.engine.docker("run", *args)
        return self.name(component)

    def start_hub(self) -> str:
        """The chart's hub on this release's address and its chart port; waits for /healthz."""
        self.run_hub("hub", HUB_PORT)
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            self.assert_running(self.name("hub"))
            try:
                status, _ = self.get("/healthz")
            except OSError:
                status = 0
            if status == 200:
                return self.name("hub")
            time.sleep(0.5)
        raise ReleaseError(f"hub not healthy in {READY_SECONDS} s: {self.logs(self.name('hub'))}")

    def start_worker(self) -> str:
        """The chart's worker (host network, capturing on every interface); waits until its
        readiness probe passes (its capture loop is running)."""
        name = self.start("DaemonSet", "podscope-worker", "worker", self.image, [])
        probe = self.manifest.container("DaemonSet", "podscope-worker")["readinessProbe"]
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            self.assert_running(name)
            if (
                self.engine.docker("exec", name, *probe["exec"]["command"], check=False).returncode
                == 0
            ):
                return name
            time.sleep(0.5)
        raise ReleaseError(f"worker not ready in {READY_SECONDS} s: {self.logs(name)}")

    def get(self, path: str, host: str = "localhost") -> tuple[int, Any]:
        """GET a hub path with this Host header; the status and the JSON body (or text)."""
        connection = http.client.HTTPConnection(self.address, HUB_PORT, timeout=10)
        try:
            connection.request("GET", path, headers={"Host": host})
            response = connection.getresponse()
            body = response.read().decode()
        finally:
            connection.close()
        try:
            return response.status, json.loads(body)
        except ValueError:
            return response.status, body

    def assert_running(self, name: str) -> None:
        """Raise ReleaseError with the container's log when it is no longer running."""
        state = self.engine.docker("inspect", "--format", "{{.State.Running}}", name).stdout
        if state.strip() != "true":
            raise ReleaseError(f"{name} exited: {self.logs(name)}")

    def logs(self, name: str) -> str:
        """The last lines of a container's output."""
        result = self.engine.docker("logs", "--tail", "40", name, check=False)
        return result.stdout + result.stderr

    def remove(self) -> None:
        """Remove every container of this release (killed if still running)."""
        for component in ("worker", "hub", "redis"):
            self.engine.docker("rm", "--force", self.name(component), check=False)
