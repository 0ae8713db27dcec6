"""The embedded mode's capture: a worker in a thread of the hub's process, no Redis.

The worker (:class:`capture.worker.Worker`, the same loop the DaemonSet runs) submits its
entries and stats snapshots to a :class:`~dashboard.core.ingest.sources.LocalEntrySource`, which the
hub reads like the Redis stream. Three sources of frames:

- live capture on interfaces (:func:`live_worker`), optionally opened inside a network
  namespace (the demo's lab);
- a pcap file read once, as fast as it decodes (:func:`pcap_worker`);
- a pcap file replayed in a loop at its recorded pace, timestamps moved to now
  (:func:`replay_worker`): the demo without root.

Errors: setup problems (the capture package's ``SnifferError``, ``BpfError``, ``PcapError``)
are translated here, the one place the hub calls the worker, into
:class:`~dashboard.errors.EmbeddedCaptureError`, raised by the constructors before any thread
starts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from capture.errors import CaptureError, PcapError
from capture.pipeline import Pipeline, PipelineConfig
from capture.sources.frames import Frame
from capture.sources.live import Sniffer
from capture.sources.pcapfile import read_frames
from capture.worker import FilterSpec, Worker, WorkerSettings
from contract.schema import Node
from dashboard.core.ingest.sources import LocalEntrySource
from dashboard.errors import EmbeddedCaptureError

log = logging.getLogger(__name__)


class EmbeddedWorker:
    """A capture worker running in a daemon thread until :meth:`stop`."""

    def __init__(self, worker: Worker, run: Callable[[threading.Event], None], name: str) -> None:
        self.worker = worker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=run, args=(self._stop,), name=name, daemon=True)

    def start(self) -> EmbeddedWorker:
        """Start capturing."""
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        """True while the capture thread runs."""
        return self._thread.is_alive()

    def request_stop(self) -> None:
        """Ask the capture to stop (it flushes what is open); return at once."""
        self._stop.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop capturing, flush what is open, and wait for the thread (at most ``timeout`` s)."""
        self._stop.set()
        self._thread.join(timeout)


@contextmanager
def _translated() -> Iterator[None]:
    """Raise the capture package's errors again as EmbeddedCaptureError."""
    try:
        yield
    except CaptureError as exc:
        raise EmbeddedCaptureError(str(exc)) from None


def _worker(
    source: LocalEntrySource, node: Node, mode: str, local_cidrs: tuple[str, ...]
) -> Worker:
    config = PipelineConfig(mode=mode, local_cidrs=local_cidrs)  # type: ignore[arg-type]
    name = f"{node.name}-embedded"
    settings = WorkerSettings(worker=name, node=node, filters=FilterSpec(mode=mode))
    return Worker(Pipeline(config, name, node), source, settings, report=source.report)


def live_worker(
    source: LocalEntrySource,
    interfaces: list[str],
    *,
    node: Node,
    mode: str = "connections",
    local_cidrs: tuple[str, ...] = (),
    namespace: Callable[[], AbstractContextManager[None]] = nullcontext,
) -> EmbeddedWorker:
    """Capture live on ``interfaces`` (opened inside ``namespace()``); raise
    EmbeddedCaptureError if capture cannot start."""
    worker = _worker(source, node, mode, local_cidrs)
    with namespace(), _translated():
        sniffer = Sniffer(interfaces, FilterSpec(mode=mode).expression()).open()

    def run(stop: threading.Event) -> None:
        try:
            worker.run_live(sniffer, stop)
        finally:
            sniffer.close()

    return EmbeddedWorker(worker, run, "podscope-embedded-live")


def pcap_worker(
    source: LocalEntrySource, path: Path, *, node: Node, mode: str = "connections"
) -> EmbeddedWorker:
    """Read a pcap/pcapng file once; raise EmbeddedCaptureError now if it cannot be read."""
    with _translated():
        frames = read_frames(path)
        first = next(frames, None)  # a garbage file fails here, before the thread starts
    worker = _worker(source, node, mode, ())

    def run(stop: threading.Event) -> None:
        try:
            worker.run_frames(_chain(first, frames), stop)
        except PcapError as exc:  # corrupt part way: what came before is in
            log.error("stopped reading: %s", exc)
            return
        log.info("finished reading %s", path)

    return EmbeddedWorker(worker, run, "podscope-embedded-pcap")


def replay_worker(
    source: LocalEntrySource, path: Path, *, node: Node, mode: str = "connections"
) -> EmbeddedWorker:
    """Replay a pcap in a loop at its own pace, each pass moved to the current time."""
    with _translated():
        frames = list(read_frames(path))
    if not frames:
        raise EmbeddedCaptureError(f"{path} holds no packets to replay")
    worker = _worker(source, node, mode, ())

    def run(stop: threading.Event) -> None:
        worker.run_frames(_paced(frames, stop), stop)

    return EmbeddedWorker(worker, run, "podscope-embedded-replay")


def _chain(first: Frame | None, rest: Iterator[Frame]) -> Iterator[Frame]:
    if first is not None:
        yield first
        yield from rest


def _paced(frames: list[Frame], stop: threading.Event) -> Iterator[Frame]:
    """The frames over and over, each pass shifted to start now, released at their time."""
    span = frames[-1].timestamp - frames[0].timestamp
    while not stop.is_set():
        offset = time.time() - frames[0].timestamp
        for frame in frames:
            delay = frame.timestamp + offset - time.time()
            if delay > 0 and stop.wait(delay):
                return
            yield frame._replace(timestamp=frame.timestamp + offset)
        if stop.wait(max(1.0, span * 0.05)):  # a pause between passes: connections end first
            return
