from __future__ import annotations

import gc
import time
from typing import ClassVar

import msgspec
import pytest

from contract.schema import Address, Entry, NatInfo, Node, TcpInfo
from dashboard.core.config import HubConfig
from dashboard.core.garbage import GC_FULL_EVERY
from dashboard.core.hub import Hub
from dashboard.core.ingest.sources import LocalEntrySource
from dashboard.core.naming.index import ClusterIndex
from dashboard.core.targeting.scopes import LocalScopes
from dashboard.core.targeting.spec import TargetingSpec
from dashboard.errors import HubConfigError
from kfl import compile_filter
from tests.dashboard import objects as k8s
from tests.dashboard.hubentries import cluster_index, dns_entry, tcp_entry

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
    assert stats["merge"] == {
        "redelivered": 1,
        "merged": 1,
        "held": 0,
        "heldTotal": 0,
        "heldEarly": 0,
    }
    assert stats["invalid"] == {"not JSON": 1, "id": 1}
    text = hub.metrics.render().decode()
    assert "podscope_hub_duplicates_merged_total 2.0" in text
    assert 'podscope_hub_entries_invalid_total{reason="not JSON"} 1.0' in text


async def test_maps_follow_the_store_window() -> None:
    hub = Hub(HubConfig(store_size=2), cluster_index())
    hub.accept([tcp_entry(n, src=("10.244.1.10", 41000 + n), dst=CART, event="connect")
                        for n in range(1, 4)])  # fmt: skip
    everything = await hub.graph(compile_filter(""), "workload")
    filtered = await hub.graph(compile_filter("tcp"), "workload")
    assert [edge["connections"] for edge in everything["edges"]] == [2]
    assert [edge["connections"] for edge in filtered["edges"]] == [2]


async def test_entries_honour_limit_in_the_query() -> None:
    hub = Hub(HubConfig(), cluster_index())
    hub.accept([tcp_entry(n, src=("10.244.1.10", 41000 + n)) for n in range(1, 6)])
    found = await hub.entries(compile_filter("tcp and limit(2)"), limit=100, before=None)
    assert [wire["id"] for _, wire in found] == ["w1/5", "w1/4"]


def test_live_stats_summarise_each_worker() -> None:
    hub = Hub(HubConfig(), cluster_index())
    hub.workers = {
        "w1": {
            "worker": "w1",
            "node": "node-1",
            "mode": "connections",
            "timestamp": 1000.0,
            "pipeline": {"packets": 10, "entries": 4, "malformed": 1},
            "sniffer": {"kernelDrops": 2},
            "publisher": {"dropped": 3},
        },
        "odd": {"pipeline": "not a dict", "sniffer": {"kernelDrops": True}},
    }
    workers = hub.live_stats(now=1012.5)["workers"]
    assert workers["w1"] == {
        "node": "node-1",
        "mode": "connections",
        "timestamp": 1000.0,
        "age": 12.5,
        "packets": 10,
        "entries": 4,
        "malformed": 1,
        "kernelDrops": 2,
        "entriesDropped": 3,
    }
    assert workers["odd"]["packets"] == 0
    assert workers["odd"]["kernelDrops"] == 0
    assert workers["odd"]["age"] is None


def test_live_stats_count_what_the_global_filter_excluded() -> None:
    hub = Hub(HubConfig(global_filter="src.port != 41002"), cluster_index())
    hub.accept([tcp_entry(n, src=("10.244.1.10", 41000 + n)) for n in range(1, 4)])
    stats = hub.live_stats()["globalFilter"]
    assert stats == {"query": "src.port != 41002", "excluded": 1}
    assert len(hub.store) == 2
    assert hub.live_stats()["connections"] == 0  # close events of connections seen open before


async def test_start_makes_full_gc_collections_rare() -> None:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    hub = Hub(HubConfig())
    try:
        hub.start()
        assert gc.get_threshold() == (700, 10, GC_FULL_EVERY)
        assert not hub.running  # no source: the garbage collector's task alone is not ingest
        assert hub.stats()["gc"]["fullCollections"] == 0
    finally:
        await hub.stop()
        gc.set_threshold(*before)


def test_global_filter_keeps_only_matching_named_entries() -> None:
    config = HubConfig(global_filter='dst.workload == "cart"')  # a name the hub gives
    hub = Hub(config, cluster_index())
    hub.accept(
        [
            tcp_entry(1, dst=CART),
            tcp_entry(2, dst=("10.244.1.12", 9000)),
            dns_entry(3, "example.com", "93.184.216.34"),
        ]
    )
    assert [stored.wire["id"] for stored in hub.store] == ["w1/1"]
    assert hub.stats()["globalFilter"] == {"query": 'dst.workload == "cart"', "excluded": 2}
    assert "podscope_hub_entries_excluded_total 2.0" in hub.metrics.render().decode()


def test_a_bad_global_filter_is_a_config_error() -> None:
    with pytest.raises(HubConfigError, match="PODSCOPE_GLOBAL_FILTER"):
        Hub(HubConfig(global_filter="tcp and ("), cluster_index())


def test_settings_give_the_global_filter_and_initial_targeting() -> None:
    settings = {
        "STORE_SIZE": 10,
        "PREFIX": "p",
        "DEMO": False,
        "AUTH": False,
        "MAX_SESSIONS": 5,
        "MAX_QUERY_CHARS": 100,
        "FILTERS_PER_MINUTE": 10,
        "GLOBAL_FILTER": "tcp",
        "TAP_REGEX": "^cart",
        "TAP_NAMESPACES": ("shop",),
        "TAP_EXCLUDED_NAMESPACES": (),
    }
    config = HubConfig.from_settings(settings)
    assert config.global_filter == "tcp"
    assert config.targeting == TargetingSpec("^cart", ("shop",))
    hub = Hub(config, cluster_index(), scopes=LocalScopes("node-1", lambda scope: None))
    assert hub.targeting is not None
    assert hub.targeting.spec == TargetingSpec("^cart", ("shop",))
    with pytest.raises(HubConfigError, match="PODSCOPE_TAP_REGEX"):
        HubConfig.from_settings({**settings, "TAP_REGEX": "(unclosed"})


class _LossySource(LocalEntrySource):
    """A source whose counters say entries were lost on the way."""

    lost: ClassVar[dict[str, object]] = {
        "total": 7,
        "workers": {"w1": 5, "w2": 2},
        "trimmedPast": 1,
        "recreated": 0,
    }

    def source_stats(self) -> dict[str, object]:
        return {"connected": True, "lost": self.lost}


def test_lost_entries_are_in_the_stats_the_live_stats_and_the_metrics() -> None:
    hub = Hub(HubConfig(), cluster_index())
    assert hub.stats()["lost"]["total"] == 0
    hub.update_source(_LossySource())
    hub.update_source(_LossySource())  # the same counts: no double counting
    assert hub.stats()["lost"] == _LossySource.lost
    assert hub.live_stats()["lost"] == 7
    text = hub.metrics.render().decode()
    assert 'podscope_hub_entries_lost_total{worker="w1"} 5.0' in text
    assert 'podscope_hub_entries_lost_total{worker="w2"} 2.0' in text


def test_entries_dated_past_the_year_9999_are_refused_at_ingest() -> None:
    hub = Hub(HubConfig(), cluster_index())
    hub.accept([tcp_entry(1, timestamp=253_402_300_800_000), tcp_entry(2)])
    assert [s.wire["id"] for s in hub.store] == ["w1/2"]
    assert hub.stats()["invalid"] == {"timestamp": 1}


def test_a_kfl2_global_filter_reads_the_labels_naming_put_on_the_entry() -> None:
    config = HubConfig(global_filter="map_get(remote_labels, 'app', '') == 'cart'")
    hub = Hub(config, cluster_index())
    hub.accept([tcp_entry(1, dst=CART), tcp_entry(2, dst=("10.244.1.12", 9000))])
    (stored,) = list(hub.store)
    assert stored.wire["id"] == "w1/1"
    assert stored.wire["dst"]["labels"]["app"] == "cart"


def two_node_hub(hold_seconds: float) -> Hub:
    """A hub that knows shop/frontend on node-1, shop/cart on node-2 behind the Service cart
    (10.96.0.20:80), and sees a worker on each node."""
    index = ClusterIndex(cluster_cidrs=["10.244.0.0/16"])
    index.replace("Node", [k8s.node("node-1", "172.18.0.2", "10.244.1.0/24"),
                           k8s.node("node-2", "172.18.0.3", "10.244.2.0/24")])  # fmt: skip
    index.replace("Pod", [k8s.pod("frontend-1", "shop", "10.244.1.10"),
                          k8s.pod("cart-1", "shop", "10.244.2.11", node="node-2")])  # fmt: skip
    index.replace("Service", [k8s.service("cart", "shop", "10.96.0.20")])
    hub = Hub(HubConfig(vantage_hold_seconds=hold_seconds), index)
    source = LocalEntrySource()
    for node in ("node-1", "node-2"):
        source.report(f"w-{node}", {"timestamp": time.time(), "node": node})
    hub.update_source(source)
    return hub


def reported_by(node: str, number: int, *, dialed: bool) -> Entry:
    """frontend -> cart's close, as ``node``'s worker reports it (the client's node saw the
    Service VIP dialed)."""
    entry = tcp_entry(number, worker=f"w-{node}", src=("10.244.1.10", 40000),
                      dst=("10.244.2.11", 8080), timestamp=int(time.time() * 1000))  # fmt: skip
    nat = NatInfo(dialed=Address("10.96.0.20", 80)) if dialed else None
    tcp = TcpInfo(event="close", isn=12345)
    return msgspec.structs.replace(entry, node=Node(node), nat=nat, tcp=tcp)


def test_the_client_nodes_report_wins_even_when_the_server_nodes_comes_first() -> None:
    hub = two_node_hub(hold_seconds=0.2)
    hub.accept([reported_by("node-2", 1, dialed=False)])  # the server's node is quicker
    assert hub.accepted == 0
    assert hub.stats()["merge"]["held"] == 1
    hub.accept([reported_by("node-1", 2, dialed=True)])
    time.sleep(0.25)
    hub.accept([])
    (stored,) = list(hub.store)
    assert stored.wire["dst"]["service"] == "cart"
    assert stored.wire["nat"]["dialed"] == {"ip": "10.96.0.20", "port": 80}
    assert stored.wire["node"]["name"] == "node-1"
    merge = hub.stats()["merge"]
    assert (merge["merged"], merge["held"], merge["heldTotal"]) == (1, 0, 1)


def test_a_server_nodes_report_alone_is_the_entry_after_the_hold() -> None:
    hub = two_node_hub(hold_seconds=0.2)
    hub.accept([reported_by("node-2", 1, dialed=False)])
    hub.accept([])
    assert hub.accepted == 0
    time.sleep(0.25)
    hub.accept([])
    (stored,) = list(hub.store)
    assert (stored.wire["node"]["name"], stored.wire["dst"]["pod"]) == ("node-2", "cart-1")


def test_history_and_a_lone_node_are_never_held() -> None:
    hub = two_node_hub(hold_seconds=60)
    hub.accept([reported_by("node-2", 1, dialed=False)], live=False)  # a restart's history
    assert hub.accepted == 1
    source = LocalEntrySource()
    source.report("w-node-2", {"timestamp": time.time(), "node": "node-2"})
    hub.update_source(source)  # node-1's worker is gone: nobody else will report
    hub.accept([reported_by("node-2", 3, dialed=False)])
    assert hub.accepted == 2
