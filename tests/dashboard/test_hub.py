from __future__ import annotations

import gc

from dashboard.hub import GC_FULL_EVERY, Hub, HubConfig
from kfl import compile_filter
from tests.dashboard.hubentries import cluster_index, tcp_entry

CART = ("10.244.1.11", 8080)


def test_accept_validates_merges_names_and_counts() -> None:
    hub = Hub(HubConfig(store_size=10), cluster_index())
    first = tcp_entry(1, dst=CART, event="connect", worker="w1")
    same_from_w2 = tcp_entry(5, dst=CART, event="connect", worker="w2")
    hub.accept([first.to_json(), first.to_json().encode(), same_from_w2, "{", b'{"v": 1}'])
    assert hub.accepted == 1
    (stored,) = list(hub.store)
    assert stored.wire["src"]["workload"] == "frontend"
    assert stored.wire["dst"]["pod"].startswith("cart-")
    stats = hub.stats()
    assert stats["merge"] == {"redelivered": 1, "merged": 1}
    assert stats["invalid"] == {"not JSON": 1, "id": 1}
    text = hub.metrics.render().decode()
    assert "podscope_hub_duplicates_merged_total 2.0" in text
    assert 'podscope_hub_entries_invalid_total{reason="not JSON"} 1.0' in text


def test_maps_follow_the_store_window() -> None:
    hub = Hub(HubConfig(store_size=2), cluster_index())
    hub.accept([tcp_entry(n, src=("10.244.1.10", 41000 + n), dst=CART, event="connect")
                        for n in range(1, 4)])  # fmt: skip
    everything = hub.graph(compile_filter(""), "workload")
    filtered = hub.graph(compile_filter("tcp"), "workload")
    assert [edge["connections"] for edge in everything["edges"]] == [2]
    assert [edge["connections"] for edge in filtered["edges"]] == [2]


def test_entries_honour_limit_in_the_query() -> None:
    hub = Hub(HubConfig(), cluster_index())
    hub.accept([tcp_entry(n, src=("10.244.1.10", 41000 + n)) for n in range(1, 6)])
    found = hub.entries(compile_filter("tcp and limit(2)"), limit=100, before=None)
    assert [wire["id"] for _, wire in found] == ["w1/5", "w1/4"]


def test_live_stats_summarise_each_worker() -> None:
    hub = Hub(HubConfig(), cluster_index())
    hub.workers = {
        "w1": {
            "worker": "w1",
            "node": "node-1",
            "mode": "connections",
            "pipeline": {"packets": 10, "entries": 4, "malformed": 1},
            "sniffer": {"kernel_drops": 2},
            "publisher": {"dropped": 3},
        },
        "odd": {"pipeline": "not a dict", "sniffer": {"kernel_drops": True}},
    }
    workers = hub.live_stats()["workers"]
    assert workers["w1"] == {
        "node": "node-1",
        "mode": "connections",
        "timestamp": None,
        "packets": 10,
        "entries": 4,
        "malformed": 1,
        "kernelDrops": 2,
        "entriesDropped": 3,
    }
    assert workers["odd"]["packets"] == 0
    assert workers["odd"]["kernelDrops"] == 0


async def test_start_makes_full_gc_collections_rare() -> None:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    hub = Hub(HubConfig())
    try:
        hub.start()
        assert gc.get_threshold() == (700, 10, GC_FULL_EVERY)
    finally:
        await hub.stop()
        gc.set_threshold(*before)
