"""Tests for ``python -m kfl QUERY [FILE]``."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kfl.__main__ import main
from tests.kfl.wire import dns_wire, tcp_wire

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "entries.jsonl"


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def test_prints_matching_lines_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tcp, dns = json.dumps(tcp_wire()), json.dumps(dns_wire())
    source = write_lines(tmp_path / "entries.jsonl", [tcp, dns, "", tcp])
    assert main(["tcp", str(source)]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{tcp}\n{tcp}\n"
    assert captured.err == ""


def test_limit_stops_after_n_matches(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_lines(tmp_path / "entries.jsonl", [json.dumps(tcp_wire())] * 5)
    assert main(["tcp and limit(2)", str(source)]) == 0
    assert capsys.readouterr().out.count("\n") == 2


def test_invalid_query_exits_2_with_error_and_caret(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(['dst.namspace == ""', str(SAMPLES)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "kfl: invalid query: line 1, column 5: unknown field 'dst.namspace'; "
        "did you mean 'dst.namespace'?\n"
        'dst.namspace == ""\n'
        "    ^^^^^^^^\n"
    )


def test_malformed_lines_are_counted_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tcp = json.dumps(tcp_wire())
    lines = [tcp, "not json", '{"id": "x"}', "[" * 100_000 + "]" * 100_000, tcp]
    source = write_lines(tmp_path / "entries.jsonl", lines)
    assert main(["", str(source)]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{tcp}\n{tcp}\n"
    assert captured.err.startswith("kfl: skipped 3 malformed lines (line 2: not JSON")


def test_invalid_utf8_is_a_malformed_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "entries.jsonl"
    source.write_bytes(b'{"id": "\xff"}\n' + json.dumps(tcp_wire()).encode() + b"\n")
    assert main(["tcp", str(source)]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("\n") == 1
    assert "skipped 1 malformed line (line 1:" in captured.err


def test_missing_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tcp", str(tmp_path / "absent.jsonl")]) == 1
    assert "kfl: cannot read input:" in capsys.readouterr().err


def test_readme_command_filters_the_bundled_samples_from_stdin() -> None:
    with SAMPLES.open("rb") as stdin:
        result = subprocess.run(
            [sys.executable, "-m", "kfl", 'dst.namespace == ""'],
            stdin=stdin,
            capture_output=True,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    matched = [json.loads(line) for line in io.BytesIO(result.stdout)]
    total = SAMPLES.read_text(encoding="utf-8").count("\n")
    assert 0 < len(matched) < total
    assert all(entry["dst"]["namespace"] == "" for entry in matched)


def test_a_reader_that_goes_away_ends_the_tool_quietly(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "entries.jsonl", [json.dumps(tcp_wire())] * 20_000)
    process = subprocess.Popen(
        [sys.executable, "-m", "kfl", "tcp", str(source)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    assert json.loads(process.stdout.readline()) == tcp_wire()
    process.stdout.close()
    assert process.wait(timeout=30) == 0
    assert process.stderr.read() == b""
    process.stderr.close()
