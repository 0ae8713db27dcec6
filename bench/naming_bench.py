"""Naming throughput: ClusterIndex.name_entry on 100k entries with a 5,000-pod index.

Run: .venv/bin/python bench/naming_bench.py [--entries N] [--pods N]
Prints entries/s of name_entry (one core, one thread) and resolve/s. Goal: well over 50k/s.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contract.schema import Endpoint, Entry, Node, TcpInfo, protocol
from dashboard.core.naming.index import ClusterIndex
from tests.dashboard import objects as k8s

NODES = 50
SERVICES = 500


def build_index(pods: int) -> tuple[ClusterIndex, list[str], list[str], list[str]]:
    index = ClusterIndex(cluster_cidrs=["10.96.0.0/12"])
    node_ips = [f"172.18.{n // 250}.{n % 250 + 1}" for n in range(NODES)]
    index.replace(
        "Node",
        [
            k8s.node(f"node-{n}", ip, f"10.{n // 200}.{n % 200}.0/24")
            for n, ip in enumerate(node_ips)
        ],
    )
    pod_objs, rs_objs, slices = [], [], []
    pod_ips = []
    for n in range(pods):
        deploy = f"app-{n % SERVICES}"
        rs = f"{deploy}-5c4f8d"
        ip = f"10.{(n % NODES) // 200}.{(n % NODES) % 200}.{n // NODES + 2}"
        pod_ips.append(ip)
        owner = k8s.owner_ref("ReplicaSet", rs)
        pod_objs.append(
            k8s.pod(
                f"{rs}-{n:05d}",
                f"ns-{n % 20}",
                ip,
                node=f"node-{n % NODES}",
                owner=owner,
                template_hash="5c4f8d",
            )
        )
        if n < SERVICES:
            rs_objs.append(k8s.replica_set(rs, f"ns-{n % 20}", deploy))
    for s in range(SERVICES):
        members = [(f"app-{s}-5c4f8d-{n:05d}", pod_ips[n]) for n in range(s, pods, SERVICES)]
        slices.append(k8s.endpoint_slice(f"app-{s}", f"ns-{s % 20}", members))
    service_ips = [f"10.96.{s // 250}.{s % 250 + 1}" for s in range(SERVICES)]
    services = [k8s.service(f"app-{s}", f"ns-{s % 20}", ip) for s, ip in enumerate(service_ips)]
    index.replace("ReplicaSet", rs_objs)
    index.replace("Pod", pod_objs)
    index.replace("Service", services)
    index.replace("EndpointSlice", slices)
    return index, pod_ips, service_ips, node_ips


def make_entries(
    count: int, pod_ips: list[str], service_ips: list[str], node_ips: list[str]
) -> list[Entry]:
    rng = random.Random(7)
    externals = [f"93.184.{n // 250}.{n % 250 + 1}" for n in range(2000)]
    now = int(time.time() * 1000)
    entries = []
    for n in range(count):
        roll = rng.random()
        if roll < 0.5:
            dst = Endpoint(ip=rng.choice(service_ips), port=80)
        elif roll < 0.8:
            dst = Endpoint(ip=rng.choice(pod_ips), port=8080)
        elif roll < 0.95:
            dst = Endpoint(ip=rng.choice(externals), port=443, name="api.example.com")
        else:
            dst = Endpoint(ip=rng.choice(node_ips), port=10250)
        entries.append(
            Entry(
                id=f"w/{n}",
                worker="w",
                node=Node("node-0", node_ips[0]),
                timestamp=now - rng.randrange(600_000),
                protocol=protocol("tcp"),
                src=Endpoint(ip=rng.choice(pod_ips), port=rng.randrange(32768, 60999)),
                dst=dst,
                tcp=TcpInfo(event="connect"),
            )
        )
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--pods", type=int, default=5_000)
    args = parser.parse_args()

    started = time.perf_counter()
    index, pod_ips, service_ips, node_ips = build_index(args.pods)
    print(
        f"index: {args.pods} pods, {SERVICES} services, {NODES} nodes "
        f"built in {time.perf_counter() - started:.2f} s"
    )
    entries = make_entries(args.entries, pod_ips, service_ips, node_ips)

    name_entry = index.name_entry
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        named = [name_entry(entry) for entry in entries]
        best = max(best, len(entries) / (time.perf_counter() - started))
    kinds = {e.dst.kind for e in named}
    print(
        f"name_entry: {best:,.0f} entries/s ({len(entries):,} entries, best of 3; "
        f"dst kinds {sorted(kinds)})"
    )

    resolve = index.resolve
    lookups = [(e.dst.ip, e.dst.port, e.timestamp) for e in entries]
    started = time.perf_counter()
    for ip, port, at in lookups:
        resolve(ip, port, at)
    print(f"resolve: {len(lookups) / (time.perf_counter() - started):,.0f} lookups/s")


if __name__ == "__main__":
    main()
