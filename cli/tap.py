"""``podscope tap`` and ``podscope clean``: install podscope on a cluster, reach it, remove it.

tap, like ``kubeshark tap``: check the options (regex, names, ``--set``) and the chart, find
helm and kubectl, resolve the kube context, check the permissions the install needs,
``helm upgrade --install --wait``, wait for the hub, port-forward its Service to
127.0.0.1:PORT, check ``/healthz`` through the tunnel, print the dashboard URL (and open it),
then keep forwarding until Ctrl-C. The release stays installed; ``clean`` removes it.
"""

from __future__ import annotations

import shlex
import signal
import time
import urllib.error
import urllib.request
import webbrowser
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import NoReturn, TextIO

from cli import helm, kube
from cli.defaults import DEFAULT_NAMESPACE, DEFAULT_PORT, DEFAULT_RELEASE, DEFAULT_TIMEOUT_S
from cli.errors import HubError, UsageError
from cli.helm import Release
from cli.portforward import PortForward, port_forward_argv
from cli.tools import find_tool
from cli.values import RELEASE_NAME_MAX, TapValues, dns_label

# The chart ships inside the package (charts/ is package data), in a wheel as in a checkout.
DEFAULT_CHART = Path(str(resources.files("charts"))) / "podscope"
HEALTH_POLL_S = 0.5
HTTP_OK = 200


@dataclass(frozen=True, slots=True)
class Placement:
    """Where podscope is installed: release name, namespace, kube context (None: current)."""

    release: str = DEFAULT_RELEASE
    namespace: str = DEFAULT_NAMESPACE
    context: str | None = None

    def __post_init__(self) -> None:
        dns_label(self.release, "release name", RELEASE_NAME_MAX)
        dns_label(self.namespace, "install namespace")


@dataclass(frozen=True, slots=True)
class TapRequest:
    """Everything ``podscope tap`` was asked to do."""

    values: TapValues
    placement: Placement
    chart: Path = DEFAULT_CHART
    local_port: int = DEFAULT_PORT
    open_browser: bool = True
    timeout_s: int = DEFAULT_TIMEOUT_S


def check_chart(chart: Path) -> Path:
    """``chart`` if it is a chart directory (with Chart.yaml) or a packaged ``.tgz``."""
    if (chart / "Chart.yaml").is_file() or (chart.is_file() and chart.name.endswith(".tgz")):
        return chart
    raise UsageError(f"bad --chart {str(chart)!r}: not a chart directory (no Chart.yaml) or .tgz")


def tap(request: TapRequest, out: TextIO) -> None:
    """Install or upgrade podscope, forward its hub and keep forwarding until interrupted."""
    chart = check_chart(request.chart)
    helm_path, kubectl_path = find_tool("helm"), find_tool("kubectl")
    placement = request.placement
    context = kube.resolve_context(placement.context)
    release = Release(placement.release, placement.namespace, context.name)
    with kube.api_client(context) as api:
        kube.check_install_permissions(api, context, release.namespace)
        if kube.create_namespace(api, context, release.namespace):
            print(
                f"created namespace {release.namespace} with Pod Security level privileged "
                "(pod-security.kubernetes.io/enforce=privileged): the capture worker uses the "
                "host network",
                file=out,
                flush=True,
            )
        print(
            f"installing podscope (release {release.name}, namespace {release.namespace}, "
            f"context {release.context}); waiting up to {request.timeout_s} s for it",
            file=out,
            flush=True,
        )
        helm.install(helm_path, release, chart, request.values, request.timeout_s)
        service = kube.wait_for_hub(
            api, context, release.name, release.namespace, request.timeout_s
        )
    argv = port_forward_argv(kubectl_path, release, service, request.local_port)
    url = f"http://127.0.0.1:{request.local_port}/"
    previous = signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops it as Ctrl-C does
    try:
        with PortForward(argv) as forward:
            forward.start(request.timeout_s)
            wait_until_healthy(url, request.timeout_s)
            print(f"podscope dashboard: {url}  (Ctrl-C stops forwarding)", file=out, flush=True)
            if request.open_browser:
                webbrowser.open(url)
            forward.wait()
    except KeyboardInterrupt:
        print(
            "\nstopped forwarding; podscope stays installed ('podscope clean' removes it, "
            "'podscope tap' reconnects, 'podscope target' changes what it captures)",
            file=out,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)


def dry_run(request: TapRequest, out: TextIO) -> None:
    """Print the helm command ``tap`` would run (every value it sets is a flag of it) and
    change nothing: no API server is contacted (the kube context is read from kubeconfig)."""
    chart = check_chart(request.chart)
    helm_path = find_tool("helm")
    context = kube.resolve_context(request.placement.context)
    release = Release(request.placement.release, request.placement.namespace, context.name)
    argv = helm.install_argv(helm_path, release, chart, request.values, request.timeout_s)
    print(
        f"# podscope tap --dry-run: nothing was changed; tap would run:\n{shlex.join(argv)}",
        file=out,
    )


def _interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def clean(placement: Placement, out: TextIO, timeout_s: int = DEFAULT_TIMEOUT_S) -> None:
    """Uninstall the release; a release that is not there is reported, not an error."""
    helm_path = find_tool("helm")
    context = kube.resolve_context(placement.context)
    release = Release(placement.release, placement.namespace, context.name)
    where = f"release {release.name} in namespace {release.namespace} (context {context.name})"
    if helm.uninstall(helm_path, release, timeout_s):
        print(f"removed podscope: {where}", file=out)
    else:
        print(f"nothing to clean: no {where}", file=out)


def wait_until_healthy(url: str, timeout_s: float) -> None:
    """Poll ``<url>healthz`` until it answers 200; HubError with its last answer otherwise."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            # A 127.0.0.1 http URL built by tap.
            with urllib.request.urlopen(f"{url}healthz", timeout=5) as response:  # noqa: S310
                if response.status == HTTP_OK:
                    return
                last = f"{response.status}"
        except urllib.error.HTTPError as exc:
            last = f"{exc.code} {exc.read().decode(errors='replace')}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        time.sleep(HEALTH_POLL_S)
    raise HubError(f"the hub at {url} is not healthy after {timeout_s} s: {last}")
