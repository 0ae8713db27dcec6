"""The map of every stored entry, at the levels someone looks at.

The hub's own map (the match-everything view of each level, ``/api/map`` without a filter, the
Grafana node graph) aggregates every stored entry. Counting each entry at all three levels
costs three map updates per entry and three more when it is evicted, so only the namespace
level, the dashboard's default, is always kept. The workload and pod maps are built from the
store when first asked for, kept up to date while a session views them (``acquire`` /
``release``), and dropped ``keep_seconds`` after the last one-off request (``graph``) or view.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence

from dashboard.core.outputs.graph import LEVELS, ConnectivityGraph, Level
from dashboard.core.store.entrystore import EntryStore, flows_of
from dashboard.core.store.flows import Flow

ALWAYS_KEPT: Level = "namespace"
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
        self._graphs: dict[Level, ConnectivityGraph] = {ALWAYS_KEPT: ConnectivityGraph(ALWAYS_KEPT)}
        self._viewers: Counter[Level] = Counter()  # views holding each level's map
        self._last_used: dict[Level, float] = {}  # each level's last request or view

    @property
    def kept(self) -> list[Level]:
        """The levels whose map is kept up to date now, in LEVELS order."""
        return [level for level in LEVELS if level in self._graphs]

    def graph(self, level: Level) -> ConnectivityGraph:
        """The map at ``level`` for a one-off request; ValueError for an unknown level."""
        graph = self._kept(level)
        self._last_used[level] = self._clock()
        return graph

    def acquire(self, level: Level) -> ConnectivityGraph:
        """The map at ``level`` for a view: kept up to date until the view ``release``s it."""
        graph = self._kept(level)
        self._viewers[level] += 1
        return graph

    def release(self, level: Level) -> None:
        """A view no longer uses the map at ``level``."""
        self._viewers[level] -= 1
        if self._viewers[level] <= 0:
            del self._viewers[level]
            self._last_used[level] = self._clock()

    def update(self, flows: Sequence[Flow], gone: Sequence[Flow]) -> None:
        """Count newly stored flows and take out evicted ones on every kept level; drop the
        levels nobody used for ``keep_seconds``."""
        now = self._clock()
        for level, graph in list(self._graphs.items()):
            idle = now - self._last_used.get(level, now)
            if level != ALWAYS_KEPT and not self._viewers[level] and idle >= self._keep_seconds:
                del self._graphs[level]
                continue
            graph.add_flows(flows)
            graph.remove_flows(gone)

    def _kept(self, level: Level) -> ConnectivityGraph:
        if level not in LEVELS:
            raise ValueError(f"unknown map level {level!r} (known: {', '.join(LEVELS)})")
        graph = self._graphs.get(level)
        if graph is None:
            graph = self._graphs[level] = ConnectivityGraph(level)
            graph.add_flows(flows_of(self._store))
        return graph
