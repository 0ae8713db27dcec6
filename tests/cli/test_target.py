"""``podscope target``: the write token found through the hub's Deployment (the real kubernetes
client against the fake API server, holding the chart's own objects), the PUT that carries it
and every refusal in one line, and the whole command against a real hub process.

kubectl cannot port-forward here (no kubelet): a small program on ``PATH`` plays it, printing
kubectl's ready line with the real hub's port as the local port kubectl picked."""

from __future__ import annotations

import base64
import copy
import json
import os
import stat
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis

from cli import kube
from cli.errors import (
    EXIT_USAGE,
    HubError,
    NoPermissionError,
    NoWriteTokenError,
    UsageError,
)
from cli.kube import WriteToken
from cli.target import describe, put_targeting
from dashboard.core.targeting.spec import TargetingSpec
from dashboard.errors import WRITE_TOKEN_CODE
from tests.charts.helm import NAMESPACE, Obj, render
from tests.cli.conftest import Run
from tests.cli.kubeapi import FakeCluster
from tests.dashboard.servedhub import get_json, redis_hub
from tests.e2e.hubprocess import free_port
from tests.redisprefix import TEST_REDIS_URL, private_prefix

TOKEN = WriteToken(NAMESPACE, "podscope-write-token", "token", "podscope-hub", "s3cret-token")
SPEC = TargetingSpec("^cart-", ("shop",), ("kube-system",))


def _install(cluster: FakeCluster, *sets: str) -> Obj:
    """Put the chart's hub Deployment, Service and (when it makes one) write token Secret into
    the fake cluster, as helm would; return the Secret (or None)."""
    manifest = render(sets=sets)
    cluster.put("deployments", manifest.get("Deployment", "podscope-hub"))
    cluster.put("services", manifest.get("Service", "podscope"))
    secret = manifest.find("Secret", "podscope-write-token")
    if secret is not None:
        cluster.put("secrets", secret)
    return secret or {}


def _token_of(secret: Obj) -> str:
    return base64.b64decode(secret["data"]["token"]).decode()


@pytest.fixture
def api(
    monkeypatch: pytest.MonkeyPatch, kubeconfig: Path
) -> Iterator[tuple[Any, kube.KubeContext]]:
    """A kubernetes ApiClient on the fake cluster, with its context."""
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    context = kube.resolve_context(None)
    with kube.api_client(context) as client:
        yield client, context


def _hub_token(api: tuple[Any, kube.KubeContext]) -> WriteToken:
    client, context = api
    return kube.hub_write_token(client, context, "podscope", NAMESPACE)


# --- the token, through the hub's Deployment ---------------------------------------------------


def test_the_token_is_read_from_the_secret_the_hub_names(
    cluster: FakeCluster, api: tuple[Any, kube.KubeContext]
) -> None:
    secret = _install(cluster)
    token = _hub_token(api)
    assert token.value == _token_of(secret)
    assert (token.namespace, token.secret, token.key, token.hub) == (
        NAMESPACE,
        "podscope-write-token",
        "token",
        "podscope-hub",
    )
    assert token.value not in repr(token)


def test_an_existing_secret_and_key_are_followed(
    cluster: FakeCluster, api: tuple[Any, kube.KubeContext]
) -> None:
    _install(
        cluster, "hub.writeToken.existingSecret=team", "hub.writeToken.existingSecretKey=podscope"
    )
    data = {"podscope": base64.b64encode(b"from-gitops\n").decode()}
    cluster.put("secrets", {"metadata": {"name": "team", "namespace": NAMESPACE}, "data": data})
    token = _hub_token(api)
    assert (token.secret, token.key, token.value) == ("team", "podscope", "from-gitops")


def test_a_missing_secret_is_named(cluster: FakeCluster, api: tuple[Any, kube.KubeContext]) -> None:
    _install(cluster, "hub.writeToken.existingSecret=team")
    with pytest.raises(NoWriteTokenError) as caught:
        _hub_token(api)
    assert caught.value.message == (
        f"no write token: Secret {NAMESPACE}/team, which the hub's PODSCOPE_WRITE_TOKEN names, "
        "is not there; create it with the token under key 'token', or leave "
        "hub.writeToken.existingSecret unset so that the chart makes one"
    )
    assert caught.value.exit_code == EXIT_USAGE


@pytest.mark.parametrize("data", [{}, {"token": ""}, {"token": "%%%"}])
def test_a_secret_without_the_key_is_named(
    cluster: FakeCluster, api: tuple[Any, kube.KubeContext], data: dict[str, str]
) -> None:
    secret = copy.deepcopy(_install(cluster))
    secret["data"] = data
    cluster.put("secrets", secret)
    with pytest.raises(NoWriteTokenError, match="has no text under key 'token'"):
        _hub_token(api)


def test_a_hub_from_an_older_chart_has_no_token(
    cluster: FakeCluster, api: tuple[Any, kube.KubeContext]
) -> None:
    _install(cluster)
    [hub] = [d for d in cluster.objects("deployments") if d["metadata"]["name"] == "podscope-hub"]
    container = hub["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [e for e in container["env"] if e["name"] != "PODSCOPE_WRITE_TOKEN"]
    cluster.put("deployments", hub)
    with pytest.raises(NoWriteTokenError, match="its chart predates it; 'podscope tap' or helm"):
        _hub_token(api)


def test_a_secret_the_user_may_not_read(
    cluster: FakeCluster, api: tuple[Any, kube.KubeContext]
) -> None:
    _install(cluster)
    cluster.forbid_reads("secrets")
    with pytest.raises(NoPermissionError) as caught:
        _hub_token(api)
    assert caught.value.message == (
        f"no permission to read Secret {NAMESPACE}/podscope-write-token (kube context 'fake'): "
        f"it holds the hub's write token; ask for get on secrets in namespace {NAMESPACE}"
    )


def test_no_hub_no_token(cluster: FakeCluster, api: tuple[Any, kube.KubeContext]) -> None:
    with pytest.raises(HubError, match="release 'podscope' has no hub Deployment"):
        _hub_token(api)


# --- the PUT and the hub's answers -------------------------------------------------------------


@dataclass
class FakeHub:
    """An HTTP server that records each request and answers with ``status`` and ``body``."""

    status: int = 200
    body: bytes = b"{}"
    content_type: str = "application/json"
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        """The hub's base URL, with its trailing slash."""
        return f"http://127.0.0.1:{self.port}/"

    def answer(self, status: int, body: object, content_type: str = "application/json") -> None:
        """Answer the next requests with this status and body (JSON unless bytes)."""
        self.status, self.content_type = status, content_type
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    """A running :class:`FakeHub`."""
    hub = FakeHub()

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hub.requests.append(("PUT", self.path, dict(self.headers), body))
            self.send_response(hub.status)
            self.send_header("Content-Type", hub.content_type)
            self.send_header("Content-Length", str(len(hub.body)))
            self.end_headers()
            self.wfile.write(hub.body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hub.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield hub
    server.shutdown()
    server.server_close()


def test_the_spec_goes_with_the_bearer_token(fake_hub: FakeHub) -> None:
    answer = {"spec": SPEC.to_dict(), "coverage": {"targeted": 2, "notTargeted": 7}}
    fake_hub.answer(200, answer)
    assert put_targeting(fake_hub.url, SPEC, TOKEN) == answer
    [(method, path, headers, body)] = fake_hub.requests
    assert (method, path) == ("PUT", "/api/targeting")
    assert headers["Authorization"] == "Bearer s3cret-token"
    assert headers["Content-Type"] == "application/json"
    assert TargetingSpec.from_dict(json.loads(body)) == SPEC


REFUSED = (
    "the hub at {url} refused the write token from Secret "
    f"{NAMESPACE}/podscope-write-token (key 'token') with {{code}} {{message}}: the hub reads its "
    "token at start; if the Secret was replaced since, restart the hub (kubectl --namespace "
    f"{NAMESPACE} rollout restart deployment/podscope-hub)"
)


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (401, {"error": {"message": "login required"}}, "login required"),
        (403, {"error": {"message": "needs the write token", "code": WRITE_TOKEN_CODE}}, None),
        (403, b"<h1>Forbidden (403)</h1><p>CSRF verification failed.</p>", "Forbidden"),
    ],
    ids=["login", "write-rule", "csrf"],
)
def test_a_refused_token_says_where_it_came_from(
    fake_hub: FakeHub, status: int, body: object, message: str | None
) -> None:
    fake_hub.answer(status, body, "application/json" if isinstance(body, dict) else "text/html")
    with pytest.raises(HubError) as caught:
        put_targeting(fake_hub.url, SPEC, TOKEN)
    shown = message or "needs the write token"
    assert caught.value.message == REFUSED.format(url=fake_hub.url, code=status, message=shown)


def test_demo_mode_is_reported_as_the_hub_says(fake_hub: FakeHub) -> None:
    demo = "targeting is not available: demo mode is read-only"
    fake_hub.answer(403, {"error": {"message": demo}})
    with pytest.raises(HubError) as caught:
        put_targeting(fake_hub.url, SPEC, TOKEN)
    assert caught.value.message == (
        f"the hub at {fake_hub.url} refused to change the targeting: 403 {demo}"
    )


def test_a_spec_the_hub_refuses_is_a_usage_error(fake_hub: FakeHub) -> None:
    fake_hub.answer(400, {"error": {"message": "bad pod regex"}})
    with pytest.raises(UsageError, match=r"^the hub refused the targeting: bad pod regex$"):
        put_targeting(fake_hub.url, SPEC, TOKEN)


@pytest.mark.parametrize("body", [b"not json", b"[1]"])
def test_an_answer_that_is_no_targeting(fake_hub: FakeHub, body: bytes) -> None:
    fake_hub.answer(200, body)
    with pytest.raises(HubError, match="answered with no targeting"):
        put_targeting(fake_hub.url, SPEC, TOKEN)


def test_no_hub_listening() -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(HubError) as caught:
        put_targeting(url, SPEC, TOKEN)
    assert caught.value.message.startswith(f"cannot reach the hub at {url}: ")
    assert "refused" in caught.value.message
    assert "\n" not in caught.value.message


@pytest.mark.parametrize(
    ("answer", "line"),
    [
        (
            {"spec": SPEC.to_dict(), "coverage": {"targeted": 3, "notTargeted": 12}},
            "capturing pods matching '^cart-' in namespaces shop not in kube-system: "
            "3 pods targeted, 12 left out",
        ),
        (
            {"spec": TargetingSpec().to_dict(), "coverage": {"targeted": 15, "notTargeted": 0}},
            "capturing every pod: 15 pods targeted, 0 left out",
        ),
    ],
)
def test_describe(answer: dict[str, Any], line: str) -> None:
    assert describe(answer) == line


# --- the whole command ---------------------------------------------------------------------------


def _fake_kubectl(directory: Path, local_port: int, log: Path) -> None:
    """A ``kubectl`` that logs its arguments and forwards "from" ``local_port``: the real hub."""
    directory.mkdir()
    kubectl = directory / "kubectl"
    kubectl.write_text(
        f"#!{sys.executable}\n"
        "import json, sys, time\n"
        f"with open({str(log)!r}, 'a') as log:\n"
        "    log.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"print('Forwarding from 127.0.0.1:{local_port} -> 8000', flush=True)\n"
        "time.sleep(120)\n"
    )
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IXUSR)


@pytest.mark.slow
@pytest.mark.redis
def test_target_changes_a_running_hub_with_the_token(
    podscope: Run,
    cluster: FakeCluster,
    kubeconfig: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = _install(cluster)
    token = _token_of(secret)
    log = tmp_path / "kubectl.log"
    where = ("--install-namespace", NAMESPACE)
    # Login on: only the token lets this client (no browser, no login) change anything.
    env = {"PODSCOPE_AUTH": "1", "PODSCOPE_WRITE_TOKEN": token}
    with private_prefix("target") as prefix, redis_hub(TEST_REDIS_URL, prefix, **env) as hub:
        _fake_kubectl(tmp_path / "bin", hub.port, log)
        monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
        done = podscope("target", "^cart-", "-n", "shop", *where, kubeconfig=kubeconfig)
        assert (done.returncode, done.stderr) == (0, "")
        assert done.stdout == (
            f"targeting changed (release podscope, namespace {NAMESPACE}, context fake): "
            "capturing pods matching '^cart-' in namespaces shop: 0 pods targeted, 0 left out\n"
        )
        assert _saved_spec(prefix)["podRegex"] == "^cart-"
        assert json.loads(log.read_text().splitlines()[0]) == [
            "port-forward",
            "--context",
            "fake",
            "--namespace",
            NAMESPACE,
            "--address",
            "127.0.0.1",
            "service/podscope",
            ":http",
        ]

        replaced = copy.deepcopy(secret)
        replaced["data"]["token"] = base64.b64encode(b"rotated-since-the-hub-started").decode()
        cluster.put("secrets", replaced)
        refused = podscope("target", "-n", "payments", *where, kubeconfig=kubeconfig)
        assert refused.returncode == 1
        [line] = refused.stderr.splitlines()
        assert line.startswith("podscope: the hub at http://127.0.0.1:")
        assert f"refused the write token from Secret {NAMESPACE}/podscope-write-token" in line
        assert "rollout restart deployment/podscope-hub)" in line
        assert get_json(hub.port, "/healthz")  # the hub is fine, and kept the spec
        assert _saved_spec(prefix)["namespaces"] == ["shop"]


def _saved_spec(prefix: str) -> Any:
    """The targeting spec the hub keeps in Redis under ``prefix``."""
    client = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        return json.loads(client.get(f"{prefix}:targeting") or "{}")["spec"]
    finally:
        client.close()


def test_target_without_a_secret_stops_before_forwarding(
    podscope: Run, cluster: FakeCluster, kubeconfig: Path
) -> None:
    _install(cluster, "hub.writeToken.existingSecret=team")
    done = podscope("target", "-n", "shop", "--install-namespace", NAMESPACE, kubeconfig=kubeconfig)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith(f"podscope: no write token: Secret {NAMESPACE}/team, which the hub's")
    assert not [path for _, path in cluster.requests if path.endswith("/portforward")]


def test_a_bad_regex_is_refused_before_anything_runs(
    podscope: Run, cluster: FakeCluster, kubeconfig: Path
) -> None:
    done = podscope("target", "(cart", kubeconfig=kubeconfig)
    assert done.returncode == 2
    assert done.stderr.startswith("podscope: bad pod regex '(cart': missing ): (cart")
    assert cluster.requests == []
