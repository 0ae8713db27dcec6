"""Tests for contract.messages: the map messages (level, and whether Services are drawn)."""

from __future__ import annotations

import json

import pytest

from contract.errors import MessageError
from contract.messages import MapLevel, MapUpdate, decode_client, encode


def test_map_level_shows_services_unless_told_not_to() -> None:
    assert decode_client('{"type": "map.level", "level": "workload"}') == MapLevel("workload")
    assert MapLevel("workload").services is True
    off = decode_client('{"type": "map.level", "level": "pod", "services": false}')
    assert off == MapLevel("pod", services=False)


def test_map_level_services_must_be_a_boolean() -> None:
    with pytest.raises(MessageError, match=r"Expected `bool`.*\$\.services"):
        decode_client('{"type": "map.level", "level": "pod", "services": "no"}')


def test_map_update_says_whether_it_shows_services() -> None:
    node = {"id": "service:shop/cart", "kind": "service", "namespace": "shop", "label": "cart"}
    update = MapUpdate(version=3, level="workload", services=True, nodes=[node], edges=[])
    assert json.loads(encode(update)) == {
        "type": "map",
        "version": 3,
        "level": "workload",
        "services": True,
        "nodes": [node],
        "edges": [],
    }
