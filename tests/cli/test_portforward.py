"""The port-forward child process: started until it forwards, its failures in its own words,
never left running; and the hub health check tap makes through it.

kubectl itself cannot forward here (no kubelet); a small Python program that prints kubectl's
ready line and serves TCP plays its part, and the real kubectl's failure is in test_tap."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from cli.errors import HubError, PortForwardError, ToolMissingError
from cli.helm import Release
from cli.kube import HubService
from cli.portforward import PortForward, port_forward_argv
from cli.tap import wait_until_healthy
from tests.e2e.hubprocess import free_port

READY = "print('Forwarding from 127.0.0.1:8899 -> 8000', flush=True)"


def _python(*lines: str) -> list[str]:
    return [sys.executable, "-c", "\n".join(("import sys, time", *lines))]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_argv_forwards_the_hub_service_on_localhost_only() -> None:
    release = Release("podscope", "obs", "kind-dev")
    assert port_forward_argv("kubectl", release, HubService("podscope", "http"), 9000) == [
        "kubectl",
        "port-forward",
        "--context",
        "kind-dev",
        "--namespace",
        "obs",
        "--address",
        "127.0.0.1",
        "service/podscope",
        "9000:http",
    ]


def test_with_no_local_port_kubectl_picks_one_and_says_which() -> None:
    release = Release("podscope", "obs", "kind-dev")
    argv = port_forward_argv("kubectl", release, HubService("podscope", "http"), 0)
    assert argv[-2:] == ["service/podscope", ":http"]
    ready = "print('Forwarding from 127.0.0.1:43567 -> 8000', flush=True)"
    with PortForward(_python(ready, "time.sleep(60)")) as forward:
        forward.start(10)
        assert forward.local_port == 43567


def test_a_ready_line_without_a_local_port_is_an_error() -> None:
    ready = "print('Forwarding from somewhere -> 8000', flush=True)"
    with PortForward(_python(ready, "time.sleep(60)")) as forward:
        forward.start(10)
        with pytest.raises(PortForwardError, match="named no local port: Forwarding from some"):
            _ = forward.local_port


def test_started_once_forwarding_and_stopped_on_exit() -> None:
    with PortForward(_python(READY, "time.sleep(60)")) as forward:
        forward.start(10)
        pid = forward.pid
        assert pid is not None
        assert _alive(pid)
    assert not _alive(pid)


def test_a_child_ignoring_sigterm_is_killed() -> None:
    ignore = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)"
    forward = PortForward(_python(ignore, READY, "time.sleep(60)"))
    forward.start(10)
    pid = forward.pid
    assert pid is not None
    forward.stop()
    assert not _alive(pid)


def test_a_child_that_fails_reports_its_stderr() -> None:
    message = "unable to listen on any of the requested ports: [{8899 8000}]"
    argv = _python(f"print('error: {message}', file=sys.stderr)", "sys.exit(1)")
    with PortForward(argv) as forward, pytest.raises(PortForwardError) as caught:
        forward.start(10)
    assert caught.value.message == f"kubectl port-forward failed: error: {message}"


def test_a_child_that_never_forwards_times_out() -> None:
    with PortForward(_python("time.sleep(60)")) as forward:
        with pytest.raises(PortForwardError, match=r"did not start within 0\.5 s: no output"):
            forward.start(0.5)
        pid = forward.pid
    assert pid is not None
    assert not _alive(pid)


def test_a_child_that_stops_later_ends_the_wait() -> None:
    argv = _python(READY, "time.sleep(0.5)", "print('lost connection to pod', file=sys.stderr)")
    with PortForward(argv) as forward:
        forward.start(10)
        with pytest.raises(PortForwardError, match=r"stopped \(exit 0\): lost connection to pod"):
            forward.wait()


def test_a_missing_kubectl_is_a_setup_error() -> None:
    with PortForward(["/nonexistent/kubectl"]) as forward, pytest.raises(ToolMissingError) as e:
        forward.start(1)
    assert e.value.exit_code == 2
    assert "cannot run /nonexistent/kubectl" in e.value.message


def test_the_real_hub_is_healthy(hub_url: str) -> None:
    wait_until_healthy(f"{hub_url}/", 10)


class _Unhealthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "ingest stopped"}'
        self.send_response(503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def unhealthy_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unhealthy)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_an_unhealthy_hub_is_reported_with_its_answer(unhealthy_url: str) -> None:
    with pytest.raises(HubError, match=r"not healthy after 1 s: 503 .*ingest stopped"):
        wait_until_healthy(unhealthy_url, 1)


def test_nothing_listening_is_reported() -> None:
    with pytest.raises(HubError, match="Connection refused"):
        wait_until_healthy(f"http://127.0.0.1:{free_port()}/", 1)
