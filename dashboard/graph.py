"""The connectivity map: named wire entries aggregated into nodes and edges, incrementally.

Three levels: ``namespace``, ``workload`` and ``pod``. Each side of a flow
(:mod:`dashboard.flows`) becomes a node, by its endpoint kind:

- a pod: its namespace, its workload, or the pod itself (node kinds namespace, workload, pod);
- a Service: its namespace, else a ``workload`` node of the Service's name (at the pod level
  too: which pod answered is not known); at the workload level, traffic through a Service and
  straight to its pods meet on one node when the Service has the workload's name;
- a node: the node, by name (kind node) at every level;
- an external destination: by the DNS name it was resolved from, else by IP (kind external);
- an unknown in-cluster address: by IP (kind unknown).

An edge goes from client to server and carries connections, failures, bytes each way, last
seen (ms, the end of its newest entry) and the protocols seen; what one entry adds is decided by
:func:`dashboard.flows.read_flow`. A node carries the totals of the edges it is on (a self-loop
counts once). ``remove`` exactly undoes ``add``, so a graph over a sliding window of entries is
always the graph of the entries in the window. Entries that describe no flow are skipped and
counted in ``skipped`` by reason (never raised); so is a ``remove`` of an entry never added.

Pure and not thread-safe: the caller serializes calls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, Literal, get_args

from dashboard.flows import Flow, NotAFlowError, Side, read_flow

Level = Literal["namespace", "workload", "pod"]
LEVELS: tuple[Level, ...] = get_args(Level)
NOT_ADDED = "remove of an entry never added"
MAX_REMEMBERED_SIDES = 65_536

NodeKey = tuple[str, str, str]  # (node kind, namespace, label)


class _Totals:
    """Counters shared by nodes and edges, and the dict last rendered from them."""

    __slots__ = ("connections", "failed", "id", "rendered", "request_bytes", "response_bytes")

    def __init__(self, item_id: str) -> None:
        self.id = item_id
        self.connections = 0
        self.failed = 0
        self.request_bytes = 0
        self.response_bytes = 0
        self.rendered: dict[str, Any] | None = None  # None: changed since last rendered


class _Node(_Totals):
    """A node: the totals of the edges it is on, and how many edges that is."""

    __slots__ = ("edges", "key")

    def __init__(self, key: NodeKey) -> None:
        super().__init__(node_id(key))
        self.key = key
        self.edges = 0

    def render(self) -> dict[str, Any]:
        kind, namespace, label = self.key
        self.rendered = {
            "id": self.id,
            "label": label,
            "kind": kind,
            "namespace": namespace,
            "connections": self.connections,
            "failed": self.failed,
            "requestBytes": self.request_bytes,
            "responseBytes": self.response_bytes,
        }
        return self.rendered


class _Edge(_Totals):
    """One (source, target) pair, with what ``remove`` needs to undo an entry exactly."""

    __slots__ = ("ends", "last_seen", "protocols", "refs", "seen", "source", "target", "totals")

    def __init__(self, source: _Node, target: _Node) -> None:
        super().__init__(f"{source.id}->{target.id}")
        self.source = source
        self.target = target
        self.ends = (source,) if source is target else (source, target)  # a self-loop counts once
        self.totals: tuple[_Totals, ...] = (self, *self.ends)  # what one flow adds to
        self.refs = 0
        self.protocols: Counter[str] = Counter()
        self.seen: Counter[int] = Counter()  # last_seen of every entry on the edge
        self.last_seen = 0

    def count(self, flow: Flow, sign: int) -> None:
        """Add (sign 1) or take back (sign -1) a flow's totals on this edge and its nodes."""
        starts, failed = sign * flow.starts, sign * flow.failed
        request_bytes, response_bytes = sign * flow.request_bytes, sign * flow.response_bytes
        for totals in self.totals:
            totals.connections += starts
            totals.failed += failed
            totals.request_bytes += request_bytes
            totals.response_bytes += response_bytes
            totals.rendered = None

    def render(self) -> dict[str, Any]:
        self.rendered = {
            "id": self.id,
            "source": self.source.id,
            "target": self.target.id,
            "connections": self.connections,
            "failed": self.failed,
            "requestBytes": self.request_bytes,
            "responseBytes": self.response_bytes,
            "lastSeen": self.last_seen,
            "protocols": sorted(self.protocols),
        }
        return self.rendered


def node_key(side: Side, level: Level) -> NodeKey:
    """The node a flow's side is at ``level``: (node kind, namespace, label)."""
    kind = side.kind
    if kind == "pod":
        if level == "pod":
            return ("pod", side.namespace, side.pod)
        if level == "workload":
            return ("workload", side.namespace, side.workload)
        return ("namespace", side.namespace, side.namespace)
    if kind == "service":
        if level == "namespace":
            return ("namespace", side.namespace, side.namespace)
        return ("workload", side.namespace, side.workload)
    return (kind, "", side.workload)


def node_id(key: NodeKey) -> str:
    """Stable text id of a node: ``pod:shop/cart-7d9f-x2x4``, ``external:api.stripe.com``."""
    kind, namespace, label = key
    if kind == "namespace" or not namespace:
        return f"{kind}:{label}"
    return f"{kind}:{namespace}/{label}"


class ConnectivityGraph:
    """Connectivity map of named wire entries at one level, updated incrementally."""

    def __init__(self, level: Level) -> None:
        if level not in LEVELS:
            raise ValueError(f"unknown map level {level!r} (known: {', '.join(LEVELS)})")
        self.level: Level = level
        self.skipped: Counter[str] = Counter()
        self._edges: dict[tuple[NodeKey, NodeKey], _Edge] = {}
        self._nodes: dict[NodeKey, _Node] = {}
        self._keys: dict[Side, NodeKey] = {}
        self._order: tuple[list[_Node], list[_Edge]] | None = None  # None: nodes/edges changed
        self._version = 0
        self._rendered: tuple[int, dict[str, Any]] | None = None

    @property
    def version(self) -> int:
        """A number that changes whenever the map does (callers compare it to skip re-sends)."""
        return self._version

    def __len__(self) -> int:
        return len(self._edges)

    def add(self, entry: Mapping[str, Any]) -> None:
        """Count an entry in the map (skipped and counted if it describes no flow)."""
        try:
            flow = read_flow(entry)
        except NotAFlowError as exc:
            self.skipped[exc.reason] += 1
            return
        self.add_flow(flow)

    def remove(self, entry: Mapping[str, Any]) -> None:
        """Take back an entry counted by ``add`` (the store evicted it)."""
        try:
            flow = read_flow(entry)
        except NotAFlowError:
            return  # skipped when added: nothing to take back
        if not self.remove_flow(flow):
            self.skipped[NOT_ADDED] += 1

    def add_flow(self, flow: Flow) -> None:
        """Count an already read flow (the hot path of every map)."""
        pair = self._pair(flow)
        edge = self._edges.get(pair)
        if edge is None:
            edge = self._edges[pair] = _Edge(self._node(pair[0]), self._node(pair[1]))
            for node in edge.ends:
                node.edges += 1
            self._order = None
        edge.refs += 1
        edge.count(flow, 1)
        protocols, seen = edge.protocols, edge.seen
        protocols[flow.protocol] = protocols.get(flow.protocol, 0) + 1
        seen[flow.last_seen] = seen.get(flow.last_seen, 0) + 1
        edge.last_seen = max(edge.last_seen, flow.last_seen)
        self._version += 1

    def remove_flow(self, flow: Flow) -> bool:
        """Take back a flow counted by ``add_flow``; False (and no change) if it was not."""
        pair = self._pair(flow)
        edge = self._edges.get(pair)
        if edge is None or not edge.seen[flow.last_seen] or not edge.protocols[flow.protocol]:
            return False
        self._version += 1
        edge.refs -= 1
        edge.count(flow, -1)
        if not edge.refs:
            del self._edges[pair]
            for node in edge.ends:
                node.edges -= 1
                if not node.edges:
                    del self._nodes[node.key]
            self._order = None
            return True
        _take(edge.protocols, flow.protocol)
        _take(edge.seen, flow.last_seen)
        if flow.last_seen == edge.last_seen and flow.last_seen not in edge.seen:
            edge.last_seen = max(edge.seen)
        return True

    def to_dict(self) -> dict[str, Any]:
        """The map: ``{"level", "nodes": [...], "edges": [...]}``, sorted by id.

        Built once per version, and only the nodes and edges that changed are rendered again:
        the dicts are shared between calls (every session sharing this map gets the same
        object until the next change), so treat them as read-only.
        """
        rendered = self._rendered
        if rendered is not None and rendered[0] == self._version:
            return rendered[1]
        if self._order is None:
            self._order = (
                sorted(self._nodes.values(), key=_by_id),
                sorted(self._edges.values(), key=_by_id),
            )
        nodes, edges = self._order
        result = {
            "level": self.level,
            "nodes": [node.rendered or node.render() for node in nodes],
            "edges": [edge.rendered or edge.render() for edge in edges],
        }
        self._rendered = (self._version, result)
        return result

    def _pair(self, flow: Flow) -> tuple[NodeKey, NodeKey]:
        """The (client node, server node) of a flow at this level."""
        keys, client, server = self._keys, flow.client, flow.server
        return (keys.get(client) or self._key(client), keys.get(server) or self._key(server))

    def _key(self, side: Side) -> NodeKey:
        """node_key(side, level), remembered: few distinct sides, many entries."""
        key = self._keys.get(side)
        if key is None:
            if len(self._keys) >= MAX_REMEMBERED_SIDES:
                self._keys.clear()
            key = self._keys[side] = node_key(side, self.level)
        return key

    def _node(self, key: NodeKey) -> _Node:
        node = self._nodes.get(key)
        if node is None:
            node = self._nodes[key] = _Node(key)
        return node


class GraphSet:
    """The map at all three levels, fed together: each entry is read once."""

    def __init__(self) -> None:
        self.graphs = {level: ConnectivityGraph(level) for level in LEVELS}
        self.skipped: Counter[str] = Counter()
        self._version = 0

    @property
    def version(self) -> int:
        """A number that changes whenever any level does."""
        return self._version

    def add(self, entry: Mapping[str, Any]) -> None:
        """Count an entry at every level (skipped and counted if it describes no flow)."""
        try:
            flow = read_flow(entry)
        except NotAFlowError as exc:
            self.skipped[exc.reason] += 1
            return
        for graph in self.graphs.values():
            graph.add_flow(flow)
        self._version += 1

    def remove(self, entry: Mapping[str, Any]) -> None:
        """Take back an entry counted by ``add`` at every level."""
        try:
            flow = read_flow(entry)
        except NotAFlowError:
            return
        taken = [graph.remove_flow(flow) for graph in self.graphs.values()]
        if any(taken):
            self._version += 1
        if not all(taken):
            self.skipped[NOT_ADDED] += 1

    def to_dict(self, level: Level) -> dict[str, Any]:
        """The map at ``level``; raise ValueError for an unknown level."""
        graph = self.graphs.get(level)
        if graph is None:
            raise ValueError(f"unknown map level {level!r} (known: {', '.join(LEVELS)})")
        return graph.to_dict()


def _take(counter: Counter[Any], key: object) -> None:
    left = counter[key] - 1
    if left:
        counter[key] = left
    else:
        del counter[key]


def _by_id(item: _Totals) -> str:
    return item.id
