from __future__ import annotations

import gc

import pytest

from dashboard.core.store.entrystore import EntryStore
from tests.dashboard.hubentries import dns_entry, tcp_entry


def wires(first: int, count: int) -> list[dict[str, int]]:
    return [{"n": n} for n in range(first, first + count)]


def test_keeps_the_newest_entries_and_returns_what_it_evicted() -> None:
    store = EntryStore(3)
    added, evicted = store.add(wires(0, 2))
    assert [s.seq for s in added] == [1, 2]
    assert evicted == []
    added, evicted = store.add(wires(2, 2))
    assert [s.wire["n"] for s in added] == [2, 3]
    assert [s.wire["n"] for s in evicted] == [0]
    assert [s.wire["n"] for s in store] == [1, 2, 3]
    assert len(store) == 3
    assert store.last_seq == 4


def test_a_batch_larger_than_the_capacity_evicts_part_of_itself() -> None:
    store = EntryStore(2)
    added, evicted = store.add(wires(0, 5))
    assert len(added) == 5
    assert [s.wire["n"] for s in evicted] == [0, 1, 2]
    assert [s.wire["n"] for s in store] == [3, 4]


def test_newest_first_with_predicate_limit_and_cursor() -> None:
    store = EntryStore(100)
    store.add(wires(0, 10))
    even = store.newest(lambda w: w["n"] % 2 == 0, limit=3)
    assert [s.wire["n"] for s in even] == [8, 6, 4]
    older = store.newest(lambda w: w["n"] % 2 == 0, limit=3, before=even[-1].seq)
    assert [s.wire["n"] for s in older] == [2, 0]
    assert store.newest(limit=0) == []
    assert [s.wire["n"] for s in store.newest(limit=2)] == [9, 8]


def test_after_returns_entries_stored_since_a_sequence_number() -> None:
    store = EntryStore(5)
    store.add(wires(0, 8))  # seqs 1..8, 4..8 kept
    assert [s.seq for s in store.after(6)] == [7, 8]
    assert [s.seq for s in store.after(0)] == [4, 5, 6, 7, 8]
    assert store.after(8) == []


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        EntryStore(0)


def test_json_text_is_kept_for_recent_entries_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dashboard.core.store.entrystore.TEXT_WINDOW", 2)
    store = EntryStore(10)
    added, _ = store.add(wires(0, 2))
    assert [stored.text for stored in added] == ['{"n":0}', '{"n":1}']
    newer, _ = store.add(wires(2, 1))
    assert newer[0].text == '{"n":2}'
    assert [stored.cached_text for stored in added] == [None, '{"n":1}']
    assert added[0].text == '{"n":0}'  # encoded again on demand


def test_stored_entries_are_not_tracked_by_the_garbage_collector() -> None:
    store = EntryStore(10)
    added, _ = store.add([tcp_entry(1).to_stored_wire()])
    stored = added[0]
    assert stored.flow is not None
    assert not gc.is_tracked(stored)
    assert not gc.is_tracked(stored.flow)
    assert not gc.is_tracked(stored.flow.client)
    gc.collect()
    assert not gc.is_tracked(stored.wire["tcp"])  # its flags are a tuple, untracked in turn


def test_an_entry_that_is_no_flow_is_stored_with_the_reason() -> None:
    store = EntryStore(10)
    flow, answer, broken = store.add(
        [tcp_entry(1).to_stored_wire(), dns_entry(2, "a.example", "1.2.3.4").to_stored_wire(), {}]
    )[0]
    assert (flow.flow is not None, flow.not_flow) == (True, "")
    assert (answer.flow, answer.not_flow) == (None, "dns answer")
    assert (broken.flow, broken.not_flow) == (None, "bad protocol")


@pytest.mark.parametrize("newest_first", [False, True])
def test_a_walk_reads_the_whole_store_in_order(newest_first: bool) -> None:
    store = EntryStore(10_000)
    store.add(wires(0, 10_000))
    seqs = [stored.seq for stored in store.walk(newest_first=newest_first)]
    expected = list(range(1, 10_001))
    assert seqs == (expected[::-1] if newest_first else expected)


def test_a_paused_walk_skips_what_was_evicted_and_leaves_out_what_came_after() -> None:
    store = EntryStore(10_000)
    store.add(wires(0, 10_000))
    oldest_first = store.walk()
    newest_first = store.walk(newest_first=True)
    read = [next(oldest_first).seq for _ in range(2)] + [next(newest_first).seq]
    store.add(wires(10_000, 6_000))  # evicts seqs 1..6,000
    rest = [stored.seq for stored in oldest_first]
    # the walk had read its first chunk: it ends that one, then goes on from the oldest kept
    assert read[:2] == [1, 2]
    assert rest[: 4_096 - 2] == list(range(3, 4_097))
    assert rest[4_096 - 2 :] == list(range(6_001, 10_001))
    back = [stored.seq for stored in newest_first]
    assert read[2] == 10_000
    assert back == list(range(9_999, 10_000 - 4_096, -1))  # its first chunk, then none kept


def test_an_empty_store_walks_nothing() -> None:
    store = EntryStore(3)
    assert list(store.walk()) == list(store.walk(newest_first=True)) == []
