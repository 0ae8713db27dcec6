"""The built image: what it keeps and what it leaves out."""

from __future__ import annotations

import json

from tests.image.conftest import BuiltImage
from tests.image.engine import DockerEngine
from tests.image.lockfile import LOCK, normalized, pinned

# What the Dockerfile adds to its Python base image (libpcap, the locked dependencies, the
# sources and the dashboard) must stay within this.
MAX_ADDED_MIB = 400
LIST_DISTRIBUTIONS = (
    "import importlib.metadata as m, json;"
    "print(json.dumps(sorted([d.metadata['Name'], d.version] for d in m.distributions())))"
)


def run_python(engine: DockerEngine, image: BuiltImage, code: str) -> str:
    """Run python code in a throw-away container of the image (no network); its stdout."""
    result = engine.docker(
        "run", "--rm", "--network", "none", "--read-only", "--entrypoint", "python",
        image.tag, "-c", code,
    )  # fmt: skip
    return result.stdout


def test_size_stays_within_budget(image: BuiltImage) -> None:
    added = image.size_bytes - image.base_size_bytes
    assert 0 < added < MAX_ADDED_MIB * 2**20, f"the image adds {added / 2**20:.0f} MiB"


def test_keeps_no_pip_setuptools_or_build_tools(engine: DockerEngine, image: BuiltImage) -> None:
    found = run_python(
        engine,
        image,
        "import importlib.util, shutil;"
        "print([m for m in ('pip', 'setuptools', 'wheel') if importlib.util.find_spec(m)]"
        " + [t for t in ('pip', 'pip3', 'gcc', 'cc', 'make', 'npm', 'node') if shutil.which(t)])",
    )
    assert found.strip() == "[]"


def test_installs_exactly_the_locked_dependencies(engine: DockerEngine, image: BuiltImage) -> None:
    installed = {
        normalized(name): version
        for name, version in json.loads(run_python(engine, image, LIST_DISTRIBUTIONS))
    }
    assert installed == pinned(LOCK.read_text())


def test_imports_every_package_and_the_dashboard(engine: DockerEngine, image: BuiltImage) -> None:
    out = run_python(
        engine,
        image,
        "import contract, capture, kfl, dashboard, cli, lab, os;"
        "print(os.path.isfile(os.environ['PODSCOPE_FRONTEND_DIST'] + '/index.html'))",
    )
    assert out.strip() == "True"
