"""``kubectl port-forward`` to the hub's Service, as a child process that never outlives us.

:class:`PortForward` starts the child, waits for its ``Forwarding from`` line (or its death,
reported with its own error text; the line names the local port, which kubectl picks when asked
for none), and stops it on exit, Ctrl-C included: SIGTERM, then SIGKILL
after a few seconds. Its output is drained by two threads so the child never blocks on a pipe.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections import deque
from types import TracebackType
from typing import IO

from cli.errors import PortForwardError, ToolMissingError
from cli.helm import Release
from cli.kube import HubService

READY_MARK = "Forwarding from"
READY_LINE = re.compile(r"Forwarding from (?:127\.0\.0\.1|\[::1\]):(\d+) ->")
STOP_WAIT_S = 5.0
POLL_S = 0.05
KEPT_LINES = 20  # of each stream, for error messages ("Handling connection" lines are many)


def port_forward_argv(
    kubectl: str, release: Release, service: HubService, local_port: int
) -> list[str]:
    """``kubectl port-forward service/<hub> <local>:<port>`` on 127.0.0.1 only; with
    ``local_port`` 0, kubectl picks a free one (:attr:`PortForward.local_port` reads it)."""
    local = str(local_port) if local_port else ""
    return [
        kubectl,
        "port-forward",
        "--context",
        release.context,
        "--namespace",
        release.namespace,
        "--address",
        "127.0.0.1",
        f"service/{service.name}",
        f"{local}:{service.port}",
    ]


class PortForward:
    """A running ``kubectl port-forward`` (or any command printing the same ready line)."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self._process: subprocess.Popen[str] | None = None
        self._stdout: deque[str] = deque(maxlen=KEPT_LINES)
        self._stderr: deque[str] = deque(maxlen=KEPT_LINES)
        self._forwarding = threading.Event()
        self._ready_line = ""
        self._drains: list[threading.Thread] = []
        self._lock = threading.Lock()

    def __enter__(self) -> PortForward:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        """The child's process id once started."""
        return self._process.pid if self._process else None

    @property
    def local_port(self) -> int:
        """The local port the child forwards from, as its ready line says."""
        with self._lock:
            found = READY_LINE.match(self._ready_line)
        if found is None:
            raise PortForwardError(f"kubectl port-forward named no local port: {self.errors()}")
        return int(found[1])

    def start(self, timeout_s: float) -> None:
        """Start the child and wait until it forwards; PortForwardError if it fails or hangs."""
        try:
            self._process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except (FileNotFoundError, PermissionError) as exc:
            raise ToolMissingError(f"cannot run {self.argv[0]}: {exc.strerror}") from None
        for stream, sink in (
            (self._process.stdout, self._stdout),
            (self._process.stderr, self._stderr),
        ):
            threading.Thread(target=self._drain, args=(stream, sink), daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while not self._forwarding.is_set():
            if self._process.poll() is not None:
                raise PortForwardError(f"kubectl port-forward failed: {self.errors()}")
            if time.monotonic() > deadline:
                raise PortForwardError(
                    f"kubectl port-forward did not start within {timeout_s} s: {self.errors()}"
                )
            time.sleep(POLL_S)

    def wait(self) -> None:
        """Block while the child forwards; PortForwardError when it stops by itself."""
        if self._process is None:
            raise PortForwardError("kubectl port-forward was not started")
        self._process.wait()
        time.sleep(POLL_S)  # let the drain threads take the last lines
        raise PortForwardError(
            f"kubectl port-forward stopped (exit {self._process.returncode}): {self.errors()}"
        )

    def stop(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after a few seconds) and close its pipes."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for thread in self._drains:
            thread.join(STOP_WAIT_S)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()

    def errors(self) -> str:
        """What the child printed on stderr (else stdout), as one line."""
        with self._lock:
            lines = self._stderr or self._stdout
            text = " ".join(" ".join(lines).split())
        return text or "no output"

    def _drain(self, stream: IO[str] | None, sink: deque[str]) -> None:
        for line in stream or ():
            ready = line.startswith(READY_MARK)
            with self._lock:
                if ready and not self._ready_line:
                    self._ready_line = line
                sink.append(line.rstrip("\n"))
            if ready:
                self._forwarding.set()
