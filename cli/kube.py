"""The cluster side of ``podscope tap`` and ``clean``, through the official kubernetes client.

- :func:`resolve_context`: the kubeconfig (``KUBECONFIG``, else ``~/.kube/config``) and the
  context to use (``--context``, else the current one); NoKubeContextError when there is none.
- :func:`check_install_permissions`: one SelfSubjectAccessReview per thing the install creates
  (:data:`INSTALL_NEEDS`); NoPermissionError naming every one that is denied.
- :func:`create_namespace`: the install namespace, when missing, made with the Pod Security
  ``privileged`` level that the capture worker (host network) needs.
- :func:`wait_for_hub`: the release's hub Deployment ready, and its Service (found by the
  chart's labels) to port-forward to.
- :func:`hub_write_token`: the hub's write token, from the Secret its Deployment names in
  ``PODSCOPE_WRITE_TOKEN`` (the chart's own or ``hub.writeToken.existingSecret``).

The client's errors (ApiException, urllib3 connection errors, kubeconfig errors) are translated
here into :mod:`cli.errors` (KubeApiError, NoKubeContextError, NoPermissionError, HubError,
NoWriteTokenError).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from cli.errors import (
    HubError,
    KubeApiError,
    NoKubeContextError,
    NoPermissionError,
    NoWriteTokenError,
)

DEFAULT_KUBECONFIG = "~/.kube/config"
REQUEST_TIMEOUT_S = 15
POLL_S = 1.0
HUB_COMPONENT = "hub"
HUB_PORT_NAME = "http"
WRITE_TOKEN_ENV = "PODSCOPE_WRITE_TOKEN"  # noqa: S105 - the variable's name, no secret

T = TypeVar("T")
# The worker uses the host network, which only Pod Security's privileged level admits.
POD_SECURITY_LABELS = {
    "pod-security.kubernetes.io/enforce": "privileged",
    "pod-security.kubernetes.io/warn": "privileged",
    "pod-security.kubernetes.io/audit": "privileged",
}
NOT_FOUND = 404
FORBIDDEN = 403


@dataclass(frozen=True, slots=True)
class Need:
    """One thing the install must be allowed to do (a SelfSubjectAccessReview's attributes)."""

    resource: str
    group: str = ""
    namespaced: bool = True
    subresource: str = ""
    verb: str = "create"

    def describe(self, namespace: str) -> str:
        """E.g. ``deployments.apps in namespace podscope`` or ``clusterroles... (cluster-wide)``."""
        name = f"{self.resource}.{self.group}" if self.group else self.resource
        if self.subresource:
            name += f"/{self.subresource}"
        return f"{name} in namespace {namespace}" if self.namespaced else f"{name} (cluster-wide)"


INSTALL_NEEDS = (
    Need("namespaces", namespaced=False),  # helm --create-namespace
    Need("deployments", "apps"),
    Need("daemonsets", "apps"),
    Need("services"),
    Need("serviceaccounts"),
    Need("secrets"),  # the chart's secrets and helm's own release records
    Need("clusterroles", "rbac.authorization.k8s.io", namespaced=False),
    Need("clusterrolebindings", "rbac.authorization.k8s.io", namespaced=False),
    Need("pods", subresource="portforward"),  # to reach the dashboard
)


@dataclass(frozen=True, slots=True)
class KubeContext:
    """A kubeconfig file (or ``:``-separated list) and one context in it."""

    kubeconfig: str
    name: str
    server: str


@dataclass(frozen=True, slots=True)
class WriteToken:
    """The hub's write token, the Secret and key it was read from, and the hub Deployment
    that reads it (all in ``namespace``), for messages."""

    namespace: str
    secret: str
    key: str
    hub: str
    value: str = field(repr=False)

    @property
    def where(self) -> str:
        """E.g. ``podscope/podscope-write-token (key 'token')``."""
        return f"{self.namespace}/{self.secret} (key {self.key!r})"


@dataclass(frozen=True, slots=True)
class HubService:
    """The hub's Service: name, and the port name (``http``) or number to forward to."""

    name: str
    port: str


def resolve_context(requested: str | None) -> KubeContext:
    """The context ``requested`` (else the current one) of the user's kubeconfig."""
    kubeconfig = os.environ.get("KUBECONFIG") or os.path.expanduser(DEFAULT_KUBECONFIG)
    where = f"kubeconfig {kubeconfig}"
    try:
        contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        names = [str(context["name"]) for context in contexts or []]
        name = requested or (current or {}).get("name")
    except (
        config.ConfigException,
        yaml.YAMLError,
        OSError,
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
    ) as e:
        raise NoKubeContextError(
            f"no kube context: {_one_line(e)} ({where}); point KUBECONFIG at a cluster's "
            "kubeconfig or pass --context"
        ) from None
    if not name or name not in names:
        known = ", ".join(names) or "none"
        what = f"context {name!r} is not in" if name else "no current context in"
        raise NoKubeContextError(f"no kube context: {what} {where} (contexts: {known})")
    configuration = _configuration(kubeconfig, name)
    return KubeContext(kubeconfig, name, configuration.host)


@contextmanager
def api_client(context: KubeContext) -> Iterator[client.ApiClient]:
    """A kubernetes ApiClient for ``context``, closed afterwards."""
    api = client.ApiClient(_configuration(context.kubeconfig, context.name))
    try:
        yield api
    finally:
        api.close()  # type: ignore[no-untyped-call]


def check_install_permissions(api: client.ApiClient, context: KubeContext, namespace: str) -> None:
    """NoPermissionError listing every :data:`INSTALL_NEEDS` the user is denied."""
    reviews = client.AuthorizationV1Api(api)
    denied = [
        need.describe(namespace)
        for need in INSTALL_NEEDS
        if not _allowed(reviews, context, need, namespace)
    ]
    if denied:
        raise NoPermissionError(
            f"no permission to create {', '.join(denied)} (kube context {context.name!r}): "
            "installing podscope needs these; ask a cluster admin or use another --context"
        )


def _allowed(
    reviews: client.AuthorizationV1Api, context: KubeContext, need: Need, namespace: str
) -> bool:
    """Whether the API server says the user may do ``need`` (a SelfSubjectAccessReview)."""
    attributes = client.V1ResourceAttributes(
        verb=need.verb,
        group=need.group,
        resource=need.resource,
        subresource=need.subresource or None,
        namespace=namespace if need.namespaced else None,
    )
    review = client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes)
    )
    answer = _call(
        context,
        lambda: reviews.create_self_subject_access_review(
            review, _request_timeout=REQUEST_TIMEOUT_S
        ),
    )
    return bool(answer.status and answer.status.allowed)


def create_namespace(api: client.ApiClient, context: KubeContext, namespace: str) -> bool:
    """Create ``namespace`` with :data:`POD_SECURITY_LABELS` unless it exists; True if made.

    A namespace that exists keeps its labels: its owner chose them.
    """
    core = client.CoreV1Api(api)
    if _call(context, lambda: _namespace_exists(core, namespace)):
        return False
    body = client.V1Namespace(
        metadata=client.V1ObjectMeta(name=namespace, labels=dict(POD_SECURITY_LABELS))
    )
    _call(context, lambda: core.create_namespace(body, _request_timeout=REQUEST_TIMEOUT_S))
    return True


def _namespace_exists(core: client.CoreV1Api, namespace: str) -> bool:
    try:
        core.read_namespace(namespace, _request_timeout=REQUEST_TIMEOUT_S)
    except ApiException as exc:
        if exc.status == NOT_FOUND:
            return False
        raise
    return True


def _hub_selector(release: str) -> str:
    """The label selector of the release's hub objects (its Deployment and Service)."""
    return f"app.kubernetes.io/instance={release},app.kubernetes.io/component={HUB_COMPONENT}"


def _hub_deployments(
    api: client.ApiClient, context: KubeContext, release: str, namespace: str
) -> list[Any]:
    """The release's hub Deployments; HubError when it has none."""
    selector = _hub_selector(release)
    apps = client.AppsV1Api(api)
    deployments: list[Any] = _call(
        context,
        lambda: apps.list_namespaced_deployment(
            namespace, label_selector=selector, _request_timeout=REQUEST_TIMEOUT_S
        ),
    ).items
    if not deployments:
        raise HubError(f"release {release!r} has no hub Deployment ({selector}) in {namespace}")
    return deployments


def wait_for_hub(
    api: client.ApiClient, context: KubeContext, release: str, namespace: str, timeout_s: float
) -> HubService:
    """Wait until the release's hub Deployment has a ready replica; return its Service."""
    selector = _hub_selector(release)
    core = client.CoreV1Api(api)
    deadline = time.monotonic() + timeout_s
    while True:
        deployments = _hub_deployments(api, context, release, namespace)
        if all(_rolled_out(deployment) for deployment in deployments):
            break
        if time.monotonic() > deadline:
            raise HubError(f"the hub in namespace {namespace} was not ready within {timeout_s} s")
        time.sleep(POLL_S)
    services = _call(
        context,
        lambda: core.list_namespaced_service(
            namespace, label_selector=selector, _request_timeout=REQUEST_TIMEOUT_S
        ),
    ).items
    if not services:
        raise HubError(f"release {release!r} has no hub Service ({selector}) in {namespace}")
    return _hub_port(services[0])


def hub_write_token(
    api: client.ApiClient, context: KubeContext, release: str, namespace: str
) -> WriteToken:
    """The write token of the release's hub: the Secret key its ``PODSCOPE_WRITE_TOKEN`` names.

    NoWriteTokenError when the hub has none (an older chart) or the Secret or key is missing,
    NoPermissionError when the user may not read the Secret.
    """
    [deployment, *_] = _hub_deployments(api, context, release, namespace)
    reference = _write_token_reference(deployment)
    if reference is None:
        raise NoWriteTokenError(
            f"the hub of release {release!r} in namespace {namespace} has no write token "
            f"({WRITE_TOKEN_ENV} from a Secret): its chart predates it; 'podscope tap' or "
            "helm upgrade installs one"
        )
    name, key = reference
    where = f"{namespace}/{name}"
    hub = str(deployment.metadata.name)
    core = client.CoreV1Api(api)
    secret = _call(context, lambda: _read_secret(core, context, name, namespace))
    if secret is None:
        raise NoWriteTokenError(
            f"no write token: Secret {where}, which the hub's {WRITE_TOKEN_ENV} names, is not "
            f"there; create it with the token under key {key!r}, or leave "
            "hub.writeToken.existingSecret unset so that the chart makes one"
        )
    encoded = (secret.data or {}).get(key) or ""
    try:
        value = base64.b64decode(encoded, validate=True).decode().strip()
    except (binascii.Error, UnicodeDecodeError):
        value = ""
    if not value:
        raise NoWriteTokenError(f"no write token: Secret {where} has no text under key {key!r}")
    return WriteToken(namespace, name, key, hub, value)


def _write_token_reference(deployment: Any) -> tuple[str, str] | None:
    """(Secret name, key) of the Deployment's ``PODSCOPE_WRITE_TOKEN``, if it takes one."""
    for container in deployment.spec.template.spec.containers or []:
        for variable in container.env or []:
            source = variable.value_from.secret_key_ref if variable.value_from else None
            if variable.name == WRITE_TOKEN_ENV and source is not None:
                return str(source.name), str(source.key)
    return None


def _read_secret(
    core: client.CoreV1Api, context: KubeContext, name: str, namespace: str
) -> client.V1Secret | None:
    """The Secret, or None when it does not exist; NoPermissionError when it may not be read."""
    try:
        secret: client.V1Secret = core.read_namespaced_secret(
            name, namespace, _request_timeout=REQUEST_TIMEOUT_S
        )
    except ApiException as exc:
        if exc.status == NOT_FOUND:
            return None
        if exc.status == FORBIDDEN:
            raise NoPermissionError(
                f"no permission to read Secret {namespace}/{name} (kube context "
                f"{context.name!r}): it holds the hub's write token; ask for get on secrets in "
                f"namespace {namespace}"
            ) from None
        raise
    return secret


def _hub_port(service: client.V1Service) -> HubService:
    """The Service's port named ``http``, else its first port."""
    name = service.metadata.name if service.metadata and service.metadata.name else ""
    ports = service.spec.ports if service.spec and service.spec.ports else []
    if not ports:
        raise HubError(f"the hub Service {name} has no port")
    named = [port for port in ports if port.name == HUB_PORT_NAME]
    return HubService(name, HUB_PORT_NAME if named else str(ports[0].port))


def _rolled_out(deployment: Any) -> bool:
    status, generation = deployment.status, deployment.metadata.generation or 0
    return bool(
        status is not None
        and (status.observed_generation or 0) >= generation
        and (status.ready_replicas or 0) >= 1
    )


def _configuration(kubeconfig: str, name: str) -> client.Configuration:
    configuration = client.Configuration()
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig,
            context=name,
            client_configuration=configuration,
            persist_config=False,
        )
    except (config.ConfigException, yaml.YAMLError, OSError, ValueError, TypeError, KeyError) as e:
        raise NoKubeContextError(f"kube context {name!r} is unusable: {_one_line(e)}") from None
    configuration.retries = 1
    return configuration


def _call(context: KubeContext, request: Callable[[], T]) -> T:
    """Run one API request; its failure as a KubeApiError naming the server and the reason."""
    try:
        return request()
    except ApiException as exc:
        raise KubeApiError(
            f"the API server {context.server} (context {context.name!r}) answered "
            f"{exc.status} {exc.reason}: {_status_message(exc)}"
        ) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise KubeApiError(
            f"cannot reach the API server {context.server} (context {context.name!r}): "
            f"{_one_line(exc)}"
        ) from None
    except ValueError as exc:  # includes the client's model validation errors
        raise KubeApiError(
            f"the API server {context.server} (context {context.name!r}) sent an answer the "
            f"kubernetes client cannot read: {_one_line(exc)}"
        ) from None


def _status_message(exc: ApiException) -> str:
    """The ``message`` of the Status body the server sent, else the body itself."""
    body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else exc.body
    try:
        message = json.loads(body or "").get("message")
    except (ValueError, AttributeError):
        message = None
    return _one_line(message or body or "no details")


def _one_line(value: object) -> str:
    return " ".join(str(value).split())
