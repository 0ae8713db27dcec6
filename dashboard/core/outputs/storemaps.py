"""The map of every stored entry, at the levels someone looks at.

The hub's own map (the match-everything view of each level, ``/api/map`` without a filter, the
Grafana node graph) aggregates every stored entry. Counting each entry at all three levels
costs three map updates per entry and three more when it is evicted, so only the namespace
level, the dashboard's default, is always kept. The workload and pod maps are built from the
store when first asked for, kept up to date while a session views them (``acquire`` /
``release``), and dropped ``keep_seconds`` after the last one-off request (``graph``) or view.
A map is asked for by its level and whether it shows Services
(:func:`~dashboard.core.outputs.graph.shows_services`): the workload and pod levels have a map of
each kind.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence

from dashboard.core.outputs.graph import LEVELS, ConnectivityGraph, Level, shows_services
from dashboard.core.store.entrystore import EntryStore, flows_of
from dashboard.core.store.flows import Flow

MapKey = tuple[Level, bool]  # a level, and whether its map shows Services
ALWAYS_KEPT: MapKey = ("namespace", False)
KEEP_SECONDS = 120.0  # a map asked for once is kept this long (Grafana polls every few seconds)


class StoreMaps:
    """The map of the stored entries at each level in use (see the module docstring)."""

    def __init__(
        self,
        store: EntryStore,
        *,
        keep_seconds: float = KEEP_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._keep_seconds = keep_seconds
        self._clock = clock
        self._graphs: dict[MapKey, ConnectivityGraph] = {
            ALWAYS_KEPT: ConnectivityGraph("namespace")
        }
        self._viewers: Counter[MapKey] = Counter()  # views holding each map
        self._last_used: dict[MapKey, float] = {}  # each map's last request or view

    @property
    def kept(self) -> list[MapKey]:
        """The maps kept up to date now: (level, shows Services), in LEVELS order."""
        return [
            key
            for level in LEVELS
            for key in ((level, False), (level, True))
            if key in self._graphs
        ]

    def graph(self, level: Level, services: bool = False) -> ConnectivityGraph:
        """The map at ``level`` (showing Services if asked and it can) for a one-off request;
        ValueError for an unknown level."""
        key = self._key(level, services)
        graph = self._kept(key)
        self._last_used[key] = self._clock()
        return graph

    def acquire(self, level: Level, services: bool = False) -> ConnectivityGraph:
        """The map at ``level`` for a view: kept up to date until the view ``release``s it."""
        key = self._key(level, services)
        graph = self._kept(key)
        self._viewers[key] += 1
        return graph

    def release(self, level: Level, services: bool = False) -> None:
        """A view no longer uses the map at ``level``."""
        key = self._key(level, services)
        self._viewers[key] -= 1
        if self._viewers[key] <= 0:
            del self._viewers[key]
            self._last_used[key] = self._clock()

    def update(self, flows: Sequence[Flow], gone: Sequence[Flow]) -> None:
        """Count newly stored flows and take out evicted ones on every kept level; drop the
        levels nobody used for ``keep_seconds``."""
        now = self._clock()
        for key, graph in list(self._graphs.items()):
            idle = now - self._last_used.get(key, now)
            if key != ALWAYS_KEPT and not self._viewers[key] and idle >= self._keep_seconds:
                del self._graphs[key]
                continue
            graph.add_flows(flows)
            graph.remove_flows(gone)

    @staticmethod
    def _key(level: Level, services: bool) -> MapKey:
        if level not in LEVELS:
            raise ValueError(f"unknown map level {level!r} (known: {', '.join(LEVELS)})")
        return (level, shows_services(level, services))

    def _kept(self, key: MapKey) -> ConnectivityGraph:
        graph = self._graphs.get(key)
        if graph is None:
            level, services = key
            graph = self._graphs[key] = ConnectivityGraph(level, services=services)
            graph.add_flows(flows_of(self._store))
        return graph
