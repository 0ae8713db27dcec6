"""Local stand-ins for the Dockerfile's base images, so that ``docker build`` never pulls.

No container registry is reachable from the machines this project is built and tested on, so the
base images are made here and tagged with the exact names the Dockerfile's FROM lines (and the
chart's Redis image) use:

- a Debian bookworm root from ``debootstrap --variant=minbase`` and this machine's Debian mirror
  (the tarball is cached in ``$PODSCOPE_IMAGE_CACHE``, default /var/cache/podscope-image-tests,
  and made again when missing);
- ``python:3.11-slim-bookworm``: that root with Debian's Python 3.11 in a virtualenv on PATH;
- ``node:20-bookworm-slim``: that root with this machine's Node 20 and npm;
- the chart's Redis image: that root with Debian's redis-server.

Every stand-in carries this machine's package-client configuration (its CA certificates, apt
sources, pip and npm settings), as a corporate build host's base images would; the project's
image gets none of it (its runtime stage copies nothing from the build stages but the virtualenv
and the built dashboard).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.image.engine import DockerEngine, EngineError

CACHE = Path(os.environ.get("PODSCOPE_IMAGE_CACHE", "/var/cache/podscope-image-tests"))
SUITE = "bookworm"
ROOTFS_TARBALL = f"debian-{SUITE}-minbase.tar"
DEBIAN_BASE = f"podscope-standin/debian:{SUITE}"
DEBOOTSTRAP_SECONDS = 900
BUILD_SECONDS = 900
# Package-client configuration copied from this machine into every stand-in, when present.
# The bundle as it is here, and the local CAs in it, which update-ca-certificates (run when a
# stand-in installs Debian's ca-certificates) adds to the bundle it makes again.
CLIENT_CONFIG = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/usr/local/share/ca-certificates",
    "/etc/pip.conf",
    "/etc/xdg/pip",
    "/root/.npmrc",
)
APT_SOURCES = Path("/etc/apt/sources.list.d")
APT_CONF = Path("/etc/apt/apt.conf.d")
NODE = Path("/usr/bin/node")
NPM = Path("/usr/lib/node_modules/npm")
NPM_GLOBAL_CONFIG = Path("/usr/etc/npmrc")
# This machine's apt sources (with its updates and security suites) replace debootstrap's.
USE_HOST_APT_SOURCES = (
    "if ls /etc/apt/sources.list.d/* >/dev/null 2>&1; then rm -f /etc/apt/sources.list; fi"
)

# Each stand-in is one COPY (this machine's configuration, and for node its binaries) and at
# most one RUN: with the vfs storage driver every step copies the whole root filesystem.
PYTHON_DOCKERFILE = f"""\
FROM {DEBIAN_BASE}
COPY rootfs/ /
RUN {USE_HOST_APT_SOURCES} \\
    && apt-get update \\
    && apt-get install -y --no-install-recommends python3 python3-venv \\
    && rm -rf /var/lib/apt/lists/* \\
    && python3 -m venv /usr/local/python
ENV PATH=/usr/local/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    LANG=C.UTF-8
CMD ["python3"]
"""
NODE_DOCKERFILE = f"""\
FROM {DEBIAN_BASE}
COPY rootfs/ /
CMD ["node"]
"""
REDIS_DOCKERFILE = f"""\
FROM {DEBIAN_BASE}
COPY rootfs/ /
RUN {USE_HOST_APT_SOURCES} \\
    && apt-get update \\
    && apt-get install -y --no-install-recommends redis-server \\
    && rm -rf /var/lib/apt/lists/* \\
    && mkdir -p /data
WORKDIR /data
CMD ["redis-server"]
"""


class StandinError(Exception):
    """A stand-in could not be made (debootstrap, a missing host file, a build)."""


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses for the main archive (not security)."""
    candidates: list[str] = []
    for path in sorted(APT_SOURCES.glob("*.sources")):
        candidates += re.findall(r"^URIs:\s*(\S+)", path.read_text(), flags=re.MULTILINE)
    for path in [Path("/etc/apt/sources.list"), *sorted(APT_SOURCES.glob("*.list"))]:
        if path.is_file():
            candidates += re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", path.read_text(), re.M)
    for uri in candidates:
        if uri.rstrip("/").endswith("/debian"):
            return uri
    raise StandinError("no Debian mirror (a URI ending in /debian) in this machine's apt sources")


def rootfs_tarball() -> Path:
    """The cached minbase root as a tar file, made with debootstrap when missing."""
    target = CACHE / ROOTFS_TARBALL
    if target.is_file():
        return target
    if shutil.which("debootstrap") is None:
        raise StandinError("debootstrap is missing: run scripts/setup.sh")
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as folder:
        root = Path(folder) / "root"
        command = ["debootstrap", "--variant=minbase", SUITE, str(root), debian_mirror()]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=DEBOOTSTRAP_SECONDS, check=False
        )
        if result.returncode != 0:
            raise StandinError(f"debootstrap failed: {result.stdout[-2000:]}{result.stderr}")
        partial = Path(folder) / ROOTFS_TARBALL
        subprocess.run(
            ["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."],
            check=True,
            timeout=300,
        )
        partial.replace(target)
    return target


def copy_client_config(context: Path) -> None:
    """This machine's CA bundle, apt sources and settings, pip and npm settings, into
    ``context/rootfs`` (laid out as in the root filesystem)."""
    config = context / "rootfs"
    for name in CLIENT_CONFIG:
        source = Path(name)
        if source.is_dir():
            shutil.copytree(source, config / name.lstrip("/"), dirs_exist_ok=True)
        elif source.is_file():
            (config / name.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, config / name.lstrip("/"))
    sources = [*APT_SOURCES.glob("*.sources"), *APT_SOURCES.glob("*.list")]
    for source in sources:
        destination = config / str(source).lstrip("/")
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
    # Only the settings of apt's downloads (proxies, validity, TLS), not this host's hooks.
    for source in APT_CONF.glob("*"):
        if source.is_file() and "Acquire::" in source.read_text(errors="replace"):
            destination = config / str(source).lstrip("/")
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)


def node_context(context: Path) -> None:
    """This machine's configuration, node binary, npm and npm's global settings, laid out as
    the node image has them (/usr/local)."""
    copy_client_config(context)
    for path in (NODE, NPM):
        if not path.exists():
            raise StandinError(f"{path} is missing: Node 20 and npm come from this machine")
    local = context / "rootfs" / "usr" / "local"
    (local / "bin").mkdir(parents=True, exist_ok=True)
    (local / "etc").mkdir(parents=True, exist_ok=True)
    shutil.copy2(NODE, local / "bin" / "node")
    shutil.copytree(NPM, local / "lib" / "node_modules" / "npm", symlinks=True)
    (local / "bin" / "npm").symlink_to("../lib/node_modules/npm/bin/npm-cli.js")
    (local / "bin" / "npx").symlink_to("../lib/node_modules/npm/bin/npx-cli.js")
    if NPM_GLOBAL_CONFIG.is_file():
        shutil.copy2(NPM_GLOBAL_CONFIG, local / "etc" / "npmrc")


def build(engine: DockerEngine, tag: str, dockerfile: str, fill: Callable[[Path], None]) -> None:
    """``docker build --network host -t TAG`` of a Dockerfile text in a context ``fill`` makes."""
    with tempfile.TemporaryDirectory() as folder:
        context = Path(folder)
        (context / "Dockerfile").write_text(dockerfile)
        fill(context)
        try:
            engine.docker(
                "build", "--network", "host", "-t", tag, str(context), timeout=BUILD_SECONDS
            )
        except EngineError as error:
            raise StandinError(f"stand-in {tag}: {error}") from error


def build_standins(engine: DockerEngine, names: list[str]) -> None:
    """Make the Debian root and a stand-in for each image name (each must have a recipe)."""
    recipes: dict[str, tuple[str, Callable[[Path], None]]] = {}
    for name in names:
        if name.startswith("python:3.11-") and name.endswith("bookworm"):
            recipes[name] = (PYTHON_DOCKERFILE, copy_client_config)
        elif name.startswith("node:20-") and name.endswith("bookworm-slim"):
            recipes[name] = (NODE_DOCKERFILE, node_context)
        elif name.startswith("redis:"):
            recipes[name] = (REDIS_DOCKERFILE, copy_client_config)
        else:
            raise StandinError(f"no stand-in recipe for base image {name}")
    tarball = rootfs_tarball()
    engine.docker("import", str(tarball), DEBIAN_BASE, timeout=BUILD_SECONDS)
    for name, (dockerfile, fill) in recipes.items():
        build(engine, name, dockerfile, fill)


def base_images(dockerfile: Path) -> list[str]:
    """The images a Dockerfile's FROM lines name, build stages and scratch left out, in order."""
    stages: set[str] = set()
    images: list[str] = []
    for line in dockerfile.read_text().splitlines():
        match = re.match(r"\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
        if match is None:
            continue
        image, stage = match[1], match[2]
        if image.lower() not in {*stages, "scratch"} and image not in images:
            images.append(image)
        if stage:
            stages.add(stage.lower())
    return images
