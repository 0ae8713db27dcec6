"""The hub's full collections: due after enough young collections, at most every few seconds."""

from __future__ import annotations

import asyncio
import gc

from dashboard.core.garbage import FullCollections, collect_garbage


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _policy(clock: _Clock, young: list[int], collected: list[int]) -> FullCollections:
    def collect() -> int:
        young[0] = 0  # a full collection resets CPython's count of young collections
        collected.append(7)
        return 7

    return FullCollections(
        min_seconds=5.0,
        after_young=10,
        clock=clock,
        young_since_full=lambda: young[0],
        collect=collect,
    )


def test_due_needs_both_enough_young_collections_and_time() -> None:
    clock, young, collected = _Clock(), [0], list[int]()
    policy = _policy(clock, young, collected)
    young[0] = 50
    assert not policy.due()  # too soon after the hub started
    clock.now += 5.0
    assert policy.due()
    young[0] = 9
    assert not policy.due()  # nothing kept surviving: no garbage to look for


def test_run_counts_and_waits_again() -> None:
    clock, young, collected = _Clock(), [10], list[int]()
    policy = _policy(clock, young, collected)
    clock.now += 6.0
    policy.run()
    assert collected == [7]
    young[0] = 10
    clock.now += 4.9
    assert not policy.due()
    clock.now += 0.1
    assert policy.due()
    assert policy.to_dict()["fullCollections"] == 1
    assert policy.to_dict()["collected"] == 7


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
    clock, young, collected = _Clock(), [10], list[int]()
    policy = _policy(clock, young, collected)
    clock.now += 5.0
    stop = asyncio.Event()
    task = asyncio.create_task(collect_garbage(policy, stop))
    await asyncio.sleep(0.05)
    assert collected == [7]  # checked at once, then every CHECK_SECONDS
    stop.set()
    await asyncio.wait_for(task, 2)
