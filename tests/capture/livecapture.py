"""Test helpers: a worker capturing live inside a lab namespace, collecting entries in memory."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from capture.pipeline import Pipeline, PipelineConfig
from capture.sources.frames import Frame
from capture.sources.live import Sniffer
from capture.worker import FilterSpec, Worker, WorkerSettings
from contract.schema import Entry, Node
from lab.errors import LabError
from lab.topology import POD_CIDR, Lab, check_prerequisites

NODE = Node("lab-node-1", "198.51.100.1")


@dataclass
class SinkCounters:
    """What ListSink received."""

    entries: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"entries": self.entries}


@dataclass
class ListSink:
    """Keeps every entry in memory (thread-safe)."""

    entries: list[Entry] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def submit(self, entries: Iterable[Entry]) -> None:
        with self.lock:
            self.entries.extend(entries)

    @property
    def stats(self) -> SinkCounters:
        with self.lock:
            return SinkCounters(len(self.entries))

    def drain(self, timeout: float) -> bool:
        return True

    def close(self) -> None:
        return None

    def snapshot(self) -> list[Entry]:
        with self.lock:
            return list(self.entries)


@dataclass
class LiveCapture:
    """A worker running in a thread inside the lab's node namespace."""

    worker: Worker
    sniffer: Sniffer
    sink: ListSink
    stop: threading.Event
    thread: threading.Thread

    def wait_for(self, condition: Callable[[list[Entry]], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition(self.sink.snapshot()):
            if time.monotonic() > deadline:
                raise AssertionError(f"entries never matched; got {self.sink.snapshot()}")
            time.sleep(0.05)


def require_lab() -> None:
    """Skip the test, with the reason, when the lab cannot be built here."""
    try:
        check_prerequisites()
    except LabError as exc:
        pytest.skip(str(exc))


@contextmanager
def live_capture(
    lab: Lab, mode: str = "connections", interfaces: tuple[str, ...] = ("any",), scope: str = ""
) -> Iterator[LiveCapture]:
    """Capture in the lab's node namespace until the block ends (then flush)."""
    spec = FilterSpec(mode=mode)
    with lab.inside(lab.node_ns):
        sniffer = Sniffer(interfaces, spec.expression(scope)).open()
    config = PipelineConfig(mode=mode, syn_timeout=1.0, local_cidrs=(POD_CIDR,))  # type: ignore[arg-type]
    sink = ListSink()
    worker = Worker(
        Pipeline(config, "lab", NODE), sink, WorkerSettings("lab", NODE, spec, stats_interval=0.5)
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_live, args=(sniffer, stop), daemon=True)
    thread.start()
    try:
        yield LiveCapture(worker, sniffer, sink, stop, thread)
    finally:
        stop.set()
        thread.join(timeout=10)
        sniffer.close()


def read_for(sniffer: Sniffer, seconds: float) -> list[Frame]:
    """Every frame ``sniffer`` reads in the next ``seconds``."""
    frames: list[Frame] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        frames += sniffer.read(0.05)
    return frames
