"""ClusterWatcher with the real kubernetes client against the local fake API server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

import pytest
from kubernetes import client

from contract.schema import Endpoint, Entry, Node, TcpInfo, protocol
from dashboard.core.naming.index import UNKNOWN, ClusterIndex
from dashboard.core.naming.watch import WATCHED_KINDS, ClusterWatcher
from dashboard.errors import WatcherError
from tests.dashboard import objects as k8s
from tests.dashboard.fake_apiserver import FakeApiServer

LATER = int(time.time() * 1000) + 86_400_000  # an entry time after every change in these tests


def eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    server = FakeApiServer()
    server.add(k8s.node("node-1", "172.18.0.2", "10.244.1.0/24"))
    server.add(k8s.namespace("shop"))
    server.start()
    yield server
    server.stop()


def make_watcher(
    server: FakeApiServer,
    index: ClusterIndex,
    *,
    watch_timeout_s: int = 30,
    kinds: tuple[str, ...] = WATCHED_KINDS,
) -> ClusterWatcher:
    return ClusterWatcher(
        index,
        client.Configuration(host=server.url),
        kinds=kinds,
        watch_timeout_s=watch_timeout_s,
        backoff_base_s=0.02,
        backoff_cap_s=0.1,
    )


@pytest.fixture
def index() -> ClusterIndex:
    return ClusterIndex()


@pytest.fixture
def watcher(server: FakeApiServer, index: ClusterIndex) -> Iterator[ClusterWatcher]:
    watcher = make_watcher(server, index)
    watcher.start()
    assert watcher.wait_synced(5)
    yield watcher
    watcher.stop()


def pod_name(index: ClusterIndex, ip: str) -> str:
    return index.resolve(ip, 8080, LATER).pod


def test_initial_list_fills_the_index(server: FakeApiServer, index: ClusterIndex) -> None:
    server.add(k8s.replica_set("cart-7d9f", "shop", "cart"))
    server.add(
        k8s.pod(
            "cart-7d9f-abc", "shop", "10.244.1.7", owner=k8s.owner_ref("ReplicaSet", "cart-7d9f")
        )
    )
    server.add(k8s.service("cart", "shop", "10.96.5.5"))
    server.add(k8s.endpoint_slice("cart", "shop", [("cart-7d9f-abc", "10.244.1.7")]))
    watcher = make_watcher(server, index)
    watcher.start()
    try:
        assert watcher.wait_synced(5)
        naming = index.resolve("10.244.1.7", 8080, LATER)
        assert (naming.pod, naming.service, naming.workload) == ("cart-7d9f-abc", "cart", "cart")
        assert index.resolve("10.96.5.5", 80, LATER).name == "cart.shop"
        assert index.resolve("172.18.0.2", 22, LATER).name == "node-1"
        assert index.namespaces() == ["shop"]
        assert {kind: s["lists"] for kind, s in watcher.stats.items()} == dict.fromkeys(
            WATCHED_KINDS, 1
        )
    finally:
        watcher.stop()


def test_add_modify_delete_are_seen(
    server: FakeApiServer, index: ClusterIndex, watcher: ClusterWatcher
) -> None:
    pod = k8s.pod("web-1", "shop", "10.244.1.20", uid="uid-web-1")
    server.add(pod)
    eventually(lambda: pod_name(index, "10.244.1.20") == "web-1")

    server.add(k8s.pod("web-1", "shop", "10.244.1.21", uid="uid-web-1"))
    eventually(lambda: pod_name(index, "10.244.1.21") == "web-1")
    assert index.resolve("10.244.1.20", 8080, LATER) == UNKNOWN

    server.delete(pod)
    eventually(lambda: index.pods() == [])
    assert watcher.stats["Pod"]["events"] == 3
    assert watcher.stats["Pod"]["errors"] == 0


def test_gone_event_relists_and_sees_deletions_missed_meanwhile(
    server: FakeApiServer, index: ClusterIndex, watcher: ClusterWatcher
) -> None:
    pod = k8s.pod("old", "shop", "10.244.1.30")
    server.add(pod)
    eventually(lambda: pod_name(index, "10.244.1.30") == "old")
    server.disconnect()
    server.delete_silently(pod)
    server.add(k8s.pod("new", "shop", "10.244.1.31"))
    server.compact()

    eventually(lambda: [p.name for p in index.pods()] == ["new"])
    assert watcher.stats["Pod"]["relists"] >= 1


def test_gone_http_status_relists(index: ClusterIndex) -> None:
    server = FakeApiServer(gone_as="status")
    server.start()
    watcher = make_watcher(server, index)
    watcher.start()
    try:
        assert watcher.wait_synced(5)
        server.disconnect()
        server.add(k8s.pod("late", "shop", "10.244.1.40"))
        server.compact()
        eventually(lambda: pod_name(index, "10.244.1.40") == "late")
        assert watcher.stats["Pod"]["relists"] >= 1
    finally:
        watcher.stop()
        server.stop()


def test_disconnect_reconnects_from_the_last_resource_version(
    server: FakeApiServer, index: ClusterIndex, watcher: ClusterWatcher
) -> None:
    server.disconnect()
    server.add(k8s.pod("after-cut", "shop", "10.244.1.50"))

    eventually(lambda: pod_name(index, "10.244.1.50") == "after-cut")
    stats = watcher.stats["Pod"]
    assert stats["reconnects"] >= 1
    assert stats["relists"] == 0
    assert any("resourceVersion=" in r for r in server.requests if "/pods?" in r)


def test_watch_timeout_ends_cleanly_and_rewatches(
    server: FakeApiServer, index: ClusterIndex
) -> None:
    watcher = make_watcher(server, index, watch_timeout_s=1)
    watcher.start()
    try:
        assert watcher.wait_synced(5)
        time.sleep(1.3)
        server.add(k8s.pod("p", "shop", "10.244.1.55"))
        eventually(lambda: pod_name(index, "10.244.1.55") == "p")
        assert watcher.stats["Pod"]["errors"] == 0
    finally:
        watcher.stop()


def test_bookmarks_advance_the_resource_version(
    server: FakeApiServer, watcher: ClusterWatcher
) -> None:
    server.add(k8s.service("unrelated", "shop", "10.96.9.9"))
    server.bookmark()

    eventually(lambda: watcher.stats["Pod"]["bookmarks"] == 1)
    assert watcher.stats["Pod"]["resourceVersion"] == str(server.state.rv)


def test_server_errors_back_off_then_recover(server: FakeApiServer, index: ClusterIndex) -> None:
    server.fail("/api/v1/pods", 500, 503, 500)
    server.add(k8s.pod("p", "shop", "10.244.1.60"))
    watcher = make_watcher(server, index)
    watcher.start()
    try:
        assert watcher.wait_synced(5)
        assert pod_name(index, "10.244.1.60") == "p"
        stats = watcher.stats["Pod"]
        assert stats["errors"] == 3
        assert stats["connected"] is True
        assert stats["lastError"] == ""
    finally:
        watcher.stop()


def test_api_server_down_degrades_naming_and_comes_back(
    server: FakeApiServer, index: ClusterIndex, watcher: ClusterWatcher
) -> None:
    server.add(k8s.pod("known", "shop", "10.244.1.70"))
    eventually(lambda: pod_name(index, "10.244.1.70") == "known")

    server.stop()
    eventually(lambda: watcher.stats["Pod"]["errors"] >= 2)
    assert watcher.stats["Pod"]["connected"] is False
    assert "Error" in watcher.stats["Pod"]["lastError"]
    # a stream of entries is still named from the last state; unknown IPs still show as IPs
    entries = [make_entry("10.244.1.70", f"10.244.1.{n}") for n in range(71, 171)]
    named = [index.name_entry(entry) for entry in entries]
    assert {e.src.pod for e in named} == {"known"}
    assert {(e.dst.kind, e.dst.name) for e in named} == {("unknown", "")}

    server.add(k8s.pod("while-down", "shop", "10.244.1.72"))
    server.start()
    eventually(lambda: pod_name(index, "10.244.1.72") == "while-down")


def make_entry(src: str, dst: str, dst_port: int = 80) -> Entry:
    return Entry(
        id="w/1",
        worker="w",
        node=Node("node-1", "172.18.0.2"),
        timestamp=LATER,
        protocol=protocol("tcp"),
        src=Endpoint(ip=src, port=40000),
        dst=Endpoint(ip=dst, port=dst_port),
        tcp=TcpInfo(event="connect"),
    )


def test_names_through_the_watch_reuse_host_network_headless_and_owner_chains(
    server: FakeApiServer, index: ClusterIndex, watcher: ClusterWatcher
) -> None:
    before = int(time.time() * 1000)
    old = server.add(k8s.pod("old", "shop", "10.244.1.95", start_ms=before - 60_000))
    server.add(k8s.job("backup-28913760", "shop", "backup"))
    server.add(k8s.service("db", "shop", "None"))
    server.add(k8s.endpoint_slice("db", "shop", [("backup-28913760-x", "10.244.1.96")]))
    server.add(
        k8s.pod(
            "backup-28913760-x",
            "shop",
            "10.244.1.96",
            owner=k8s.owner_ref("Job", "backup-28913760", "batch/v1"),
        )
    )
    server.add(k8s.pod("exporter", "monitoring", "172.18.0.2", host_network=True, ports=(9100,)))
    eventually(lambda: pod_name(index, "10.244.1.96") == "backup-28913760-x")
    server.delete(old)
    eventually(lambda: index.resolve("10.244.1.95", 80, LATER) == UNKNOWN)
    server.add(k8s.pod("new", "shop", "10.244.1.95", start_ms=int(time.time() * 1000) + 1000))
    eventually(lambda: pod_name(index, "10.244.1.95") == "new")

    assert index.resolve("10.244.1.95", 80, before).pod == "old"
    # jobs, services and slices come through their own watches, which may lag the pods' one
    eventually(lambda: index.resolve("10.244.1.96", 5432, LATER).service == "db")
    eventually(lambda: index.resolve("10.244.1.96", 5432, LATER).workload == "backup")
    assert index.resolve("172.18.0.2", 9100, LATER).pod == "exporter"
    assert index.resolve("172.18.0.2", 22, LATER).kind == "node"


def test_bad_watch_lines_are_counted_not_fatal(
    server: FakeApiServer, index: ClusterIndex, watcher: ClusterWatcher
) -> None:
    server.add(
        {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"name": "broken"},
            "status": {"podIP": "not-an-ip"},
        }
    )
    server.add(k8s.pod("fine", "shop", "10.244.1.80"))

    eventually(lambda: pod_name(index, "10.244.1.80") == "fine")
    assert index.stats()["dropped"] == {"invalid Pod": 1}


def test_paginated_list(server: FakeApiServer, index: ClusterIndex) -> None:
    for n in range(1, 1101):
        server.add(k8s.pod(f"p{n}", "shop", f"10.244.{n // 250}.{n % 250 + 1}"))
    watcher = make_watcher(server, index, kinds=("Pod",))
    watcher.start()
    try:
        assert watcher.wait_synced(10)
        assert len(index.pods()) == 1100
        assert sum("continue=" in r for r in server.requests) == 2
    finally:
        watcher.stop()


def test_unknown_kind_and_missing_configuration_are_clear_errors(
    index: ClusterIndex, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    with pytest.raises(WatcherError, match="ConfigMap"):
        ClusterWatcher(index, client.Configuration(host="http://127.0.0.1:1"), kinds=["ConfigMap"])
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(WatcherError, match="no Kubernetes configuration"):
        ClusterWatcher(index)


class FlakyIndex(ClusterIndex):
    """An index whose first replace of pods fails with a bug-like exception."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    def replace(self, kind: str, objects: Iterable[object]) -> int:
        if kind == "Pod" and self.failures:
            self.failures -= 1
            raise RuntimeError("boom")
        return super().replace(kind, objects)


def test_an_unexpected_error_is_counted_and_the_watch_goes_on(
    server: FakeApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.add(k8s.pod("p", "shop", "10.244.1.90"))
    index = FlakyIndex()
    watcher = make_watcher(server, index, kinds=("Pod",))
    watcher.start()
    try:
        assert watcher.wait_synced(5)
        assert pod_name(index, "10.244.1.90") == "p"
        assert watcher.stats["Pod"]["errors"] == 1
        assert "unexpected error in the watch of Pod" in caplog.text
    finally:
        watcher.stop()
