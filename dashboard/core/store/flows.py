"""Named wire entries to flows: who talked to whom, and what one entry adds to that pair.

The map (:mod:`dashboard.core.outputs.graph`), the export (:mod:`dashboard.core.outputs.export`) and
the Prometheus metrics (:mod:`dashboard.core.outputs.metrics`) all read entries the same way, here.
An entry is a named wire dict (``Entry.to_wire()`` after
``dashboard.core.naming.index.ClusterIndex.name_entry``); nothing is assumed about it: a missing or
odd field raises :class:`NotAFlowError` with a reason from the fixed set :data:`REASONS` (safe as a
metric label), never anything else.

What one entry counts (a connection is reported several times: ``connect``, ``ongoing`` every
so often, then ``close``/``reset``; each report is its own entry):

- TCP ``connect``, ``refused``, ``timeout`` start a connection, and so do ``close``, ``reset``
  and ``expired`` of a ``partial`` connection (one already open when the capture began: it had
  no ``connect``).
  ``refused``, ``reset`` and ``timeout`` are failures. Bytes each way come from the final report
  only (``close``, ``reset``, ``refused``, ``timeout``, ``expired``), so an open connection's
  bytes show when it ends; ``ongoing`` only says the pair is still talking (last seen). Sizes the
  worker could not know (absent on the wire) add nothing.
- A UDP entry is one finished flow: one connection, its bytes.
- An ICMP error about a UDP (or other non-TCP) flow is a failure of that flow, from the
  error's receiver (the original sender) to the flow's destination: the error's sender when
  the destination itself answered (``port unreachable``), else (a router reported ``host
  unreachable``) the destination's address, as an ``unknown`` side (the hub names only an
  entry's own ends). An ICMP error about TCP is ignored: the tracker reports the attempt it
  ended as a TCP ``timeout``.
- DNS answers are ignored: they name destinations, they are not connections.

A TCP or UDP flow whose client dialed a Service that DNAT sent to a pod (the entry has
``nat.dialed`` and the hub named the Service in ``dst.service``) keeps the Service as the pair's
``via`` (in the pod's namespace, where its EndpointSlices are); the maps can draw it between the
two. A connection to the Service's own address (a REJECT: no endpoints) has the Service as its
server. The pair says who was dialed, not what a flow counts: metrics and export count the flow
once, by its client and server.

Exception hierarchy (classes in :mod:`dashboard.errors`)::

    DashboardError, ValueError
     └── NotAFlowError    the entry does not describe a flow (``reason``; ``ignored`` if by design)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from dashboard.errors import DashboardError

PROTOCOL_DNS = "dns"
FLOW_PROTOCOLS = frozenset({"tcp", "udp", "icmp"})
IGNORED_DNS = "dns answer"
IGNORED_ICMP_TCP = "icmp about tcp"
IGNORED = frozenset({IGNORED_DNS, IGNORED_ICMP_TCP})
REASONS = IGNORED | frozenset(
    {
        "not an object",
        "bad protocol",
        "bad src",
        "bad dst",
        "bad timestamp",
        "bad sizes",
        "bad tcp",
        "bad icmp",
    }
)
"""Every reason an entry can be unusable: a small fixed set, safe as a label value."""


class NotAFlowError(DashboardError, ValueError):
    """An entry that describes no flow; ``reason`` is one of REASONS."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.ignored = reason in IGNORED
        super().__init__(reason)


STARTS = frozenset({"connect", "refused", "timeout"})
PARTIAL_STARTS = frozenset({"close", "reset", "expired"})
FAILURES = frozenset({"refused", "reset", "timeout"})
FINAL = frozenset({"close", "reset", "refused", "timeout", "expired"})
FINISHED = frozenset({"close", "reset", "expired"})
IN_CLUSTER = frozenset({"pod", "service"})
OUTSIDE = frozenset({"node", "external", "unknown"})
MAX_SHARED_SIDES = 65_536


class Side(msgspec.Struct, frozen=True, gc=False, cache_hash=True):
    """One end of a flow, reduced to what the map needs.

    ``kind`` is the endpoint kind (pod, service, node, external, unknown). For a pod,
    ``workload`` is its workload (the pod itself if it has none) and ``pod`` its name; for a
    service both are the service name; outside the cluster both are the display name (node
    name, DNS name or else IP, IP) and ``namespace`` is "".
    """

    kind: str
    namespace: str
    workload: str
    pod: str


class Pair(msgspec.Struct, frozen=True, gc=False, cache_hash=True):
    """The (client, server) sides of a flow, and the Service it went through (``via``, a side
    of kind service, or None); the maps file flows by it (hash computed once)."""

    client: Side
    server: Side
    via: Side | None = None


_SIDES: dict[Side, Side] = {}
_PAIRS: dict[Pair, Pair] = {}


class Flow(msgspec.Struct, frozen=True, gc=False):
    """What one entry says about one (client, server) pair."""

    protocol: str
    pair: Pair
    starts: int
    failed: int
    request_bytes: int
    response_bytes: int
    last_seen: int
    duration_ms: int | None  # a finished connection's duration, else None

    @property
    def client(self) -> Side:
        """The side that opened the flow."""
        return self.pair.client

    @property
    def server(self) -> Side:
        """The side that answered (or failed to)."""
        return self.pair.server


def read_flow(entry: Mapping[str, Any]) -> Flow:
    """The flow an entry reports; raise NotAFlowError (with its reason) if it reports none."""
    if not isinstance(entry, dict):
        raise NotAFlowError("not an object")
    proto = entry.get("protocol")
    name = proto.get("name") if isinstance(proto, dict) else None
    if name == PROTOCOL_DNS:
        raise NotAFlowError(IGNORED_DNS)
    if type(name) is not str or name not in FLOW_PROTOCOLS:
        raise NotAFlowError("bad protocol")
    timestamp = entry.get("timestamp")
    if type(timestamp) is not int or timestamp < 0:
        raise NotAFlowError("bad timestamp")
    elapsed = _count(entry, "elapsedTime", "bad timestamp")
    last_seen = timestamp + elapsed
    if name == "tcp":
        return _tcp(entry, last_seen, elapsed)
    if name == "udp":
        client, server = side(entry.get("src"), "bad src"), side(entry.get("dst"), "bad dst")
        request, response = _sizes(entry)
        flow_pair = pair(client, server, _via(entry, server) if "nat" in entry else None)
        return Flow("udp", flow_pair, 1, 0, request, response, last_seen, elapsed)
    return _icmp(entry, last_seen)


def side(endpoint: object, reason: str) -> Side:
    """The Side of a named wire endpoint; raise NotAFlowError(reason) if it is malformed."""
    if not isinstance(endpoint, dict):
        raise NotAFlowError(reason)
    kind = endpoint.get("kind")
    ip = endpoint.get("ip")
    name = endpoint.get("name", "")
    if type(ip) is not str or type(name) is not str or type(kind) is not str:
        raise NotAFlowError(reason)
    if kind in OUTSIDE:
        label = ip if kind == "unknown" else (name or ip)
        if not label:
            raise NotAFlowError(reason)
        return _shared(Side(kind, "", label, label))
    namespace = endpoint.get("namespace", "")
    if kind not in IN_CLUSTER or type(namespace) is not str or not namespace:
        raise NotAFlowError(reason)
    if kind == "pod":
        pod = endpoint.get("pod") or name
        workload = endpoint.get("workload") or pod
    else:
        pod = workload = endpoint.get("service") or name.partition(".")[0]
    if type(pod) is not str or type(workload) is not str or not pod:
        raise NotAFlowError(reason)
    return _shared(Side(kind, namespace, workload, pod))


def pair(client: Side, server: Side, via: Side | None = None) -> Pair:
    """The Pair of two sides (and the Service between them), one instance per distinct pair
    (stored flows share them)."""
    made = Pair(client, server, via)
    if len(_PAIRS) >= MAX_SHARED_SIDES:
        _PAIRS.clear()
    return _PAIRS.setdefault(made, made)


def _shared(made: Side) -> Side:
    """One instance per distinct side: stored flows share them (less memory)."""
    if len(_SIDES) >= MAX_SHARED_SIDES:
        _SIDES.clear()
    return _SIDES.setdefault(made, made)


def _tcp(entry: Mapping[str, Any], last_seen: int, elapsed: int) -> Flow:
    tcp = entry.get("tcp")
    if not isinstance(tcp, dict):
        raise NotAFlowError("bad tcp")
    event = tcp.get("event")
    partial = tcp.get("partial", False)
    if type(event) is not str or type(partial) is not bool:
        raise NotAFlowError("bad tcp")
    if event != "ongoing" and event not in FINAL and event not in STARTS:
        raise NotAFlowError("bad tcp")
    client, server = side(entry.get("src"), "bad src"), side(entry.get("dst"), "bad dst")
    flow_pair = pair(client, server, _via(entry, server) if "nat" in entry else None)
    starts = 1 if event in STARTS or (partial and event in PARTIAL_STARTS) else 0
    request, response = _sizes(entry) if event in FINAL else (0, 0)
    duration = elapsed if event in FINISHED else None
    failed = 1 if event in FAILURES else 0
    return Flow("tcp", flow_pair, starts, failed, request, response, last_seen, duration)


def _via(entry: Mapping[str, Any], server: Side) -> Side | None:
    """The Service a flow to a pod went through: the one the hub named for ``nat.dialed``.

    None when the client dialed the pod itself, when the hub knows no Service at the address
    dialed, or when the destination reached is no pod (a node or an outside address behind a
    Service: the Service's namespace is not known then).
    """
    nat = entry.get("nat")
    if server.kind != "pod" or not isinstance(nat, dict) or not isinstance(nat.get("dialed"), dict):
        return None
    dst = entry["dst"]  # a pod: side() checked it
    service = dst.get("service")
    if type(service) is not str or not service:
        return None
    return _shared(Side("service", server.namespace, service, service))


def _icmp(entry: Mapping[str, Any], last_seen: int) -> Flow:
    icmp = entry.get("icmp")
    about = icmp.get("about") if isinstance(icmp, dict) else None
    if not isinstance(about, dict):
        raise NotAFlowError("bad icmp")
    quoted = about.get("protocol")
    target = about.get("dst")
    target_ip = target.get("ip") if isinstance(target, dict) else None
    if type(quoted) is not str or type(target_ip) is not str:
        raise NotAFlowError("bad icmp")
    if quoted == "tcp":
        raise NotAFlowError(IGNORED_ICMP_TCP)
    sender = entry.get("src")
    if not isinstance(sender, dict):
        raise NotAFlowError("bad src")
    if sender.get("ip") == target_ip:  # the destination itself answered: it is named
        server = side(sender, "bad src")
    elif target_ip:  # a router answered for it
        server = _shared(Side("unknown", "", target_ip, target_ip))
    else:
        raise NotAFlowError("bad icmp")
    client = side(entry.get("dst"), "bad dst")
    return Flow("icmp", pair(client, server), 0, 1, 0, 0, last_seen, None)


def _sizes(entry: Mapping[str, Any]) -> tuple[int, int]:
    return _count(entry, "requestSize", "bad sizes"), _count(entry, "responseSize", "bad sizes")


def _count(entry: Mapping[str, Any], key: str, reason: str) -> int:
    """A non-negative integer field (0 when absent); raise NotAFlowError(reason) otherwise."""
    value = entry.get(key, 0)
    if type(value) is not int or value < 0:
        raise NotAFlowError(reason)
    return value
