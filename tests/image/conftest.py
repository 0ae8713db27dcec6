"""Session fixtures of the image tests: the engine, the stand-in bases and the built image.

The engine starts once per test session and is stopped and removed at its end, also when a
test or a build failed. The image is built from the repository's Dockerfile with ``--network
host`` and tagged as the chart's default values name it, so the rendered chart runs it as is.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.image.engine import DockerEngine
from tests.image.standins import BUILD_SECONDS, base_images, build_standins

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "podscope"
# Built images, for the summary at the end of the session.
BUILT: list[BuiltImage] = []


@dataclass(frozen=True)
class BuiltImage:
    """The project's image as built by this session."""

    tag: str
    size_bytes: int
    base_size_bytes: int
    standin_seconds: float
    build_seconds: float


def chart_image() -> str:
    """The image reference the chart's default values give (repository:appVersion)."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    tag = values["image"]["tag"] or chart["appVersion"]
    return f"{values['image']['repository']}:{tag}"


def chart_redis_image() -> str:
    """The Redis image reference of the chart's default values."""
    redis = yaml.safe_load((CHART / "values.yaml").read_text())["redis"]["image"]
    return f"{redis['repository']}:{redis['tag']}"


@pytest.fixture(scope="session")
def engine() -> Iterator[DockerEngine]:
    """A running dockerd of this session's own (stopped and removed afterwards)."""
    if os.geteuid() != 0:
        pytest.skip("the image tests start dockerd: they need root")
    engine = DockerEngine(Path(tempfile.mkdtemp(prefix="podscope-docker-")))
    try:
        engine.start()
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def image(engine: DockerEngine) -> BuiltImage:
    """The project's image, built on stand-in bases (which the chart's Redis image is too)."""
    started = time.monotonic()
    build_standins(engine, [*base_images(ROOT / "Dockerfile"), chart_redis_image()])
    build_started = time.monotonic()
    tag = chart_image()
    engine.docker("build", "--network", "host", "-t", tag, str(ROOT), timeout=BUILD_SECONDS)
    bases = base_images(ROOT / "Dockerfile")
    size, base_size = (
        int(engine.docker("image", "inspect", "--format", "{{.Size}}", name).stdout)
        for name in (tag, bases[-1])
    )
    built = BuiltImage(
        tag, size, base_size, build_started - started, time.monotonic() - build_started
    )
    BUILT.append(built)
    return built


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Report the image's size and build time after the tests."""
    for built in BUILT:
        terminalreporter.write_line(
            f"image {built.tag}: {built.size_bytes / 2**20:.0f} MiB"
            f" ({(built.size_bytes - built.base_size_bytes) / 2**20:.0f} MiB over its base);"
            f" stand-in bases made in {built.standin_seconds:.0f} s,"
            f" image built in {built.build_seconds:.0f} s"
        )
