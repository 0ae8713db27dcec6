"""Tests for dashboard.core.outputs.storemaps: the maps of every stored entry, kept only where
used."""

from __future__ import annotations

import pytest

from bench.entrygen import generate
from dashboard.core.outputs.graph import LEVELS, ConnectivityGraph
from dashboard.core.outputs.storemaps import StoreMaps
from dashboard.core.store.entrystore import EntryStore, flows_of
from tests.dashboard.fakeclock import FakeClock
from tests.dashboard.flowdata import through_services

ENTRIES = through_services(generate(600, seed=6))


def fill(store: EntryStore, maps: StoreMaps, wires: list[dict[str, object]]) -> None:
    """Store entries and update the maps as the hub does."""
    added, evicted = store.add(wires)
    maps.update(
        flows_of(added),
        flows_of(evicted),
    )


def expected(store: EntryStore, level: str, services: bool = False) -> dict[str, object]:
    graph = ConnectivityGraph(level, services=services)  # type: ignore[arg-type]
    graph.add_flows(flows_of(store))
    return graph.to_dict()


def test_every_level_is_the_map_of_the_stored_entries_whenever_asked() -> None:
    store, clock = EntryStore(250), FakeClock(100.0)
    maps = StoreMaps(store, clock=clock)
    fill(store, maps, ENTRIES[:300])  # only the namespace map is kept so far
    assert maps.kept == [("namespace", False)]
    for level in LEVELS:  # the others are built from the store when asked for
        for services in (False, True):
            found = maps.graph(level, services).to_dict()
            assert found == expected(store, level, services)
    fill(store, maps, ENTRIES[300:])  # evicting: every kept map follows the store
    for level in LEVELS:
        for services in (False, True):
            found = maps.graph(level, services).to_dict()
            assert found == expected(store, level, services)
    # the namespace level shows no Services: one map for both
    assert maps.kept == [
        ("namespace", False),
        ("workload", False),
        ("workload", True),
        ("pod", False),
        ("pod", True),
    ]
    assert maps.graph("namespace", True) is maps.graph("namespace")


def test_a_level_nobody_uses_is_dropped_after_the_keep_time_and_rebuilt_when_asked() -> None:
    store, clock = EntryStore(1_000), FakeClock(100.0)
    maps = StoreMaps(store, keep_seconds=60, clock=clock)
    maps.graph("pod")
    viewed = maps.acquire("workload")
    clock.now += 61
    fill(store, maps, ENTRIES[:200])
    assert maps.kept == [("namespace", False), ("workload", False)]  # pod: asked for long ago
    assert viewed.to_dict() == expected(store, "workload")
    maps.release("workload")
    fill(store, maps, ENTRIES[200:300])
    assert maps.kept == [("namespace", False), ("workload", False)]  # kept a while after its view
    clock.now += 61
    fill(store, maps, ENTRIES[300:400])
    assert maps.kept == [("namespace", False)]
    assert maps.graph("pod").to_dict() == expected(store, "pod")


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown map level 'cluster'"):
        StoreMaps(EntryStore(10)).graph("cluster")  # type: ignore[arg-type]
