"""Offline capture benchmark: pcap file -> Pipeline, packets per second, against scapy and tcpdump.

Prints, in one run on the same generated pcap (bench/pcapgen.py, at least 1M packets):
- ``full`` mode decode+track rate (read_frames -> Pipeline.feed, entries built),
- ``connections`` mode rate on the same file pre-filtered by libpcap with the kernel filter
  expression of that mode (capture/bpf.py), per filtered packet and per packet of the whole file,
- scapy's own dissection rate (``Ether(raw)``) on a sample, extrapolated, and the ratio,
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

from scapy.layers.inet import TCP
from scapy.layers.l2 import Ether

from bench.pcapgen import generate
from capture.bpf import mode_filter
from capture.pcapfile import read_frames
from capture.pipeline import Pipeline, PipelineConfig
from capture.schema import Node


def run_pipeline(path: str, mode: str) -> tuple[int, float, collections.Counter[str]]:
    """Feed every frame of ``path`` to a fresh pipeline; return packets, seconds, entry kinds."""
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
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    print(f"  ({mode}: {cpu:.2f} s of CPU time for {seconds:.2f} s of wall time)")
    stats = pipeline.stats
    assert stats.malformed == 0, stats
    assert stats.unsupported == 0, stats
    return stats.packets, seconds, kinds


def scapy_rate(path: str, sample: int) -> float:
    """Scapy's per-packet dissection rate (packets/s) over the first ``sample`` frames."""
    frames = [frame.data for frame in islice(read_frames(path), sample)]
    if not Ether(frames[0]).haslayer(TCP):
        raise SystemExit("scapy did not dissect down to TCP: its inet layers are not loaded")
    started = time.perf_counter()
    for data in frames:
        Ether(data)
    return len(frames) / (time.perf_counter() - started)


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

    packets, seconds, kinds = run_pipeline(args.pcap, "full")
    full_rate = packets / seconds
    print(f"full mode:        {packets} packets in {seconds:.2f} s = {full_rate:,.0f} packets/s")
    print(f"  entries: {dict(kinds)}")

    filtered_path = args.pcap.replace(".pcap", "-connections.pcap")
    expression = prefilter(args.pcap, filtered_path)
    filtered, seconds, kinds = run_pipeline(filtered_path, "connections")
    print(f"connections mode: {filtered} packets pass the kernel filter ({expression})")
    print(
        f"  {seconds:.2f} s = {filtered / seconds:,.0f} filtered packets/s, "
        f"{packets / seconds:,.0f} packets/s of the whole file"
    )
    print(f"  entries: {dict(kinds)}")

    scapy = scapy_rate(args.pcap, args.sample)
    print(f"scapy Ether(raw): {scapy:,.0f} packets/s (first {args.sample} packets)")
    print(f"full mode / scapy = {full_rate / scapy:.1f}x (goal >= 20x)")
    floor = tcpdump_seconds(args.pcap)
    print(f"tcpdump -r FILE -w /dev/null: {floor:.2f} s = {packets / floor:,.0f} packets/s")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
