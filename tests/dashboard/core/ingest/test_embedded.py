from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from contract.schema import Entry, Node
from dashboard.core.ingest.embedded import pcap_worker, replay_worker
from dashboard.core.ingest.sources import LocalEntrySource
from dashboard.errors import EmbeddedCaptureError
from lab.recording import DEMO_PCAP

PCAP = DEMO_PCAP
NODE = Node("lab-node-1", "198.51.100.1")


def entries(source: LocalEntrySource) -> list[Entry]:
    taken = asyncio.run(source.read(0.0))
    return [entry for entry in taken if isinstance(entry, Entry)]


def test_pcap_worker_reads_the_file_once_and_reports_stats() -> None:
    source = LocalEntrySource()
    embedded = pcap_worker(source, PCAP, node=NODE).start()
    deadline = time.monotonic() + 20
    while embedded.alive and time.monotonic() < deadline:
        time.sleep(0.05)
    embedded.stop()
    got = entries(source)
    assert len(got) > 100
    assert any(e.dst.name == "api.example.com" for e in got)
    (snapshot,) = source.worker_stats().values()
    assert snapshot["pipeline"]["entries"] == len(got)


def test_replay_moves_the_recording_to_now_at_its_pace() -> None:
    source = LocalEntrySource()
    started = time.time()
    embedded = replay_worker(source, PCAP, node=NODE).start()
    time.sleep(3.0)
    embedded.stop()
    got = entries(source)
    assert got
    assert all(started - 1 <= e.timestamp / 1000 <= time.time() + 1 for e in got)
    assert len(got) < 100  # paced: a 3 s slice of a recording of about 20 s


def test_unreadable_pcap_fails_before_any_thread(tmp_path: Path) -> None:
    garbage = tmp_path / "x.pcap"
    garbage.write_bytes(b"garbage" * 10)
    with pytest.raises(EmbeddedCaptureError):
        pcap_worker(LocalEntrySource(), garbage, node=NODE)
    with pytest.raises(EmbeddedCaptureError):
        replay_worker(LocalEntrySource(), garbage, node=NODE)
