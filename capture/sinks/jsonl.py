"""Entries as JSON lines on a text stream (``--format jsonl``): one ``Entry.to_json()`` per line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TextIO

from contract.schema import Entry
from contract.stats import counters


@dataclass(slots=True)
class JsonlStats:
    """How many entries were written, and how many were lost to a closed or broken stream."""

    written: int = 0
    dropped: int = 0

    def to_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return counters(self)


class JsonlSink:
    """Writes each entry as one JSON line and flushes after every batch."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._stats = JsonlStats()

    @property
    def stats(self) -> JsonlStats:
        """A copy of the counters."""
        return replace(self._stats)

    def submit(self, entries: Iterable[Entry]) -> None:
        """Write the entries; a broken stream (closed pipe) counts them as dropped."""
        lines = [entry.to_json() + "\n" for entry in entries]
        if not lines:
            return
        try:
            self._stream.write("".join(lines))
            self._stream.flush()
        except (BrokenPipeError, ValueError):  # ValueError: I/O on a closed file
            self._stats.dropped += len(lines)
            return
        self._stats.written += len(lines)

    def drain(self, timeout: float = 5.0) -> bool:
        """Everything submitted is already written (each batch is flushed): always True."""
        return True

    def close(self) -> None:
        """Flush the stream (the caller owns it and closes it)."""
        try:
            self._stream.flush()
        except (BrokenPipeError, ValueError):
            return
