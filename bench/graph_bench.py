"""Map throughput: adds/removes per second at all levels, and to_dict time of a 5,000-pod map.

Run: .venv/bin/python bench/graph_bench.py [--entries N] [--pods N] [--repeat N]
(one core; run when ``uptime`` load is under 1.5). Prints:

- adds/s and removes/s of the three levels' maps over N named entries from entrygen,
- the metrics of the same entries once stored (``observe_flows`` and ``observe_not_flows``),
- to_dict time per level (the first, every node and edge rendered; then after one change) and
  nodegraph.data time, for a map of the same entries spread over ``--pods`` pods,
- traced memory of the three maps.
"""

from __future__ import annotations

import argparse
import copy
import functools
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.entrygen import generate
from dashboard.core.outputs import nodegraph
from dashboard.core.outputs.graph import LEVELS, ConnectivityGraph, Level
from dashboard.core.outputs.metrics import HubMetrics
from dashboard.core.store.entrystore import EntryStore, flows_of

WORKLOADS = 500
NAMESPACES = 25


def spread(entries: list[dict[str, Any]], pods: int) -> list[dict[str, Any]]:
    """Copies of ``entries`` whose pods are ``pods`` pods of 500 workloads in 25 namespaces.

    The client pod of entry ``i`` is pod ``i % pods``, a destination pod is pod ``31 * i % pods``;
    Services, nodes and external destinations stay as they are.
    """
    spread_entries = copy.deepcopy(entries)
    for index, entry in enumerate(spread_entries):
        for side, number in (("src", index % pods), ("dst", 31 * index % pods)):
            endpoint = entry[side]
            if endpoint["kind"] == "pod":
                workload = number % WORKLOADS
                endpoint["namespace"] = f"ns-{workload % NAMESPACES}"
                endpoint["workload"] = f"app-{workload}"
                endpoint["pod"] = endpoint["name"] = f"app-{workload}-{number}"
    return spread_entries


Maps = dict[Level, ConnectivityGraph]


def maps_of(entries: list[dict[str, Any]]) -> Maps:
    """The map of ``entries`` at every level."""
    maps = {level: ConnectivityGraph(level) for level in LEVELS}
    for entry in entries:
        for graph in maps.values():
            graph.add(entry)
    return maps


def rebuild(graph: ConnectivityGraph, entry: dict[str, Any]) -> None:
    """Change the map (add and take back an entry), then build it: to_dict caches per version."""
    graph.add(entry)
    graph.remove(entry)
    graph.to_dict()


def best_rate(action: Callable[[], None], count: int, repeat: int) -> float:
    """Best of ``repeat`` runs, in items per second."""
    best = min(_timed(action) for _ in range(repeat))
    return count / best


def best_seconds(action: Callable[[], object], repeat: int) -> float:
    """Best of ``repeat`` runs, in seconds."""
    return min(_timed(action) for _ in range(repeat))


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--pods", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    entries = generate(args.entries, seed=1)
    graphs = {level: ConnectivityGraph(level) for level in LEVELS}

    def add_all() -> None:
        for entry in entries:
            for graph in graphs.values():
                graph.add(entry)

    def remove_all() -> None:
        for entry in entries:
            for graph in graphs.values():
                graph.remove(entry)

    add_times, remove_times = [], []
    for _ in range(args.repeat):
        add_times.append(_timed(add_all))
        remove_times.append(_timed(remove_all))
    skipped = sum(graphs["pod"].skipped.values()) // args.repeat
    print(f"entries: {len(entries):,} (not flows, skipped: {skipped:,})")
    print(f"add (3 levels): {len(entries) / min(add_times):,.0f} entries/s")
    print(f"remove (3 levels): {len(entries) / min(remove_times):,.0f} entries/s")

    stored, _ = EntryStore(len(entries)).add(entries)  # the store reads each entry's flow once
    flows = flows_of(stored)

    def observe_all() -> None:
        metrics = HubMetrics()
        metrics.observe_flows(flows)
        metrics.observe_not_flows(stored)

    rate = best_rate(observe_all, len(entries), args.repeat)
    print(f"HubMetrics.observe_flows + observe_not_flows (one call each): {rate:,.0f} entries/s")

    spread_entries = spread(entries, args.pods)
    big = maps_of(spread_entries)
    change = next(e for e in spread_entries if e["protocol"]["name"] == "tcp")
    for level in LEVELS:
        cold = _timed(big[level].to_dict)
        data = big[level].to_dict()
        warm = best_seconds(functools.partial(rebuild, big[level], change), args.repeat)
        print(
            f"to_dict({level}): first {cold * 1000:.1f} ms, after a change {warm * 1000:.1f} ms "
            f"({len(data['nodes']):,} nodes, {len(data['edges']):,} edges)"
        )
    pod_map = big["pod"].to_dict()
    seconds = best_seconds(lambda: nodegraph.data(pod_map), args.repeat)
    print(f"nodegraph.data(pod): {seconds * 1000:.1f} ms")

    tracemalloc.start()
    measured = maps_of(spread_entries)
    current, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del measured
    print(f"memory of the 3 maps of {args.pods:,} pods: {current / 2**20:.1f} MiB (traced)")


if __name__ == "__main__":
    main()
