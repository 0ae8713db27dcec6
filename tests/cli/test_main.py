"""The command line itself: help on every command, exit codes, one-line errors, the console
script, missing tools, and serve/demo handed to the hub's management command."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from cli.errors import ToolMissingError
from cli.main import main
from cli.tap import DEFAULT_CHART, check_chart
from cli.tools import find_tool
from tests.cli.conftest import Run
from tests.cli.support import ROOT, TOOLS


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ([], ["tap", "clean", "export", "serve", "demo"]),
        (["tap"], ["POD_REGEX", "--namespace", "--set KEY=VALUE", "--no-browser", "--chart"]),
        (["clean"], ["--release", "--install-namespace", "--context", "exit 0"]),
        (["export"], ["--url", "--query", "--format {text,json,yaml}", "http://127.0.0.1:8899"]),
        (["serve"], ["usage: podscope serve", "--read FILE", "--cluster-snapshot", "--interface"]),
        (["demo"], ["usage: podscope demo", "--record DIR", "--seconds", "--port"]),
    ],
)
def test_help(podscope: Run, command: list[str], expected: list[str]) -> None:
    done = podscope(*command, "-h")
    assert (done.returncode, done.stderr) == (0, "")
    text = " ".join(done.stdout.split())
    for word in expected:
        assert word in text


def test_no_command_is_a_usage_error(podscope: Run) -> None:
    done = podscope()
    assert done.returncode == 2
    assert done.stderr == (
        "podscope: the following arguments are required: COMMAND (see 'podscope -h')\n"
    )


def test_the_hubs_own_errors_come_through(podscope: Run, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pcap"
    done = podscope("serve", "--read", str(missing), "--port", "1")
    assert done.returncode == 1
    assert f"CommandError: cannot capture: {missing}" in done.stderr
    bad = podscope("demo", "--no-such-option")
    assert bad.returncode == 2
    assert "unrecognized arguments: --no-such-option" in bad.stderr


def test_the_console_script() -> None:
    [script] = entry_points(group="console_scripts", name="podscope")
    assert script.value == "cli.main:main"
    installed = TOOLS / "podscope"
    if not installed.is_file():
        pytest.fail(f"{installed} is missing: run '.venv/bin/python -m pip install -e .'")
    done = subprocess.run(
        [str(installed), "export", "-h"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0
    assert done.stdout.startswith("usage: podscope export")


def _without_tools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))


def test_a_missing_tool_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _without_tools(monkeypatch, tmp_path)
    with pytest.raises(ToolMissingError) as caught:
        find_tool("helm")
    assert caught.value.message == (
        f"helm not found on PATH or in {tmp_path}: install helm 3.8 or later "
        "(https://helm.sh/docs/intro/install/), or run scripts/tools.sh in a podscope checkout"
    )


def test_tap_and_clean_without_helm_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _without_tools(monkeypatch, tmp_path)
    for command in (["tap", "--no-browser"], ["clean"]):
        assert main(command) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.startswith("podscope: helm not found on PATH")
        assert captured.err.count("\n") == 1


def test_the_default_chart_is_found_next_to_the_package() -> None:
    assert check_chart(DEFAULT_CHART) == ROOT / "charts" / "podscope"
