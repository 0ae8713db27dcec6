"""Generate realistic, deterministic wire entries (schema v1) for benchmarks and fixtures.

    from bench.entrygen import generate
    entries = generate(100_000, seed=1)   # list of wire dicts, valid under Entry.from_wire

or, for a JSON-lines file: ``python -m bench.entrygen COUNT [SEED] > entries.jsonl``.

A small cluster: namespaces shop, payments, monitoring, kube-system, ns1 and ns2 with pods of
Deployments (ReplicaSet hash suffixes), StatefulSets and DaemonSets, their Services, three
nodes, and external destinations resolved by DNS (api.stripe.com, grafana.com...). The mix is
about 60% TCP (every tcp.event), 20% DNS, 12% UDP and 8% ICMP errors.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from typing import Any

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
POD_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
NODES = (("worker-1", "172.18.0.2"), ("worker-2", "172.18.0.3"), ("worker-3", "172.18.0.4"))
KUBE_DNS = ("kube-dns", "10.96.0.10")
TCP_EVENT_WEIGHTS = {
    "close": 45,
    "connect": 15,
    "ongoing": 12,
    "reset": 10,
    "refused": 8,
    "timeout": 10,
    "expired": 2,
}
EXTERNALS = (
    ("api.stripe.com", "54.187.174.169", 443),
    ("grafana.com", "34.120.177.193", 443),
    ("github.com", "140.82.112.3", 443),
    ("s3.us-east-1.amazonaws.com", "52.217.140.232", 443),
    ("pypi.org", "151.101.64.223", 443),
    ("hooks.slack.com", "34.226.36.83", 443),
    ("redis-13412.c92.us-east-1-3.ec2.cloud.redislabs.com", "3.213.250.41", 13412),
    ("intake.logs.datadoghq.com", "3.233.146.17", 10516),
    ("", "203.0.113.45", 8443),
)
DNS_SERVERS = ("8.8.8.8", "1.1.1.1")


@dataclass(frozen=True, slots=True)
class Workload:
    """A workload and the port its pods and Service listen on."""

    namespace: str
    name: str
    kind: str  # Deployment, StatefulSet or DaemonSet
    port: int
    calls: tuple[str, ...]  # "namespace/name" of the workloads it connects to, or "external"


WORKLOADS = (
    Workload(
        "shop", "frontend", "Deployment", 8080, ("shop/cart", "shop/catalog", "shop/checkout")
    ),
    Workload("shop", "cart", "Deployment", 7070, ("shop/redis-cart",)),
    Workload("shop", "catalog", "Deployment", 3550, ("external",)),
    Workload("shop", "checkout", "Deployment", 5050, ("payments/payments-api", "shop/cart")),
    Workload("shop", "redis-cart", "StatefulSet", 6379, ()),
    Workload("payments", "payments-api", "Deployment", 8443, ("payments/postgres", "external")),
    Workload("payments", "fraud-check", "Deployment", 9000, ("payments/postgres", "external")),
    Workload("payments", "postgres", "StatefulSet", 5432, ()),
    Workload("monitoring", "prometheus", "StatefulSet", 9090, ("monitoring/node-exporter",)),
    Workload("monitoring", "grafana", "Deployment", 3000, ("monitoring/prometheus", "external")),
    Workload("monitoring", "node-exporter", "DaemonSet", 9100, ()),
    Workload("kube-system", "coredns", "Deployment", 53, ("external",)),
    Workload("kube-system", "metrics-server", "Deployment", 4443, ()),
    Workload("ns1", "orders", "Deployment", 8080, ("ns2/inventory", "external")),
    Workload("ns2", "inventory", "Deployment", 8080, ("ns1/orders", "payments/payments-api")),
)


@dataclass(frozen=True, slots=True)
class Pod:
    """A running pod: its workload, name, IP and node."""

    workload: Workload
    name: str
    ip: str
    node: int


def generate(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` wire entries, identical for identical ``(count, seed)``."""
    return _Generator(seed).entries(count)


class _Generator:
    """The cluster (pods, services, IPs) drawn from the seed, then entries drawn from it."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.next_host = [self.random.randint(2, 40) for _ in NODES]
        self.pods = [pod for workload in WORKLOADS for pod in self._pods(workload)]
        self.by_workload: dict[str, list[Pod]] = {}
        for pod in self.pods:
            key = f"{pod.workload.namespace}/{pod.workload.name}"
            self.by_workload.setdefault(key, []).append(pod)
        self.service_ips = {
            key: f"10.96.{index // 200 + 1}.{index % 200 + 10}"
            for index, key in enumerate(sorted(self.by_workload))
        }
        self.workers = [f"podscope-worker-{self._suffix(5)}" for _ in NODES]
        self.clock = START_MS
        self.sequence = 0

    def entries(self, count: int) -> list[dict[str, Any]]:
        """Entries drawn one after the other, so a shorter run is a prefix of a longer one."""
        makers = (self._tcp, self._dns, self._udp, self._icmp)
        return [self.random.choices(makers, weights=(60, 20, 12, 8))[0]() for _ in range(count)]

    # --- cluster ------------------------------------------------------------------------------

    def _pods(self, workload: Workload) -> list[Pod]:
        if workload.kind == "DaemonSet":
            names = [f"{workload.name}-{self._suffix(5)}" for _ in NODES]
        elif workload.kind == "StatefulSet":
            names = [f"{workload.name}-{index}" for index in range(self.random.randint(1, 3))]
        else:
            replica_set = f"{workload.name}-{self._suffix(10)}"
            names = [f"{replica_set}-{self._suffix(5)}" for _ in range(self.random.randint(1, 4))]
        pods = []
        for index, name in enumerate(names):
            node = (
                index % len(NODES)
                if workload.kind == "DaemonSet"
                else self.random.randrange(len(NODES))
            )
            self.next_host[node] += self.random.randint(1, 6)
            ip = f"10.244.{node + 1}.{self.next_host[node]}"
            pods.append(Pod(workload, name, ip, node))
        return pods

    def _suffix(self, length: int) -> str:
        return "".join(self.random.choices(POD_SUFFIX_ALPHABET, k=length))

    # --- endpoints ----------------------------------------------------------------------------

    def _pod_endpoint(self, pod: Pod, port: int) -> dict[str, Any]:
        workload = pod.workload
        service = workload.name if workload.kind != "DaemonSet" else ""
        return _endpoint(
            pod.ip, port, pod.name, workload.namespace, pod.name, service, workload.name, "pod"
        )

    def _service_endpoint(self, key: str) -> dict[str, Any]:
        namespace, name = key.split("/")
        port = self.by_workload[key][0].workload.port
        ip = self.service_ips[key]
        return _endpoint(ip, port, f"{name}.{namespace}", namespace, "", name, "", "service")

    def _external_endpoint(self) -> dict[str, Any]:
        name, ip, port = self.random.choice(EXTERNALS)
        return _endpoint(ip, port, name, kind="external" if name else "unknown")

    def _node_endpoint(self, node: int, port: int) -> dict[str, Any]:
        name, ip = NODES[node]
        return _endpoint(ip, port, name, kind="node")

    def _ephemeral_port(self) -> int:
        return self.random.randint(32768, 60999)

    def _conversation(self) -> tuple[Pod, dict[str, Any]]:
        """A client pod and the endpoint it talks to (a Service, a pod or an external host)."""
        client = self.random.choice(self.pods)
        targets = client.workload.calls or ("external",)
        target = self.random.choice(targets)
        if target == "external":
            return client, self._external_endpoint()
        if self.random.random() < 0.3:
            server = self.random.choice(self.by_workload[target])
            return client, self._pod_endpoint(server, server.workload.port)
        return client, self._service_endpoint(target)

    # --- entries ------------------------------------------------------------------------------

    def _base(
        self, client: Pod, protocol: str, src: dict[str, Any], dst: dict[str, Any]
    ) -> dict[str, Any]:
        self.clock += self.random.randint(0, 40)
        self.sequence += 1
        node_name, node_ip = NODES[client.node]
        worker = self.workers[client.node]
        return {
            "id": f"{worker}/{self.sequence}",
            "v": 1,
            "worker": worker,
            "node": {"name": node_name, "ip": node_ip},
            "timestamp": self.clock,
            "protocol": {"name": protocol, "abbr": protocol.upper()},
            "src": src,
            "dst": dst,
            "elapsedTime": 0,
            "outgoing": self.random.random() < 0.8,
            "requestSize": 0,
            "responseSize": 0,
            "summary": "",
        }

    def _tcp(self) -> dict[str, Any]:
        client, dst = self._conversation()
        src = self._pod_endpoint(client, self._ephemeral_port())
        entry = self._base(client, "tcp", src, dst)
        event = self.random.choices(
            list(TCP_EVENT_WEIGHTS), weights=list(TCP_EVENT_WEIGHTS.values())
        )[0]
        rtt = round(self.random.uniform(0.05, 2.0 if dst["kind"] != "external" else 80.0), 3)
        tcp: dict[str, Any] = {"event": event, "resetBy": "", "partial": False}
        if event in {"close", "connect", "ongoing", "reset", "expired"}:
            sent, received = self.random.randint(64, 20_000), self.random.randint(0, 2_000_000)
            entry["requestSize"], entry["responseSize"] = sent, received
            tcp["rtt"] = rtt
        if event == "close":
            entry["elapsedTime"] = self.random.randint(1, 30_000)
            tcp.update(state="CLOSED", flags=["SYN", "ACK", "PSH", "FIN"])
        elif event == "connect":
            tcp.update(state="ESTABLISHED", flags=["SYN", "ACK"])
        elif event == "ongoing":
            tcp.update(state="ESTABLISHED", flags=["SYN", "ACK", "PSH"])
        elif event == "expired":  # idle past the timeout, its FIN or RST never seen
            entry["elapsedTime"] = self.random.randint(300_000, 900_000)
            tcp.update(state="ESTABLISHED", flags=["SYN", "ACK", "PSH"])
        elif event == "reset":
            entry["elapsedTime"] = self.random.randint(1, 5_000)
            reset_by = self.random.choice(["client", "server"])
            tcp.update(state="CLOSED", flags=["SYN", "ACK", "RST"], resetBy=reset_by)
        elif event == "refused":
            entry["elapsedTime"] = round(rtt)
            tcp.update(state="CLOSED", flags=["SYN", "RST"], resetBy="server")
        else:
            entry["elapsedTime"] = 3_000 * self.random.randint(1, 3)
            tcp.update(state="SYN_SENT", flags=["SYN"], partial=self.random.random() < 0.2)
        entry["tcp"] = tcp
        entry["summary"] = f"{_label(src)} → {_label(dst)} {event}"
        return entry

    def _dns(self) -> dict[str, Any]:
        client = self.random.choice(self.pods)
        src = self._pod_endpoint(client, self._ephemeral_port())
        if client.workload.name == "coredns":
            dst = _endpoint(self.random.choice(DNS_SERVERS), 53, kind="external")
        else:
            name, ip = KUBE_DNS
            dst = _endpoint(ip, 53, f"{name}.kube-system", "kube-system", "", name, "", "service")
        entry = self._base(client, "dns", src, dst)
        entry["dns"] = self._dns_answer()
        entry["elapsedTime"] = round(entry["dns"]["latency"])
        entry["summary"] = f"{_label(src)} asked {entry['dns']['query']} ({entry['dns']['rcode']})"
        return entry

    def _dns_answer(self) -> dict[str, Any]:
        latency = round(self.random.uniform(0.2, 30.0), 2)
        roll = self.random.random()
        if roll < 0.5:
            name, ip, _port = self.random.choice([e for e in EXTERNALS if e[0]])
            return {
                "query": name,
                "answers": [ip],
                "rcode": "NOERROR",
                "qtype": "A",
                "latency": latency,
            }
        if roll < 0.8:
            key = self.random.choice(sorted(self.service_ips))
            namespace, service = key.split("/")
            query = f"{service}.{namespace}.svc.cluster.local"
            answers = [self.service_ips[key]]
            return {
                "query": query,
                "answers": answers,
                "rcode": "NOERROR",
                "qtype": "A",
                "latency": latency,
            }
        if roll < 0.95:
            service = self.random.choice(["cart", "orders", "db"])
            query = f"{service}.shop.svc.cluster.local.cluster.local"
            return {
                "query": query,
                "answers": [],
                "rcode": "NXDOMAIN",
                "qtype": "A",
                "latency": latency,
            }
        return {
            "query": "grafana.com",
            "answers": [],
            "rcode": "SERVFAIL",
            "qtype": "AAAA",
            "latency": latency,
        }

    def _udp(self) -> dict[str, Any]:
        client = self.random.choice(self.pods)
        src = self._pod_endpoint(client, self._ephemeral_port())
        if self.random.random() < 0.5:
            dst = _endpoint("162.159.200.1", 123, "time.cloudflare.com", kind="external")
        else:
            exporter = self.by_workload["monitoring/node-exporter"][client.node]
            dst = self._pod_endpoint(exporter, 8125)
        entry = self._base(client, "udp", src, dst)
        entry["requestSize"] = self.random.randint(48, 1400)
        entry["responseSize"] = self.random.choice([0, 48])
        entry["elapsedTime"] = self.random.randint(0, 200)
        entry["summary"] = f"{_label(src)} → {_label(dst)} udp"
        return entry

    def _icmp(self) -> dict[str, Any]:
        client, target = self._conversation()
        client_port = self._ephemeral_port()
        if self.random.random() < 0.6:
            icmp_type, code, message = 3, 3, "port unreachable"
            reporter = dict(target, port=0)
        elif self.random.random() < 0.5:
            icmp_type, code, message = 3, 1, "host unreachable"
            reporter = self._node_endpoint(client.node, 0)
        else:
            icmp_type, code, message = 11, 0, "time exceeded in transit"
            reporter = self._node_endpoint(self.random.randrange(len(NODES)), 0)
        dst = self._pod_endpoint(client, 0)
        entry = self._base(client, "icmp", reporter, dst)
        entry["outgoing"] = False
        entry["icmp"] = {
            "type": icmp_type,
            "code": code,
            "message": message,
            "about": {
                "protocol": self.random.choice(["tcp", "udp"]),
                "src": {"ip": client.ip, "port": client_port},
                "dst": {"ip": target["ip"], "port": target["port"]},
            },
        }
        entry["summary"] = f"{message} from {reporter['ip']} about {client.ip} → {target['ip']}"
        return entry


def _endpoint(
    ip: str,
    port: int,
    name: str = "",
    namespace: str = "",
    pod: str = "",
    service: str = "",
    workload: str = "",
    kind: str = "unknown",
) -> dict[str, Any]:
    """An endpoint in its canonical wire form: every field present, as Entry.to_wire writes it."""
    return {
        "ip": ip,
        "port": port,
        "name": name,
        "namespace": namespace,
        "pod": pod,
        "service": service,
        "workload": workload,
        "kind": kind,
    }


def _label(endpoint: dict[str, Any]) -> str:
    name = endpoint["name"] or endpoint["ip"]
    prefix = f"{endpoint['namespace']}/" if endpoint["kind"] == "pod" else ""
    return f"{prefix}{name}:{endpoint['port']}"


def main(argv: list[str]) -> int:
    """Print ``COUNT`` entries (seed ``SEED``, default 0) as compact JSON lines."""
    if len(argv) not in {1, 2} or not all(arg.isdigit() for arg in argv):
        print("usage: python -m bench.entrygen COUNT [SEED]", file=sys.stderr)
        return 2
    count, seed = int(argv[0]), int(argv[1]) if len(argv) == 2 else 0
    for entry in generate(count, seed):
        print(json.dumps(entry, separators=(",", ":"), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
