"""``python -m capture``: capture live or read a pcap, and publish entries to Redis or stdout.

Exit codes: 0 done, 1 capture failed while running, 2 bad usage or a setup error (missing
interface, no permission, unreadable pcap, bad BPF, bad Redis URL) or a capture file corrupt
part way (what was read before is reported first), each as one line on stderr.
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import logging
import math
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from types import FrameType

from capture.errors import BpfError, PcapError, PublishError, RingError, SnifferError, UsageError
from capture.pipeline import Pipeline, PipelineConfig
from capture.sinks.health import HealthFile, Report
from capture.sinks.jsonl import JsonlSink
from capture.sinks.pcapring import PcapRing, export_directory
from capture.sinks.publish import Publisher, ScopeWatcher
from capture.sources.bpf import KNOWN_PROTOCOLS, CompiledFilter, compile_filter
from capture.sources.frames import LINKTYPE_RAW, Frame
from capture.sources.live import DEFAULT_BUFFER_BYTES, Sniffer
from capture.sources.pcapfile import CaptureFile, read_frames
from capture.worker import EntrySink, FilterSpec, Worker, WorkerSettings
from contract.bus import DEFAULT_MAXLEN, DEFAULT_PREFIX
from contract.schema import Node
from contract.stats import CaptureMetrics
from contract.vocabulary import CAPTURE_MODES, DEFAULT_CAPTURE_MODE

PROG = "python -m capture"
EXIT_FAILED = 1
EXIT_USAGE = 2

log = logging.getLogger("capture")


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (``-h`` documents every option)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="podscope capture worker: packets -> connection entries (TCP, UDP, DNS, "
        "ICMP) -> a Redis stream or JSON lines on stdout.",
        epilog="Exit codes: 0 done, 1 capture failed while running, 2 usage or setup error.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--interface",
        "-i",
        action="append",
        metavar="IF",
        help="capture live on IF (repeatable); 'any' = every interface of this network "
        "namespace, including ones created later (needs root or CAP_NET_RAW)",
    )
    source.add_argument(
        "--read",
        "-r",
        metavar="FILE",
        help="read a pcap or pcapng file (gzip too), a FIFO or a pipe; '-' = standard input",
    )
    source.add_argument(
        "--export",
        metavar="FILE",
        help="write the packets kept in the --ring-dir pcap ring to FILE (pcap) and exit; "
        "select them with --since/--until and --bpf (safe while a worker writes the ring)",
    )
    parser.add_argument(
        "--mode",
        choices=CAPTURE_MODES,
        default=DEFAULT_CAPTURE_MODE,
        help="connections (default): the kernel passes only TCP SYN/FIN/RST, DNS and ICMP "
        "errors, bytes come from sequence numbers; full: every packet (packet counts, "
        "retransmits, payload preview, pcap ring)",
    )
    parser.add_argument(
        "--bpf", default="", metavar="EXPR", help="extra BPF expression ANDed with the mode's"
    )
    parser.add_argument(
        "--protocols",
        default="tcp,udp,dns,icmp",
        metavar="LIST",
        help="comma-separated dissectors to enable (default: tcp,udp,dns,icmp)",
    )
    sink = parser.add_mutually_exclusive_group()
    sink.add_argument("--redis", metavar="URL", help="publish to Redis, e.g. redis://host:6379/0")
    sink.add_argument(
        "--redis-env",
        metavar="VAR",
        help="publish to the Redis whose URL is in environment variable VAR (so that a password"
        " in the URL stays out of the process list)",
    )
    sink.add_argument(
        "--format",
        choices=("jsonl",),
        help="write entries as JSON lines to stdout (the default without --redis)",
    )
    parser.add_argument(
        "--prefix", default=DEFAULT_PREFIX, help=f"Redis key prefix (default {DEFAULT_PREFIX})"
    )
    parser.add_argument(
        "--maxlen",
        type=_positive_int,
        default=DEFAULT_MAXLEN,
        metavar="N",
        help=f"approximate length cap of the Redis entry stream (default {DEFAULT_MAXLEN})",
    )
    parser.add_argument(
        "--node",
        default=os.environ.get("NODE_NAME") or socket.gethostname(),
        help="node name in entries (default: $NODE_NAME or the host name)",
    )
    parser.add_argument(
        "--node-ip", default=os.environ.get("NODE_IP", ""), help="node IP (default: $NODE_IP)"
    )
    parser.add_argument(
        "--worker",
        help="worker name, the prefix of entry ids (default: NODE-<start time>, unique per run)",
    )
    parser.add_argument("--ring-dir", metavar="DIR", help="full mode: keep a pcap ring in DIR")
    parser.add_argument(
        "--ring-bytes",
        type=_positive_int,
        default=256 * 1024 * 1024,
        metavar="N",
        help="full mode: size cap of the pcap ring in bytes (default 256 MiB)",
    )
    parser.add_argument(
        "--since", type=float, default=-math.inf, metavar="T", help="--export: from epoch T"
    )
    parser.add_argument(
        "--until", type=float, default=math.inf, metavar="T", help="--export: until epoch T"
    )
    parser.add_argument(
        "--buffer-bytes",
        type=_positive_int,
        default=DEFAULT_BUFFER_BYTES,
        metavar="N",
        help="live: kernel receive ring per capture socket, in bytes (default 64 MiB); a "
        "bigger ring rides out longer bursts before the kernel drops packets",
    )
    parser.add_argument(
        "--metrics-port", type=_port, metavar="N", help="serve Prometheus /metrics on port N"
    )
    parser.add_argument(
        "--health-file",
        type=Path,
        metavar="FILE",
        help="touch FILE with every stats snapshot (every 5 s), for a liveness probe",
    )
    parser.add_argument(
        "--syn-timeout",
        type=_positive_float,
        default=5.0,
        metavar="S",
        help="seconds without an answer to a SYN before a 'timeout' entry (default 5)",
    )
    parser.add_argument(
        "--ongoing-interval",
        type=_positive_float,
        default=30.0,
        metavar="S",
        help="seconds between 'ongoing' reports of long-lived connections (default 30)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=_positive_float,
        default=300.0,
        metavar="S",
        help="full mode: seconds without a packet after which an open connection lost its "
        "FIN/RST and is reported 'expired' (default 300; checked at its 'ongoing' reports)",
    )
    parser.add_argument(
        "--max-connections",
        type=_positive_int,
        default=200_000,
        metavar="N",
        help="TCP connections tracked at once (default 200000); when full, the oldest is "
        "reported 'expired' and forgotten",
    )
    parser.add_argument(
        "--local-cidr",
        action="append",
        default=[],
        type=_cidr,
        metavar="CIDR",
        help="a pod/host network of this node (repeatable): decides 'outgoing'",
    )
    parser.add_argument(
        "--log-level", default="warning", choices=("debug", "info", "warning", "error")
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="podscope-capture: %(levelname)s %(message)s"
    )
    stop = threading.Event()
    _on_signals(stop)
    try:
        return _run(args, stop)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SnifferError as exc:
        print(f"{PROG}: capture failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except PcapError as exc:  # corrupt part way: the entries of what came before are out
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _report(args: argparse.Namespace, publisher: Publisher | None) -> Report | None:
    """What every stats snapshot goes to: Redis, and the health file when one is asked for."""
    report = publisher.publish_stats if publisher is not None else None
    if args.health_file is None:
        return report
    return HealthFile(args.health_file).reporting(report)


def _redis_url(args: argparse.Namespace) -> str | None:
    """--redis, or the URL in the environment variable --redis-env names."""
    if not args.redis_env:
        redis_url: str | None = args.redis
        return redis_url
    url = os.environ.get(args.redis_env, "").strip()
    if not url:
        raise UsageError(f"--redis-env {args.redis_env}: that environment variable is empty")
    return url


def _run(args: argparse.Namespace, stop: threading.Event) -> int:
    if args.export:
        return _export(args)
    args.redis = _redis_url(args)
    protocols = _protocols(args.protocols)
    if args.ring_dir and args.mode != "full":
        raise UsageError("--ring-dir needs --mode full")
    filters = FilterSpec(args.mode, protocols, args.bpf)
    try:
        if args.bpf:
            compile_filter(args.bpf, LINKTYPE_RAW)  # a bad --bpf is named alone, before output
        expression = filters.expression()
    except BpfError as exc:
        raise UsageError(str(exc)) from None
    node = Node(name=args.node, ip=args.node_ip)
    worker_name = args.worker or f"{args.node}-{_base36(int(time.time()))}"
    config = PipelineConfig(
        mode=args.mode,
        protocols=protocols,
        syn_timeout=args.syn_timeout,
        ongoing_interval=args.ongoing_interval,
        idle_timeout=args.idle_timeout,
        max_connections=args.max_connections,
        local_cidrs=tuple(args.local_cidr),
    )
    settings = WorkerSettings(worker=worker_name, node=node, filters=filters)
    with ExitStack() as stack:
        sink: EntrySink
        publisher: Publisher | None = None
        if args.redis:
            try:
                publisher = Publisher(args.redis, prefix=args.prefix, maxlen=args.maxlen)
            except PublishError as exc:
                raise UsageError(str(exc)) from None
            sink = publisher.start()
        else:
            sink = JsonlSink(sys.stdout)
        stack.callback(sink.close)
        ring = _ring(args)
        metrics = CaptureMetrics()
        if args.metrics_port is not None:
            try:
                metrics.serve(args.metrics_port)
            except OSError as exc:
                # The port is the node's (host network): another process holding it must not
                # stop the capture, only its /metrics.
                log.warning("capturing without /metrics: port %d: %s", args.metrics_port, exc)
        worker = Worker(
            Pipeline(config, worker_name, node),
            sink,
            settings,
            ring=ring,
            metrics=metrics,
            report=_report(args, publisher),
        )
        _tune_gc()
        if args.read:
            _read_capture(worker, args.read, args.bpf, stop)
        else:
            sniffer = _open_sniffer(args.interface, expression, args.buffer_bytes)
            stack.callback(sniffer.close)
            if args.redis:
                watcher = ScopeWatcher(
                    args.redis, node.name, worker.request_scope, prefix=args.prefix
                )
                stack.callback(watcher.close)
                watcher.start()
            log.info("capturing on %s (%s mode)", ",".join(args.interface), args.mode)
            worker.run_live(sniffer, stop)
    return _published_all(publisher)


def _published_all(publisher: Publisher | None) -> int:
    """0, or EXIT_FAILED after saying how many entries never reached Redis (once closed)."""
    lost = publisher.unpublished if publisher is not None else 0
    if lost:
        print(
            f"{PROG}: {lost} entries were not published (Redis unreachable or too slow)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return 0


def _tune_gc() -> None:
    """Collect cycles rarely: the loop makes many short-lived, acyclic objects (frames, entries).

    Frequent young-generation collections are then mostly wasted work (3-8% of decode+track
    measured on the offline bench); start-up objects are frozen out of collection altogether.
    """
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def _export(args: argparse.Namespace) -> int:
    if not args.ring_dir:
        raise UsageError("--export needs --ring-dir")
    try:
        count = export_directory(args.ring_dir, args.export, args.since, args.until, args.bpf)
    except (RingError, BpfError) as exc:
        raise UsageError(str(exc)) from None
    print(f"{PROG}: exported {count} packets to {args.export}", file=sys.stderr)
    return 0


def _open_sniffer(interfaces: list[str], expression: str, buffer_bytes: int) -> Sniffer:
    try:
        return Sniffer(interfaces, expression, buffer_bytes).open()
    except BpfError as exc:
        raise UsageError(str(exc)) from None
    except SnifferError as exc:
        raise UsageError(str(exc)) from None


def _ring(args: argparse.Namespace) -> PcapRing | None:
    if not args.ring_dir:
        return None
    try:
        return PcapRing(args.ring_dir, args.ring_bytes)
    except RingError as exc:
        raise UsageError(str(exc)) from None


def _read_capture(worker: Worker, path: str, bpf: str, stop: threading.Event) -> None:
    """Run a capture file (or stream) through the worker; say what it had to skip."""
    capture = _open_capture(path, stop)
    frames: Iterator[Frame] = capture
    if bpf:
        frames = _filtered(frames, bpf)
    try:
        worker.run_frames(frames, stop)
    finally:
        capture.close()
        _report_skipped(capture)


def _open_capture(path: str, stop: threading.Event) -> CaptureFile:
    """The file's frames; an unreadable or garbage file is a UsageError before any output."""
    try:
        return read_frames(path, stop)
    except PcapError as exc:
        raise UsageError(str(exc)) from None


def _report_skipped(capture: CaptureFile) -> None:
    """One line for the packets of a file that could not be decoded at all."""
    if capture.undefined_interface:
        print(
            f"{PROG}: warning: {capture.name}: {capture.undefined_interface} of "
            f"{capture.records} packets skipped: on an interface the file does not describe",
            file=sys.stderr,
        )


def _filtered(frames: Iterator[Frame], expression: str) -> Iterator[Frame]:
    """Apply the user's BPF expression in user space (the pipeline applies the mode's rule)."""
    compiled: dict[int, CompiledFilter] = {}
    for frame in frames:
        program = compiled.get(frame.linktype)
        if program is None:
            try:
                program = compile_filter(expression, frame.linktype)
            except BpfError as exc:
                raise UsageError(f"{exc} (for link type {frame.linktype})") from None
            compiled[frame.linktype] = program
        if program.matches(frame.data):
            yield frame


def _protocols(text: str) -> frozenset[str]:
    chosen = frozenset(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = chosen - KNOWN_PROTOCOLS
    if unknown or not chosen:
        known = ",".join(sorted(KNOWN_PROTOCOLS))
        raise UsageError(f"--protocols {text!r}: choose from {known}")
    return chosen


def _on_signals(stop: threading.Event) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handler)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number")
    return value


def _cidr(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a CIDR") from None


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while number:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
    return text or "0"


if __name__ == "__main__":
    sys.exit(main())
