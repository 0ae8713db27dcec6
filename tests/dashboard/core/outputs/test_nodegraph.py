"""Tests for dashboard.core.outputs.nodegraph: the Grafana Node Graph API datasource bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench.entrygen import generate
from dashboard.core.outputs import nodegraph
from dashboard.core.outputs.graph import ConnectivityGraph
from tests.dashboard.flowdata import CART, FRONTEND, STRIPE, T0, tcp

PYTHON_TYPES: dict[str, type | tuple[type, ...]] = {"string": str, "number": (int, float)}


def map_of(entries: list[dict[str, Any]]) -> dict[str, Any]:
    graph = ConnectivityGraph("workload")
    for entry in entries:
        graph.add(entry)
    return graph.to_dict()


def test_health_and_fields_are_json() -> None:
    assert json.loads(json.dumps(nodegraph.health())) == {"status": "ok"}
    fields = json.loads(json.dumps(nodegraph.fields()))
    assert set(fields) == {"nodes_fields", "edges_fields"}
    node_names = [f["field_name"] for f in fields["nodes_fields"]]
    edge_names = [f["field_name"] for f in fields["edges_fields"]]
    assert node_names[0] == "id"
    assert edge_names[:3] == ["id", "source", "target"]
    assert len(set(node_names)) == len(node_names)
    assert len(set(edge_names)) == len(edge_names)


def test_fields_cannot_be_changed_through_a_returned_copy() -> None:
    nodegraph.fields()["nodes_fields"][0]["type"] = "number"
    assert nodegraph.fields()["nodes_fields"][0]["type"] == "string"


def test_data_has_exactly_the_declared_fields_with_their_types() -> None:
    body = nodegraph.data(map_of(generate(2_000, seed=5)))
    declared = nodegraph.fields()
    for items, field_list in ((body["nodes"], "nodes_fields"), (body["edges"], "edges_fields")):
        assert items
        types = {f["field_name"]: PYTHON_TYPES[f["type"]] for f in declared[field_list]}
        for item in items:
            assert set(item) == set(types)
            for name, value in item.items():
                assert isinstance(value, types[name]), name
    json.dumps(body)


def test_node_ring_is_the_failed_share_and_sums_to_one() -> None:
    entries = [
        tcp(FRONTEND, CART, "connect"),
        tcp(FRONTEND, CART, "connect"),
        tcp(FRONTEND, CART, "connect"),
        tcp(FRONTEND, CART, "refused"),
        tcp(FRONTEND, STRIPE, "close", timestamp=T0, elapsed=1_500, sent=2_000, received=3_500_000),
    ]
    body = nodegraph.data(map_of(entries))
    by_id = {node["id"]: node for node in body["nodes"]}
    cart = by_id["workload:shop/cart"]
    assert cart["arc__failed"] == pytest.approx(0.25)
    assert cart["arc__passed"] == pytest.approx(0.75)
    assert cart["title"] == "cart"
    assert cart["subTitle"] == "workload in shop"
    assert cart["mainStat"] == "4 conn, 1 failed"
    stripe = by_id["external:api.stripe.com"]
    assert (stripe["arc__failed"], stripe["arc__passed"]) == (0.0, 1.0)
    assert stripe["subTitle"] == "external"
    (to_stripe,) = [e for e in body["edges"] if e["target"] == "external:api.stripe.com"]
    assert to_stripe["secondaryStat"] == "2.0 KB / 3.5 MB"
    assert to_stripe["detail__lastSeen"] == "2026-01-01T00:00:01.500+00:00"
    assert to_stripe["detail__protocols"] == "tcp"
    for node in body["nodes"]:
        assert node["arc__failed"] + node["arc__passed"] == pytest.approx(1.0)


def test_failures_without_starts_fill_the_ring() -> None:
    body = nodegraph.data(map_of([tcp(FRONTEND, CART, "reset")]))
    assert {node["arc__failed"] for node in body["nodes"]} == {1.0}


@pytest.mark.parametrize(
    "graph",
    [
        {},
        {"nodes": [], "edges": None},
        {"nodes": [{"id": "x"}], "edges": []},
        {"nodes": [], "edges": [{"id": "e", "lastSeen": "never"}]},
    ],
)
def test_data_rejects_what_is_not_a_map(graph: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="not a connectivity map"):
        nodegraph.data(graph)
