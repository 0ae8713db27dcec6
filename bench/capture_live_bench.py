"""Live capture benchmark in the namespace lab (root): connections mode and full mode.

``connections``: load generators in two pods open ``--rate`` new TCP connections per second in
total to servers in two other pods for ``--seconds``; each sends ``--request`` bytes and gets
``--response`` bytes back. The worker (``python -m capture -i any --redis ...`` in the node
namespace, publishing to a private redis-server there: its real path) must report every
connection with exact bytes each way, with zero kernel drops; its CPU time is read from /proc.
Prints the achieved rate, the entries matched, mismatches, kernel drops and the worker's CPU as
a share of one core.

``full``: UDP packets from one pod to another at increasing rates; the worker (full mode) and
``tcpdump -i any`` capture the same traffic at the same time. Prints, per rate, the frames each
saw and each one's kernel drops, the worker's CPU during the load, worker/tcpdump, and the
highest rate the worker kept up with (no drop, and not leaning on its ring buffer).

``services``: the same connections load on the two-node cluster lab (:mod:`lab.cluster`), pod to
pod and then through a ClusterIP Service (DNAT): the worker's CPU per connection in each case,
and that each connection is reported once with exact bytes (:func:`bench_services`).

Usage (as root, when the machine is quiet; the load average is printed first):
    python -m bench.capture_live_bench connections [--rate 1000] [--seconds 30]
    python -m bench.capture_live_bench services [--rate 1000] [--pod-network routed]
    python -m bench.capture_live_bench full [--rates 20000,40000,60000,80000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import cast

import redis

from capture.sources.bpf import KNOWN_PROTOCOLS, mode_filter
from lab.cluster import API_PORT, API_VIP, ClusterLab
from lab.servers import TcpServer
from lab.topology import Lab

AnyLab = Lab | ClusterLab

REPO = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SERVER_PORTS = (8000, 8001, 8002, 8003)
REDIS_PORT = 6391
FULL_FILTER = mode_filter("full", KNOWN_PROTOCOLS)
"""tcpdump gets the worker's own full-mode kernel filter, so both see the same packets."""


# --- load generator roles (run inside a pod namespace through `ip netns exec`) ----------------


async def _one_connection(
    server: str, port: int, request: bytes, results: list[tuple[int, int, int]]
) -> None:
    try:
        reader, writer = await asyncio.open_connection(server, port)
    except OSError:
        results.append((0, port, -1))
        return
    local_port = writer.get_extra_info("sockname")[1]
    received = 0
    try:
        writer.write(request)
        writer.write_eof()
        while chunk := await reader.read(262_144):
            received += len(chunk)
    except OSError:
        received = -1
    finally:
        writer.close()
    results.append((local_port, port, received))


async def _client(
    server: str, rate: float, seconds: float, request_bytes: int, ports: tuple[int, ...]
) -> None:
    request = b"q" * request_bytes
    results: list[tuple[int, int, int]] = []
    tasks: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    while (now := loop.time() - start) < seconds:
        due = int(now * rate) + 1
        while sent < due:
            port = ports[sent % len(ports)]
            task = asyncio.create_task(_one_connection(server, port, request, results))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        await asyncio.sleep(0.001)
    elapsed = loop.time() - start
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    json.dump({"attempted": sent, "elapsed": elapsed, "results": results}, sys.stdout)


def _udp_sender(server: str, rate: float, seconds: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload = b"u" * 100
    start = time.monotonic()
    sent = 0
    while (now := time.monotonic() - start) < seconds:
        due = int(now * rate)
        while sent < due:
            sock.sendto(payload, (server, 9000 + sent % 50))
            sent += 1
        time.sleep(0.0005)
    json.dump({"sent": sent, "elapsed": time.monotonic() - start}, sys.stdout)


# --- orchestration ----------------------------------------------------------------------------


def _role(lab: AnyLab, netns: str, *args: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "bench.capture_live_bench", *args]
    return subprocess.Popen(
        lab.command(netns, argv), stdout=subprocess.PIPE, text=True, cwd=REPO, env=_env()
    )


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def _start_worker(lab: AnyLab, args: list[str], netns: str = "") -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "capture", "-i", "any", "--worker", "bench", *args]
    worker = subprocess.Popen(
        lab.command(netns or _node_ns(lab), argv),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=_env(),
    )
    time.sleep(2.0)  # imports and socket setup
    if worker.poll() is not None:
        raise SystemExit(f"worker failed: {worker.stderr.read() if worker.stderr else ''}")
    return worker


def _node_ns(lab: AnyLab) -> str:
    return lab.node_ns if isinstance(lab, Lab) else lab.node(1).netns


def _lab_redis(lab: AnyLab, stack: ExitStack) -> redis.Redis:
    """A private redis-server inside the node namespace (the worker's Redis), and a client."""
    server = subprocess.Popen(
        lab.command(
            _node_ns(lab),
            [
                "redis-server",
                "--port",
                str(REDIS_PORT),
                "--save",
                "",
                "--appendonly",
                "no",
                "--bind",
                "127.0.0.1",
            ],
        ),
        stdout=subprocess.DEVNULL,
    )
    stack.callback(server.wait)
    stack.callback(server.kill)
    with lab.inside(_node_ns(lab)):
        client: redis.Redis = redis.Redis(port=REDIS_PORT)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
    stack.callback(client.close)
    return client


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


def bench_connections(options: argparse.Namespace) -> None:
    """1,000 new connections/s of 100 KB each: exact bytes, kernel drops, worker CPU."""
    url = f"redis://127.0.0.1:{REDIS_PORT}/0"
    prefix = f"bench-{secrets.token_hex(4)}"
    with Lab() as lab, ExitStack() as stack:
        client = _lab_redis(lab, stack)
        servers = [lab.pod("payments/api"), lab.pod("shop/cart")]
        clients = [lab.pod("shop/frontend"), lab.pod("monitoring/prom")]
        for pod in clients:
            subprocess.run(
                lab.command(pod.netns, ["sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=1"]),
                check=True,
            )
        for server in servers:
            for port in SERVER_PORTS:
                stack.enter_context(TcpServer(server.netns, server.ip, port, options.response))
        worker_args = ["--redis", url, "--prefix", prefix, "--maxlen", "1000000"]
        worker = _start_worker(lab, worker_args)
        cpu_before, wall_before = _cpu_seconds(worker.pid), time.monotonic()
        generators = [
            _role(
                lab,
                pod.netns,
                "_client",
                server.ip,
                str(options.rate / len(clients)),
                str(options.seconds),
                str(options.request),
            )
            for pod, server in zip(clients, servers, strict=True)
        ]
        outputs = [json.loads(g.communicate()[0]) for g in generators]
        time.sleep(2.0)  # let the last FINs reach the worker
        cpu_after, wall_after = _cpu_seconds(worker.pid), time.monotonic()
        _stop(worker)
        client_ips = [pod.ip for pod in clients]
        reply = client.xrange(f"{prefix}:entries", "-", "+")
        stream = cast(list[tuple[bytes, dict[bytes, bytes]]], reply)
        entries = [json.loads(fields[b"entry"]) for _, fields in stream]
        snapshot = json.loads(client.hget(f"{prefix}:workers", "bench") or b"{}")
    closes: dict[tuple[str, int, int], tuple[int, int]] = {}
    for entry in entries:
        if entry.get("tcp", {}).get("event") == "close":
            key = (entry["src"]["ip"], entry["src"]["port"], entry["dst"]["port"])
            closes[key] = (entry.get("requestSize", 0), entry.get("responseSize", 0))
    expected = (options.request, options.response)
    attempted = sum(o["attempted"] for o in outputs)
    completed = matched = wrong = missing = 0
    for ip, output in zip(client_ips, outputs, strict=True):
        for local_port, server_port, received in output["results"]:
            if received != options.response:
                continue
            completed += 1
            found = closes.get((ip, local_port, server_port))
            if found is None:
                missing += 1
            elif found == expected:
                matched += 1
            else:
                wrong += 1
    elapsed = max(o["elapsed"] for o in outputs)
    user, system = (after - before for after, before in zip(cpu_after, cpu_before, strict=True))
    cpu = user + system
    wall = wall_after - wall_before
    print(f"connections attempted      {attempted} in {elapsed:.1f} s")
    print(f"achieved rate              {completed / elapsed:.0f} completed connections/s")
    print(f"bytes per connection       {options.request} B request, {options.response} B reply")
    print(f"reported with exact bytes  {matched} of {completed} ({wrong} wrong, {missing} missing)")
    print(f"kernel drops               {snapshot.get('sniffer', {}).get('kernelDrops')}")
    print(f"frames read by the worker  {snapshot.get('sniffer', {}).get('packets')}")
    print(f"entries published          {snapshot.get('publisher', {}).get('published')}")
    print(
        f"worker CPU                 {cpu:.2f} s ({user:.2f} user, {system:.2f} system) in "
        f"{wall:.1f} s; per second of load {100 * cpu / elapsed:.1f}% of one core"
    )
    print(f"worker CPU per connection  {1e6 * cpu / max(1, completed):.0f} us")


def bench_services(options: argparse.Namespace) -> None:
    """The same load pod to pod, then through a ClusterIP Service: the NAT join's cost.

    On node 1 of the two-node cluster lab (kube-proxy iptables), ``shop/frontend`` opens
    ``--rate`` connections/s for ``--seconds``, first to the two ``payments/api`` pods' own
    addresses (one on node 1, one across the VXLAN tunnel), then to their Service VIP, which
    DNATs each to one of them. Node 1's worker sees every connection of the second phase twice
    (before and after DNAT) and must report it once, to the backend, with exact bytes.
    """
    url = f"redis://127.0.0.1:{REDIS_PORT}/0"
    prefix = f"bench-{secrets.token_hex(4)}"
    phases: list[tuple[str, list[tuple[str, str]]]] = []
    with ClusterLab(options.pod_network) as lab, ExitStack() as stack:
        client = _lab_redis(lab, stack)
        frontend, api1, api2 = lab.pod("frontend"), lab.pod("api", 1), lab.pod("api", 2)
        subprocess.run(
            lab.command(frontend.netns, ["sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=1"]),
            check=True,
        )
        for server in (api1, api2):
            stack.enter_context(TcpServer(server.netns, server.ip, API_PORT, options.response))
        worker = _start_worker(lab, ["--redis", url, "--prefix", prefix, "--maxlen", "1000000"])
        results = []
        for name, targets in (
            ("pod to pod", [(api1.ip, str(API_PORT)), (api2.ip, str(API_PORT))]),
            ("via ClusterIP", [(API_VIP, "80"), (API_VIP, "80")]),
        ):
            phases.append((name, targets))
            cpu_before = _cpu_seconds(worker.pid)
            generators = [
                _role(lab, frontend.netns, "_client", server, str(options.rate / len(targets)),
                      str(options.seconds), str(options.request), ports)
                for server, ports in targets
            ]  # fmt: skip
            outputs = [json.loads(g.communicate()[0]) for g in generators]
            time.sleep(2.0)  # let the last FINs reach the worker
            cpu_after = _cpu_seconds(worker.pid)
            results.append((outputs, cpu_before, cpu_after))
        _stop(worker)
        reply = client.xrange(f"{prefix}:entries", "-", "+")
        stream = cast(list[tuple[bytes, dict[bytes, bytes]]], reply)
        entries = [json.loads(fields[b"entry"]) for _, fields in stream]
        snapshot = json.loads(client.hget(f"{prefix}:workers", "bench") or b"{}")
    closes: dict[tuple[int, str, int], list[tuple[int, int]]] = {}  # client port, dialed
    for entry in entries:
        if entry["src"]["ip"] == frontend.ip and entry.get("tcp", {}).get("event") == "close":
            sizes = (entry.get("requestSize", 0), entry.get("responseSize", 0))
            dialed = entry.get("nat", {}).get("dialed") or entry["dst"]
            closes.setdefault((entry["src"]["port"], dialed["ip"], dialed["port"]), []).append(
                sizes
            )
    expected = (options.request, options.response)
    print(
        f"pod network {options.pod_network}; {options.rate:.0f} connections/s for "
        f"{options.seconds:.0f} s per phase; {options.request} B / {options.response} B each"
    )
    for (name, targets), (outputs, before, after) in zip(phases, results, strict=True):
        # a client port is used again for the same destination within a phase (tw_reuse):
        # each use is one connection, so a key must have as many closes as uses
        uses: Counter[tuple[int, str, int]] = Counter(
            (local_port, address, server_port)
            for (address, _), output in zip(targets, outputs, strict=True)
            for local_port, server_port, received in output["results"]
            if received == options.response
        )
        completed = sum(uses.values())
        exact = sum(n for key, n in uses.items() if closes.get(key, []) == [expected] * n)
        duplicated = sum(max(0, len(closes.get(key, [])) - n) for key, n in uses.items())
        elapsed = max(o["elapsed"] for o in outputs)
        cpu = sum(after) - sum(before)
        print(f"{name:14} {completed / elapsed:6.0f} conn/s completed; {exact} of {completed} "
              f"reported once with exact bytes ({duplicated} extra reports); worker CPU "
              f"{100 * cpu / elapsed:.1f}% of a core, {1e6 * cpu / max(1, completed):.0f} us "
              "per connection")  # fmt: skip
    pipeline = snapshot.get("pipeline", {})
    sniffer = snapshot.get("sniffer", {})
    print(
        f"kernel drops {sniffer.get('kernelDrops')}, frames read {sniffer.get('packets')}, "
        f"NAT copies joined {pipeline.get('natCopies')}, duplicates {pipeline.get('duplicates')}"
    )


def bench_full(options: argparse.Namespace) -> None:
    """Full mode: increasing UDP packet rates, worker vs tcpdump on the same traffic."""
    rates = [int(r) for r in options.rates.split(",")]
    best = 0
    with Lab() as lab:
        sender, receiver = lab.pod("shop/frontend"), lab.pod("payments/api")
        print(
            f"{'rate/s':>8} {'sent':>8} {'worker':>9} {'w.drops':>8} {'w.cpu%':>7} "
            f"{'tcpdump':>9} {'t.drops':>8} {'worker/tcpdump':>15}"
        )
        for rate in rates:
            metrics_port = 9400 + rates.index(rate)
            worker = _start_worker(
                lab, ["--mode", "full", "--format", "jsonl", "--metrics-port", str(metrics_port)]
            )
            dump = subprocess.Popen(
                lab.command(
                    lab.node_ns,
                    ["tcpdump", "-i", "any", "-w", "/dev/null", "-B", "65536", FULL_FILTER],
                ),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            time.sleep(1.0)
            cpu_before = sum(_cpu_seconds(worker.pid))
            load = _role(lab, sender.netns, "_udp", receiver.ip, str(rate), str(options.seconds))
            result = json.loads(load.communicate()[0])
            sent, cpu = result["sent"], sum(_cpu_seconds(worker.pid)) - cpu_before
            busy = 100 * cpu / result["elapsed"]  # near 100: it relied on the ring to keep up
            time.sleep(6.0)  # one more stats snapshot (every 5 s) after the load
            worker_stats = _scrape(lab, metrics_port)
            _stop(worker)
            dump.send_signal(signal.SIGINT)
            tcpdump = _tcpdump_counts(dump.communicate(timeout=30)[1])
            drops = worker_stats.get("kernel_drops")  # Prometheus names are snake_case
            # what the kernel handed the worker: frames it read plus bridge copies it skipped
            seen = worker_stats.get("captured_packets", 0) + worker_stats.get(
                "bridge_copies_skipped", 0
            )
            ratio = seen / tcpdump["captured"] if tcpdump["captured"] else float("nan")
            print(
                f"{rate:>8} {sent:>8} {seen:>9.0f} {drops!s:>8} {busy:>7.0f} "
                f"{tcpdump['captured']:>9} {tcpdump['dropped']:>8} {ratio:>15.3f}"
            )
            if drops == 0 and busy < 90:
                best = max(best, rate)
    print(
        f"highest rate kept up with (no kernel drop, worker under 90% of a core during the "
        f"load): {best} packets/s sent = {2 * best} frames/s on 'any' (each packet crosses "
        "two veths; the worker decodes one copy, the other is skipped as a bridge copy)"
    )


def _scrape(lab: Lab, port: int) -> dict[str, float]:
    curl = [
        sys.executable,
        "-c",
        f"import urllib.request as u;print(u.urlopen("
        f"'http://127.0.0.1:{port}/metrics').read().decode())",
    ]
    result = subprocess.run(
        lab.command(lab.node_ns, curl), capture_output=True, text=True, check=True
    )
    text = result.stdout
    values: dict[str, float] = {}
    for match in re.finditer(r"^podscope_capture_(\w+?)(?:_total)?\{[^}]*\} (\S+)$", text, re.M):
        values[match.group(1)] = float(match.group(2))
    return values


def _tcpdump_counts(stderr: str) -> dict[str, int]:
    counts = {"captured": 0, "dropped": 0}
    for number, what in re.findall(r"(\d+) packets? (captured|dropped by kernel)", stderr):
        counts["captured" if what == "captured" else "dropped"] = int(number)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    commands = parser.add_subparsers(dest="command", required=True)
    connections = commands.add_parser("connections")
    connections.add_argument("--rate", type=float, default=1000.0)
    connections.add_argument("--seconds", type=float, default=30.0)
    connections.add_argument("--request", type=int, default=1_000)
    connections.add_argument("--response", type=int, default=100_000)
    services = commands.add_parser("services")
    services.add_argument("--rate", type=float, default=1000.0)
    services.add_argument("--seconds", type=float, default=15.0)
    services.add_argument("--request", type=int, default=1_000)
    services.add_argument("--response", type=int, default=10_000)
    services.add_argument("--pod-network", choices=("bridge", "routed"), default="bridge")
    full = commands.add_parser("full")
    full.add_argument("--rates", default="20000,40000,60000,80000")
    full.add_argument("--seconds", type=float, default=20.0)
    client = commands.add_parser("_client")
    client.add_argument("server")
    client.add_argument("rate", type=float)
    client.add_argument("seconds", type=float)
    client.add_argument("request", type=int)
    client.add_argument("ports", nargs="?", default=",".join(map(str, SERVER_PORTS)))
    udp = commands.add_parser("_udp")
    udp.add_argument("server")
    udp.add_argument("rate", type=float)
    udp.add_argument("seconds", type=float)
    options = parser.parse_args()
    if options.command == "_client":
        ports = tuple(int(port) for port in options.ports.split(","))
        asyncio.run(_client(options.server, options.rate, options.seconds, options.request, ports))
        return
    if options.command == "_udp":
        _udp_sender(options.server, options.rate, options.seconds)
        return
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    if options.command == "connections":
        bench_connections(options)
    elif options.command == "services":
        bench_services(options)
    else:
        bench_full(options)


if __name__ == "__main__":
    main()
