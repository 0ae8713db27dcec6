"""Tests for bench/entrygen.py: valid, canonical, deterministic and realistic entries."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bench.entrygen import generate, main
from contract.schema import PROTOCOLS, TCP_EVENTS, Entry

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "entries.jsonl"
ENTRIES = generate(2_000, seed=11)


def test_entries_are_valid_and_in_canonical_wire_form() -> None:
    for wire in ENTRIES:
        assert Entry.from_wire(wire).to_wire() == wire


def test_same_seed_same_entries_other_seed_other_entries() -> None:
    assert generate(300, seed=5) == generate(300, seed=5)
    assert generate(300, seed=5) != generate(300, seed=6)
    assert generate(100, seed=5) == generate(300, seed=5)[:100]


def test_ids_are_unique_and_timestamps_never_go_back() -> None:
    assert len({wire["id"] for wire in ENTRIES}) == len(ENTRIES)
    stamps = [wire["timestamp"] for wire in ENTRIES]
    assert stamps == sorted(stamps)


def test_mix_covers_every_protocol_tcp_event_and_endpoint_kind() -> None:
    protocols = Counter(wire["protocol"]["name"] for wire in ENTRIES)
    assert set(protocols) == set(PROTOCOLS)
    assert protocols["tcp"] > protocols["dns"] > protocols["udp"] > protocols["icmp"]
    assert {wire["tcp"]["event"] for wire in ENTRIES if "tcp" in wire} == TCP_EVENTS
    kinds = {wire[side]["kind"] for wire in ENTRIES for side in ("src", "dst")}
    assert kinds == {"pod", "service", "node", "external", "unknown"}


def test_names_look_like_a_cluster() -> None:
    namespaces = {wire["src"]["namespace"] for wire in ENTRIES}
    assert {"shop", "payments", "monitoring", "kube-system", "ns1", "ns2"} <= namespaces
    externals = {wire["dst"]["name"] for wire in ENTRIES if wire["dst"]["kind"] == "external"}
    assert {"api.stripe.com", "grafana.com"} <= externals
    frontends = {w["src"]["pod"] for w in ENTRIES if w["src"]["workload"] == "frontend"}
    assert frontends
    for pod in frontends:
        workload, replica_set, suffix = pod.split("-")
        assert (workload, len(replica_set), len(suffix)) == ("frontend", 10, 5)


def test_command_prints_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["3", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == generate(3, seed=5)


def test_command_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["many"]) == 2
    assert "usage: python -m bench.entrygen COUNT [SEED]" in capsys.readouterr().err


def test_bundled_samples_are_entrygen_output_valid_under_the_schema() -> None:
    lines = SAMPLES.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == generate(60, seed=7)
    for line in lines:
        Entry.from_json(line)
