"""Traffic for the lab (:mod:`lab.topology`): TCP and DNS servers and clients inside namespaces.

Servers run in a thread that first moves into the pod's network namespace, so their sockets live
there. :class:`TcpServer` reads each request to EOF, answers a fixed number of bytes and closes:
with :func:`tcp_exchange` every connection moves exactly known byte counts each way.
:class:`DnsServer` answers A queries for a fixed name table and NXDOMAIN otherwise (packets
parsed and built with scapy's DNS classes; it is a test fixture, not a hot path).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from lab.errors import LabError
from lab.topology import enter_netns

DNS_PORT = 53


@dataclass(frozen=True, slots=True)
class Exchange:
    """What one client connection did: its local port and the bytes sent and received."""

    local_port: int
    sent: int
    received: int


class _ThreadedServer(ABC):
    """Start/stop plumbing shared by the lab's servers."""

    def __init__(self, netns: str, name: str) -> None:
        self.netns = netns
        self.errors = 0
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def start(self) -> Self:
        """Start the server thread and wait until it listens; raise LabError if it cannot."""
        self._thread.start()
        if not self._ready.wait(10):
            raise LabError(f"{self._thread.name} did not start in {self.netns}")
        if self._failure is not None:
            raise LabError(f"{self._thread.name} in {self.netns}: {self._failure}")
        return self

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the server and wait for its thread."""
        self._stop()
        self._thread.join(timeout=10)

    def _main(self) -> None:
        try:
            with enter_netns(self.netns):
                self._bind()
        except (OSError, LabError) as exc:
            self._failure = exc
            self._ready.set()
            return
        self._ready.set()
        self._serve()

    @abstractmethod
    def _bind(self) -> None:
        """Create the listening socket (runs inside the namespace)."""

    @abstractmethod
    def _serve(self) -> None:
        """Serve until stopped (runs in the server thread)."""

    @abstractmethod
    def _stop(self) -> None:
        """Ask the serving loop to end (any thread)."""


class TcpServer(_ThreadedServer):
    """Reads each request to EOF, then sends ``response_bytes`` and closes (asyncio, one thread).

    ``requests`` lists the bytes received per finished connection.
    """

    def __init__(self, netns: str, ip: str, port: int, response_bytes: int) -> None:
        super().__init__(netns, f"lab-tcp-{ip}:{port}")
        self.ip = ip
        self.port = port
        self.requests: list[int] = []
        self._response = b"r" * response_bytes
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None

    def _bind(self) -> None:
        start = asyncio.start_server(self._handle, self.ip, self.port, backlog=4096)
        self._server = self._loop.run_until_complete(start)

    def _serve(self) -> None:
        try:
            self._loop.run_forever()
        finally:
            if self._server is not None:
                self._server.close()
                self._loop.run_until_complete(self._server.wait_closed())
            self._loop.close()

    def _stop(self) -> None:
        if not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._loop.stop)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received = 0
        try:
            while chunk := await reader.read(262_144):
                received += len(chunk)
            writer.write(self._response)
            await writer.drain()
            writer.close()
            await writer.wait_closed()
        except OSError:
            self.errors += 1
            writer.close()
            return
        self.requests.append(received)


class DnsServer(_ThreadedServer):
    """A UDP DNS server: A records from ``names`` (lower-case, no trailing dot), else NXDOMAIN."""

    def __init__(self, netns: str, ip: str, names: Mapping[str, str]) -> None:
        super().__init__(netns, f"lab-dns-{ip}")
        self.ip = ip
        self.names = {name.lower().rstrip("."): address for name, address in names.items()}
        self.queries: list[str] = []
        self._sock: socket.socket | None = None
        self._stopping = threading.Event()

    def _bind(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((self.ip, DNS_PORT))
        sock.settimeout(0.2)
        self._sock = sock

    def _serve(self) -> None:
        from scapy.layers.dns import DNS, DNSRR  # noqa: PLC0415 (slow import)

        sock = self._sock
        if sock is None:
            return
        with sock:
            while not self._stopping.is_set():
                try:
                    data, peer = sock.recvfrom(4096)
                except TimeoutError:
                    continue
                try:
                    query = DNS(data)
                    name = query.qd[0].qname.decode().rstrip(".").lower()
                except Exception:  # noqa: BLE001 (scapy raises anything on garbage)
                    self.errors += 1
                    continue
                self.queries.append(name)
                address = self.names.get(name)
                answer = DNS(id=query.id, qr=1, aa=1, rd=query.rd, ra=1, qd=query.qd)
                if address is None:
                    answer.rcode = 3  # NXDOMAIN
                else:
                    answer.an = [DNSRR(rrname=f"{name}.", type="A", ttl=30, rdata=address)]
                sock.sendto(bytes(answer), peer)

    def _stop(self) -> None:
        self._stopping.set()


def tcp_exchange(
    netns: str, ip: str, port: int, request_bytes: int, timeout: float = 10.0
) -> Exchange:
    """From ``netns``: connect, send ``request_bytes``, half-close, read the answer to EOF."""
    with enter_netns(netns):
        sock = socket.create_connection((ip, port), timeout=timeout)
    with sock:
        local_port = sock.getsockname()[1]
        sock.sendall(b"q" * request_bytes)
        sock.shutdown(socket.SHUT_WR)
        received = 0
        while chunk := sock.recv(262_144):
            received += len(chunk)
    return Exchange(local_port, request_bytes, received)


def connect_refused(netns: str, ip: str, port: int) -> int:
    """From ``netns``: connect to a closed port; return the local port the RST answered."""
    with enter_netns(netns):
        sock = _bound_tcp_socket(ip)
    with sock:
        local_port: int = sock.getsockname()[1]
        code = sock.connect_ex((ip, port))
    if code != errno.ECONNREFUSED:
        raise LabError(
            f"connect to {ip}:{port} gave {errno.errorcode.get(code, code)}, not refused"
        )
    return local_port


def connect_unanswered(netns: str, ip: str, port: int, wait: float) -> tuple[int, int]:
    """From ``netns``: connect and give up after ``wait`` s; return (local port, errno)."""
    with enter_netns(netns):
        sock = _bound_tcp_socket(ip)
    with sock:
        local_port: int = sock.getsockname()[1]
        sock.settimeout(wait)
        try:
            code = sock.connect_ex((ip, port))
        except TimeoutError:
            code = errno.ETIMEDOUT
    return local_port, code


def _bound_tcp_socket(peer: str) -> socket.socket:
    """A TCP socket of the peer's address family, bound to an ephemeral port."""
    family = socket.AF_INET6 if ":" in peer else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))  # noqa: S104 (lab pod)
    return sock


def resolve(netns: str, server: str, name: str, timeout: float = 3.0) -> tuple[str, list[str]]:
    """From ``netns``: ask ``server`` for the A record of ``name``; return (rcode, addresses)."""
    from scapy.layers.dns import DNS, DNSQR  # noqa: PLC0415 (slow import)

    with enter_netns(netns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        sock.settimeout(timeout)
        sock.sendto(bytes(DNS(rd=1, qd=DNSQR(qname=name, qtype="A"))), (server, DNS_PORT))
        reply = DNS(sock.recv(4096))
    rcode = {0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN"}.get(reply.rcode, str(reply.rcode))
    answers = [str(rr.rdata) for rr in (reply.an or []) if rr.type == 1]
    return rcode, answers
