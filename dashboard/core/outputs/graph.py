"""The connectivity map: named wire entries aggregated into nodes and edges, incrementally.

Three levels: ``namespace``, ``workload`` and ``pod``. Each side of a flow
(:mod:`dashboard.core.store.flows`) becomes a node, by its endpoint kind:

- a pod: its namespace, its workload, or the pod itself (node kinds namespace, workload, pod);
- a Service: its namespace, else a ``workload`` node of the Service's name (at the pod level
  too: which pod answered is not known); at the workload level, traffic through a Service and
  straight to its pods meet on one node when the Service has the workload's name;
- a node: the node, by name (kind node) at every level;
- an external destination: by the DNS name it was resolved from, else by IP (kind external);
- an unknown in-cluster address: by IP (kind unknown).

An edge goes from client to server and carries connections, failures, bytes each way, last
seen (ms, the end of its newest entry) and the protocols seen; what one entry adds is decided by
:func:`dashboard.core.store.flows.read_flow`. A node carries the totals of the edges it is on (a
self-loop counts once). ``remove`` exactly undoes ``add``, so a graph over a sliding window of
entries is always the graph of the entries in the window. Entries that describe no flow are skipped
and counted in ``skipped`` by reason (never raised); so is a ``remove`` of an entry never added.

Counting a flow touches one edge, found by the flow's interned (client, server)
:class:`~dashboard.core.store.flows.Pair`; nodes take their totals from the edges that changed when
the map is rendered.

Pure and not thread-safe: the caller serializes calls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Literal, get_args

from dashboard.core.store.flows import Flow, NotAFlowError, Pair, Side, read_flow

Level = Literal["namespace", "workload", "pod"]
LEVELS: tuple[Level, ...] = get_args(Level)
NOT_ADDED = "remove of an entry never added"
MAX_ROUTES = 65_536  # flow pairs a map remembers the edge of

NodeKey = tuple[str, str, str]  # (node kind, namespace, label)


class _Node:
    """A node: how many edges it is on, and their totals as of the last render.

    Adding a flow touches only its edge; the map brings its nodes' totals up to date when it is
    rendered, by what each changed edge gained since then (:meth:`ConnectivityGraph.to_dict`).
    """

    __slots__ = (
        "connections",
        "edges",
        "failed",
        "id",
        "key",
        "rendered",
        "request_bytes",
        "response_bytes",
    )

    def __init__(self, key: NodeKey) -> None:
        self.key = key
        self.id = node_id(key)
        self.edges = 0
        self.connections = 0
        self.failed = 0
        self.request_bytes = 0
        self.response_bytes = 0
        self.rendered: dict[str, Any] | None = None  # None: changed since last rendered

    def gain(self, connections: int, failed: int, request_bytes: int, response_bytes: int) -> None:
        """Add what one of its edges gained (or, negative, lost) since the last render."""
        self.connections += connections
        self.failed += failed
        self.request_bytes += request_bytes
        self.response_bytes += response_bytes
        self.rendered = None

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


NO_TOTALS = (0, 0, 0, 0)


class _Edge:
    """One (source, target) pair, with what ``remove`` needs to undo an entry exactly."""

    __slots__ = (
        "connections",
        "ends",
        "failed",
        "id",
        "last_seen",
        "protocols",
        "refs",
        "rendered",
        "request_bytes",
        "response_bytes",
        "seen",
        "shown",
        "source",
        "target",
    )

    def __init__(self, source: _Node, target: _Node) -> None:
        self.id = f"{source.id}->{target.id}"
        self.source = source
        self.target = target
        self.ends = (source,) if source is target else (source, target)  # a self-loop counts once
        self.refs = 0
        self.connections = 0
        self.failed = 0
        self.request_bytes = 0
        self.response_bytes = 0
        self.protocols: dict[str, int] = {}
        self.seen: dict[int, int] = {}  # last_seen of every entry on the edge, and how many
        self.last_seen = 0
        self.rendered: dict[str, Any] | None = None  # None: changed since last rendered
        self.shown = NO_TOTALS  # the totals its nodes include (as of the last render)

    def show(self, totals: tuple[int, int, int, int]) -> None:
        """Bring the nodes' totals from what they include of this edge to ``totals``."""
        connections, failed, request_bytes, response_bytes = totals
        shown_connections, shown_failed, shown_request, shown_response = self.shown
        for node in self.ends:
            node.gain(
                connections - shown_connections,
                failed - shown_failed,
                request_bytes - shown_request,
                response_bytes - shown_response,
            )
        self.shown = totals

    def render(self) -> dict[str, Any]:
        totals = (self.connections, self.failed, self.request_bytes, self.response_bytes)
        if totals != self.shown:
            self.show(totals)
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
        self._routes: dict[Pair, _Edge] = {}  # the edge each flow pair was last counted on
        self._gone: list[_Edge] = []  # deleted edges whose totals the nodes still include
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
        self.add_flows((flow,))

    def remove(self, entry: Mapping[str, Any]) -> None:
        """Take back an entry counted by ``add`` (the store evicted it)."""
        try:
            flow = read_flow(entry)
        except NotAFlowError:
            return  # skipped when added: nothing to take back
        if not self.remove_flows((flow,)):
            self.skipped[NOT_ADDED] += 1

    def add_flows(self, flows: Iterable[Flow]) -> None:
        """Count already read flows (the hot path of every map: one edge update per flow)."""
        routes, route = self._routes, self._route
        changed = False
        for flow in flows:
            edge = routes.get(flow.pair)
            if edge is None or not edge.refs:  # never routed, or its edge was deleted
                edge = route(flow.pair)
            edge.refs += 1
            edge.connections += flow.starts
            edge.failed += flow.failed
            edge.request_bytes += flow.request_bytes
            edge.response_bytes += flow.response_bytes
            edge.rendered = None
            protocols, seen, last_seen = edge.protocols, edge.seen, flow.last_seen
            protocols[flow.protocol] = protocols.get(flow.protocol, 0) + 1
            seen[last_seen] = seen.get(last_seen, 0) + 1
            edge.last_seen = max(edge.last_seen, last_seen)
            changed = True
        if changed:
            self._version += 1

    def remove_flows(self, flows: Iterable[Flow]) -> int:
        """Take back flows counted by ``add_flows``; how many were (the others change nothing)."""
        routes, edges = self._routes, self._edges
        taken = 0
        for flow in flows:
            edge = routes.get(flow.pair)
            if edge is None or not edge.refs:
                edge = edges.get(self._route_key(flow.pair))
            protocol, last_seen = flow.protocol, flow.last_seen
            if edge is None or last_seen not in edge.seen or protocol not in edge.protocols:
                continue
            taken += 1
            edge.refs -= 1
            if not edge.refs:
                self._delete(edge)
                continue
            edge.connections -= flow.starts
            edge.failed -= flow.failed
            edge.request_bytes -= flow.request_bytes
            edge.response_bytes -= flow.response_bytes
            edge.rendered = None
            _take(edge.protocols, protocol)
            _take(edge.seen, last_seen)
            if last_seen == edge.last_seen and last_seen not in edge.seen:
                edge.last_seen = max(edge.seen)
        if taken:
            self._version += 1
        return taken

    def to_dict(self) -> dict[str, Any]:
        """The map: ``{"level", "nodes": [...], "edges": [...]}``, sorted by id.

        Built once per version, and only the nodes and edges that changed are rendered again:
        the dicts are shared between calls (every session sharing this map gets the same
        object until the next change), so treat them as read-only.
        """
        rendered = self._rendered
        if rendered is not None and rendered[0] == self._version:
            return rendered[1]
        for edge in self._gone:
            edge.show(NO_TOTALS)
        self._gone.clear()
        if self._order is None:
            self._order = (
                sorted(self._nodes.values(), key=_by_id),
                sorted(self._edges.values(), key=_by_id),
            )
        nodes, edges = self._order
        edge_dicts = [edge.rendered or edge.render() for edge in edges]  # updates the nodes
        result = {
            "level": self.level,
            "nodes": [node.rendered or node.render() for node in nodes],
            "edges": edge_dicts,
        }
        self._rendered = (self._version, result)
        return result

    def _route(self, flow_pair: Pair) -> _Edge:
        """The edge of a flow pair at this level (made if new), remembered for the next flow."""
        key = self._route_key(flow_pair)
        edge = self._edges.get(key)
        if edge is None:
            edge = self._edges[key] = _Edge(self._node(key[0]), self._node(key[1]))
            for node in edge.ends:
                node.edges += 1
            self._order = None
        if len(self._routes) >= MAX_ROUTES:
            self._routes.clear()
        self._routes[flow_pair] = edge
        return edge

    def _route_key(self, flow_pair: Pair) -> tuple[NodeKey, NodeKey]:
        return (node_key(flow_pair.client, self.level), node_key(flow_pair.server, self.level))

    def _delete(self, edge: _Edge) -> None:
        """Forget an edge whose last flow was taken back (and the nodes left with no edge)."""
        del self._edges[(edge.source.key, edge.target.key)]
        for node in edge.ends:
            node.edges -= 1
            if not node.edges:
                del self._nodes[node.key]
        if edge.shown != NO_TOTALS:
            self._gone.append(edge)  # its nodes still include it until the next render
        self._order = None

    def _node(self, key: NodeKey) -> _Node:
        node = self._nodes.get(key)
        if node is None:
            node = self._nodes[key] = _Node(key)
        return node


def _take(counter: dict[Any, int], key: object) -> None:
    left = counter[key] - 1
    if left:
        counter[key] = left
    else:
        del counter[key]


def _by_id(item: _Node | _Edge) -> str:
    return item.id
