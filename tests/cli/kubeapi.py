"""A fake Kubernetes API server that real clients can install into: real HTTP, in-memory objects.

Enough of the API for ``helm upgrade --install --wait`` and the kubernetes Python client:

- discovery (``/version``, ``/api``, ``/apis``, ``/api/v1``, ``/apis/<group>/<version>``) for the
  resources in :data:`RESOURCES`; no OpenAPI document (404, as clients tolerate);
- create (POST), read and list (GET, ``labelSelector`` with ``k=v`` terms), replace (PUT), patch
  (PATCH: JSON merge, strategic merge and server-side apply are all treated as a merge) and
  delete (DELETE) of any of them, cluster-scoped or namespaced; a watch answers no events and
  stays open until its ``timeoutSeconds`` (or a short default);
- Deployments and DaemonSets are reported rolled out and ready as soon as they are written
  (``ready=False`` leaves them at zero ready replicas), Services get a cluster IP;
- ``POST .../selfsubjectaccessreviews`` answers with :attr:`FakeCluster.allow`;
- :meth:`FakeCluster.fail_writes` answers every create/replace/patch with an error Status;
  :meth:`FakeCluster.forbid_reads` answers the reads of one resource's objects with 403.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from tests.dashboard.fake_apiserver import status

Obj = dict[str, Any]
Rule = Callable[[Obj], bool]
KUBE_VERSION = "v1.33.0"
WATCH_DEFAULT_SECONDS = 5
OPENAPI_V2_PROTOBUF = "application/octet-stream"
PROTOBUF = "application/vnd.kubernetes.protobuf"
PROTOBUF_MAGIC = b"k8s\x00"


@dataclass(frozen=True)
class Resource:
    """One API resource the fake serves."""

    group: str
    version: str
    name: str
    kind: str
    namespaced: bool

    @property
    def group_version(self) -> str:
        """``v1`` for the core group, else ``group/version``."""
        return f"{self.group}/{self.version}" if self.group else self.version


RESOURCES = (
    Resource("", "v1", "namespaces", "Namespace", namespaced=False),
    Resource("", "v1", "nodes", "Node", namespaced=False),
    Resource("", "v1", "pods", "Pod", namespaced=True),
    Resource("", "v1", "services", "Service", namespaced=True),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", namespaced=True),
    Resource("", "v1", "secrets", "Secret", namespaced=True),
    Resource("", "v1", "configmaps", "ConfigMap", namespaced=True),
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", namespaced=True),
    Resource("", "v1", "endpoints", "Endpoints", namespaced=True),
    Resource("apps", "v1", "deployments", "Deployment", namespaced=True),
    Resource("apps", "v1", "daemonsets", "DaemonSet", namespaced=True),
    Resource("apps", "v1", "statefulsets", "StatefulSet", namespaced=True),
    Resource("apps", "v1", "replicasets", "ReplicaSet", namespaced=True),
    Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    Resource("rbac.authorization.k8s.io", "v1", "roles", "Role", namespaced=True),
    Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", namespaced=True),
    Resource("networking.k8s.io", "v1", "ingresses", "Ingress", namespaced=True),
    Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", namespaced=True),
    Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", namespaced=True),
    Resource(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        namespaced=False,
    ),
)
RESOURCE_BY_PATH = {(r.group, r.version, r.name): r for r in RESOURCES}


def merge(base: Obj, patch: Obj) -> Obj:
    """``patch`` merged into a copy of ``base`` (JSON merge patch: None deletes a key)."""
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@dataclass
class _Store:
    rv: int = 1000
    objects: dict[tuple[str, str, str, str], Obj] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    reviews: list[Obj] = field(default_factory=list)
    write_failure: tuple[int, str] | None = None
    forbidden_reads: set[str] = field(default_factory=set)


class FakeCluster:
    """The fake API server; a test starts it, writes a kubeconfig for it and inspects it."""

    def __init__(self, *, allow: Rule = lambda attributes: True, ready: bool = True) -> None:
        self.allow = allow
        self.ready = ready
        self.lock = threading.Lock()
        self.store = _Store()
        self.port = 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """Base URL (``http://127.0.0.1:PORT``)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen on a free port and serve in a daemon thread."""
        handler = type("Handler", (_Handler,), {"cluster": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def write_kubeconfig(self, path: Path, context: str = "fake") -> Path:
        """A kubeconfig whose current context ``context`` points at this server."""
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "fake-token"}}],
            "contexts": [
                {"name": context, "context": {"cluster": "fake", "user": "tester"}},
            ],
            "current-context": context,
        }
        path.write_text(yaml.safe_dump(kubeconfig))
        return path

    def fail_writes(self, code: int, message: str) -> None:
        """Answer every later create, replace and patch with ``code`` and ``message``."""
        with self.lock:
            self.store.write_failure = (code, message)

    def forbid_reads(self, resource: str) -> None:
        """Answer every later read of one ``resource`` object (plural name) with 403."""
        with self.lock:
            self.store.forbidden_reads.add(resource)

    def objects(self, resource: str) -> list[Obj]:
        """Every stored object of ``resource`` (plural name), in key order."""
        with self.lock:
            return [
                copy.deepcopy(obj)
                for key, obj in sorted(self.store.objects.items())
                if key[1] == resource
            ]

    def put(self, resource: str, obj: Obj) -> None:
        """Store ``obj`` as a ``resource`` object, as if a client had created it."""
        spec = next(r for r in RESOURCES if r.name == resource)
        with self.lock:
            self._save(spec, obj.get("metadata", {}).get("namespace", ""), obj)

    @property
    def requests(self) -> list[tuple[str, str]]:
        """``(method, path)`` of every request so far."""
        with self.lock:
            return list(self.store.requests)

    @property
    def reviews(self) -> list[Obj]:
        """The ``resourceAttributes`` of every SelfSubjectAccessReview asked so far."""
        with self.lock:
            return list(self.store.reviews)

    def _save(self, resource: Resource, namespace: str, obj: Obj) -> Obj:
        """Store ``obj`` under its name (caller holds the lock); return the stored copy."""
        self.store.rv += 1
        stored = copy.deepcopy(obj)
        stored["apiVersion"] = resource.group_version
        stored["kind"] = resource.kind
        meta = stored.setdefault("metadata", {})
        if resource.namespaced:
            meta["namespace"] = namespace
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        meta["resourceVersion"] = str(self.store.rv)
        meta["generation"] = int(meta.get("generation", 0)) + 1
        self._set_status(resource, stored)
        key = (
            resource.group,
            resource.name,
            namespace if resource.namespaced else "",
            meta["name"],
        )
        self.store.objects[key] = stored
        if resource.kind == "Deployment" and self.ready:
            self._run_pod(stored)
        return copy.deepcopy(stored)

    def _run_pod(self, deployment: Obj) -> None:
        """A running, ready pod of ``deployment`` (what its ReplicaSet would make)."""
        meta = deployment["metadata"]
        template = deployment.get("spec", {}).get("template", {})
        name = f"{meta['name']}-0"
        self.store.objects[("", "pods", meta["namespace"], name)] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "uid": str(uuid.uuid4()),
                "resourceVersion": str(self.store.rv),
                "labels": template.get("metadata", {}).get("labels", {}),
            },
            "spec": template.get("spec", {}),
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
                "podIP": "10.244.0.10",
            },
        }

    def _set_status(self, resource: Resource, obj: Obj) -> None:
        generation = obj["metadata"]["generation"]
        ready = 1 if self.ready else 0
        if resource.kind == "Deployment":
            replicas = obj.get("spec", {}).get("replicas", 1)
            count = replicas * ready
            available = "True" if self.ready else "False"
            obj["status"] = {
                "observedGeneration": generation,
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": count,
                "availableReplicas": count,
                "conditions": [
                    {"type": "Available", "status": available, "reason": "MinimumReplicas"},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
                ],
            }
        elif resource.kind == "DaemonSet":
            obj["status"] = {
                "observedGeneration": generation,
                "currentNumberScheduled": 1,
                "desiredNumberScheduled": 1,
                "numberMisscheduled": 0,
                "numberReady": ready,
                "numberAvailable": ready,
                "updatedNumberScheduled": 1,
            }
        elif resource.kind == "Service":
            obj.setdefault("spec", {}).setdefault("clusterIP", "10.96.0.10")
            obj["status"] = {"loadBalancer": {}}
        elif resource.kind == "Namespace":
            obj["status"] = {"phase": "Active"}


@dataclass(frozen=True)
class _Target:
    resource: Resource
    namespace: str
    name: str
    subresource: str


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cluster: FakeCluster

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    # --- dispatch -----------------------------------------------------------------------------

    def do_GET(self) -> None:
        """Discovery, a read, a list or a watch."""
        url = self._record()
        if url.path == "/openapi/v2":
            self._openapi_v2()
            return
        discovery = self._discovery(url.path)
        if discovery is not None:
            self._json(200, discovery)
            return
        target = _target(url.path)
        if target is None:
            self._json(404, status(404, "NotFound", f"the server could not find {url.path}"))
            return
        if target.subresource == "portforward":
            self._no_kubelet()
            return
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if query.get("watch") in ("true", "1"):
            self._watch(target, query)
        elif target.name:
            self._read(target)
        else:
            self._list(target, query)

    def do_POST(self) -> None:
        """Create an object, or answer a SelfSubjectAccessReview."""
        url = self._record()
        target = _target(url.path)
        if target is not None and target.subresource == "portforward":
            self._no_kubelet()
            return
        body = self._body()
        if target is None or target.name:
            self._json(405, status(405, "MethodNotAllowed", f"POST {url.path}"))
        elif target.resource.kind == "SelfSubjectAccessReview":
            self._review(body)
        elif not self._write_failed():
            self._create(target, body)

    def do_PUT(self) -> None:
        """Replace an object."""
        url = self._record()
        target = _target(url.path)
        body = self._body()
        if target is None or not target.name:
            self._json(405, status(405, "MethodNotAllowed", f"PUT {url.path}"))
        elif not self._write_failed():
            self._replace(target, body)

    def do_PATCH(self) -> None:
        """Patch an object (every patch type is applied as a merge); apply may create it."""
        url = self._record()
        target = _target(url.path)
        body = self._body()
        if target is None or not target.name:
            self._json(405, status(405, "MethodNotAllowed", f"PATCH {url.path}"))
        elif not self._write_failed():
            self._patch(target, body)

    def do_DELETE(self) -> None:
        """Delete an object."""
        url = self._record()
        target = _target(url.path)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))  # delete options: unused
        if target is None or not target.name:
            self._json(405, status(405, "MethodNotAllowed", f"DELETE {url.path}"))
            return
        with self.cluster.lock:
            obj = self.cluster.store.objects.pop(_key(target), None)
        if obj is None:
            self._json(404, _not_found(target))
        else:
            self._json(200, obj)

    # --- discovery ----------------------------------------------------------------------------

    def _discovery(self, path: str) -> Obj | None:
        if path == "/version":
            return {"major": "1", "minor": "33", "gitVersion": KUBE_VERSION, "platform": "linux"}
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if path == "/apis":
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": _groups()}
        for group_version in {r.group_version for r in RESOURCES}:
            prefix = "/api/" if "/" not in group_version else "/apis/"
            if path == prefix + group_version:
                return _resource_list(group_version)
        return None

    def _openapi_v2(self) -> None:
        """An OpenAPI v2 document with no definitions (protobuf, as clients ask): no checks."""
        info = _proto_field(1, b"fake") + _proto_field(2, KUBE_VERSION.encode())
        data = _proto_field(1, b"2.0") + _proto_field(2, info)
        self.send_response(200)
        self.send_header("Content-Type", OPENAPI_V2_PROTOBUF)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # --- reads --------------------------------------------------------------------------------

    def _read(self, target: _Target) -> None:
        with self.cluster.lock:
            obj = copy.deepcopy(self.cluster.store.objects.get(_key(target)))
            forbidden = target.resource.name in self.cluster.store.forbidden_reads
        if forbidden:
            message = f'{target.resource.name} "{target.name}" is forbidden: user cannot get it'
            self._json(403, status(403, "Forbidden", message))
        elif obj is None:
            self._json(404, _not_found(target))
        else:
            self._json(200, obj)

    def _list(self, target: _Target, query: dict[str, str]) -> None:
        items, rv = self._matching(target, query)
        body = {
            "kind": f"{target.resource.kind}List",
            "apiVersion": target.resource.group_version,
            "metadata": {"resourceVersion": rv},
            "items": items,
        }
        self._json(200, body)

    def _matching(self, target: _Target, query: dict[str, str]) -> tuple[list[Obj], str]:
        """The objects a list or watch of ``target`` selects, and the current resourceVersion."""
        labels = _selector(query.get("labelSelector", ""))
        fields = _selector(query.get("fieldSelector", ""))
        with self.cluster.lock:
            items = [
                copy.deepcopy(obj)
                for (group, name, namespace, _), obj in sorted(self.cluster.store.objects.items())
                if (group, name) == (target.resource.group, target.resource.name)
                and (not target.namespace or namespace == target.namespace)
                and _labels_match(obj, labels)
                and fields.get("metadata.name", obj["metadata"]["name"]) == obj["metadata"]["name"]
            ]
            return items, str(self.cluster.store.rv)

    def _watch(self, target: _Target, query: dict[str, str]) -> None:
        """A watch: the initial events when asked for (``sendInitialEvents``, ending with the
        bookmark that says so), then no change until its timeout."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if query.get("sendInitialEvents") == "true":
            items, rv = self._matching(target, query)
            for item in items:
                self._chunk({"type": "ADDED", "object": item})
            end = {
                "kind": target.resource.kind,
                "apiVersion": target.resource.group_version,
                "metadata": {
                    "resourceVersion": rv,
                    "annotations": {"k8s.io/initial-events-end": "true"},
                },
            }
            self._chunk({"type": "BOOKMARK", "object": end})
        self.wfile.flush()
        time.sleep(min(int(query.get("timeoutSeconds", WATCH_DEFAULT_SECONDS)), 30))
        with contextlib.suppress(OSError):
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    def _chunk(self, event: Obj) -> None:
        data = json.dumps(event).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    # --- writes -------------------------------------------------------------------------------

    def _write_failed(self) -> bool:
        with self.cluster.lock:
            failure = self.cluster.store.write_failure
        if failure is None:
            return False
        code, message = failure
        reason = {403: "Forbidden", 500: "InternalError"}.get(code, "Unknown")
        self._json(code, status(code, reason, message))
        return True

    def _create(self, target: _Target, body: Obj) -> None:
        name = body.get("metadata", {}).get("name", "")
        key = (*_key(target)[:3], name)
        with self.cluster.lock:
            if key in self.cluster.store.objects:
                message = f'{target.resource.name} "{name}" already exists'
                self._json(409, status(409, "AlreadyExists", message))
                return
            stored = self.cluster._save(target.resource, target.namespace, body)
        self._json(201, stored)

    def _replace(self, target: _Target, body: Obj) -> None:
        with self.cluster.lock:
            old = self.cluster.store.objects.get(_key(target))
            if old is None:
                self._json(404, _not_found(target))
                return
            body.setdefault("metadata", {})["generation"] = old["metadata"]["generation"]
            body["metadata"]["uid"] = old["metadata"]["uid"]
            stored = self.cluster._save(target.resource, target.namespace, body)
        self._json(200, stored)

    def _patch(self, target: _Target, body: Obj) -> None:
        content_type = self.headers.get("Content-Type", "")
        with self.cluster.lock:
            old = self.cluster.store.objects.get(_key(target))
            if old is None and "apply-patch" not in content_type:
                self._json(404, _not_found(target))
                return
            merged = merge(old or {"metadata": {"name": target.name}}, body)
            stored = self.cluster._save(target.resource, target.namespace, merged)
        self._json(201 if old is None else 200, stored)

    def _review(self, body: Obj) -> None:
        attributes = body.get("spec", {}).get("resourceAttributes", {})
        with self.cluster.lock:
            self.cluster.store.reviews.append(attributes)
        allowed = self.cluster.allow(attributes)
        review = {**body, "status": {"allowed": allowed}}
        if not allowed:
            review["status"]["reason"] = "the fake cluster's rule denies it"
        self._json(201, review)

    def _no_kubelet(self) -> None:
        """Refuse a port-forward stream: it needs a kubelet, which this fake does not have."""
        message = "the fake API server has no kubelet to stream a port-forward from"
        self._json(503, status(503, "ServiceUnavailable", message))

    # --- plumbing -----------------------------------------------------------------------------

    def _record(self) -> Any:
        url = urlsplit(self.path)
        with self.cluster.lock:
            self.cluster.store.requests.append((self.command, url.path))
        return url

    def _body(self) -> Obj:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        if self.headers.get("Content-Type") == PROTOBUF:
            return protobuf_secret(raw)
        loaded = yaml.safe_load(raw.decode())  # apply patches may be YAML; JSON is YAML
        return loaded if isinstance(loaded, dict) else {}

    def _json(self, code: int, body: Obj) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _target(path: str) -> _Target | None:
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return None
    resource = RESOURCE_BY_PATH.get((group, version, rest[0]))
    if resource is None:
        return None
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    return _Target(resource, namespace, name, subresource)


def _key(target: _Target) -> tuple[str, str, str, str]:
    namespace = target.namespace if target.resource.namespaced else ""
    return target.resource.group, target.resource.name, namespace, target.name


def _not_found(target: _Target) -> Obj:
    return status(404, "NotFound", f'{target.resource.name} "{target.name}" not found')


def protobuf_secret(raw: bytes) -> Obj:
    """A Secret sent as Kubernetes protobuf (helm's release storage does), as a JSON object.

    Reads the envelope (``runtime.Unknown``), then the Secret's name, namespace, labels,
    annotations, ``data`` (base64 in the JSON form), ``stringData`` and ``type``; other fields
    and other kinds are not needed by the clients the tests run.
    """
    if not raw.startswith(PROTOBUF_MAGIC):
        raise ValueError("not a Kubernetes protobuf body")
    envelope = dict(_proto_fields(raw[len(PROTOBUF_MAGIC) :]))
    type_meta = dict(_proto_fields(envelope[1]))
    if type_meta.get(2) != b"Secret":
        raise ValueError(f"only Secrets are decoded from protobuf, not {type_meta.get(2)!r}")
    secret: Obj = {"metadata": {}, "data": {}}
    for number, value in _proto_fields(envelope[2]):
        if number == 1:
            secret["metadata"] = _object_meta(value)
        elif number == 2:
            key, data = _map_entry(value)
            secret["data"][key] = base64.b64encode(data).decode()
        elif number == 3:
            secret["type"] = value.decode()
        elif number == 4:
            key, data = _map_entry(value)
            secret.setdefault("stringData", {})[key] = data.decode()
    return secret


def _object_meta(raw: bytes) -> Obj:
    meta: Obj = {}
    for number, value in _proto_fields(raw):
        if number in (1, 3):
            meta["name" if number == 1 else "namespace"] = value.decode()
        elif number in (11, 12):
            key, text = _map_entry(value)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = text.decode()
    return meta


def _map_entry(raw: bytes) -> tuple[str, bytes]:
    entry = dict(_proto_fields(raw))
    return entry.get(1, b"").decode(), entry.get(2, b"")


def _proto_fields(data: bytes) -> list[tuple[int, bytes]]:
    """The length-delimited fields of a protobuf message (varint fields are skipped)."""
    fields, pos = [], 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, pos = _varint(data, pos)
        elif wire_type == 2:
            length, pos = _varint(data, pos)
            fields.append((number, data[pos : pos + length]))
            pos += length
        else:
            raise ValueError(f"unexpected protobuf wire type {wire_type}")
    return fields


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _proto_field(number: int, value: bytes) -> bytes:
    """A length-delimited protobuf field (values here are shorter than 128 bytes)."""
    return bytes([number << 3 | 2, len(value)]) + value


def _groups() -> list[Obj]:
    groups: dict[str, str] = {}
    for resource in RESOURCES:
        if resource.group:
            groups[resource.group] = resource.group_version
    return [
        {
            "name": name,
            "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
            "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]},
        }
        for name, gv in sorted(groups.items())
    ]


def _resource_list(group_version: str) -> Obj:
    verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [
            {
                "name": r.name,
                "singularName": r.kind.lower(),
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": ["create"] if r.kind == "SelfSubjectAccessReview" else verbs,
            }
            for r in RESOURCES
            if r.group_version == group_version
        ],
    }


def _selector(text: str) -> dict[str, str]:
    terms = [term.split("=", 1) for term in text.split(",") if "=" in term]
    return {key.strip(): value.strip() for key, value in terms}


def _labels_match(obj: Obj, selector: dict[str, str]) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    return all(labels.get(key) == value for key, value in selector.items())
