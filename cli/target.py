"""``podscope target``: change which pods a running podscope captures, live, with no restart.

As re-running ``kubeshark tap REGEX`` retargets a running Kubeshark: the same POD_REGEX, ``-n``
and ``--exclude-namespace`` as ``podscope tap``, sent to the hub's ``PUT /api/targeting``
rather than through a helm upgrade, so the hub keeps its entries and its viewers, and each
worker switches its capture filter within seconds. ``target`` reads the hub's write token from
the Secret the hub's Deployment names (the kubernetes client, with the user's kube context),
forwards the hub's Service to a local port that kubectl picks, sends the spec with
``Authorization: Bearer <token>`` and prints what the hub now captures.

The hub keeps the spec in Redis: it holds for every hub replica and across hub restarts, until
the chart's own targeting values change (a ``podscope tap`` with other targeting options, a
``helm upgrade`` of ``tap.*``), which then win.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from cli import kube
from cli.defaults import DEFAULT_TIMEOUT_S
from cli.errors import HubError, UsageError
from cli.helm import Release
from cli.hubhttp import error_object
from cli.kube import WriteToken
from cli.portforward import PortForward, port_forward_argv
from cli.tap import Placement
from cli.tools import find_tool
from dashboard.core.targeting.spec import TargetingSpec
from dashboard.errors import WRITE_TOKEN_CODE

TIMEOUT_S = 30.0
HTTP_BAD_REQUEST = 400
HTTP_UNAUTHORIZED = 401
HTTP_FORBIDDEN = 403


@dataclass(frozen=True, slots=True)
class TargetRequest:
    """Everything ``podscope target`` was asked to do."""

    spec: TargetingSpec
    placement: Placement
    timeout_s: int = DEFAULT_TIMEOUT_S


def target(request: TargetRequest, out: TextIO) -> None:
    """Send ``request.spec`` to the release's hub and print what it now captures."""
    kubectl = find_tool("kubectl")
    placement = request.placement
    context = kube.resolve_context(placement.context)
    release = Release(placement.release, placement.namespace, context.name)
    with kube.api_client(context) as api:
        token = kube.hub_write_token(api, context, release.name, release.namespace)
        service = kube.wait_for_hub(
            api, context, release.name, release.namespace, request.timeout_s
        )
    with PortForward(port_forward_argv(kubectl, release, service, 0)) as forward:
        forward.start(request.timeout_s)
        answer = put_targeting(f"http://127.0.0.1:{forward.local_port}/", request.spec, token)
    where = f"release {release.name}, namespace {release.namespace}, context {context.name}"
    print(f"targeting changed ({where}): {describe(answer)}", file=out)


def put_targeting(hub_url: str, spec: TargetingSpec, token: WriteToken) -> dict[str, Any]:
    """``PUT <hub_url>api/targeting`` with ``spec`` and the write token; the hub's answer."""
    # An http URL: the local end of target's port-forward (or a test's hub).
    request = urllib.request.Request(  # noqa: S310
        f"{hub_url}api/targeting",
        data=json.dumps(spec.to_dict()).encode(),
        method="PUT",
        headers={
            "Authorization": f"Bearer {token.value}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
            body: bytes = response.read()
    except urllib.error.HTTPError as exc:
        raise _refusal(hub_url, exc, token) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise HubError(f"cannot reach the hub at {hub_url}: {reason}") from None
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise HubError(f"the hub at {hub_url} answered with no targeting: {body[:200]!r}")
    return answer


def _refusal(hub_url: str, exc: urllib.error.HTTPError, token: WriteToken) -> Exception:
    """The error for a non-2xx answer, saying what to do when the token was refused.

    A request whose token the hub does not take is held to the login (401, login on), to the
    write rule (403 with the ``writeToken`` code) or to Django's CSRF check (403, no JSON).
    """
    error = error_object(exc.read())
    message = str(error.get("message") or exc.reason)
    if exc.code == HTTP_BAD_REQUEST:
        return UsageError(f"the hub refused the targeting: {message}")
    refused = exc.code == HTTP_UNAUTHORIZED or (
        exc.code == HTTP_FORBIDDEN and (not error or error.get("code") == WRITE_TOKEN_CODE)
    )
    if refused:
        return HubError(
            f"the hub at {hub_url} refused the write token from Secret {token.where} with "
            f"{exc.code} {message}: the hub reads its token at start; if the Secret was "
            f"replaced since, restart the hub (kubectl --namespace {token.namespace} rollout "
            f"restart deployment/{token.hub})"
        )
    return HubError(f"the hub at {hub_url} refused to change the targeting: {exc.code} {message}")


def describe(answer: Mapping[str, Any]) -> str:
    """One line of what the hub's targeting answer says it captures."""
    spec = answer.get("spec") or {}
    coverage = answer.get("coverage") or {}
    parts = []
    if spec.get("podRegex"):
        parts.append(f"pods matching {spec['podRegex']!r}")
    if spec.get("namespaces"):
        parts.append(f"in namespaces {', '.join(spec['namespaces'])}")
    if spec.get("excludedNamespaces"):
        parts.append(f"not in {', '.join(spec['excludedNamespaces'])}")
    selection = " ".join(parts) or "every pod"
    return (
        f"capturing {selection}: {coverage.get('targeted', 0)} pods targeted, "
        f"{coverage.get('notTargeted', 0)} left out"
    )
