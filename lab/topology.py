"""A network-namespace lab that looks like one Kubernetes node, for tests, benchmarks and demos.

Topology (every address lives inside namespaces the lab creates; nothing is configured in the
root namespace and no traffic leaves the lab)::

    pods (eth0 10.244.1.x/24 and     "node" namespace              "ext" namespace
    fd00:10:244:1::x/64)        --   br0 10.244.1.1/24, fd00:10:244:1::1/64 (like cni0)
    shop/frontend, shop/cart,
    payments/api, monitoring/prom,   vethN = ports of br0          eth0 198.51.100.2/30
    kube-system/coredns              uplink 198.51.100.1/30  ---   lo 203.0.113.10/32
                                     ip_forward=1                  blackhole 203.0.113.66
                                                                   unreachable 203.0.113.77

The "ext" namespace is the outside world: a TCP server on ``api.example.com`` (203.0.113.10),
a blackholed address (SYNs cross the bridge and are never answered: timeouts) and an
unreachable route (the router answers with ICMP host unreachable). The coredns pod runs a small
DNS server (:class:`lab.servers.DnsServer`) answering A queries for :data:`LAB_NAMES` and
NXDOMAIN otherwise.

Namespace names are ``psl-<pid>-<random>-<role>``, unique per run; :func:`remove_stale_labs`
(called on every setup) deletes namespaces left by runs whose process is gone. Teardown removes
everything even when the body of the ``with`` block fails. :meth:`Lab.snapshot` describes the
lab's pods in the shape of ``kubectl get pods -o json``.

Exception hierarchy (classes in :mod:`lab.errors`)::

    LabError
     └── LabError    the lab cannot be built (not root, no ``ip netns``): the message says why
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from lab.errors import LabError

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/var/run/netns")
LAB_PREFIX = "psl-"
NODE_NAME = "lab-node-1"
NODE_IP = "198.51.100.1"
GATEWAY = "10.244.1.1"
POD_CIDR = "10.244.1.0/24"
GATEWAY6 = "fd00:10:244:1::1"
POD_CIDR6 = "fd00:10:244:1::/64"
EXTERNAL_CIDR = "203.0.113.0/24"
EXTERNAL_SERVER = "203.0.113.10"
BLACKHOLE = "203.0.113.66"
UNREACHABLE = "203.0.113.77"
DNS_SERVER = "10.244.1.53"
LAB_NAMES = {
    "api.example.com": EXTERNAL_SERVER,
    "blackhole.example.com": BLACKHOLE,
    "unreachable.example.com": UNREACHABLE,
}
"""The names the lab's DNS server answers (anything else is NXDOMAIN)."""


@dataclass(frozen=True, slots=True)
class LabPod:
    """One pod of the lab: Kubernetes identity, address and network namespace."""

    namespace: str
    deployment: str
    ip: str
    netns: str
    template_hash: str
    suffix: str

    @property
    def ip6(self) -> str:
        """The pod's IPv6 address (dual stack: the IPv4 host number in the lab's /64)."""
        return f"{GATEWAY6[:-1]}{self.ip.rsplit('.', 1)[1]}"

    @property
    def name(self) -> str:
        """The pod name, as a Deployment's ReplicaSet would make it."""
        return f"{self.deployment}-{self.template_hash}-{self.suffix}"


POD_LAYOUT = (
    ("shop", "frontend", "10.244.1.10"),
    ("shop", "cart", "10.244.1.11"),
    ("payments", "api", "10.244.1.12"),
    ("monitoring", "prom", "10.244.1.13"),
    ("kube-system", "coredns", DNS_SERVER),
)


class Lab:
    """The lab as a context manager: ``with Lab() as lab:`` builds it, leaving tears it down."""

    def __init__(self) -> None:
        self.run_id = f"{os.getpid()}-{secrets.token_hex(3)}"
        self.node_ns = self._ns("node")
        self.ext_ns = self._ns("ext")
        self.pods: dict[str, LabPod] = {}
        self._created: list[str] = []
        for index, (namespace, deployment, ip) in enumerate(POD_LAYOUT):
            netns = self._ns(f"pod{index}")
            self.pods[f"{namespace}/{deployment}"] = LabPod(
                namespace, deployment, ip, netns, secrets.token_hex(4)[:8], secrets.token_hex(3)[:5]
            )

    def __enter__(self) -> Lab:
        try:
            self.setup()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.teardown()

    def pod(self, key: str) -> LabPod:
        """The pod ``namespace/deployment`` (e.g. ``shop/frontend``)."""
        try:
            return self.pods[key]
        except KeyError:
            raise LabError(f"no pod {key!r} in the lab; pods: {', '.join(self.pods)}") from None

    def setup(self) -> None:
        """Build the namespaces, bridge, veths, routes and the external side."""
        check_prerequisites()
        remove_stale_labs()
        for netns in (self.node_ns, self.ext_ns, *(p.netns for p in self.pods.values())):
            _run("ip", "netns", "add", netns)
            self._created.append(netns)
            _run("ip", "-n", netns, "link", "set", "lo", "up")
        node = self.node_ns
        _run("ip", "-n", node, "link", "add", "br0", "type", "bridge")
        _run("ip", "-n", node, "addr", "add", f"{GATEWAY}/24", "dev", "br0")
        _run("ip", "-n", node, "addr", "add", f"{GATEWAY6}/64", "dev", "br0", "nodad")
        _run("ip", "-n", node, "link", "set", "br0", "up")
        _sysctl(node, "net.ipv4.ip_forward", "1")
        # A plain bridge: its frames do not go through iptables (br_netfilter, when loaded, is
        # on by default in a new namespace); lab.cluster models the br_netfilter node.
        _run("ip", "netns", "exec", node, "sysctl", "-e", "-q", "-w",
             "net.bridge.bridge-nf-call-iptables=0")  # fmt: skip
        for index, pod in enumerate(self.pods.values()):
            port = f"veth{index}"
            _run("ip", "-n", node, "link", "add", port, "type", "veth", "peer", "name", "eth0",
                 "netns", pod.netns)  # fmt: skip
            _run("ip", "-n", node, "link", "set", port, "master", "br0", "up")
            _run("ip", "-n", pod.netns, "addr", "add", f"{pod.ip}/24", "dev", "eth0")
            _run("ip", "-n", pod.netns, "link", "set", "eth0", "up")
            _run("ip", "-n", pod.netns, "route", "add", "default", "via", GATEWAY)
            _run("ip", "-n", pod.netns, "addr", "add", f"{pod.ip6}/64", "dev", "eth0", "nodad")
            _run("ip", "-n", pod.netns, "-6", "route", "add", "default", "via", GATEWAY6)
        ext = self.ext_ns
        _run("ip", "-n", node, "link", "add", "uplink", "type", "veth", "peer", "name", "eth0",
             "netns", ext)  # fmt: skip
        _run("ip", "-n", node, "addr", "add", f"{NODE_IP}/30", "dev", "uplink")
        _run("ip", "-n", node, "link", "set", "uplink", "up")
        _run("ip", "-n", node, "route", "add", EXTERNAL_CIDR, "via", "198.51.100.2")
        _run("ip", "-n", ext, "addr", "add", "198.51.100.2/30", "dev", "eth0")
        _run("ip", "-n", ext, "link", "set", "eth0", "up")
        _run("ip", "-n", ext, "addr", "add", f"{EXTERNAL_SERVER}/32", "dev", "lo")
        _run("ip", "-n", ext, "route", "add", "10.244.0.0/16", "via", NODE_IP)
        _sysctl(ext, "net.ipv4.ip_forward", "1")  # routes (and so ICMP errors) need forwarding
        _run("ip", "-n", ext, "route", "add", "blackhole", f"{BLACKHOLE}/32")
        _run("ip", "-n", ext, "route", "add", "unreachable", f"{UNREACHABLE}/32")

    def teardown(self) -> None:
        """Delete every namespace this lab created (and with them, every interface)."""
        while self._created:
            _delete_netns(self._created.pop())

    @contextlib.contextmanager
    def inside(self, netns: str) -> Iterator[None]:
        """Move the calling thread into ``netns`` for the block (sockets made there stay there)."""
        with enter_netns(netns):
            yield

    def command(self, netns: str, argv: Sequence[str]) -> list[str]:
        """The argv that runs ``argv`` inside ``netns`` (for subprocess)."""
        return ["ip", "netns", "exec", netns, *argv]

    def snapshot(self) -> dict[str, Any]:
        """The lab's pods as ``kubectl get pods -A -o json`` would show them."""
        items = []
        for pod in self.pods.values():
            replica_set = f"{pod.deployment}-{pod.template_hash}"
            items.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": pod.name,
                        "namespace": pod.namespace,
                        "uid": f"lab-{self.run_id}-{pod.name}",
                        "labels": {"app": pod.deployment, "pod-template-hash": pod.template_hash},
                        "ownerReferences": [
                            {
                                "apiVersion": "apps/v1",
                                "kind": "ReplicaSet",
                                "name": replica_set,
                                "controller": True,
                            }
                        ],
                    },
                    "spec": {"nodeName": NODE_NAME, "hostNetwork": False},
                    "status": {
                        "phase": "Running",
                        "hostIP": NODE_IP,
                        "podIP": pod.ip,
                        "podIPs": [{"ip": pod.ip}, {"ip": pod.ip6}],
                    },
                }
            )
        return {"apiVersion": "v1", "kind": "List", "items": items}

    def _ns(self, role: str) -> str:
        return f"{LAB_PREFIX}{self.run_id}-{role}"


def check_prerequisites() -> None:
    """Raise LabError unless this process can create network namespaces.

    Decided by trying (a throw-away namespace, added and deleted), not by the user id: root in
    a container usually may not (``mount --make-shared /run/netns failed``), and the message
    says what failed in one line.
    """
    probe = f"{LAB_PREFIX}{os.getpid()}-probe"
    try:
        subprocess.run(["ip", "netns", "add", probe], check=True, capture_output=True, timeout=10)
    except FileNotFoundError:
        raise LabError("the 'ip' command (iproute2) is missing") from None
    except subprocess.CalledProcessError as exc:
        words = " ".join(exc.stderr.decode(errors="replace").split()) or f"exit {exc.returncode}"
        raise LabError(f"cannot create a network namespace: {words}") from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise LabError(f"cannot create a network namespace: {exc}") from None
    _delete_netns(probe)


def remove_stale_labs() -> list[str]:
    """Delete lab namespaces whose creating process has exited; return their names."""
    removed = []
    for name in _list_netns():
        if not name.startswith(LAB_PREFIX):
            continue
        pid = name[len(LAB_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            _delete_netns(name)
            removed.append(name)
    return removed


@contextlib.contextmanager
def enter_netns(netns: str) -> Iterator[None]:
    """Switch the calling thread into ``netns`` and back (setns(2) on this thread only)."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
    try:
        target = os.open(NETNS_DIR / netns, os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                raise LabError(f"setns into {netns}: {os.strerror(ctypes.get_errno())}")
        finally:
            os.close(target)
        try:
            yield
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:
                raise LabError(f"setns back home: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(home)


def _list_netns() -> list[str]:
    result = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]


def _delete_netns(netns: str) -> None:
    pids = subprocess.run(
        ["ip", "netns", "pids", netns], capture_output=True, text=True, check=False
    )
    for pid in pids.stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError, PermissionError):
            os.kill(int(pid), 9)
    subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)


def _sysctl(netns: str, key: str, value: str) -> None:
    _run("ip", "netns", "exec", netns, "sysctl", "-q", "-w", f"{key}={value}")


def _run(*argv: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    if result.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {result.stderr.strip() or result.returncode}")
