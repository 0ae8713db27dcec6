from __future__ import annotations

from collections.abc import Mapping

import redis

from dashboard.core.targeting.scopes import LocalScopes, SavedSpec, Targeting
from dashboard.core.targeting.spec import TargetingSpec
from tests.dashboard.hubentries import LAYOUT, cluster_index, pod


def test_scopes_follow_pods_as_they_come_and_go() -> None:
    index = cluster_index()
    requested: list[str] = []
    targeting = Targeting(index, LocalScopes("node-1", requested.append))
    targeting.set(TargetingSpec(namespaces=("payments",)))
    assert requested == ["host 10.244.1.12"]
    targeting.refresh()
    assert requested == ["host 10.244.1.12"]  # nothing changed: nothing delivered again
    pods = [pod(ns, name, ip) for ns, name, ip in LAYOUT]
    index.replace("Pod", [*pods, pod("payments", "ledger", "10.244.1.20")])
    targeting.refresh()
    assert requested[-1] == "host 10.244.1.12 or host 10.244.1.20"
    assert targeting.scopes() == {"node-1": "host 10.244.1.12 or host 10.244.1.20"}


class FlakySink:
    def __init__(self) -> None:
        self.fail = True
        self.applied: list[dict[str, str]] = []

    def apply(self, scopes: Mapping[str, str]) -> None:
        if self.fail:
            raise redis.ConnectionError("redis is down")
        self.applied.append(dict(scopes))

    def load_spec(self) -> SavedSpec | None:
        return None

    def save_spec(self, saved: SavedSpec) -> None:
        return None


def test_delivery_failures_are_counted_and_retried() -> None:
    sink = FlakySink()
    targeting = Targeting(cluster_index(), sink)
    targeting.set(TargetingSpec(pod_regex="^cart-"))
    assert targeting.errors == 1
    assert targeting.scopes() == {}
    sink.fail = False
    targeting.refresh()
    assert sink.applied == [{"node-1": "host 10.244.1.11"}]


class SavedSpecSink:
    def __init__(self, saved: SavedSpec | None) -> None:
        self.saved = saved
        self.applied: list[dict[str, str]] = []

    def apply(self, scopes: Mapping[str, str]) -> None:
        self.applied.append(dict(scopes))

    def load_spec(self) -> SavedSpec | None:
        return self.saved

    def save_spec(self, saved: SavedSpec) -> None:
        self.saved = saved


def test_initial_spec_is_in_force_until_a_saved_one_is_found() -> None:
    sink = SavedSpecSink(None)
    targeting = Targeting(cluster_index(), sink, initial=TargetingSpec(namespaces=("shop",)))
    targeting.refresh()
    assert targeting.spec == TargetingSpec(namespaces=("shop",))
    assert sink.applied == [{"node-1": "host 10.244.1.10 or host 10.244.1.11"}]
    # Another replica's user chose this one, over the same initial spec.
    sink.saved = SavedSpec(TargetingSpec(pod_regex="^api-"), TargetingSpec(namespaces=("shop",)))
    targeting.refresh()
    assert targeting.spec == TargetingSpec(pod_regex="^api-")
    assert sink.applied[-1] == {"node-1": "host 10.244.1.12"}


def test_summary_counts_the_pods_targeted_and_left_out_as_of_the_last_refresh() -> None:
    index = cluster_index()
    targeting = Targeting(index, SavedSpecSink(None), initial=TargetingSpec(namespaces=("shop",)))
    assert targeting.summary() == {
        "spec": {"podRegex": "", "namespaces": ["shop"], "excludedNamespaces": []},
        "coverage": {
            "targeted": 2,
            "notTargeted": 1,
            "namespaces": ["shop"],
            "notTargetedNamespaces": ["payments"],
        },
    }
    pods = [pod(ns, name, ip) for ns, name, ip in LAYOUT]
    index.replace("Pod", [*pods, pod("payments", "ledger", "10.244.1.20")])
    assert targeting.summary()["coverage"]["notTargeted"] == 1  # counted again on refresh
    targeting.refresh()
    assert targeting.summary()["coverage"]["notTargeted"] == 2
    targeting.set(TargetingSpec())
    assert targeting.summary()["coverage"]["targeted"] == 4


def test_new_deployment_values_win_over_a_browser_edit_made_before_them() -> None:
    sink = SavedSpecSink(None)
    old = Targeting(cluster_index(), sink, initial=TargetingSpec(namespaces=("shop",)))
    old.set(TargetingSpec(pod_regex="^api-"))  # a browser edit under the old helm values
    assert sink.saved == SavedSpec(
        TargetingSpec(pod_regex="^api-"), TargetingSpec(namespaces=("shop",))
    )
    same = Targeting(cluster_index(), sink, initial=TargetingSpec(namespaces=("shop",)))
    same.refresh()  # a restart with the same values: the edit holds
    assert same.spec == TargetingSpec(pod_regex="^api-")
    upgraded = Targeting(cluster_index(), sink, initial=TargetingSpec(namespaces=("payments",)))
    upgraded.refresh()  # helm upgrade with new values: they win
    assert upgraded.spec == TargetingSpec(namespaces=("payments",))
    upgraded.set(TargetingSpec(pod_regex="^cart-"))  # a browser edit after the upgrade holds
    upgraded.refresh()
    assert upgraded.spec == TargetingSpec(pod_regex="^cart-")
