"""The view index gives every view exactly the entries its filter matches, in store order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.entrygen import generate
from bench.hub_bench import filters
from contract.schema import Entry
from dashboard.core.outputs.graph import ConnectivityGraph
from dashboard.core.sessions.registry import View
from dashboard.core.sessions.viewindex import ViewIndex, selectivity
from dashboard.core.store.entrystore import EntryStore, Stored
from kfl import compile_filter

QUERIES = [
    *filters(55)[1:],
    "tcp",
    "!tcp",
    'dst.port == 443 or dst.port == "53"',
    '(src.namespace=="shop" and dst.namespace=="payments") or '
    '(src.namespace=="payments" and dst.namespace=="shop")',
    'src.namespace == "shop" and src.namespace == "payments"',  # requires the impossible
    'tcp.flags == "SYN"',
    "dns or icmp",
]
WIRES = [Entry.from_wire(wire).to_stored_wire() for wire in generate(300, seed=5)]


def brute_force(views: list[View], added: list[Stored]) -> dict[View, list[Stored]]:
    expected = {}
    for view in views:
        matched = (
            list(added)
            if view.matches_everything
            else [stored for stored in added if view.filter(stored.wire)]
        )
        if matched:
            expected[view] = matched
    return expected


@settings(max_examples=60)
@given(
    st.lists(st.sampled_from(QUERIES), min_size=1, max_size=25, unique=True), st.integers(0, 299)
)
def test_index_matches_what_every_filter_matches(queries: list[str], start: int) -> None:
    store = EntryStore(1_000)
    added, _ = store.add(WIRES[start : start + 80])
    views = [View(compile_filter(query), "namespace", store) for query in queries]
    views.append(View(compile_filter(""), "namespace", store, ConnectivityGraph("namespace")))
    assert ViewIndex(views).matches(added) == brute_force(views, added)


def test_malformed_field_values_give_no_candidates() -> None:
    store = EntryStore(10)
    wire = {**WIRES[0], "src": {"namespace": {"not": "hashable"}}}
    added, _ = store.add([wire, {"no": "fields"}])
    view = View(compile_filter('src.namespace == "shop"'), "namespace", store)
    assert ViewIndex([view]).matches(added) == {}


def test_names_are_preferred_to_protocols_and_fewer_values_to_more() -> None:
    one_name = selectivity(("src", "namespace"), frozenset({"a"}))
    assert one_name < selectivity(("protocol", "name"), frozenset({"tcp"}))
    assert one_name < selectivity(("src", "namespace"), frozenset({"a", "b"}))
    assert selectivity(("dst", "port"), frozenset({443})) < selectivity(
        ("tcp", "event"), frozenset({"refused"})
    )
