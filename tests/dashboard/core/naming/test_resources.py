"""Parsing Kubernetes resource JSON into the records naming uses."""

from __future__ import annotations

import pytest

from dashboard.core.naming.resources import (
    MAX_LABELS,
    Owner,
    PodInfo,
    ServiceInfo,
    SliceInfo,
    canonical_ip,
    parse,
    parse_time,
)
from dashboard.errors import ResourceError
from tests.dashboard import objects as k8s
from tests.dashboard.objects import T0_MS


def test_pod_fields() -> None:
    obj = k8s.pod(
        "web-5c4f8d-abcde",
        "shop",
        "10.244.1.9",
        owner=k8s.owner_ref("ReplicaSet", "web-5c4f8d"),
        template_hash="5c4f8d",
        ports=(8080, 9090),
        host_ports=(8443,),
        uid="u1",
    )
    info = parse("Pod", obj)

    assert info == PodInfo(
        namespace="shop",
        name="web-5c4f8d-abcde",
        uid="u1",
        node="node-1",
        ips=("10.244.1.9",),
        host_ips=("172.18.0.2",),
        host_network=False,
        container_ports=(8080, 9090),
        host_ports=(8443,),
        owner=Owner("ReplicaSet", "web-5c4f8d"),
        template_hash="5c4f8d",
        start_ms=T0_MS,
        finished=False,
        finished_ms=None,
        labels=(("app", "web"), ("pod-template-hash", "5c4f8d")),
    )
    assert info.address_keys() == ("10.244.1.9", ("172.18.0.2", 8443))


def test_finished_pod_and_host_network_keys() -> None:
    done = parse("Pod", k8s.pod("j", "b", "10.0.0.1", phase="Failed", finished_ms=T0_MS + 7000))
    host = parse("Pod", k8s.pod("h", "b", "172.18.0.2", host_network=True, ports=(53, 9153)))

    assert isinstance(done, PodInfo)
    assert (done.finished, done.finished_ms) == (True, T0_MS + 7000)
    assert isinstance(host, PodInfo)
    assert host.address_keys() == (("172.18.0.2", 53), ("172.18.0.2", 9153))


def test_pending_pod_has_no_address() -> None:
    info = parse("Pod", k8s.pod("p", "shop", None, phase="Pending"))

    assert isinstance(info, PodInfo)
    assert info.address_keys() == ()


def test_service_cluster_ips_headless_and_ipv6() -> None:
    headless = k8s.service("db", "shop", "None")
    headless["metadata"]["uid"] = "u2"
    assert parse("Service", headless) == ServiceInfo("shop", "db", "u2", (), T0_MS - 60_000)
    v6 = parse("Service", k8s.service("api", "shop", "fd00:10:96:0:0:0:0:1"))
    assert isinstance(v6, ServiceInfo)
    assert v6.ips == ("fd00:10:96::1",)


def test_slice_lists_pods_by_target_ref() -> None:
    obj = k8s.endpoint_slice("cart", "shop", [("cart-0", "10.244.1.2"), ("cart-1", "10.244.1.3")])
    obj["endpoints"].append({"addresses": ["192.0.2.1"], "conditions": {"ready": True}})

    assert parse("EndpointSlice", obj) == SliceInfo(
        namespace="shop", name="cart-abcde", service="cart", pods=("cart-0", "cart-1")
    )


@pytest.mark.parametrize(
    ("kind", "obj", "message"),
    [
        ("Secret", {}, "not indexed"),
        ("Pod", [], "expected an object"),
        ("Pod", {"metadata": {"name": 3}}, "metadata.name"),
        ("Pod", {"metadata": {"name": "p", "namespace": 1}}, "metadata.namespace"),
        ("Pod", {"metadata": {"name": "p"}, "spec": []}, "spec"),
        ("Pod", {"metadata": {"name": "p"}, "status": {"podIP": "1.2.3"}}, "bad IP"),
        ("Pod", {"metadata": {"name": "p"}, "status": {"podIP": 7}}, "not a string"),
        ("Pod", {"metadata": {"name": "p"}, "status": {"podIPs": [{}]}}, "malformed"),
        ("Pod", {"metadata": {"name": "p"}, "status": {"startTime": 5}}, "timestamp"),
        (
            "Pod",
            {
                "metadata": {"name": "p"},
                "spec": {"containers": [{"ports": [{"containerPort": 0}]}]},
            },
            "bad port",
        ),
        ("Service", {"metadata": {"name": "s"}, "spec": {"clusterIP": "x"}}, "bad IP"),
        (
            "EndpointSlice",
            {"metadata": {"name": "e", "labels": {"kubernetes.io/service-name": 1}}},
            "service-name",
        ),
    ],
)
def test_malformed_objects_raise_resource_error(kind: str, obj: object, message: str) -> None:
    with pytest.raises(ResourceError, match=message):
        parse(kind, obj)


def test_time_and_ip_helpers() -> None:
    assert parse_time("2023-11-14T22:13:20Z") == T0_MS
    assert parse_time(None) is None
    assert canonical_ip("FD00::0:1") == "fd00::1"
    with pytest.raises(ResourceError, match="bad timestamp"):
        parse_time("14/11/2023")


def test_pod_labels_keep_string_pairs_sorted_up_to_the_entry_limit() -> None:
    obj = k8s.pod("web-5c4f8d-abcde", "shop", "10.244.1.9")
    labels = {f"k{number:03}": "v" for number in range(MAX_LABELS + 5)}
    obj["metadata"]["labels"] = {**labels, "bad": 5, "zz": None}

    info = parse("Pod", obj)

    assert isinstance(info, PodInfo)
    assert info.labels == tuple(sorted(labels.items()))[:MAX_LABELS]
