"""The connectivity map: named wire entries aggregated into nodes and edges, incrementally.

Three levels: ``namespace``, ``workload`` and ``pod``. Each side of a flow
(:mod:`dashboard.core.store.flows`) becomes a node, by its endpoint kind:

- a pod: its namespace, its workload, or the pod itself (node kinds namespace, workload, pod);
- a Service: its namespace, else a ``workload`` node of the Service's name (at the pod level
  too: which pod answered is not known); at the workload level, traffic through a Service and
  straight to its pods meet on one node when the Service has the workload's name. A map that
  shows Services (``services=True``, at the workload and pod levels) draws it as a node of its
  own, kind ``service``;
- a node: the node, by name (kind node) at every level;
- an external destination: by the DNS name it was resolved from, else by IP (kind external);
- an unknown in-cluster address: by IP (kind unknown).

An edge goes from client to server and carries connections, failures, bytes each way, last
seen (ms, the end of its newest entry) and the protocols seen; what one entry adds is decided by
:func:`dashboard.core.store.flows.read_flow`. A node carries the totals of the edges it is on (a
self-loop counts once).

On a map that shows Services, a flow that went through one (its pair's ``via``) is two hops,
client -> Service -> server, and each hop counts the flow once. The Service node counts it on
the way in only, and a client that reached itself through a Service counts it once: every node's
totals stay one count per connection, as on a map without Services.

``remove`` exactly undoes ``add``, so a graph over a sliding window of entries is always the
graph of the entries in the window. Entries that describe no flow are skipped and counted in
``skipped`` by reason (never raised); so is a ``remove`` of an entry never added.

Counting a flow touches one edge (two through a Service), found by the flow's interned
:class:`~dashboard.core.store.flows.Pair`; nodes take their totals from the edges that changed
when the map is rendered.

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
SERVICE = "service"
MAX_ROUTES = 65_536  # flow pairs a map remembers the edge of

NodeKey = tuple[str, str, str]  # (node kind, namespace, label)
RouteKey = tuple[NodeKey, NodeKey, NodeKey | None]  # client, server, the Service between
Totals = tuple[int, int, int, int]  # connections, failed, request bytes, response bytes


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


NO_TOTALS: Totals = (0, 0, 0, 0)


class _Edge:
    """One (source, target) pair, with what ``remove`` needs to undo an entry exactly.

    ``nodes`` are its ends; ``ends`` those whose totals include it: both, but an edge leaving a
    Service only its target (the Service counted the flow on the way in). ``looped`` is what
    flows that came from its target through the Service add (its target counted them already).
    """

    __slots__ = (
        "connections",
        "ends",
        "failed",
        "id",
        "last_seen",
        "looped",
        "nodes",
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
        self.nodes = (source,) if source is target else (source, target)  # a self-loop counts once
        self.ends = (target,) if source.key[0] == SERVICE else self.nodes
        self.looped = NO_TOTALS
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

    def add(self, flow: Flow) -> None:
        """Count a flow on this edge."""
        self.refs += 1
        self.connections += flow.starts
        self.failed += flow.failed
        self.request_bytes += flow.request_bytes
        self.response_bytes += flow.response_bytes
        self.rendered = None
        protocols, seen, last_seen = self.protocols, self.seen, flow.last_seen
        protocols[flow.protocol] = protocols.get(flow.protocol, 0) + 1
        seen[last_seen] = seen.get(last_seen, 0) + 1
        self.last_seen = max(self.last_seen, last_seen)

    def holds(self, flow: Flow) -> bool:
        """Whether a flow like this one was counted here (``take`` may take it back)."""
        return flow.last_seen in self.seen and flow.protocol in self.protocols

    def take(self, flow: Flow) -> bool:
        """Take back a flow counted by ``add``; True when it was the edge's last."""
        self.refs -= 1
        if not self.refs:
            return True
        self.connections -= flow.starts
        self.failed -= flow.failed
        self.request_bytes -= flow.request_bytes
        self.response_bytes -= flow.response_bytes
        self.rendered = None
        last_seen = flow.last_seen
        _take(self.protocols, flow.protocol)
        _take(self.seen, last_seen)
        if last_seen == self.last_seen and last_seen not in self.seen:
            self.last_seen = max(self.seen)
        return False

    def loop(self, flow: Flow, sign: int) -> None:
        """Count (``sign`` 1) or take back (-1) a flow that came from this edge's target."""
        connections, failed, request_bytes, response_bytes = self.looped
        self.looped = (
            connections + sign * flow.starts,
            failed + sign * flow.failed,
            request_bytes + sign * flow.request_bytes,
            response_bytes + sign * flow.response_bytes,
        )

    def show(self, totals: Totals) -> None:
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
        if self.looped != NO_TOTALS:
            totals = (
                totals[0] - self.looped[0],
                totals[1] - self.looped[1],
                totals[2] - self.looped[2],
                totals[3] - self.looped[3],
            )
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


_Route = tuple[_Edge, "_Edge | None", bool]
"""The edges a flow pair counts on: from the client, then from the Service it went through to the
server (None when the map draws no Service between them), and whether the client is the server's
node (the second hop's counts are looped)."""


def node_key(side: Side, level: Level, services: bool = False) -> NodeKey:
    """The node a flow's side is at ``level``: (node kind, namespace, label); ``services``: a
    Service is a node of its own (kind service), as on a map that shows Services."""
    kind = side.kind
    if kind == "pod":
        if level == "pod":
            return ("pod", side.namespace, side.pod)
        if level == "workload":
            return ("workload", side.namespace, side.workload)
        return ("namespace", side.namespace, side.namespace)
    if kind == SERVICE:
        if level == "namespace":
            return ("namespace", side.namespace, side.namespace)
        return (SERVICE if services else "workload", side.namespace, side.workload)
    return (kind, "", side.workload)


def node_id(key: NodeKey) -> str:
    """Stable text id of a node: ``pod:shop/cart-7d9f-x2x4``, ``external:api.stripe.com``."""
    kind, namespace, label = key
    if kind == "namespace" or not namespace:
        return f"{kind}:{label}"
    return f"{kind}:{namespace}/{label}"


def shows_services(level: Level, services: bool) -> bool:
    """Whether a map at ``level`` asked to show Services does: at the workload and pod levels
    (a namespace holds its Services)."""
    return services and level != "namespace"


class ConnectivityGraph:
    """Connectivity map of named wire entries at one level, updated incrementally.

    ``services``: draw the Services flows went through as nodes between their clients and
    servers (at the workload and pod levels only: ``self.services`` says if it does).
    """

    def __init__(self, level: Level, *, services: bool = False) -> None:
        if level not in LEVELS:
            raise ValueError(f"unknown map level {level!r} (known: {', '.join(LEVELS)})")
        self.level: Level = level
        self.services = shows_services(level, services)
        self.skipped: Counter[str] = Counter()
        self._edges: dict[tuple[NodeKey, NodeKey], _Edge] = {}
        self._nodes: dict[NodeKey, _Node] = {}
        self._routes: dict[Pair, _Route] = {}  # the edges each flow pair was last counted on
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
        """Count already read flows (the hot path of every map: one edge update per flow, two
        through a Service)."""
        routes, make_route = self._routes, self._route
        changed = False
        for flow in flows:
            route = routes.get(flow.pair)
            if route is None or not route[0].refs or (route[1] is not None and not route[1].refs):
                route = make_route(flow.pair)  # never routed, or an edge was deleted
            edge, hop, loop = route
            # _Edge.add inlined: this runs once per flow and map level (the hop is rarer)
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
            if hop is not None:
                hop.add(flow)
                if loop:
                    hop.loop(flow, 1)
            changed = True
        if changed:
            self._version += 1

    def remove_flows(self, flows: Iterable[Flow]) -> int:
        """Take back flows counted by ``add_flows``; how many were (the others change nothing)."""
        routes = self._routes
        taken = 0
        for flow in flows:
            route = routes.get(flow.pair)
            if route is None or not route[0].refs or (route[1] is not None and not route[1].refs):
                route = self._found(flow.pair)
            if route is None:
                continue
            edge, hop, loop = route
            protocol, last_seen = flow.protocol, flow.last_seen
            if last_seen not in edge.seen or protocol not in edge.protocols:
                continue
            if hop is not None:
                if not hop.holds(flow):
                    continue
                if loop:
                    hop.loop(flow, -1)
                if hop.take(flow):
                    self._delete(hop)
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
        """The map: ``{"level", "services", "nodes": [...], "edges": [...]}``, sorted by id.

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
            "services": self.services,
            "nodes": [node.rendered or node.render() for node in nodes],
            "edges": edge_dicts,
        }
        self._rendered = (self._version, result)
        return result

    def _route(self, flow_pair: Pair) -> _Route:
        """The edges of a flow pair on this map (made if new), remembered for the next flow."""
        client, server, via = self._route_key(flow_pair)
        route: _Route
        if via is None:
            route = (self._edge(client, server), None, False)
        else:
            route = (self._edge(client, via), self._edge(via, server), client == server)
        if len(self._routes) >= MAX_ROUTES:
            self._routes.clear()
        self._routes[flow_pair] = route
        return route

    def _found(self, flow_pair: Pair) -> _Route | None:
        """The edges a flow pair counted on, looked up (None when one of them is gone)."""
        client, server, via = self._route_key(flow_pair)
        edges = self._edges
        if via is None:
            edge = edges.get((client, server))
            return None if edge is None else (edge, None, False)
        edge, hop = edges.get((client, via)), edges.get((via, server))
        return None if edge is None or hop is None else (edge, hop, client == server)

    def _route_key(self, flow_pair: Pair) -> RouteKey:
        level, services, via = self.level, self.services, flow_pair.via
        client = node_key(flow_pair.client, level, services)
        server = node_key(flow_pair.server, level, services)
        return (client, server, node_key(via, level, True) if services and via else None)

    def _edge(self, source: NodeKey, target: NodeKey) -> _Edge:
        """The edge from ``source`` to ``target`` (made, with its nodes, if new)."""
        edge = self._edges.get((source, target))
        if edge is None:
            edge = self._edges[(source, target)] = _Edge(self._node(source), self._node(target))
            for node in edge.nodes:
                node.edges += 1
            self._order = None
        return edge

    def _delete(self, edge: _Edge) -> None:
        """Forget an edge whose last flow was taken back (and the nodes left with no edge)."""
        del self._edges[(edge.source.key, edge.target.key)]
        for node in edge.nodes:
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
