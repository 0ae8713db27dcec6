"""A Docker engine of the tests' own: Debian's dockerd with everything under one temporary folder.

The daemon gets its own data root, exec root, socket and pidfile, touches no firewall rule and
makes no bridge (``--iptables=false --ip6tables=false --bridge=none``), so its containers use
``--network host`` or ``none``; the ``vfs`` storage driver works on any filesystem. vfs copies
the whole root filesystem for every layer and container (millions of small files for one
build), so the data root is a tmpfs of ``$PODSCOPE_DOCKER_TMPFS`` (default 16g; ``0`` keeps it on
disk): the copies stay in memory and removing them is one unmount. ``stop`` ends the daemon
(which stops its containers), unmounts what it left and removes the folder.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

DOCKERD = "/usr/sbin/dockerd"
# Debian's docker.io client (the daemon's own version) when installed, else any docker client.
CLIENTS = ("/usr/bin/docker", "docker")
START_SECONDS = 60
DATA_TMPFS_SIZE = os.environ.get("PODSCOPE_DOCKER_TMPFS", "16g")
STOP_SECONDS = 30


class EngineError(Exception):
    """dockerd is missing, did not start, or a docker command failed."""


def client_binary() -> str:
    """The docker client to use (the engine's own version first)."""
    for candidate in CLIENTS:
        found = shutil.which(candidate)
        if found:
            return found
    raise EngineError("no docker client: run scripts/setup.sh (it installs Debian's docker.io)")


class DockerEngine:
    """dockerd with its state under ``root``; ``docker(...)`` runs the client against it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "docker.sock"
        self.pidfile = root / "docker.pid"
        self.log = root / "dockerd.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._client = client_binary()
        self._env = {
            **os.environ,
            "DOCKER_HOST": f"unix://{self.socket}",
            "DOCKER_CONFIG": str(root / "client"),
            # The classic builder: it honours --network host for RUN without BuildKit's
            # entitlements, and needs no buildx plugin.
            "DOCKER_BUILDKIT": "0",
        }

    def start(self) -> None:
        """Start dockerd and wait until it answers."""
        if not os.path.exists(DOCKERD):
            raise EngineError(f"{DOCKERD} is missing: run scripts/setup.sh (Debian's docker.io)")
        for folder in ("data", "exec", "client"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        if DATA_TMPFS_SIZE != "0":
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={DATA_TMPFS_SIZE},mode=0700", "tmpfs",
                 str(self.root / "data")],
                check=True, capture_output=True, timeout=30,
            )  # fmt: skip
        command = [
            DOCKERD,
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            "--storage-driver=vfs",
            f"--data-root={self.root / 'data'}",
            f"--exec-root={self.root / 'exec'}",
            f"--host=unix://{self.socket}",
            f"--pidfile={self.pidfile}",
        ]
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EngineError(f"dockerd exited: {self.log_tail()}")
            if self.docker("version", check=False, timeout=10).returncode == 0:
                return
            time.sleep(0.5)
        raise EngineError(f"dockerd did not answer in {START_SECONDS} s: {self.log_tail()}")

    def docker(
        self, *args: str, check: bool = True, timeout: float = 120, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``docker ARGS`` against this engine; raise EngineError on failure when check."""
        result = subprocess.run(
            [self._client, *args],
            env=self._env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input_text,
            check=False,
        )
        if check and result.returncode != 0:
            output = (result.stdout[-3000:] + result.stderr).strip()
            raise EngineError(f"docker {' '.join(args)}: {output}")
        return result

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of dockerd's log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no dockerd log)"

    def stop(self) -> None:
        """Stop dockerd (it stops its containers), unmount its leftovers, remove the folder."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(STOP_SECONDS)
        self._process = None
        for mount in reversed(mounts_under(self.root)):
            subprocess.run(["umount", "--lazy", mount], check=False, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root``, in /proc/self/mounts order."""
    prefix = str(root)
    found = []
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            point = line.split()[1].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found
