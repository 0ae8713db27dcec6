"""--cluster-snapshot: kubectl -o yaml/json output into the index; clear errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dashboard.core.naming.index import ClusterIndex
from dashboard.core.naming.snapshot import load_snapshot
from dashboard.errors import SnapshotError
from tests.dashboard import objects as k8s
from tests.dashboard.objects import T0_MS


def cluster_objects() -> list[k8s.Obj]:
    owner = k8s.owner_ref("ReplicaSet", "cart-7d9f")
    return [
        k8s.pod("cart-7d9f-abc", "shop", "10.244.1.7", owner=owner, template_hash="7d9f"),
        k8s.service("cart", "shop", "10.96.5.5"),
        k8s.node("node-1", "172.18.0.2", "10.244.1.0/24"),
        k8s.endpoint_slice("cart", "shop", [("cart-7d9f-abc", "10.244.1.7")]),
        k8s.replica_set("cart-7d9f", "shop", "checkout"),
        k8s.deployment("checkout", "shop"),
    ]


def kubectl_list(items: list[object]) -> k8s.Obj:
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}


def assert_named(index: ClusterIndex) -> None:
    naming = index.resolve("10.244.1.7", 8080, T0_MS)
    assert (naming.pod, naming.service, naming.workload) == ("cart-7d9f-abc", "cart", "checkout")
    assert index.resolve("10.96.5.5", 80, T0_MS).name == "cart.shop"


@pytest.mark.parametrize("form", ["yaml", "json"])
def test_kubectl_list_output_is_loaded(tmp_path: Path, form: str) -> None:
    path = tmp_path / f"cluster.{form}"
    document = kubectl_list(list(cluster_objects()))
    path.write_text(yaml.safe_dump(document) if form == "yaml" else json.dumps(document, indent=4))
    index = ClusterIndex()

    report = load_snapshot(path, index)

    assert report.loaded == {
        "Deployment": 1,
        "EndpointSlice": 1,
        "Node": 1,
        "Pod": 1,
        "ReplicaSet": 1,
        "Service": 1,
    }
    assert (report.skipped, report.invalid) == ({}, 0)
    assert_named(index)


def test_typed_lists_and_several_documents(tmp_path: Path) -> None:
    pods = {
        "apiVersion": "v1",
        "kind": "PodList",
        "metadata": {},
        "items": [{k: v for k, v in cluster_objects()[0].items() if k != "kind"}],
    }
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump_all([pods, *cluster_objects()[1:]]))
    index = ClusterIndex()

    report = load_snapshot(path, index)

    assert report.loaded["Pod"] == 1
    assert_named(index)


def test_unknown_kinds_and_bad_objects_are_counted_not_fatal(tmp_path: Path) -> None:
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    broken_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {}}
    items: list[object] = [*cluster_objects(), config_map, config_map, broken_pod, "junk"]
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps(kubectl_list(items)))
    index = ClusterIndex()

    report = load_snapshot(path, index)

    assert report.skipped == {"ConfigMap": 2}
    assert report.invalid == 2
    assert_named(index)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "holds no Kubernetes objects"),
        (b"\xff\xfe\x00garbage", "cannot read"),
        (b"{not json", "not valid JSON"),
        (b"kind: List\nitems: [\n", "not valid YAML"),
        (b"just a sentence\n", "document 1 is not a Kubernetes object"),
        (b"kind: List\nitems: 3\n", "items is not a list"),
        (b"---\nkind: Pod\nmetadata: {name: p}\n---\n- a\n", "document 2"),
    ],
)
def test_unusable_files_are_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_bytes(content)

    with pytest.raises(SnapshotError, match=message):
        load_snapshot(path, ClusterIndex())


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match=r"cannot read cluster snapshot .*nope\.yaml"):
        load_snapshot(tmp_path / "nope.yaml", ClusterIndex())
