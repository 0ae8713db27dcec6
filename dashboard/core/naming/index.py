"""The hub's Kubernetes naming index: (IP, port, time) -> pod, service, node or external name.

Fed with resource JSON as the API server returns it (by :mod:`dashboard.core.naming.watch` or
:mod:`dashboard.core.naming.snapshot`) through :meth:`ClusterIndex.apply` (watch events) and
:meth:`ClusterIndex.replace` (after a list). Lookups are dict work under one lock, never an API
call. Name rules (DESIGN.md): pod name, else ``service.namespace``, else node name, else the DNS
name the worker put on the entry, else the DNS name the client pod resolved the address from on
any of its addresses (:mod:`dashboard.core.naming.clientnames`: a dual-stack pod asks over one
family and connects over the other), else "".

- A pod IP listed in a Service's EndpointSlices also gets that ``service``.
- ``workload`` follows the controlling owner chain: pod -> ReplicaSet -> Deployment, pod ->
  StatefulSet/DaemonSet, pod -> Job -> CronJob; a naked pod is its own workload.
- A hostNetwork pod shares its node's IP: (IP, port) resolves to it only when the port is one of
  its declared ports, else the IP resolves to the node.
- Pod IPs are reused: every address keeps a short history (:mod:`dashboard.core.naming.iphistory`)
and is
  resolved as of the entry's timestamp. Deleted objects keep their last naming until their
  history expires (``retention_ms``).
- An address that is no cluster object is ``unknown`` inside the cluster's ranges (node pod
  CIDRs, ``cluster_cidrs``, any address a cluster object ever held) and ``external`` outside.

Bad objects never raise: they are counted in :meth:`ClusterIndex.stats` and dropped.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from contract.schema import MAX_STRING_CHARS, Endpoint, Entry
from dashboard.core.naming.clientnames import ClientNames, client_key
from dashboard.core.naming.iphistory import IpHistory
from dashboard.core.naming.resources import (
    INDEXED_KINDS,
    JOB,
    NAMESPACE,
    NODE,
    POD,
    REPLICA_SET,
    SERVICE,
    TOP_OWNER_KINDS,
    NodeInfo,
    OwnedInfo,
    Parsed,
    PodInfo,
    ServiceInfo,
    SliceInfo,
    object_key,
    parse,
)
from dashboard.errors import ResourceError

EVENT_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED"})
CLUSTER_KINDS = frozenset({"pod", "service", "node"})
DEFAULT_RETENTION_MS = 60 * 60 * 1000
PRUNE_EVERY_MS = 60 * 1000
MAX_DEPARTED = 50_000
MAX_CLASSIFIED = 65_536
MAX_SERVERS = 65_536

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# (kind, namespace, name, uid): who holds an address. The uid tells a recreated pod apart.
HolderKey = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class Naming:
    """What the index knows about one address at one time."""

    name: str = ""
    namespace: str = ""
    pod: str = ""
    service: str = ""
    workload: str = ""
    kind: str = "unknown"
    labels: dict[str, str] | None = None  # a pod's labels, one dict shared by its entries


UNKNOWN = Naming(kind="unknown")
EXTERNAL = Naming(kind="external")

# An endpoint's name, namespace, pod, service, workload, kind and labels: what naming sets on it.
EndpointNames = tuple[str, str, str, str, str, str, dict[str, str] | None]


def _endpoint_names(naming: Naming, dns_name: str) -> EndpointNames:
    """What an endpoint carrying ``dns_name`` is named as when its address resolves to ``naming``.

    The cluster object's name, else the DNS name the worker put on the endpoint.
    """
    name = naming.name if naming.kind in CLUSTER_KINDS else dns_name
    return (
        name,
        naming.namespace,
        naming.pod,
        naming.service,
        naming.workload,
        naming.kind,
        naming.labels,
    )


def _named_endpoint(endpoint: Endpoint, names: EndpointNames) -> Endpoint:
    """``endpoint`` with ``names`` (itself when it already has them)."""
    if (
        endpoint.name,
        endpoint.namespace,
        endpoint.pod,
        endpoint.service,
        endpoint.workload,
        endpoint.kind,
        endpoint.labels,
    ) == names:
        return endpoint
    return Endpoint(endpoint.ip, endpoint.port, *names)


def _via_service(summary: str, ip: str, port: int, service: Naming) -> str:
    """The worker's summary with ``via <ip>:<port>`` naming the Service dialed there."""
    address = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    named = f"via service {service.name} ({address})"
    return summary.replace(f"via {address}", named, 1)[:MAX_STRING_CHARS]


def _name_endpoint(endpoint: dict[str, Any], names: EndpointNames) -> None:
    """Set an endpoint wire dict's names in place (its keys, and so their order, stay; labels
    come last, as in the wire form, and only for a pod that has them)."""
    (
        endpoint["name"],
        endpoint["namespace"],
        endpoint["pod"],
        endpoint["service"],
        endpoint["workload"],
        endpoint["kind"],
        labels,
    ) = names
    if labels is not None:
        endpoint["labels"] = labels
    elif "labels" in endpoint:
        del endpoint["labels"]


def _now_ms() -> int:
    return int(time.time() * 1000)


class ClusterIndex:
    """Thread-safe index of cluster objects, answering name lookups in O(1) dict work."""

    def __init__(
        self,
        *,
        cluster_cidrs: Iterable[str] = (),
        retention_ms: int = DEFAULT_RETENTION_MS,
        history_depth: int = 8,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._retention_ms = retention_ms
        self._configured_nets = tuple(ipaddress.ip_network(c, strict=False) for c in cluster_cidrs)
        self._nets: tuple[IpNetwork, ...] = ()
        self._objects: dict[str, dict[tuple[str, str], Parsed]] = {k: {} for k in INDEXED_KINDS}
        self._history: IpHistory[HolderKey] = IpHistory(history_depth)
        self._services_of_pod: dict[tuple[str, str], Counter[str]] = {}
        self._departed: OrderedDict[HolderKey, Naming] = OrderedDict()
        self._cache: dict[HolderKey, Naming] = {}
        self._classified: dict[str, tuple[str, Naming]] = {}
        self._node_nets: tuple[tuple[IpNetwork, str], ...] = ()
        self._nodes_by_range: dict[str, str] = {}  # address -> node whose pod CIDR holds it
        self._servers: dict[tuple[str, int, str], tuple[Naming, EndpointNames]] = {}
        self._port_ips: set[str] = set()  # IPs with (IP, port) keys; grows with node IPs only
        self._client_names = ClientNames()
        self._dropped: Counter[str] = Counter()
        self._last_drop = ""
        self._events = 0
        self._last_prune = clock()
        self._refresh_nets()

    # --- feeding ------------------------------------------------------------------------------

    def apply(self, event_type: str, obj: object) -> bool:
        """Apply one watch event (ADDED/MODIFIED/DELETED); False if it was dropped (counted)."""
        kind = obj.get("kind") if isinstance(obj, Mapping) else None
        if event_type not in EVENT_TYPES:
            return self._drop(f"event type {event_type!r}", "not an object event")
        if not isinstance(kind, str):
            return self._drop("no kind", "object without a kind")
        if kind in TOP_OWNER_KINDS:
            return True
        if kind not in INDEXED_KINDS:
            return self._drop(f"kind {kind}", f"kind {kind!r} is not indexed")
        try:
            key = object_key(obj)
            info = None if event_type == "DELETED" else parse(kind, obj)
        except ResourceError as exc:
            return self._drop(f"invalid {kind}", str(exc))
        with self._lock:
            self._store(kind, key, info)
            self._after_change()
        return True

    def replace(self, kind: str, objects: Iterable[object]) -> int:
        """Replace every object of ``kind`` with a fresh list; return how many were accepted.

        Objects absent from the list are deleted (as of now); malformed ones are counted and
        skipped. Deployments, StatefulSets, DaemonSets and CronJobs are accepted and ignored:
        the ownerReferences of their children name them. Raise ValueError for another kind.
        """
        if kind in TOP_OWNER_KINDS:
            return sum(1 for _ in objects)
        if kind not in INDEXED_KINDS:
            raise ValueError(f"kind {kind!r} is not indexed (known: {sorted(INDEXED_KINDS)})")
        fresh: dict[tuple[str, str], Parsed] = {}
        for obj in objects:
            try:
                fresh[object_key(obj)] = parse(kind, obj)
            except ResourceError as exc:
                self._drop(f"invalid {kind}", str(exc))
        with self._lock:
            for key in [k for k in self._objects[kind] if k not in fresh]:
                self._store(kind, key, None)
            for key, info in fresh.items():
                self._store(kind, key, info)
            self._after_change()
        return len(fresh)

    # --- lookups ------------------------------------------------------------------------------

    def resolve(self, ip: str, port: int, at_ms: int) -> Naming:
        """Name the address ``ip:port`` as of ``at_ms`` (ms since epoch)."""
        with self._lock:
            return self._resolve(ip, port, at_ms)

    def name_entry(self, entry: Entry) -> Entry:
        """A copy of ``entry`` with ``src`` and ``dst`` named as of its timestamp.

        When the worker saw the client dial a Service (``nat.dialed``, the address DNAT
        rewrote), ``dst.service`` is that Service and the summary says ``via service X``.
        """
        src, dst, at_ms = entry.src, entry.dst, entry.timestamp
        dialed = entry.nat.dialed if entry.nat is not None else None
        with self._lock:
            src_names = self._names(src.ip, src.port, src.name, at_ms)
            dst_names = self._server_names(dst.ip, dst.port, dst.name, at_ms)
            if entry.dns is not None and entry.dns.rcode == "NOERROR":
                asker = client_key(src_names[5], src_names[1], src_names[2], src.ip)
                self._client_names.learn(asker, entry.dns.query, entry.dns.answers, at_ms)
            elif not dst_names[0]:
                dst_names = self._client_dns_names(src_names, src.ip, dst.ip, dst_names, at_ms)
            service = None if dialed is None else self._dialed(dialed.ip, dialed.port, at_ms)
        summary = entry.summary
        if service is not None and dialed is not None:
            dst_names = (*dst_names[:3], service.service, *dst_names[4:])
            summary = _via_service(summary, dialed.ip, dialed.port, service)
        named_src, named_dst = _named_endpoint(src, src_names), _named_endpoint(dst, dst_names)
        if named_src is src and named_dst is dst and summary is entry.summary:
            return entry
        return msgspec.structs.replace(entry, src=named_src, dst=named_dst, summary=summary)

    def name_wire(self, wire: dict[str, Any]) -> dict[str, Any]:
        """Name a valid entry's wire dict in place, as ``name_entry`` names the entry; return it.

        ``name_wire(e.to_wire()) == name_entry(e).to_wire()``, key order included.
        """
        src, dst, at_ms = wire["src"], wire["dst"], wire["timestamp"]
        nat = wire.get("nat")
        dialed = nat.get("dialed") if nat is not None else None
        with self._lock:
            src_names = self._names(src["ip"], src["port"], src["name"], at_ms)
            dst_names = self._server_names(dst["ip"], dst["port"], dst["name"], at_ms)
            dns = wire.get("dns")
            if dns is not None and dns.get("rcode", "NOERROR") == "NOERROR":
                asker = client_key(src_names[5], src_names[1], src_names[2], src["ip"])
                self._client_names.learn(asker, dns["query"], dns.get("answers", ()), at_ms)
            elif not dst_names[0]:
                dst_names = self._client_dns_names(
                    src_names, src["ip"], dst["ip"], dst_names, at_ms
                )
            service = None if dialed is None else self._dialed(dialed["ip"], dialed["port"], at_ms)
        if service is not None and dialed is not None:
            dst_names = (*dst_names[:3], service.service, *dst_names[4:])
            wire["summary"] = _via_service(wire["summary"], dialed["ip"], dialed["port"], service)
        _name_endpoint(src, src_names)
        _name_endpoint(dst, dst_names)
        return wire

    def node_of(self, ip: str, at_ms: int) -> str:
        """The node an address belongs to as of ``at_ms``: a pod's node, a node's own name,
        or the node whose pod CIDR holds it (its tunnel or bridge address); "" for any other.

        The hub asks it to tell the client's node's report of a connection from the server's.
        """
        with self._lock:
            holder = self._history.holder_at(ip, at_ms)
            if holder is None:
                return self._node_of_range(ip)
            kind, namespace, name, _ = holder
            if kind == NODE:
                return name
            info = self._objects[POD].get((namespace, name)) if kind == POD else None
            return info.node if isinstance(info, PodInfo) else ""

    def pods(self) -> list[PodInfo]:
        """Every pod currently in the index (finished ones included), sorted by namespace/name."""
        with self._lock:
            pods = self._objects[POD].values()
            return sorted((p for p in pods if isinstance(p, PodInfo)), key=_pod_order)

    def nodes(self) -> list[NodeInfo]:
        """Every node currently in the index, sorted by name."""
        with self._lock:
            nodes = self._objects[NODE].values()
            return sorted((n for n in nodes if isinstance(n, NodeInfo)), key=lambda n: n.name)

    def namespaces(self) -> list[str]:
        """Names of the namespaces currently in the index, sorted."""
        with self._lock:
            return sorted(name for _, name in self._objects[NAMESPACE])

    def stats(self) -> dict[str, Any]:
        """Counts for health pages: objects per kind, addresses, dropped objects and why."""
        with self._lock:
            return {
                "objects": {kind: len(objs) for kind, objs in sorted(self._objects.items())},
                "addresses": len(self._history),
                "departed": len(self._departed),
                "events": self._events,
                "dropped": dict(self._dropped),
                "lastDrop": self._last_drop,
            }

    # --- resolution ---------------------------------------------------------------------------

    def _server_names(self, ip: str, port: int, dns_name: str, at_ms: int) -> EndpointNames:
        """Name a destination: few distinct (IP, port, DNS name), so their names are shared."""
        naming = self._resolve(ip, port, at_ms)
        key = (ip, port, dns_name)
        cached = self._servers.get(key)
        if cached is not None and cached[0] is naming:
            return cached[1]
        if len(self._servers) >= MAX_SERVERS:
            self._servers.clear()
        names = _endpoint_names(naming, dns_name)
        self._servers[key] = (naming, names)
        return names

    def _client_dns_names(
        self, src_names: EndpointNames, src_ip: str, ip: str, names: EndpointNames, at_ms: int
    ) -> EndpointNames:
        """``names`` of a destination the worker could not name, with the DNS name its client
        (pod, on any of its addresses) resolved it from, if any."""
        if not self._client_names:
            return names
        asker = client_key(src_names[5], src_names[1], src_names[2], src_ip)
        dns_name = self._client_names.lookup(asker, ip, at_ms)
        if not dns_name:
            return names
        return (dns_name, *names[1:])

    def _dialed(self, ip: str, port: int, at_ms: int) -> Naming | None:
        """The Service a client dialed at ``ip:port`` (None when that address is no Service)."""
        naming = self._resolve(ip, port, at_ms)
        return naming if naming.kind == "service" else None

    def _names(self, ip: str, port: int, dns_name: str, at_ms: int) -> EndpointNames:
        return _endpoint_names(self._resolve(ip, port, at_ms), dns_name)

    def _resolve(self, ip: str, port: int, at_ms: int) -> Naming:
        holder = self._holder_at(ip, port, at_ms)
        if holder is not None:
            return self._naming(holder)
        canonical, outside = self._classified.get(ip) or self._classify(ip)
        if canonical != ip:  # "0:0::1" from a packet, "::1" from the API server
            holder = self._holder_at(canonical, port, at_ms)
            if holder is not None:
                return self._naming(holder)
        return outside

    def _holder_at(self, ip: str, port: int, at_ms: int) -> HolderKey | None:
        history = self._history
        if ip in self._port_ips:  # a node IP with host ports: (IP, port) first
            return history.holder_at((ip, port), at_ms) or history.holder_at(ip, at_ms)
        return history.holder_at(ip, at_ms)

    def _node_of_range(self, ip: str) -> str:
        """The node whose pod CIDR holds ``ip`` ("" for none, or not an address), cached."""
        node = self._nodes_by_range.get(ip)
        if node is None:
            if len(self._nodes_by_range) >= MAX_CLASSIFIED:
                self._nodes_by_range.clear()
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                node = ""
            else:
                node = next((n for net, n in self._node_nets if address in net), "")
            self._nodes_by_range[ip] = node
        return node

    def _classify(self, ip: str) -> tuple[str, Naming]:
        """Canonical text and outside kind (unknown/external) of an address (cached)."""
        if len(self._classified) >= MAX_CLASSIFIED:
            self._classified.clear()
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            self._drop("bad address", f"not an IP address: {ip[:64]!r}")
            result = (ip, UNKNOWN)
        else:
            canonical = str(address)
            inside = canonical in self._history or any(address in net for net in self._nets)
            result = (canonical, UNKNOWN if inside else EXTERNAL)
        self._classified[ip] = result
        return result

    def _naming(self, holder: HolderKey) -> Naming:
        naming = self._cache.get(holder)
        if naming is None:
            naming = self._live_naming(holder) or self._departed.get(holder, UNKNOWN)
            self._cache[holder] = naming
        return naming

    def _live_naming(self, holder: HolderKey) -> Naming | None:
        kind, namespace, name, uid = holder
        info = self._objects[kind].get((namespace, name))
        if isinstance(info, PodInfo) and info.uid == uid:
            return Naming(
                name=name,
                namespace=namespace,
                pod=name,
                service=min(self._services_of_pod.get((namespace, name), ()), default=""),
                workload=self._workload(info),
                kind="pod",
                labels=dict(info.labels) or None,
            )
        if isinstance(info, ServiceInfo) and info.uid == uid:
            return Naming(
                name=f"{name}.{namespace}", namespace=namespace, service=name, kind="service"
            )
        if isinstance(info, NodeInfo) and info.uid == uid:
            return Naming(name=name, kind="node")
        return None

    def _workload(self, pod: PodInfo) -> str:
        owner = pod.owner
        if owner is None:
            return pod.name
        if owner.kind not in (REPLICA_SET, JOB):
            return owner.name
        middle = self._objects[owner.kind].get((pod.namespace, owner.name))
        if isinstance(middle, OwnedInfo):
            return middle.owner.name if middle.owner else owner.name
        suffix = f"-{pod.template_hash}"
        if owner.kind == REPLICA_SET and pod.template_hash and owner.name.endswith(suffix):
            return owner.name[: -len(suffix)]  # ReplicaSet not (yet) indexed: its Deployment
        return owner.name

    # --- mutation (lock held) -----------------------------------------------------------------

    def _store(self, kind: str, key: tuple[str, str], info: Parsed | None) -> None:
        old = self._objects[kind].get(key)
        if old == info:
            return
        self._events += 1
        self._cache.clear()
        if isinstance(old, PodInfo | ServiceInfo | NodeInfo):
            self._retire_addresses(old, info)
        if isinstance(old, SliceInfo):
            self._count_slice(old, -1)
        if info is None:
            self._objects[kind].pop(key, None)
        else:
            self._objects[kind][key] = info
        if isinstance(info, PodInfo | ServiceInfo | NodeInfo):
            self._claim_addresses(info)
        if isinstance(info, SliceInfo):
            self._count_slice(info, +1)
        if isinstance(info, NodeInfo) or isinstance(old, NodeInfo):
            self._refresh_nets()

    def _retire_addresses(self, old: PodInfo | ServiceInfo | NodeInfo, new: Parsed | None) -> None:
        now = self._clock()
        holder = _holder(old)
        indexed = new if isinstance(new, PodInfo | ServiceInfo | NodeInfo) else None
        successor = indexed if indexed is not None and _holder(indexed) == holder else None
        kept = set(_address_keys(successor)) if successor is not None else set()
        for key in _address_keys(old):
            if key not in kept:
                self._history.release(key, holder, now)
        if successor is None and _address_keys(old):
            self._departed[holder] = self._live_naming(holder) or UNKNOWN
            self._departed.move_to_end(holder)
            while len(self._departed) > MAX_DEPARTED:
                self._departed.popitem(last=False)

    def _claim_addresses(self, info: PodInfo | ServiceInfo | NodeInfo) -> None:
        now = self._clock()
        holder = _holder(info)
        self._departed.pop(holder, None)
        if isinstance(info, PodInfo):
            start = info.start_ms if info.start_ms is not None else now
            end = (info.finished_ms or now) if info.finished else None
        else:
            start = info.created_ms if info.created_ms is not None else now
            end = None
        for key in _address_keys(info):
            self._history.claim(key, holder, start, end)
            if end is not None:
                self._history.release(key, holder, end)
            if isinstance(key, tuple):
                self._port_ips.add(key[0])

    def _count_slice(self, info: SliceInfo, delta: int) -> None:
        for pod in info.pods:
            counts = self._services_of_pod.setdefault((info.namespace, pod), Counter())
            counts[info.service] += delta
            if counts[info.service] <= 0:
                del counts[info.service]
            if not counts:
                del self._services_of_pod[(info.namespace, pod)]

    def _refresh_nets(self) -> None:
        nodes = (n for n in self._objects[NODE].values() if isinstance(n, NodeInfo))
        owned = {ipaddress.ip_network(c, strict=False): n.name for n in nodes for c in n.pod_cidrs}
        self._nets = (*self._configured_nets, *sorted(owned, key=str))
        self._node_nets = tuple(owned.items())

    def _after_change(self) -> None:
        self._classified.clear()
        self._nodes_by_range.clear()
        now = self._clock()
        if now - self._last_prune >= PRUNE_EVERY_MS:
            self._last_prune = now
            for holder in self._history.prune(now - self._retention_ms):
                self._departed.pop(holder, None)

    def _drop(self, reason: str, detail: str) -> bool:
        with self._lock:
            self._dropped[reason] += 1
            self._last_drop = detail
        return False


def _holder(info: PodInfo | ServiceInfo | NodeInfo) -> HolderKey:
    if isinstance(info, PodInfo):
        return (POD, info.namespace, info.name, info.uid)
    if isinstance(info, ServiceInfo):
        return (SERVICE, info.namespace, info.name, info.uid)
    return (NODE, "", info.name, info.uid)


def _address_keys(info: PodInfo | ServiceInfo | NodeInfo) -> tuple[str | tuple[str, int], ...]:
    return info.address_keys() if isinstance(info, PodInfo) else info.ips


def _pod_order(pod: PodInfo) -> tuple[str, str]:
    return pod.namespace, pod.name
