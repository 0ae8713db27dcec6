"""``python -m kfl QUERY [FILE]``: print the JSON-lines entries (stdin by default) QUERY matches.

Exit status: 0 on success, 2 for an invalid query (the error and a caret on stderr), 1 if the
input cannot be read. Lines that are not valid schema v1 entries are skipped and counted; the
count and the first reason are reported on stderr at the end. ``limit(n)`` stops after n matches.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from typing import BinaryIO, TextIO

from contract.errors import SchemaError
from contract.schema import MAX_WIRE_BYTES, Entry
from kfl import Filter, KflError, compile_filter

EXIT_BAD_QUERY = 2
EXIT_BAD_INPUT = 1


class _Skipped:
    """Counts input lines that are not entries and remembers the first reason."""

    def __init__(self) -> None:
        self.count = 0
        self.first = ""

    def add(self, line_number: int, reason: str) -> None:
        self.count += 1
        if not self.first:
            self.first = f"line {line_number}: {reason}"


def main(argv: list[str] | None = None) -> int:
    """Run the command line tool; return its exit status."""
    parser = argparse.ArgumentParser(prog="python -m kfl", description=__doc__.splitlines()[0])
    parser.add_argument("query", help="a KFL query, e.g. 'dst.namespace == \"\"'")
    parser.add_argument("file", nargs="?", help="JSON-lines entries (default: stdin)")
    arguments = parser.parse_args(argv)
    try:
        entry_filter = compile_filter(arguments.query)
    except KflError as error:
        print(f"kfl: invalid query: {error}\n{error.context}", file=sys.stderr)
        return EXIT_BAD_QUERY
    try:
        if arguments.file is None:
            return _run(entry_filter, sys.stdin.buffer, sys.stdout)
        with open(arguments.file, "rb") as source:
            return _run(entry_filter, source, sys.stdout)
    except BrokenPipeError:
        _quiet_broken_pipe()
        return 0
    except OSError as error:
        print(f"kfl: cannot read input: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _run(entry_filter: Filter, source: BinaryIO, sink: TextIO) -> int:
    skipped = _Skipped()
    for line in _matching(entry_filter, source, skipped):
        sink.write(line + "\n")
    sink.flush()
    if skipped.count:
        plural = "line" if skipped.count == 1 else "lines"
        print(f"kfl: skipped {skipped.count} malformed {plural} ({skipped.first})", file=sys.stderr)
    return 0


def _matching(entry_filter: Filter, source: Iterable[bytes], skipped: _Skipped) -> Iterable[str]:
    """The input lines (as text) whose entries match, stopping at the filter's limit."""
    remaining = entry_filter.limit
    for line_number, raw in enumerate(source, start=1):
        if not raw.strip():
            continue
        wire = _decode(raw, line_number, skipped)
        if wire is None or not entry_filter(wire):
            continue
        yield raw.decode("utf-8").strip()
        if remaining is not None:
            remaining -= 1
            if remaining == 0:
                return


def _decode(raw: bytes, line_number: int, skipped: _Skipped) -> dict[str, object] | None:
    """The wire dict of one line, or None (counted in ``skipped``) if it is not a valid entry."""
    if len(raw) > MAX_WIRE_BYTES:
        skipped.add(line_number, f"{len(raw)} bytes, over the {MAX_WIRE_BYTES} limit")
        return None
    try:
        wire = json.loads(raw)
        Entry.from_wire(wire)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:  # SchemaError: ValueError
        reason = str(error) if isinstance(error, SchemaError) else f"not JSON ({error})"
        skipped.add(line_number, reason)
        return None
    return wire  # type: ignore[no-any-return]


def _quiet_broken_pipe() -> None:
    """The reader went away (``| head``): stop without a traceback."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
