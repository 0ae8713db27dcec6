"""Paced scans of the store: what a scan returns when the store turns over under it."""

from __future__ import annotations

import asyncio

from dashboard.core.store.entrystore import EntryStore
from dashboard.core.store.scans import ScanLimits, Scanner


def wires(first: int, count: int) -> list[dict[str, int]]:
    return [{"n": n} for n in range(first, first + count)]


async def test_a_scan_waiting_for_its_turn_holds_no_evicted_entries() -> None:
    store = EntryStore(1_000)
    store.add(wires(0, 1_000))
    scanner = Scanner(store, ScanLimits(concurrent=1, waiting=4))
    release = asyncio.Event()
    blocked = False

    async def hold_the_slot() -> None:
        async with scanner._slot():
            nonlocal blocked
            blocked = True
            await release.wait()

    holder = asyncio.create_task(hold_the_slot())
    await asyncio.sleep(0)
    assert blocked
    waiting = asyncio.create_task(scanner.select(lambda wire: True))
    await asyncio.sleep(0.01)
    store.add(wires(1_000, 1_000))  # the whole store turns over while the scan waits
    release.set()
    found = await waiting
    await holder
    assert [stored.wire["n"] for stored in found] == list(range(1_000, 2_000))


async def test_a_scan_reads_newest_first_with_a_limit_and_a_cursor() -> None:
    store = EntryStore(100)
    store.add(wires(0, 100))
    scanner = Scanner(store)
    found = await scanner.select(lambda wire: wire["n"] % 2 == 0, limit=3, newest_first=True)
    assert [stored.wire["n"] for stored in found] == [98, 96, 94]
    found = await scanner.select(lambda wire: True, before=5, newest_first=True)
    assert [stored.seq for stored in found] == [4, 3, 2, 1]
    found = await scanner.select(lambda wire: True, after=97)
    assert [stored.seq for stored in found] == [98, 99, 100]
