"""The hub's and its admin init container's commands, run here with the env the chart gives them:
the settings parse, the probe's Host header and the pod IP are allowed, the admin can log in,
a change of the targeting needs the write token, /metrics with login on needs the metrics token."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from tests.charts.helm import NAMESPACE, ROOT, Manifest, Obj, expand, render

HUB = ("Deployment", "podscope-hub")
POD_IP = "10.1.2.3"
# Values the kubelet would take from Secrets and the downward API.
FROM_CLUSTER = {
    "POD_IP": POD_IP,
    "PODSCOPE_SECRET_KEY": "k" * 50,
    "ADMIN_USERNAME": "admin",
    "PODSCOPE_WRITE_TOKEN": "the-write-token-from-its-secret",
    "PODSCOPE_METRICS_TOKEN": "the-metrics-token-from-its-secret",
}
LOCAL_REDIS = "redis://127.0.0.1:6379/12"  # this module's own database
STATE_DIR = "/var/lib/podscope"


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def process_env(container: Obj, state: Path, given: dict[str, str]) -> dict[str, str]:
    """The container's environment as the kubelet builds it (in order, expanding $(VAR)), with
    the chart's state directory moved to ``state`` and Redis pointed at the local server."""
    environment = {  # this test run's own settings must not leak into the process
        k: v for k, v in os.environ.items() if k != "REDIS_URL" and not k.startswith("PODSCOPE_")
    }
    resolved: dict[str, str] = {}
    for entry in container["env"]:
        name = entry["name"]
        if "value" in entry:
            resolved[name] = expand(entry["value"], resolved)
        else:
            resolved[name] = given[name]
    resolved["PODSCOPE_DB"] = resolved["PODSCOPE_DB"].replace(STATE_DIR, str(state))
    resolved["HOME"] = str(state)
    if "REDIS_URL" in resolved:
        resolved["REDIS_URL"] = LOCAL_REDIS
    return {**environment, **resolved}


def run_command(container: Obj, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a container's python command from the repository, as the image does from /app."""
    command = [sys.executable, *container["command"][1:], *container.get("args", [])]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def status(port: int, path: str, host: str, headers: dict[str, str] | None = None) -> int:
    """The HTTP status of GET ``path`` with this Host header (and these other headers)."""
    return answered(
        urllib.request.Request(
            f"http://127.0.0.1:{port}{path}", headers={"Host": host, **(headers or {})}
        )
    )


def put_targeting(port: int, headers: dict[str, str]) -> int:
    """The HTTP status of a ``PUT /api/targeting`` to the hub on ``port`` with these headers."""
    return answered(
        urllib.request.Request(
            f"http://127.0.0.1:{port}/api/targeting",
            data=b'{"namespaces": ["shop"]}',
            method="PUT",
            headers={"Content-Type": "application/json", **headers},
        )
    )


def answered(request: urllib.request.Request) -> int:
    """The HTTP status the hub answers ``request`` with (an error status included)."""
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            code: int = response.status
    except urllib.error.HTTPError as error:
        code = error.code
    return code


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[Manifest, int]]:
    """The hub of the targeting example, serving on a free local port."""
    manifest = render("ci/namespaces-targeting-values.yaml", sets=("redis.auth.enabled=false",))
    with serving(manifest, tmp_path) as port:
        yield manifest, port


@contextmanager
def serving(manifest: Manifest, tmp_path: Path) -> Iterator[int]:
    """The rendered hub's command on a free local port, its env as the kubelet gives it."""
    container = manifest.container(*HUB)
    port = free_port()
    command = [sys.executable, *container["command"][1:]]
    command[command.index("--bind") + 1] = "127.0.0.1"
    command[command.index("--port") + 1] = str(port)
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=process_env(container, tmp_path, FROM_CLUSTER),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status(port, "/healthz", "localhost")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the hub did not start: {process.communicate()[0]}")
                time.sleep(0.2)
        yield port
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
        redis.Redis.from_url(LOCAL_REDIS).flushdb()  # the scopes the hub published


@pytest.mark.slow
@pytest.mark.redis
def test_hub_answers_its_probe_and_allowed_hosts_only(hub: tuple[Manifest, int]) -> None:
    manifest, port = hub
    probe = manifest.container(*HUB)["readinessProbe"]["httpGet"]
    assert status(port, probe["path"], probe["httpHeaders"][0]["value"]) == 200
    assert status(port, "/metrics", f"{POD_IP}:8000") == 200  # Prometheus scrapes the pod IP
    assert status(port, "/metrics", f"podscope.{NAMESPACE}.svc:8000") == 200
    assert status(port, "/metrics", "elsewhere.example") == 400


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.parametrize("auth", ["false", "true"])
def test_a_targeting_change_needs_the_charts_write_token(tmp_path: Path, auth: str) -> None:
    """Even on the hub's loopback (where kubectl port-forward arrives), a client that is no
    browser with a CSRF token needs the token, login on or off."""
    manifest = render(sets=("redis.auth.enabled=false", f"auth.enabled={auth}"))
    token = FROM_CLUSTER["PODSCOPE_WRITE_TOKEN"]
    with serving(manifest, tmp_path) as port:
        assert put_targeting(port, {}) == 403
        assert put_targeting(port, {"Authorization": "Bearer not-the-token"}) == 403
        assert put_targeting(port, {"Authorization": f"Bearer {token}"}) == 200


@pytest.mark.slow
@pytest.mark.redis
def test_with_login_on_metrics_need_the_charts_metrics_token(tmp_path: Path) -> None:
    """What the ServiceMonitor sends: the chart's token, to the pod IP Prometheus scrapes."""
    manifest = render(sets=("redis.auth.enabled=false", "auth.enabled=true"))
    pod = f"{POD_IP}:8000"
    token = FROM_CLUSTER["PODSCOPE_METRICS_TOKEN"]
    with serving(manifest, tmp_path) as port:
        assert status(port, "/metrics", pod) == 401
        assert status(port, "/metrics", pod, {"Authorization": "Bearer not-the-token"}) == 401
        write_token = f"Bearer {FROM_CLUSTER['PODSCOPE_WRITE_TOKEN']}"
        assert status(port, "/metrics", pod, {"Authorization": write_token}) == 401
        assert status(port, "/metrics", pod, {"Authorization": f"Bearer {token}"}) == 200


@pytest.mark.slow
def test_admin_init_container_creates_the_admin_and_resets_its_password(tmp_path: Path) -> None:
    manifest = render("ci/auth-values.yaml")
    (init,) = manifest.pod_spec(*HUB)["initContainers"]
    for password in ("first-Password-1", "second-Password-2"):
        env = process_env(init, tmp_path, {**FROM_CLUSTER, "ADMIN_PASSWORD": password})
        result = run_command(init, env)
        assert result.returncode == 0, result.stdout + result.stderr
    check = {
        "command": ["python", "manage.py", "shell", "-v", "0", "-c"],
        "args": [
            "from django.contrib.auth import authenticate as a; "
            "print(bool(a(username='admin', password='first-Password-1')), "
            "a(username='admin', password='second-Password-2').is_superuser)"
        ],
    }
    result = run_command(check, env)
    assert result.stdout.split() == ["False", "True"], result.stderr
