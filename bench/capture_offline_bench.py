"""Offline capture benchmark: pcap file -> Pipeline, packets per second, against scapy and tcpdump.

Prints, in one run on the same generated pcap (bench/pcapgen.py, at least 1M packets):
- ``full`` mode decode+track rate (Pipeline.feed on frames read in batches, entries built),
  and the rate with the reading of the file (read_frames) counted too,
- ``connections`` mode rate on the same file pre-filtered by libpcap with the kernel filter
  expression of that mode (capture/bpf.py), per filtered packet and per packet of the whole file,
- scapy's own dissection rate (``Ether(raw)`` on frames in memory) on a sample, extrapolated,
  and the ratios, by CPU time (fair on a shared machine) and by wall time,
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
from capture.pipeline import Pipeline, PipelineConfig
from capture.sources.bpf import mode_filter
from capture.sources.pcapfile import read_frames
from contract.schema import Entry, Node


class Timing(NamedTuple):
    """How long something took, in wall-clock and in CPU seconds."""

    wall: float
    cpu: float


BATCH = 1024  # frames read before they are fed, as capture/worker.py's run_frames does


class Run(NamedTuple):
    """One pipeline run over a file: packets, time in decode+track alone and with the reading."""

    packets: int
    pipeline: Timing
    with_reading: Timing
    kinds: collections.Counter[str]


def run_pipeline(path: str, mode: str) -> Run:
    """Feed every frame of ``path`` to a fresh pipeline, timing its part apart from the reading.

    Frames are read in batches and each batch is then fed, like the worker does: ``pipeline`` is
    the time in ``Pipeline.feed`` and ``flush`` (decode+track, entries built), the part that
    compares with scapy's dissection of frames already in memory; ``with_reading`` adds the
    time ``read_frames`` took. Counting the entries by kind is left out of both.
    """
    pipeline = Pipeline(PipelineConfig(mode=mode), "bench", Node("bench", "10.0.0.1"))  # type: ignore[arg-type]
    feed = pipeline.feed
    kinds: collections.Counter[str] = collections.Counter()
    entries: list[Entry] = []
    frames = read_frames(path)
    last = 0.0
    read_wall = read_cpu = feed_wall = feed_cpu = 0.0
    while True:
        started, started_cpu = time.perf_counter(), time.process_time()
        batch = list(islice(frames, BATCH))
        fed, fed_cpu = time.perf_counter(), time.process_time()
        for timestamp, data, linktype, interface in batch:
            entries += feed(timestamp, data, linktype, interface)
        if batch:
            last = batch[-1].timestamp
        else:
            entries += pipeline.flush(last + 3600)
        done, done_cpu = time.perf_counter(), time.process_time()
        read_wall, read_cpu = read_wall + fed - started, read_cpu + fed_cpu - started_cpu
        feed_wall, feed_cpu = feed_wall + done - fed, feed_cpu + done_cpu - fed_cpu
        kinds.update(entry.tcp.event if entry.tcp else entry.protocol.name for entry in entries)
        entries.clear()
        if not batch:
            break
    stats = pipeline.stats
    assert stats.malformed == 0, stats
    assert stats.unsupported == 0, stats
    with_reading = Timing(read_wall + feed_wall, read_cpu + feed_cpu)
    return Run(stats.packets, Timing(feed_wall, feed_cpu), with_reading, kinds)


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

    full = run_pipeline(args.pcap, "full")
    packets = full.packets
    print(f"full mode decode+track: {packets} packets, {rates(packets, full.pipeline)}")
    print(f"  with the pcap read: {rates(packets, full.with_reading)}")
    print(f"  entries: {dict(full.kinds)}")

    filtered_path = args.pcap.replace(".pcap", "-connections.pcap")
    expression = prefilter(args.pcap, filtered_path)
    connections = run_pipeline(filtered_path, "connections")
    print(f"connections mode: {connections.packets} packets pass the kernel filter ({expression})")
    print(f"  decode+track: {rates(connections.packets, connections.pipeline)}")
    print(f"  = {packets / connections.pipeline.cpu:,.0f} packets of the whole file per CPU second")
    print(f"  with the pcap read: {rates(connections.packets, connections.with_reading)}")
    print(f"  entries: {dict(connections.kinds)}")

    sample, scapy = scapy_timing(args.pcap, args.sample)
    print(f"scapy Ether(raw), first {sample} frames in memory: {rates(sample, scapy)}")
    scapy_rate = Timing(sample / scapy.wall, sample / scapy.cpu)
    for label, timing in (
        ("decode+track", full.pipeline),
        ("with the pcap read", full.with_reading),
    ):
        cpu_ratio = packets / timing.cpu / scapy_rate.cpu
        wall_ratio = packets / timing.wall / scapy_rate.wall
        print(f"full mode {label} / scapy = {cpu_ratio:.1f}x by CPU time, {wall_ratio:.1f}x by"
              " wall time (goal: decode+track >= 20x)")  # fmt: skip
    floor = tcpdump_seconds(args.pcap)
    print(f"tcpdump -r FILE -w /dev/null: {floor:.2f} s = {packets / floor:,.0f} packets/s")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
