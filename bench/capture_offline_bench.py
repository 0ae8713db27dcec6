"""Offline capture benchmark: pcap file -> Pipeline, packets per second, against scapy and tcpdump.

Prints, in one run on the same generated pcap (bench/pcapgen.py, at least 1M packets):
- ``full`` mode decode+track rate (read_frames -> Pipeline.feed, entries built),
- ``connections`` mode rate on the same file pre-filtered by libpcap with the kernel filter
  expression of that mode (capture/bpf.py), per filtered packet and per packet of the whole file,
- scapy's own dissection rate (``Ether(raw)``) on a sample, extrapolated, and the ratio,
  by CPU time (fair on a shared machine) and by wall time,
- ``tcpdump -r FILE -w /dev/null`` wall time as the floor.

Usage: python -m bench.capture_offline_bench [--packets N] [--pcap PATH] [--sample N]
Run it when the machine is quiet (the load average is printed first).
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import time
from itertools import islice
from typing import NamedTuple

from scapy.layers.inet import TCP
from scapy.layers.l2 import Ether

from bench.pcapgen import generate
from capture.bpf import mode_filter
from capture.pcapfile import read_frames
from capture.pipeline import Pipeline, PipelineConfig
from capture.schema import Node


class Timing(NamedTuple):
    """How long something took, in wall-clock and in CPU seconds."""

    wall: float
    cpu: float


def run_pipeline(path: str, mode: str) -> tuple[int, Timing, collections.Counter[str]]:
    """Feed every frame of ``path`` to a fresh pipeline; return packets, time, entry kinds."""
    pipeline = Pipeline(PipelineConfig(mode=mode), "bench", Node("bench", "10.0.0.1"))  # type: ignore[arg-type]
    kinds: collections.Counter[str] = collections.Counter()
    last = 0.0
    cpu = time.process_time()
    started = time.perf_counter()
    for frame in read_frames(path):
        last = frame.timestamp
        for entry in pipeline.feed(frame.timestamp, frame.data, frame.linktype, frame.interface):
            kinds[entry.tcp.event if entry.tcp else entry.protocol.name] += 1
    for entry in pipeline.flush(last + 3600):
        kinds[entry.tcp.event if entry.tcp else entry.protocol.name] += 1
    timing = Timing(time.perf_counter() - started, time.process_time() - cpu)
    stats = pipeline.stats
    assert stats.malformed == 0, stats
    assert stats.unsupported == 0, stats
    return stats.packets, timing, kinds


def scapy_timing(path: str, sample: int) -> tuple[int, Timing]:
    """Scapy's dissection (``Ether(raw)``) of the first ``sample`` frames: count and time."""
    frames = [frame.data for frame in islice(read_frames(path), sample)]
    if not Ether(frames[0]).haslayer(TCP):
        raise SystemExit("scapy did not dissect down to TCP: its inet layers are not loaded")
    cpu = time.process_time()
    started = time.perf_counter()
    for data in frames:
        Ether(data)
    return len(frames), Timing(time.perf_counter() - started, time.process_time() - cpu)


def rates(packets: int, timing: Timing) -> str:
    """Packets per second by wall-clock and by CPU time."""
    return (
        f"{packets / timing.wall:,.0f} packets/s ({timing.wall:.2f} s wall), "
        f"{packets / timing.cpu:,.0f} per CPU second ({timing.cpu:.2f} s CPU)"
    )


def tcpdump_seconds(path: str) -> float:
    """Wall time of ``tcpdump -r path -w /dev/null``."""
    started = time.perf_counter()
    subprocess.run(["tcpdump", "-r", path, "-w", "/dev/null"], check=True, capture_output=True)
    return time.perf_counter() - started


def prefilter(path: str, out: str) -> str:
    """Write the packets of ``path`` the connections-mode kernel filter passes to ``out``."""
    expression = mode_filter("connections", ("tcp", "udp", "dns", "icmp"))
    command = ["tcpdump", "-r", path, "-w", out, expression]
    subprocess.run(command, check=True, capture_output=True)
    return expression


def main() -> None:
    """Generate the pcap if needed, run every measurement, print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--pcap", default="/tmp/podscope-bench.pcap")
    parser.add_argument("--sample", type=int, default=20_000)
    args = parser.parse_args()
    if shutil.which("tcpdump") is None:
        raise SystemExit("tcpdump is missing: apt-get install tcpdump")
    print(f"load average before: {os.getloadavg()}")
    started = time.perf_counter()
    mix = generate(args.pcap, args.packets)
    print(f"generated {args.pcap} in {time.perf_counter() - started:.1f} s: {mix}")

    packets, full, kinds = run_pipeline(args.pcap, "full")
    print(f"full mode: {packets} packets, {rates(packets, full)}")
    print(f"  entries: {dict(kinds)}")

    filtered_path = args.pcap.replace(".pcap", "-connections.pcap")
    expression = prefilter(args.pcap, filtered_path)
    filtered, connections, kinds = run_pipeline(filtered_path, "connections")
    print(f"connections mode: {filtered} packets pass the kernel filter ({expression})")
    print(f"  {rates(filtered, connections)}")
    print(f"  = {packets / connections.cpu:,.0f} packets of the whole file per CPU second")
    print(f"  entries: {dict(kinds)}")

    sample, scapy = scapy_timing(args.pcap, args.sample)
    print(f"scapy Ether(raw), first {sample} packets: {rates(sample, scapy)}")
    wall_ratio = (packets / full.wall) / (sample / scapy.wall)
    cpu_ratio = (packets / full.cpu) / (sample / scapy.cpu)
    print(f"full mode / scapy = {cpu_ratio:.1f}x by CPU time, {wall_ratio:.1f}x by wall time"
          " (goal >= 20x)")  # fmt: skip
    floor = tcpdump_seconds(args.pcap)
    print(f"tcpdump -r FILE -w /dev/null: {floor:.2f} s = {packets / floor:,.0f} packets/s")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
