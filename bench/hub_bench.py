"""Hub benchmarks: ingest rate with 50 filtered sessions, and XADD -> websocket latency.

Run: .venv/bin/python bench/hub_bench.py ingest [--entries N] [--sessions N] [--repeat N]
     .venv/bin/python bench/hub_bench.py latency [--rate N] [--seconds S] [--sessions N] [--attack]

``ingest``: raw JSON entries (bench/entrygen, encoded by ``Entry.to_json`` as the workers
publish them) through ``Hub.accept`` in 100 ms-sized batches on one core, in steady state (the
store and every map already hold ``--entries`` entries, so each new one evicts one): validate,
dedupe, name, store, three-level map, metrics, and 50 sessions each with a different filter and
its own map, then each session's websocket text. Prints entries/s, the
best of ``--repeat`` runs (this machine's speed varies from minute to minute). Goal: at least
20,000 entries/s.

``latency``: a real hub (``manage.py podscope serve`` with REDIS_URL) in its own process,
``--sessions`` real websocket clients each with a different filter, and a producer XADDing at
``--rate`` entries/s. Prints the XADD -> websocket delay p50/p99 over every delivered entry,
what the sessions missed, and the hub's resident memory sampled every 10 s (flat is the goal;
``--seconds 600`` for the 10-minute run). Goal: p99 under 500 ms at 5,000 entries/s.

``--attack`` adds attackers meanwhile: one more session that sets a costly filter (100 regexes)
over and over, and 50 concurrent clients scanning the whole store through ``/api/export`` and
``/api/entries`` with a regex filter in a loop; ``/healthz`` is probed twice a
second. Prints what the attackers got (answers by status) and the probe's p99 and worst time.
Goal: the viewers' p99 still under 500 ms, and ``/healthz`` under 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.entrygen import generate  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/9"
POOL = 20_000  # distinct entries the latency producer cycles through
NAMESPACES = ("shop", "payments", "monitoring", "kube-system", "ns1", "ns2")
TEMPLATES = (
    'src.namespace == "{ns}"',
    'dst.namespace == "{ns}"',
    'src.namespace == "{ns}" and tcp',
    'src.namespace == "{ns}" and dst.namespace == ""',
    'dst.namespace == "{ns}" and tcp.event == "refused"',
    'src.namespace == "{ns}" and (dns or udp)',
    'src.namespace == "{ns}" and dst.port == 443',
    'src.namespace == "{ns}" and requestSize > 1000',
    'src.namespace != "{ns}" and tcp and dst.name.contains("stripe")',
)


def filters(count: int) -> list[str]:
    """``count`` distinct, realistic filters (the first one is the empty filter)."""
    queries = [""]
    for template in TEMPLATES:
        for namespace in NAMESPACES:
            queries.append(template.format(ns=namespace))
    if count > len(queries):
        raise SystemExit(f"at most {len(queries)} distinct filters")
    return queries[:count]


def cluster_objects(wires: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pods (with ReplicaSets), Services and Nodes behind entrygen's endpoints, for naming."""
    objects: dict[tuple[str, str, str], dict[str, Any]] = {}
    for wire in wires:
        for side in (wire["src"], wire["dst"]):
            kind, namespace, ip = side["kind"], side["namespace"], side["ip"]
            if kind == "pod" and side["pod"]:
                workload = side["workload"] or side["pod"]
                objects[("ReplicaSet", namespace, workload)] = {
                    "kind": "ReplicaSet",
                    "metadata": {
                        "name": f"{workload}-rs",
                        "namespace": namespace,
                        "uid": f"rs-{namespace}-{workload}",
                        "ownerReferences": [
                            {"kind": "Deployment", "name": workload, "controller": True}
                        ],
                    },
                }
                objects[("Pod", namespace, side["pod"])] = {
                    "kind": "Pod",
                    "metadata": {
                        "name": side["pod"],
                        "namespace": namespace,
                        "uid": f"pod-{ip}",
                        "ownerReferences": [
                            {"kind": "ReplicaSet", "name": f"{workload}-rs", "controller": True}
                        ],
                    },
                    "spec": {"nodeName": wire["node"]["name"]},
                    "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]},
                }
            elif kind == "service" and side["service"]:
                objects[("Service", namespace, side["service"])] = {
                    "kind": "Service",
                    "metadata": {
                        "name": side["service"],
                        "namespace": namespace,
                        "uid": f"svc-{ip}",
                    },
                    "spec": {"clusterIP": ip},
                }
            elif kind == "node" and side["name"]:
                objects[("Node", "", side["name"])] = {
                    "kind": "Node",
                    "metadata": {"name": side["name"], "uid": f"node-{ip}"},
                    "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
                }
    return list(objects.values())


def cluster_index(wires: list[dict[str, Any]]) -> Any:
    from dashboard.core.naming.index import ClusterIndex  # noqa: PLC0415

    index = ClusterIndex(cluster_cidrs=["10.0.0.0/8"])
    objects = cluster_objects(wires)
    for kind in ("ReplicaSet", "Node", "Service", "Pod"):
        index.replace(kind, [obj for obj in objects if obj["kind"] == kind])
    return index


def stop_hub(hub: subprocess.Popen[bytes], prefix: str) -> None:
    """SIGTERM the hub and delete the bench's Redis keys."""
    import redis  # noqa: PLC0415

    hub.send_signal(signal.SIGTERM)
    try:
        hub.wait(30)
    except subprocess.TimeoutExpired:
        hub.kill()
        hub.wait()
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


def bench_ingest(entries: int, sessions: int, batch: int, repeat: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    from contract.schema import Entry  # noqa: PLC0415
    from dashboard.core.garbage import tune_gc  # noqa: PLC0415

    wires = generate(2 * entries, seed=3)  # the first half fills the store, the second is timed
    raw = [Entry.from_wire(w).to_json().encode() for w in wires]  # as workers publish them
    tune_gc()  # as Hub.start does in a serving hub
    for with_sessions in (0, sessions):
        seconds = [ingest_cpu(wires, raw, with_sessions, batch) for _ in range(repeat)]
        print(
            f"ingest: {entries} entries into a full store of {entries}, {with_sessions} sessions, "
            f"batches of {batch}: {entries / min(seconds):,.0f} entries/s, best of {repeat} "
            f"(CPU {', '.join(f'{cpu:.2f}' for cpu in seconds)} s)"
        )


def ingest_cpu(wires: list[dict[str, Any]], raw: list[bytes], sessions: int, batch: int) -> float:
    """CPU seconds a hub with ``sessions`` filtered sessions, whose store (and every map) holds
    the first half of ``raw``, takes to ingest the second half (each entry evicts one)."""
    from dashboard.core.config import HubConfig  # noqa: PLC0415
    from dashboard.core.hub import Hub  # noqa: PLC0415

    gc.collect()  # the last run's hub, sessions and views hold reference cycles
    half = len(raw) // 2
    hub = Hub(HubConfig(store_size=half), cluster_index(wires))
    asyncio.run(set_filters(hub, filters(sessions)))
    feed(hub, raw[:half], batch)
    started = time.process_time()
    feed(hub, raw[half:], batch)
    return time.process_time() - started


async def set_filters(hub: Any, queries: list[str]) -> None:
    """Open one session per query and set its filter."""
    for query in queries:
        await hub.sessions.set_filter(hub.sessions.open(), query)


def feed(hub: Any, raw: list[bytes], batch: int) -> None:
    """Hand ``raw`` to the hub in batches, each followed by what the websocket senders take."""
    for start in range(0, len(raw), batch):
        hub.accept(raw[start : start + batch])
        for session in hub.sessions.sessions():
            while (message := session.next_message()) is not None:
                message.to_json()
                session.ack(message.seq)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


ENTRIES_HEAD = re.compile(r'^\{"type":"entries","seq":(\d+),"backfill":(true|false),"missed":(\d+)')
BENCH_ID = re.compile(r'"id":"(bench/\d+)"')


async def client(
    port: int, query: str, sent: dict[str, float], delays: list[float], missed: list[int]
) -> None:
    """One viewer; reads message heads and ids with regexes so the clients stay cheap."""
    import aiohttp  # noqa: PLC0415

    url = f"http://127.0.0.1:{port}/ws/live"
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url, origin=f"http://127.0.0.1:{port}", max_msg_size=0) as ws,
    ):
        await ws.send_json({"type": "filter.set", "query": query})
        async for message in ws:
            head = ENTRIES_HEAD.match(message.data)
            if head is None:
                continue
            now = time.time()
            await ws.send_str(f'{{"type":"ack","seq":{head[1]}}}')
            missed.append(int(head[3]))
            if head[2] == "false":
                for entry_id in BENCH_ID.findall(message.data):
                    start = sent.get(entry_id)
                    if start is not None:
                        delays.append(now - start)


async def produce(prefix: str, rate: int, seconds: float, sent: dict[str, float]) -> int:
    import redis.asyncio as aioredis  # noqa: PLC0415

    from contract.schema import Entry  # noqa: PLC0415

    pool = generate(POOL, seed=5)
    redis = aioredis.Redis.from_url(REDIS_URL)
    stream = f"{prefix}:entries"
    tick = 0.02
    per_tick = max(1, int(rate * tick))
    number = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        pipe = redis.pipeline(transaction=False)
        now = time.time()
        for _ in range(per_tick):
            wire = dict(pool[number % len(pool)])
            wire["id"] = f"bench/{number}"
            wire["timestamp"] = int(now * 1000)
            text = Entry.from_wire(wire).to_json()  # as workers publish them
            pipe.xadd(stream, {"entry": text}, maxlen=100_000)
            sent[wire["id"]] = now
            number += 1
        await pipe.execute()
        next_tick = started + (number / per_tick) * tick
        await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
    await redis.aclose()
    return number


async def wait_until_up(port: int, timeout: float = 60.0) -> None:
    """Return once the hub answers ``/livez`` (a loaded machine starts it slowly)."""
    import aiohttp  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"http://127.0.0.1:{port}/livez") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                if time.monotonic() > deadline:
                    raise SystemExit("the hub did not start") from None
            await asyncio.sleep(0.2)


async def hub_counters(port: int) -> dict[str, Any]:
    """The hub's scan and garbage collection counters (``/api/stats``): what they cost."""
    import aiohttp  # noqa: PLC0415

    async with aiohttp.ClientSession() as http:
        for _ in range(30):  # the attackers, from this address too, spent its API budget
            async with http.get(f"http://127.0.0.1:{port}/api/stats") as response:
                if response.status != 429:
                    stats: dict[str, Any] = await response.json()
                    return {"scans": stats.get("scans", {}), "gc": stats.get("gc", {})}
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
    return {"scans": "refused (429)", "gc": "refused (429)"}


COSTLY_FILTER = " or ".join(f'dst.name == r"(a|b)*c{n}.*x.*y.*z"' for n in range(100))
# allowed (a few µs an entry, under the hub's per-filter limit) and matching almost nothing:
# every request is a full pass over the store; a costlier one would only be refused at once
SCAN_FILTER = " or ".join(f'dst.name == r"^svc-{n}.*[a-z]+.*example"' for n in range(4))
API_ATTACKERS = 50


async def attack_filters(port: int, answers: dict[str, int]) -> None:
    """One session setting a costly filter over and over (acking whatever it is sent)."""
    import aiohttp  # noqa: PLC0415

    url = f"http://127.0.0.1:{port}/ws/live"
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url, origin=f"http://127.0.0.1:{port}", max_msg_size=0) as ws,
    ):
        await ws.send_json({"type": "filter.set", "query": COSTLY_FILTER})
        async for message in ws:
            head = ENTRIES_HEAD.match(message.data)
            if head is not None:
                await ws.send_str(f'{{"type":"ack","seq":{head[1]}}}')
                continue
            kind = json.loads(message.data).get("type", "")
            if kind.startswith("filter."):
                answers[kind] = answers.get(kind, 0) + 1
                await ws.send_json({"type": "filter.set", "query": COSTLY_FILTER})


async def attack_api(port: int, answers: dict[str, int]) -> None:
    """One client scanning the store through the API in a loop."""
    import aiohttp  # noqa: PLC0415

    routes = ("/api/export", "/api/entries")
    async with aiohttp.ClientSession() as http:
        for number in itertools.count():
            url = f"http://127.0.0.1:{port}{routes[number % 2]}"
            async with http.get(url, params={"q": SCAN_FILTER}) as response:
                await response.read()
                key = f"HTTP {response.status}"
                answers[key] = answers.get(key, 0) + 1


async def probe_health(port: int, times: list[float]) -> None:
    """``GET /healthz`` twice a second; each answer's time (10 s when it never came)."""
    import aiohttp  # noqa: PLC0415

    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        while True:
            started = time.monotonic()
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    await response.read()
                times.append(time.monotonic() - started)
            except TimeoutError:
                times.append(10.0)
            await asyncio.sleep(max(0.0, 0.5 - (time.monotonic() - started)))


async def bench_latency(rate: int, seconds: float, sessions: int, attack: bool = False) -> None:
    prefix = f"bench-hub-{secrets.token_hex(4)}"
    port = free_port()
    env = dict(os.environ, REDIS_URL=REDIS_URL, PODSCOPE_PREFIX=prefix)
    snapshot = Path(f"/tmp/{prefix}-cluster.json")
    items = cluster_objects(generate(POOL, seed=5))
    snapshot.write_text(json.dumps({"kind": "List", "items": items}))
    hub = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "podscope",
            "serve",
            "--port",
            str(port),
            "--cluster-snapshot",
            str(snapshot),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    sent: dict[str, float] = {}
    delays: list[float] = []
    missed: list[int] = []
    memory: list[tuple[float, float]] = []
    attacker_answers: dict[str, int] = {}
    health: list[float] = []
    try:
        await wait_until_up(port)
        tasks = [
            asyncio.create_task(client(port, query, sent, delays, missed))
            for query in filters(sessions)
        ]
        await asyncio.sleep(2.0)
        if attack:
            tasks.append(asyncio.create_task(attack_filters(port, attacker_answers)))
            tasks += [
                asyncio.create_task(attack_api(port, attacker_answers))
                for _ in range(API_ATTACKERS)
            ]
        tasks.append(asyncio.create_task(probe_health(port, health)))
        started = time.monotonic()

        async def sample_memory() -> None:
            while True:
                memory.append((time.monotonic() - started, rss_mib(hub.pid)))
                await asyncio.sleep(10.0)

        sampler = asyncio.create_task(sample_memory())
        cpu_before, own_before = cpu_seconds(hub.pid), time.process_time()
        produced = await produce(prefix, rate, seconds, sent)
        hub_cpu = (cpu_seconds(hub.pid) - cpu_before) / seconds
        counters = await hub_counters(port)
        own_cpu = (time.process_time() - own_before) / seconds
        await asyncio.sleep(2.0)
        sampler.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, sampler, return_exceptions=True)
    finally:
        stop_hub(hub, prefix)
        snapshot.unlink(missing_ok=True)
    delays.sort()
    if not delays:
        raise SystemExit("no entry reached a websocket")
    p50 = delays[len(delays) // 2] * 1000
    p99 = delays[int(len(delays) * 0.99)] * 1000
    print(
        f"latency: {produced} entries XADDed at {rate}/s for {seconds:.0f} s, {sessions} "
        f"sessions: {len(delays)} deliveries, p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
        f"max {delays[-1] * 1000:.0f} ms, mean {statistics.fmean(delays) * 1000:.0f} ms, "
        f"missed {sum(missed)}; CPU: hub {hub_cpu:.2f}, producer + clients {own_cpu:.2f} cores"
    )
    print("hub RSS (s, MiB): " + ", ".join(f"({t:.0f}, {m:.0f})" for t, m in memory))
    health.sort()
    if health:
        print(
            f"/healthz: {len(health)} probes, p99 {health[int(len(health) * 0.99)] * 1000:.0f} ms, "
            f"max {health[-1] * 1000:.0f} ms"
        )
    if attack:
        print(f"attackers got: {dict(sorted(attacker_answers.items()))}")
    print(f"hub scans (/api/stats): {counters['scans']}")
    print(f"hub full GC collections (/api/stats): {counters['gc']}")


def python_reference() -> float:
    """Seconds this machine's Python takes for a fixed loop (to compare machines' numbers)."""
    started = time.perf_counter()
    total = 0
    for number in range(10_000_000):
        total += number
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    actions = parser.add_subparsers(dest="action", required=True)
    ingest = actions.add_parser("ingest")
    ingest.add_argument("--entries", type=int, default=100_000)
    ingest.add_argument("--sessions", type=int, default=50)
    ingest.add_argument("--batch", type=int, default=2_000)
    ingest.add_argument("--repeat", type=int, default=3, help="runs; the best is reported")
    latency = actions.add_parser("latency")
    latency.add_argument("--rate", type=int, default=5_000)
    latency.add_argument("--seconds", type=float, default=30.0)
    latency.add_argument("--sessions", type=int, default=50)
    latency.add_argument("--attack", action="store_true", help="add the attackers")
    args = parser.parse_args()
    print(f"machine: a 10M-iteration Python loop takes {python_reference():.2f} s")
    if args.action == "ingest":
        bench_ingest(args.entries, args.sessions, args.batch, args.repeat)
    else:
        asyncio.run(bench_latency(args.rate, args.seconds, args.sessions, args.attack))


if __name__ == "__main__":
    main()
