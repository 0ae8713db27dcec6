"""A two-node cluster lab whose nodes rewrite packets as real ones do: kube-proxy, masquerade,
VXLAN, and both common pod-network shapes.

Topology (every address lives inside namespaces the lab creates; nothing touches the root
namespace and no traffic leaves the lab)::

    node 1 namespace (198.51.100.1)            node 2 namespace (198.51.100.2)
      pods 10.244.1.x                            pods 10.244.2.x, a hostNetwork pod
      vxlan0 10.244.1.0/32  ====== VXLAN 4789 over eth0 ======  vxlan0 10.244.2.0/32
      eth0 ----------------.                 .------------------ eth0
                           "ext" namespace: bridge "fabric" 198.51.100.100/24,
                           the outside world: 203.0.113.10 (api.example.com) on lo

Pod networks (``shape``):

- ``bridge`` (the bridge/flannel CNI): a bridge ``cni0`` (10.244.N.1/24) with the pods' veths
  as ports, ``br_netfilter`` on (``net.bridge.bridge-nf-call-iptables=1``) so kube-proxy's rules
  see bridged traffic too;
- ``routed`` (Calico): each pod has a /32 and a default route to 169.254.1.1, which the host
  side of its veth (``caliN``, no address) answers by proxy ARP; the node routes each pod's /32
  to its veth.

Both nodes route the other node's pod CIDR through ``vxlan0`` (flannel's static neighbour and
FDB entries). Both run kube-proxy's iptables rules (:mod:`lab.kubeproxy`) generated from the
Service and EndpointSlice objects in :data:`SERVICES` (also in :meth:`ClusterLab.snapshot`),
and masquerade pod egress leaving the cluster CIDR on the uplink (what a CNI adds).

Services: ``payments/api`` (ClusterIP, two endpoints, one per node: statistic rules),
``shop/empty`` (no endpoints: REJECT), ``shop/web`` (NodePort 30080, ``externalTrafficPolicy:
Cluster``, its only endpoint on node 2, so a connection from outside to node 1 is DNATed, SNATed
and crosses the tunnel), ``kube-system/kube-dns`` (UDP and TCP 53 to the coredns pod on node 1).
The hostNetwork pod ``monitoring/node-exporter`` is node 2 itself (port 9100).

Namespace names are ``psl-<pid>-<random>-<role>``, removed on exit even when the body fails,
and by :func:`lab.topology.remove_stale_labs` when their process is gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from lab.errors import LabError
from lab.kubeproxy import iptables_rules, service_ports
from lab.topology import LAB_PREFIX, check_prerequisites, enter_netns, remove_stale_labs

SHAPES = ("bridge", "routed")
CLUSTER_CIDR = "10.244.0.0/16"
FABRIC_PREFIX = 24
ROUTER = "198.51.100.100"
EXTERNAL_SERVER = "203.0.113.10"
EXTERNAL_NAME = "api.example.com"
VXLAN_ID = 1
VXLAN_MTU = 1450
CALICO_GATEWAY = "169.254.1.1"
HOST_NETWORK_PORT = 9100
NODE_PORT = 30080


@dataclass(frozen=True, slots=True)
class ClusterNode:
    """One node: its name, address, pod CIDR and network namespace."""

    index: int
    netns: str

    @property
    def name(self) -> str:
        """The Kubernetes node name."""
        return f"lab-node-{self.index}"

    @property
    def ip(self) -> str:
        """The node's address on the fabric (its InternalIP)."""
        return f"198.51.100.{self.index}"

    @property
    def pod_cidr(self) -> str:
        """The node's pod CIDR."""
        return f"10.244.{self.index}.0/24"

    @property
    def gateway(self) -> str:
        """The bridge shape's gateway address (cni0)."""
        return f"10.244.{self.index}.1"

    @property
    def tunnel_ip(self) -> str:
        """The address of the node's VXLAN device (flannel's ``10.244.N.0``)."""
        return f"10.244.{self.index}.0"

    @property
    def tunnel_mac(self) -> str:
        """The MAC address of the node's VXLAN device."""
        return f"02:00:0a:f4:{self.index:02x}:00"


@dataclass(frozen=True, slots=True)
class ClusterPod:
    """One pod of the cluster lab."""

    namespace: str
    app: str
    ip: str
    node: int
    netns: str  # the node's own namespace for a hostNetwork pod
    host_network: bool = False

    @property
    def name(self) -> str:
        """The pod name (stable: the lab's tests and the demo find pods by it)."""
        return f"{self.app}-{self.node}"


POD_LAYOUT = (
    ("shop", "frontend", "10.244.1.10", 1),
    ("payments", "api", "10.244.1.12", 1),
    ("kube-system", "coredns", "10.244.1.53", 1),
    ("payments", "api", "10.244.2.12", 2),
    ("shop", "cart", "10.244.2.11", 2),
    ("shop", "web", "10.244.2.20", 2),
)
"""(namespace, app, ip, node) of each pod with its own network."""

API_VIP, EMPTY_VIP, WEB_VIP, DNS_VIP = "10.96.0.20", "10.96.0.30", "10.96.0.40", "10.96.0.10"
API_PORT, WEB_PORT = 8000, 8080
SERVICES = (
    # (namespace, name, type, cluster IP, ports: (name, protocol, port, target, node port), app)
    ("payments", "api", "ClusterIP", API_VIP, (("http", "TCP", 80, API_PORT, None),), "api"),
    ("shop", "empty", "ClusterIP", EMPTY_VIP, (("http", "TCP", 80, 80, None),), "none"),
    ("shop", "web", "NodePort", WEB_VIP, (("http", "TCP", 80, WEB_PORT, NODE_PORT),), "web"),
    ("kube-system", "kube-dns", "ClusterIP", DNS_VIP,
     (("dns", "UDP", 53, 53, None), ("dns-tcp", "TCP", 53, 53, None)), "coredns"),
)  # fmt: skip


class ClusterLab:
    """The two-node lab as a context manager: ``with ClusterLab("routed") as lab:``."""

    def __init__(self, shape: str = "bridge") -> None:
        if shape not in SHAPES:
            raise LabError(f"unknown pod-network shape {shape!r}; known: {', '.join(SHAPES)}")
        self.shape = shape
        self.run_id = f"{os.getpid()}-{secrets.token_hex(3)}"
        self.ext_ns = self._ns("ext")
        self.nodes = tuple(ClusterNode(index, self._ns(f"n{index}")) for index in (1, 2))
        self.pods = [
            ClusterPod(namespace, app, ip, node, self._ns(f"p{number}"))
            for number, (namespace, app, ip, node) in enumerate(POD_LAYOUT)
        ]
        self.pods.append(
            ClusterPod("monitoring", "node-exporter", self.nodes[1].ip, 2, self.nodes[1].netns,
                       host_network=True)
        )  # fmt: skip
        self._created: list[str] = []

    def __enter__(self) -> ClusterLab:
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

    def pod(self, app: str, node: int | None = None) -> ClusterPod:
        """The pod of ``app`` (on ``node`` when the app has several)."""
        for pod in self.pods:
            if pod.app == app and (node is None or pod.node == node):
                return pod
        raise LabError(f"no pod {app!r} on node {node}; pods: {[p.name for p in self.pods]}")

    def node(self, index: int) -> ClusterNode:
        """Node 1 or 2."""
        return self.nodes[index - 1]

    # --- building ----------------------------------------------------------------------------

    def setup(self) -> None:
        """Build the fabric, the nodes, their pods, the tunnel and kube-proxy's rules."""
        check_prerequisites()
        remove_stale_labs()
        own_pods = [pod for pod in self.pods if not pod.host_network]
        for netns in (self.ext_ns, *(n.netns for n in self.nodes), *(p.netns for p in own_pods)):
            _run("ip", "netns", "add", netns)
            self._created.append(netns)
            _run("ip", "-n", netns, "link", "set", "lo", "up")
        self._fabric()
        rules = iptables_rules(service_ports(self.services(), self.endpoint_slices()),
                               CLUSTER_CIDR)  # fmt: skip
        for node in self.nodes:
            self._node(node, rules)
            for number, pod in enumerate(own_pods):
                if pod.node == node.index:
                    self._pod(node, pod, number)

    def _fabric(self) -> None:
        ext = self.ext_ns
        _run("ip", "-n", ext, "link", "add", "fabric", "type", "bridge")
        _run("ip", "-n", ext, "addr", "add", f"{ROUTER}/{FABRIC_PREFIX}", "dev", "fabric")
        _run("ip", "-n", ext, "link", "set", "fabric", "up")
        _run("ip", "-n", ext, "addr", "add", f"{EXTERNAL_SERVER}/32", "dev", "lo")

    def _node(self, node: ClusterNode, rules: str) -> None:
        ns = node.netns
        for key in ("net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
                    "net.ipv4.conf.default.rp_filter=0"):  # fmt: skip
            _run("ip", "netns", "exec", ns, "sysctl", "-q", "-w", key)
        uplink = f"n{node.index}"
        _run("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", uplink,
             "netns", self.ext_ns)  # fmt: skip
        _run("ip", "-n", self.ext_ns, "link", "set", uplink, "master", "fabric", "up")
        _run("ip", "-n", ns, "addr", "add", f"{node.ip}/{FABRIC_PREFIX}", "dev", "eth0")
        _run("ip", "-n", ns, "link", "set", "eth0", "up")
        _run("ip", "-n", ns, "route", "add", "default", "via", ROUTER)
        _run("ip", "-n", ns, "link", "add", "vxlan0", "address", node.tunnel_mac, "type", "vxlan",
             "id", str(VXLAN_ID), "local", node.ip, "dev", "eth0", "dstport", "4789",
             "nolearning")  # fmt: skip
        _run("ip", "-n", ns, "link", "set", "vxlan0", "mtu", str(VXLAN_MTU), "up")
        _run("ip", "-n", ns, "addr", "add", f"{node.tunnel_ip}/32", "dev", "vxlan0")
        for peer in self.nodes:
            if peer is node:
                continue
            _run("ip", "-n", ns, "route", "add", peer.pod_cidr, "via", peer.tunnel_ip, "dev",
                 "vxlan0", "onlink")  # fmt: skip
            _run("ip", "-n", ns, "neigh", "add", peer.tunnel_ip, "lladdr", peer.tunnel_mac,
                 "dev", "vxlan0", "nud", "permanent")  # fmt: skip
            _run("ip", "netns", "exec", ns, "bridge", "fdb", "append", peer.tunnel_mac, "dev",
                 "vxlan0", "dst", peer.ip)  # fmt: skip
        if self.shape == "bridge":
            _run("ip", "-n", ns, "link", "add", "cni0", "type", "bridge")
            _run("ip", "-n", ns, "addr", "add", f"{node.gateway}/24", "dev", "cni0")
            _run("ip", "-n", ns, "link", "set", "cni0", "mtu", str(VXLAN_MTU), "up")
            bridge_netfilter(ns)
        masquerade = (f"*nat\n-A POSTROUTING -s {CLUSTER_CIDR} ! -d {CLUSTER_CIDR} -m comment "
                      '--comment "lab CNI: masquerade pod egress" -j MASQUERADE --random-fully\n'
                      "COMMIT\n")  # fmt: skip
        for text in (rules, masquerade):
            _run_input(text, "ip", "netns", "exec", ns, "iptables-restore", "--noflush")

    def _pod(self, node: ClusterNode, pod: ClusterPod, number: int) -> None:
        ns, host_side = node.netns, f"{'veth' if self.shape == 'bridge' else 'cali'}{number}"
        _run("ip", "-n", ns, "link", "add", host_side, "mtu", str(VXLAN_MTU), "type", "veth",
             "peer", "name", "eth0", "mtu", str(VXLAN_MTU), "netns", pod.netns)  # fmt: skip
        _run("ip", "-n", pod.netns, "link", "set", "eth0", "up")
        if self.shape == "bridge":
            _run("ip", "-n", ns, "link", "set", host_side, "master", "cni0", "up")
            _run("ip", "-n", pod.netns, "addr", "add", f"{pod.ip}/24", "dev", "eth0")
            _run("ip", "-n", pod.netns, "route", "add", "default", "via", node.gateway)
            return
        _run("ip", "-n", ns, "link", "set", host_side, "up")
        _run("ip", "netns", "exec", ns, "sysctl", "-q", "-w",
             f"net.ipv4.conf.{host_side}.proxy_arp=1")  # fmt: skip
        _run("ip", "-n", ns, "route", "add", f"{pod.ip}/32", "dev", host_side)
        _run("ip", "-n", pod.netns, "addr", "add", f"{pod.ip}/32", "dev", "eth0")
        _run("ip", "-n", pod.netns, "route", "add", CALICO_GATEWAY, "dev", "eth0", "scope",
             "link")  # fmt: skip
        _run("ip", "-n", pod.netns, "route", "add", "default", "via", CALICO_GATEWAY, "dev",
             "eth0")  # fmt: skip

    def teardown(self) -> None:
        """Delete every namespace this lab created (and with them, every interface and rule)."""
        while self._created:
            _delete_netns(self._created.pop())

    # --- use ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def inside(self, netns: str) -> Iterator[None]:
        """Move the calling thread into ``netns`` for the block."""
        with enter_netns(netns):
            yield

    def command(self, netns: str, argv: Sequence[str]) -> list[str]:
        """The argv that runs ``argv`` inside ``netns``."""
        return ["ip", "netns", "exec", netns, *argv]

    # --- the cluster's objects ---------------------------------------------------------------

    def services(self) -> list[dict[str, Any]]:
        """The Service objects, as the API server has them."""
        items = []
        for namespace, name, kind, vip, ports, _ in SERVICES:
            spec: dict[str, Any] = {
                "type": kind,
                "clusterIP": vip,
                "clusterIPs": [vip],
                "ports": [
                    {"name": port_name, "protocol": protocol, "port": port, "targetPort": target}
                    | ({"nodePort": node_port} if node_port else {})
                    for port_name, protocol, port, target, node_port in ports
                ],
            }
            if kind == "NodePort":
                spec["externalTrafficPolicy"] = "Cluster"
            items.append({"apiVersion": "v1", "kind": "Service", "spec": spec,
                          "metadata": self._meta(namespace, name)})  # fmt: skip
        return items

    def endpoint_slices(self) -> list[dict[str, Any]]:
        """One EndpointSlice per Service: its ready pods (none for ``shop/empty``)."""
        items = []
        for namespace, name, _, _, ports, app in SERVICES:
            backends = [p for p in self.pods if p.app == app and p.namespace == namespace]
            meta = self._meta(namespace, f"{name}-lab")
            meta["labels"] = {"kubernetes.io/service-name": name}
            items.append({
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": meta,
                "addressType": "IPv4",
                "ports": [{"name": port_name, "protocol": protocol, "port": target}
                          for port_name, protocol, _, target, _ in ports],
                "endpoints": [{"addresses": [pod.ip], "conditions": {"ready": True},
                               "nodeName": f"lab-node-{pod.node}",
                               "targetRef": {"kind": "Pod", "name": pod.name,
                                             "namespace": pod.namespace}}
                              for pod in backends],
            })  # fmt: skip
        return items

    def snapshot(self) -> dict[str, Any]:
        """Pods, Services, EndpointSlices and Nodes, as ``kubectl get ... -A -o json`` shows."""
        pods = []
        for pod in self.pods:
            meta = self._meta(pod.namespace, pod.name)
            meta["labels"] = {"app": pod.app}
            meta["ownerReferences"] = [_owner(pod)]
            if not pod.host_network:
                meta["labels"]["pod-template-hash"] = _template_hash(pod.app)
            pods.append({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": meta,
                "spec": {"nodeName": f"lab-node-{pod.node}", "hostNetwork": pod.host_network,
                         "containers": [{"name": pod.app, "ports": self._ports(pod)}]},
                "status": {"phase": "Running", "hostIP": self.node(pod.node).ip,
                           "podIP": pod.ip, "podIPs": [{"ip": pod.ip}]},
            })  # fmt: skip
        nodes = [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": node.name, "uid": f"lab-{self.run_id}-{node.name}"},
                "spec": {"podCIDR": node.pod_cidr},
                "status": {"addresses": [{"type": "InternalIP", "address": node.ip}]},
            }
            for node in self.nodes
        ]
        items = [*pods, *self.services(), *self.endpoint_slices(), *nodes]
        return {"apiVersion": "v1", "kind": "List", "items": items}

    def _ports(self, pod: ClusterPod) -> list[dict[str, Any]]:
        """The container ports a pod declares (a hostNetwork pod is named by them)."""
        if pod.host_network:
            return [{"containerPort": HOST_NETWORK_PORT, "protocol": "TCP"}]
        return []

    def _meta(self, namespace: str, name: str) -> dict[str, Any]:
        return {"name": name, "namespace": namespace, "uid": f"lab-{namespace}-{name}"}

    def _ns(self, role: str) -> str:
        return f"{LAB_PREFIX}{self.run_id}-{role}"


def _template_hash(app: str) -> str:
    """A stable pod-template-hash for ``app``'s Deployment."""
    return hashlib.sha256(app.encode()).hexdigest()[:10]


def _owner(pod: ClusterPod) -> dict[str, Any]:
    """The controller of a pod: a DaemonSet for the hostNetwork pod, else a Deployment's
    ReplicaSet (so the hub names the workload after the app)."""
    if pod.host_network:
        return {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": pod.app, "controller": True}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "controller": True,
            "name": f"{pod.app}-{_template_hash(pod.app)}"}  # fmt: skip


def bridge_netfilter(netns: str) -> None:
    """Make the bridge in ``netns`` pass its traffic through iptables (br_netfilter).

    The kernel's ``br_netfilter`` must be loaded (or built in): its sysctls then exist in every
    network namespace. Raise LabError, naming the module, when it is not.
    """
    try:
        _run("ip", "netns", "exec", netns, "sysctl", "-q", "-w",
             "net.bridge.bridge-nf-call-iptables=1")  # fmt: skip
    except LabError as exc:
        raise LabError(f"br_netfilter is not available (modprobe br_netfilter): {exc}") from None


def _delete_netns(netns: str) -> None:
    pids = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True,
                          check=False)  # fmt: skip
    for pid in pids.stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError, PermissionError):
            os.kill(int(pid), 9)
    subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)


def _run(*argv: str) -> None:
    _run_input("", *argv)


def _run_input(text: str, *argv: str) -> None:
    result = subprocess.run(argv, input=text, capture_output=True, text=True, check=False,
                            timeout=30)  # fmt: skip
    if result.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {result.stderr.strip() or result.returncode}")
