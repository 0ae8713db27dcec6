"""Who calls whom, at workload level: the map as a list to review or turn into network policy.

Like Otterize network-mapper's export: one caller per in-cluster workload that opened at least
one flow (failed attempts included: they show intent), with every destination it called.
Destinations are workloads (a Service counts as the workload of its name), nodes, external
destinations by DNS name (else IP) and unknown in-cluster IPs. Clients outside the cluster
(nodes, external hosts) are not callers. Entries that describe no flow are left out, as the map
leaves them out (:mod:`dashboard.core.store.flows`).

Text format::

    checkout in namespace shop calls:
      - cart
      - payments-api in namespace payments
      - api.stripe.com
      - node worker-1
      - unknown 10.244.9.9
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import yaml

from contract.vocabulary import EXPORT_FORMATS, ExportFormat
from dashboard.core.store.flows import Flow, NotAFlowError, Side, read_flow

CALLEE_ORDER = {"workload": 0, "external": 1, "node": 2, "unknown": 3}


@dataclass(frozen=True, slots=True)
class Callee:
    """A destination: ``kind`` is workload, node, external or unknown (namespace "" outside)."""

    name: str
    namespace: str
    kind: str


@dataclass(frozen=True, slots=True)
class Caller:
    """An in-cluster workload and the destinations it called: workloads, external, nodes, IPs."""

    name: str
    namespace: str
    calls: tuple[Callee, ...]


class CallMap:
    """The callers of the flows added so far (fed a slice at a time by the hub's scans)."""

    def __init__(self) -> None:
        self._calls: dict[tuple[str, str], set[Callee]] = {}

    def add(self, flows: Iterable[Flow]) -> None:
        """Count the calls of ``flows`` (flows from clients that are no pod are left out)."""
        calls = self._calls
        for flow in flows:
            client = flow.client
            if client.kind != "pod":
                continue
            callees = calls.setdefault((client.namespace, client.workload), set())
            callees.add(_callee(flow.server))

    def callers(self) -> list[Caller]:
        """The callers, sorted by namespace and name."""
        return [
            Caller(name, namespace, tuple(sorted(callees, key=_callee_order)))
            for (namespace, name), callees in sorted(self._calls.items())
        ]


def who_calls_whom(entries: Iterable[Mapping[str, Any]]) -> list[Caller]:
    """The callers in ``entries``, sorted by namespace and name."""
    flows = []
    for entry in entries:
        try:
            flows.append(read_flow(entry))
        except NotAFlowError:
            continue
    calls = CallMap()
    calls.add(flows)
    return calls.callers()


def render(callers: list[Caller], fmt: ExportFormat) -> str:
    """``callers`` as text, JSON or YAML; raise ValueError for another format."""
    if fmt == "text":
        return "".join(_text(caller) for caller in callers)
    data = {"callers": [asdict(caller) for caller in callers]}
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    raise ValueError(f"unknown export format {fmt!r} (known: {', '.join(EXPORT_FORMATS)})")


def _callee(server: Side) -> Callee:
    if server.kind in ("pod", "service"):
        return Callee(server.workload, server.namespace, "workload")
    return Callee(server.workload, "", server.kind)


def _callee_order(callee: Callee) -> tuple[int, str, str]:
    return CALLEE_ORDER.get(callee.kind, len(CALLEE_ORDER)), callee.namespace, callee.name


def _text(caller: Caller) -> str:
    lines = [f"{caller.name} in namespace {caller.namespace} calls:\n"]
    for callee in caller.calls:
        if callee.kind == "workload" and callee.namespace != caller.namespace:
            lines.append(f"  - {callee.name} in namespace {callee.namespace}\n")
        elif callee.kind in ("node", "unknown"):
            lines.append(f"  - {callee.kind} {callee.name}\n")
        else:
            lines.append(f"  - {callee.name}\n")
    return "".join(lines)
