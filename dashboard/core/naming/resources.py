"""Kubernetes resource JSON (as the API server returns it) -> the few typed facts naming needs.

Each ``parse_*`` function takes one object dict (a pod, a service, ...) and returns a frozen
record, or raises :class:`ResourceError` naming the missing or malformed field. Addresses are
canonicalized (``ipaddress``) so that IPv6 text from the API and from packets compares equal.

Exception hierarchy (classes in :mod:`dashboard.errors`)::

    DashboardError, ValueError
     └── ResourceError    an object without a field its kind must have, or with a bad value
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dashboard.errors import ResourceError

POD = "Pod"
SERVICE = "Service"
ENDPOINT_SLICE = "EndpointSlice"
NODE = "Node"
NAMESPACE = "Namespace"
REPLICA_SET = "ReplicaSet"
JOB = "Job"
# Owners that sit at the top of a chain: the child's ownerReference already names them.
TOP_OWNER_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "CronJob"})
INDEXED_KINDS = frozenset({POD, SERVICE, ENDPOINT_SLICE, NODE, NAMESPACE, REPLICA_SET, JOB})
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
TEMPLATE_HASH_LABEL = "pod-template-hash"
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})
MAX_LABELS = 64  # what an entry endpoint carries (contract.schema.MAX_LABELS)
MAX_LABEL_CHARS = 1024


@dataclass(frozen=True, slots=True)
class Owner:
    """The controlling owner of an object (``ownerReferences`` entry with ``controller: true``)."""

    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class PodInfo:
    """What naming and targeting need from a pod."""

    namespace: str
    name: str
    uid: str
    node: str
    ips: tuple[str, ...]
    host_ips: tuple[str, ...]
    host_network: bool
    container_ports: tuple[int, ...]
    host_ports: tuple[int, ...]
    owner: Owner | None
    template_hash: str
    start_ms: int | None
    finished: bool
    finished_ms: int | None
    labels: tuple[tuple[str, str], ...] = ()  # sorted (key, value) pairs, at most MAX_LABELS

    def address_keys(self) -> tuple[str | tuple[str, int], ...]:
        """The history keys this pod holds: its IPs, or (node IP, port) pairs for host ports.

        A hostNetwork pod shares the node's IPs, so it holds only (IP, port) for each port it
        declares; a pod with ``hostPort`` also holds (node IP, host port), where kube-proxy or the
        CNI forwards that port to it.
        """
        if self.host_network:
            ports = sorted({*self.container_ports, *self.host_ports})
            return tuple((ip, port) for ip in self.ips for port in ports)
        host_pairs = tuple((ip, port) for ip in self.host_ips for port in self.host_ports)
        return (*self.ips, *host_pairs)


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """A Service and the virtual IPs it answers on (ClusterIPs and load-balancer IPs)."""

    namespace: str
    name: str
    uid: str
    ips: tuple[str, ...]
    created_ms: int | None


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A Node: its addresses and the pod CIDRs allocated to it."""

    name: str
    uid: str
    ips: tuple[str, ...]
    pod_cidrs: tuple[str, ...]
    created_ms: int | None


@dataclass(frozen=True, slots=True)
class SliceInfo:
    """An EndpointSlice: the Service it belongs to and the pods (by name) it lists."""

    namespace: str
    name: str
    service: str
    pods: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OwnedInfo:
    """A middle link of an owner chain (ReplicaSet, Job) and its own controlling owner."""

    namespace: str
    name: str
    owner: Owner | None


@dataclass(frozen=True, slots=True)
class NamespaceInfo:
    """A Namespace (listed for targeting and autocomplete)."""

    name: str


Parsed = PodInfo | ServiceInfo | NodeInfo | SliceInfo | OwnedInfo | NamespaceInfo


def object_key(obj: object) -> tuple[str, str]:
    """(namespace, name) of an object; namespace is "" for cluster-scoped kinds."""
    meta = _mapping(_mapping(obj, "object").get("metadata"), "metadata")
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise ResourceError("metadata.name: missing or not a string")
    namespace = meta.get("namespace", "")
    if not isinstance(namespace, str):
        raise ResourceError("metadata.namespace: not a string")
    return namespace, name


def parse(kind: str, obj: object) -> Parsed:
    """Parse one object of an indexed kind; raise ResourceError if it is malformed."""
    parser = _PARSERS.get(kind)
    if parser is None:
        raise ResourceError(f"kind {kind!r} is not indexed")
    try:
        return parser(_mapping(obj, "object"))
    except (TypeError, AttributeError, KeyError) as exc:  # a field of an unexpected JSON type
        raise ResourceError(f"{kind}: malformed object ({exc})") from None


def parse_time(value: object) -> int | None:
    """An RFC 3339 timestamp (``2024-05-01T10:00:00Z``) as ms since epoch, None when absent."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ResourceError(f"timestamp {value!r} is not a string")
    try:
        return int(datetime.fromisoformat(value).timestamp() * 1000)
    except ValueError:
        raise ResourceError(f"bad timestamp {value!r}") from None


def canonical_ip(text: object) -> str:
    """The canonical text of an IP address (compressed, lower-case IPv6)."""
    if not isinstance(text, str):
        raise ResourceError(f"address {text!r} is not a string")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ResourceError(f"bad IP address {text!r}") from None


def _parse_pod(obj: Mapping[str, Any]) -> PodInfo:
    namespace, name = object_key(obj)
    meta = obj["metadata"]
    spec = _mapping(obj.get("spec", {}), "spec")
    status = _mapping(obj.get("status", {}), "status")
    containers = [*spec.get("containers", ()), *spec.get("initContainers", ())]
    ports = [port for container in containers for port in container.get("ports", ())]
    phase = status.get("phase", "")
    return PodInfo(
        namespace=namespace,
        name=name,
        uid=str(meta.get("uid", "")),
        node=str(spec.get("nodeName", "")),
        ips=_ips(status, "podIPs", "podIP"),
        host_ips=_ips(status, "hostIPs", "hostIP"),
        host_network=spec.get("hostNetwork", False) is True,
        container_ports=tuple(sorted({_port(p["containerPort"]) for p in ports})),
        host_ports=tuple(sorted({_port(p["hostPort"]) for p in ports if p.get("hostPort")})),
        owner=_controller(meta),
        template_hash=str(meta.get("labels", {}).get(TEMPLATE_HASH_LABEL, "")),
        start_ms=parse_time(status.get("startTime")) or parse_time(meta.get("creationTimestamp")),
        finished=phase in FINISHED_PHASES,
        finished_ms=_finished_ms(status) if phase in FINISHED_PHASES else None,
        labels=_labels(meta),
    )


def _labels(meta: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """An object's labels as sorted pairs: string keys and values only, the first MAX_LABELS."""
    labels = _mapping(meta.get("labels") or {}, "metadata.labels")
    pairs = sorted(
        (key, value)
        for key, value in labels.items()
        if isinstance(key, str)
        and isinstance(value, str)
        and len(key) <= MAX_LABEL_CHARS
        and len(value) <= MAX_LABEL_CHARS
    )
    return tuple(pairs[:MAX_LABELS])


def _parse_service(obj: Mapping[str, Any]) -> ServiceInfo:
    namespace, name = object_key(obj)
    spec = _mapping(obj.get("spec", {}), "spec")
    cluster_ips = spec.get("clusterIPs") or [spec.get("clusterIP", "")]
    ingress = obj.get("status", {}).get("loadBalancer", {}).get("ingress", ())
    addresses = [ip for ip in cluster_ips if ip and ip != "None"]
    addresses += [point["ip"] for point in ingress if point.get("ip")]
    return ServiceInfo(
        namespace=namespace,
        name=name,
        uid=str(obj["metadata"].get("uid", "")),
        ips=tuple(dict.fromkeys(canonical_ip(ip) for ip in addresses)),
        created_ms=parse_time(obj["metadata"].get("creationTimestamp")),
    )


def _parse_node(obj: Mapping[str, Any]) -> NodeInfo:
    _, name = object_key(obj)
    spec = _mapping(obj.get("spec", {}), "spec")
    addresses = obj.get("status", {}).get("addresses", ())
    cidrs = spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else [])
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except (TypeError, ValueError):
            raise ResourceError(f"Node {name}: bad podCIDR {cidr!r}") from None
    ips = [a["address"] for a in addresses if a.get("type") in ("InternalIP", "ExternalIP")]
    return NodeInfo(
        name=name,
        uid=str(obj["metadata"].get("uid", "")),
        ips=tuple(dict.fromkeys(canonical_ip(ip) for ip in ips)),
        pod_cidrs=tuple(cidrs),
        created_ms=parse_time(obj["metadata"].get("creationTimestamp")),
    )


def _parse_slice(obj: Mapping[str, Any]) -> SliceInfo:
    namespace, name = object_key(obj)
    service = obj["metadata"].get("labels", {}).get(SERVICE_NAME_LABEL, "")
    if not isinstance(service, str):
        raise ResourceError(f"EndpointSlice {namespace}/{name}: bad {SERVICE_NAME_LABEL} label")
    pods = [
        ref["name"]
        for endpoint in obj.get("endpoints") or ()
        if (ref := endpoint.get("targetRef")) and ref.get("kind") == POD
    ]
    return SliceInfo(namespace=namespace, name=name, service=service, pods=tuple(pods))


def _parse_owned(obj: Mapping[str, Any]) -> OwnedInfo:
    namespace, name = object_key(obj)
    return OwnedInfo(namespace=namespace, name=name, owner=_controller(obj["metadata"]))


def _parse_namespace(obj: Mapping[str, Any]) -> NamespaceInfo:
    return NamespaceInfo(name=object_key(obj)[1])


_PARSERS: dict[str, Callable[[Mapping[str, Any]], Parsed]] = {
    POD: _parse_pod,
    SERVICE: _parse_service,
    NODE: _parse_node,
    ENDPOINT_SLICE: _parse_slice,
    REPLICA_SET: _parse_owned,
    JOB: _parse_owned,
    NAMESPACE: _parse_namespace,
}


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ResourceError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def _ips(status: Mapping[str, Any], plural: str, single: str) -> tuple[str, ...]:
    listed = [item["ip"] for item in status.get(plural) or ()]
    if not listed and status.get(single):
        listed = [status[single]]
    return tuple(dict.fromkeys(canonical_ip(ip) for ip in listed))


def _port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 65535:
        raise ResourceError(f"bad port {value!r}")
    return value


def _controller(meta: Mapping[str, Any]) -> Owner | None:
    for ref in meta.get("ownerReferences") or ():
        if ref.get("controller") is True:
            return Owner(kind=str(ref["kind"]), name=str(ref["name"]))
    return None


def _finished_ms(status: Mapping[str, Any]) -> int | None:
    times = [t for t in _termination_times(status) if t is not None]
    return max(times) if times else None


def _termination_times(status: Mapping[str, Any]) -> Iterator[int | None]:
    for container in status.get("containerStatuses") or ():
        terminated = container.get("state", {}).get("terminated")
        if terminated:
            yield parse_time(terminated.get("finishedAt"))
