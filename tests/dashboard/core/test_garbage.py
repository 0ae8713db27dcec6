"""The hub's full collections: due after enough young collections, paced by what they find."""

from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass, field

import pytest

from dashboard.core.garbage import (
    FULL_MAX_SECONDS,
    WORTHWHILE,
    FullCollections,
    collect_garbage,
)


@dataclass
class _Process:
    """A fake process: its clock, its young collections, what each full collection finds."""

    now: float = 100.0
    young: int = 0
    finds: int = WORTHWHILE
    takes: float = 0.01
    runs: list[float] = field(default_factory=list)

    def collect(self) -> int:
        self.young = 0  # a full collection resets CPython's count of young collections
        self.now += self.takes
        self.runs.append(self.now)
        return self.finds

    def policy(self) -> FullCollections:
        return FullCollections(
            min_seconds=5.0,
            after_young=10,
            clock=lambda: self.now,
            young_since_full=lambda: self.young,
            collect=self.collect,
            timer=lambda: self.now,
        )


def test_due_needs_both_enough_young_collections_and_time() -> None:
    process = _Process(young=50)
    policy = process.policy()
    assert not policy.due()  # too soon after the hub started
    process.now += 5.0
    assert policy.due()
    process.young = 9
    assert not policy.due()  # nothing kept surviving: no garbage to look for


def test_worthwhile_collections_keep_the_shortest_interval() -> None:
    process = _Process(young=10, now=200.0)
    policy = process.policy()
    policy.run()
    process.young = 10
    process.now += 4.9
    assert not policy.due()
    process.now += 0.1
    assert policy.due()
    assert policy.to_dict() == {
        "fullCollections": 1,
        "collected": WORTHWHILE,
        "lastFullSeconds": 0.01,
        "intervalSeconds": 5.0,
    }


def test_a_costly_collection_waits_long_enough_to_stay_within_its_share() -> None:
    process = _Process(takes=0.3)
    policy = process.policy()
    policy.run()
    assert policy.interval == pytest.approx(60.0)  # 0.3 s is 0.5 % of a minute


def test_collections_that_find_nothing_back_off_and_garbage_brings_them_back() -> None:
    process = _Process(finds=20)  # a filling store: everything survives, nothing to free
    policy = process.policy()
    intervals = []
    for _ in range(8):
        policy.run()
        intervals.append(policy.interval)
    assert intervals == [10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0, 300.0]
    assert intervals[-1] == FULL_MAX_SECONDS
    process.finds = WORTHWHILE  # requests' cycles again
    policy.run()
    assert policy.interval == 5.0


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_a_real_run_frees_cycles_young_collections_left_behind() -> None:
    gc.collect()
    cycles = [_Cycle() for _ in range(1000)]
    gc.collect(1)  # alive now: promoted to the oldest generation, where only a full run looks
    del cycles
    policy = FullCollections(min_seconds=0.0, after_young=0)
    assert policy.due()
    policy.run()
    assert policy.collected >= 1000
    assert not any(isinstance(obj, _Cycle) for obj in gc.get_objects())


async def test_the_task_runs_what_is_due_and_stops() -> None:
    process = _Process(young=10)
    policy = process.policy()
    process.now += 5.0
    stop = asyncio.Event()
    task = asyncio.create_task(collect_garbage(policy, stop))
    await asyncio.sleep(0.05)
    assert len(process.runs) == 1  # checked at once, then every CHECK_SECONDS
    stop.set()
    await asyncio.wait_for(task, 2)
