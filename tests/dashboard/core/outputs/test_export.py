"""Tests for dashboard.core.outputs.export: who calls whom at workload level, as text, JSON and
YAML."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from bench.entrygen import generate
from dashboard.core.outputs.export import Callee, Caller, render, who_calls_whom
from tests.dashboard.flowdata import (
    CART,
    CART_SERVICE,
    FRONTEND,
    FRONTEND_2,
    NAMELESS,
    PAYMENTS,
    STRAY,
    STRIPE,
    STRIPE_2,
    WORKER_1,
    dns,
    icmp,
    tcp,
    udp,
)

ENTRIES: list[Any] = [
    tcp(FRONTEND, CART_SERVICE, "connect"),
    tcp(FRONTEND_2, CART, "close"),
    tcp(FRONTEND, STRIPE, "refused"),
    tcp(FRONTEND_2, STRIPE_2, "close"),
    udp(FRONTEND, PAYMENTS),
    tcp(FRONTEND, WORKER_1, "connect"),
    tcp(CART, STRAY, "timeout"),
    tcp(CART, NAMELESS, "close"),
    icmp(PAYMENTS, CART, "udp", PAYMENTS.ip),
    tcp(WORKER_1, CART, "connect"),  # a node is no caller
    tcp(STRIPE, FRONTEND, "connect"),  # nor an external client
    dns(FRONTEND, CART_SERVICE, "grafana.com", "34.120.177.193"),  # no call
    {"protocol": {"name": "tcp"}},  # malformed: left out
]

EXPECTED = [
    Caller(
        "cart",
        "shop",
        (
            Callee("payments-api", "payments", "workload"),
            Callee("203.0.113.45", "", "external"),
            Callee("10.244.9.9", "", "unknown"),
        ),
    ),
    Caller(
        "frontend",
        "shop",
        (
            Callee("payments-api", "payments", "workload"),
            Callee("cart", "shop", "workload"),
            Callee("api.stripe.com", "", "external"),
            Callee("worker-1", "", "node"),
        ),
    ),
]


def test_who_calls_whom() -> None:
    assert who_calls_whom(ENTRIES) == EXPECTED


def test_text_format() -> None:
    assert render(EXPECTED, "text") == (
        "cart in namespace shop calls:\n"
        "  - payments-api in namespace payments\n"
        "  - 203.0.113.45\n"
        "  - unknown 10.244.9.9\n"
        "frontend in namespace shop calls:\n"
        "  - payments-api in namespace payments\n"
        "  - cart\n"
        "  - api.stripe.com\n"
        "  - node worker-1\n"
    )


STRUCTURED = {
    "callers": [
        {
            "name": "cart",
            "namespace": "shop",
            "calls": [
                {"name": "payments-api", "namespace": "payments", "kind": "workload"},
                {"name": "203.0.113.45", "namespace": "", "kind": "external"},
                {"name": "10.244.9.9", "namespace": "", "kind": "unknown"},
            ],
        },
        {
            "name": "frontend",
            "namespace": "shop",
            "calls": [
                {"name": "payments-api", "namespace": "payments", "kind": "workload"},
                {"name": "cart", "namespace": "shop", "kind": "workload"},
                {"name": "api.stripe.com", "namespace": "", "kind": "external"},
                {"name": "worker-1", "namespace": "", "kind": "node"},
            ],
        },
    ]
}


def test_json_and_yaml_carry_the_same_data() -> None:
    assert json.loads(render(EXPECTED, "json")) == STRUCTURED
    assert yaml.safe_load(render(EXPECTED, "yaml")) == STRUCTURED
    assert render(EXPECTED, "yaml").startswith("callers:\n- name: cart\n  namespace: shop\n")


def test_nothing_to_export() -> None:
    assert who_calls_whom([]) == []
    assert render([], "text") == ""
    assert json.loads(render([], "json")) == {"callers": []}
    assert yaml.safe_load(render([], "yaml")) == {"callers": []}


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown export format 'xml'"):
        render(EXPECTED, "xml")  # type: ignore[arg-type]


def test_realistic_cluster_export_matches_the_generator_call_graph() -> None:
    callers = {(c.namespace, c.name): c for c in who_calls_whom(generate(4_000, seed=9))}
    checkout = {(callee.namespace, callee.name) for callee in callers["shop", "checkout"].calls}
    assert {("payments", "payments-api"), ("shop", "cart")} <= checkout
    catalog = callers["shop", "catalog"].calls
    assert {callee.kind for callee in catalog} >= {"external"}
    assert all(callee.namespace == "" for callee in catalog if callee.kind != "workload")
    text = render(list(callers.values()), "text")
    assert "checkout in namespace shop calls:\n" in text
    assert "  - payments-api in namespace payments\n" in text


def test_a_call_through_a_service_is_a_call_of_its_backend() -> None:
    through = who_calls_whom([tcp(FRONTEND, CART, "connect", dialed=CART_SERVICE)])
    assert through == who_calls_whom([tcp(FRONTEND, CART, "connect")])
    assert through == [Caller("frontend", "shop", (Callee("cart", "shop", "workload"),))]
