"""kube-proxy's iptables mode, for the lab: Service and EndpointSlice objects to iptables rules.

The rules follow kube-proxy's own chain layout, so a lab node rewrites packets the way a real
node does:

- ``nat`` table: ``PREROUTING`` and ``OUTPUT`` jump to ``KUBE-SERVICES``, which matches each
  Service port's ClusterIP (and, last, any local address, to ``KUBE-NODEPORTS``) and jumps to
  its ``KUBE-SVC-<hash>`` chain. That chain marks traffic from outside the cluster CIDR for
  masquerade (``KUBE-MARK-MASQ``) and picks one ``KUBE-SEP-<hash>`` chain per endpoint with
  ``statistic --mode random`` rules (probability 1/n, 1/(n-1), ..., then the last one
  unconditionally); each ``KUBE-SEP`` chain DNATs to its endpoint (and marks hairpin traffic).
  A NodePort goes through ``KUBE-EXT-<hash>``, which with ``externalTrafficPolicy: Cluster``
  marks everything for masquerade. ``POSTROUTING`` jumps to ``KUBE-POSTROUTING``, which
  masquerades what was marked (mark ``0x4000``).
- ``filter`` table: a Service port without ready endpoints is REJECTed (ICMP port unreachable)
  in ``KUBE-SERVICES`` (ClusterIP, from ``FORWARD`` and ``OUTPUT``) and
  ``KUBE-EXTERNAL-SERVICES`` (NodePort, from ``INPUT`` and ``FORWARD``), as kube-proxy does.

Chain names are ``KUBE-SVC-`` / ``KUBE-SEP-`` / ``KUBE-EXT-`` plus 16 base32 characters of a
SHA-256 of what they stand for, so they are stable across runs. Only TCP and UDP ports, IPv4,
and ``externalTrafficPolicy: Cluster`` are modelled. :func:`iptables_rules` returns the text for
``iptables-restore --noflush``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MASQUERADE_MARK = "0x4000"


@dataclass(frozen=True, slots=True)
class ServicePort:
    """One port of a Service, with the endpoints that back it."""

    namespace: str
    name: str
    port_name: str
    protocol: str  # "tcp" or "udp"
    cluster_ip: str
    port: int
    node_port: int | None
    endpoints: tuple[tuple[str, int], ...]  # (ip, port), ready ones only

    @property
    def label(self) -> str:
        """kube-proxy's name of the port: ``namespace/name:port_name``."""
        return f"{self.namespace}/{self.name}:{self.port_name}"


def service_ports(
    services: Iterable[Mapping[str, Any]], slices: Iterable[Mapping[str, Any]]
) -> list[ServicePort]:
    """Each Service port with its ready endpoints (from the EndpointSlices labelled with it)."""
    by_service: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for endpoint_slice in slices:
        meta = endpoint_slice["metadata"]
        owner = meta.get("labels", {}).get("kubernetes.io/service-name", "")
        by_service.setdefault((meta["namespace"], owner), []).append(endpoint_slice)
    ports = []
    for service in services:
        meta, spec = service["metadata"], service["spec"]
        key = (meta["namespace"], meta["name"])
        for port in spec.get("ports", []):
            port_name = port.get("name", "")
            protocol = port.get("protocol", "TCP").lower()
            endpoints: list[tuple[str, int]] = []
            for endpoint_slice in by_service.get(key, []):
                target = next(
                    (p["port"] for p in endpoint_slice.get("ports", [])
                     if p.get("name", "") == port_name),
                    None,
                )  # fmt: skip
                if target is None:
                    continue
                for endpoint in endpoint_slice.get("endpoints", []):
                    if endpoint.get("conditions", {}).get("ready", True):
                        endpoints.extend((address, target) for address in endpoint["addresses"])
            node_port = port.get("nodePort") if spec.get("type") == "NodePort" else None
            ports.append(ServicePort(meta["namespace"], meta["name"], port_name, protocol,
                                     spec["clusterIP"], port["port"], node_port,
                                     tuple(sorted(endpoints))))  # fmt: skip
    return ports


def chain_name(prefix: str, *parts: str) -> str:
    """A stable chain name: ``prefix`` and 16 base32 characters of a hash of ``parts``."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return prefix + base64.b32encode(digest).decode()[:16]


def iptables_rules(ports: Iterable[ServicePort], cluster_cidr: str) -> str:
    """The ``nat`` and ``filter`` rules of kube-proxy's iptables mode for ``ports``."""
    nat_chains = ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"]
    nat = [
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
        f"-A KUBE-MARK-MASQ -j MARK --or-mark {MASQUERADE_MARK}",
        f"-A KUBE-POSTROUTING -m mark ! --mark {MASQUERADE_MARK}/{MASQUERADE_MARK} -j RETURN",
        f"-A KUBE-POSTROUTING -j MARK --xor-mark {MASQUERADE_MARK}",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
        "-j MASQUERADE --random-fully",
    ]
    filter_chains = ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES"]
    filters = [
        "-A INPUT -m conntrack --ctstate NEW -j KUBE-EXTERNAL-SERVICES",
        "-A FORWARD -m conntrack --ctstate NEW -j KUBE-SERVICES",
        "-A FORWARD -m conntrack --ctstate NEW -j KUBE-EXTERNAL-SERVICES",
        "-A OUTPUT -m conntrack --ctstate NEW -j KUBE-SERVICES",
    ]
    for port in ports:
        match = f"-p {port.protocol} -m {port.protocol}"
        comment = f'-m comment --comment "{port.label}'
        to_vip = f"-d {port.cluster_ip}/32 {match} --dport {port.port}"
        if not port.endpoints:
            filters.append(f'-A KUBE-SERVICES {comment} has no endpoints" {to_vip} '
                           "-j REJECT --reject-with icmp-port-unreachable")  # fmt: skip
            if port.node_port is not None:
                filters.append(f'-A KUBE-EXTERNAL-SERVICES {comment} has no endpoints" '
                               f"-m addrtype --dst-type LOCAL {match} --dport {port.node_port} "
                               "-j REJECT --reject-with icmp-port-unreachable")  # fmt: skip
            continue
        service = chain_name("KUBE-SVC-", port.label, port.protocol)
        nat_chains.append(service)
        nat.append(f'-A KUBE-SERVICES {comment} cluster IP" {to_vip} -j {service}')
        nat.append(f'-A {service} {comment} cluster IP" {to_vip} ! -s {cluster_cidr} '
                   "-j KUBE-MARK-MASQ")  # fmt: skip
        if port.node_port is not None:
            external = chain_name("KUBE-EXT-", port.label, port.protocol)
            nat_chains.append(external)
            nat.append(f"-A KUBE-NODEPORTS {comment}\" {match} --dport {port.node_port} "
                       f"-j {external}")  # fmt: skip
            nat.append(f'-A {external} -m comment --comment "masquerade traffic for '
                       f'{port.label} external destinations" -j KUBE-MARK-MASQ')  # fmt: skip
            nat.append(f"-A {external} -j {service}")
        remaining = len(port.endpoints)
        for ip, target in port.endpoints:
            endpoint = chain_name("KUBE-SEP-", port.label, port.protocol, f"{ip}:{target}")
            nat_chains.append(endpoint)
            pick = f'-A {service} {comment} -> {ip}:{target}"'
            if remaining > 1:
                pick += f" -m statistic --mode random --probability {1 / remaining:.10f}"
            nat.append(f"{pick} -j {endpoint}")
            remaining -= 1
            nat.append(f'-A {endpoint} {comment}" -s {ip}/32 -j KUBE-MARK-MASQ')
            nat.append(f'-A {endpoint} {comment}" {match} -j DNAT --to-destination {ip}:{target}')
    nat.append('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this '
               'must be the last rule in this chain" -m addrtype --dst-type LOCAL '
               "-j KUBE-NODEPORTS")  # fmt: skip
    lines = ["*nat", *(f":{chain} - [0:0]" for chain in nat_chains), *nat, "COMMIT"]
    lines += ["*filter", *(f":{chain} - [0:0]" for chain in filter_chains), *filters, "COMMIT"]
    return "\n".join(lines) + "\n"
