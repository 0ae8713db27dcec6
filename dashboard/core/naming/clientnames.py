"""DNS names by asking pod: ``dst.name`` for a pod that resolves over one address family and
connects over the other.

A worker names a destination by the DNS answers its client received at the same address (its
index is keyed by the client's exact IP), so a dual-stack pod that asks over IPv4 and connects
over IPv6 (or the reverse) gets no name there. The hub knows every address of a pod: it
remembers each answer by the pod that asked (by address outside the cluster's pods) and names
the later connections of that pod to an answered address, whatever address the pod used.

Names live ``ttl_ms`` after the answer (entry time), at most ``max_names`` of them (the oldest
go first). Not thread-safe: the naming index calls it under its lock.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Iterable

DEFAULT_TTL_MS = 60 * 60 * 1000
DEFAULT_MAX_NAMES = 200_000

ClientKey = tuple[str, str]
"""Who asked: ``("pod", "namespace/name")`` or ``("ip", address)``."""


def client_key(kind: str, namespace: str, pod: str, ip: str) -> ClientKey:
    """The key of an asking (or connecting) endpoint: its pod when it is one, else its IP."""
    if kind == "pod" and pod:
        return "pod", f"{namespace}/{pod}"
    return "ip", _canonical(ip) or ip


class ClientNames:
    """For each asking pod (or address), the name each answered address was resolved from."""

    def __init__(self, *, ttl_ms: int = DEFAULT_TTL_MS, max_names: int = DEFAULT_MAX_NAMES) -> None:
        self._ttl_ms = ttl_ms
        self._max_names = max_names
        self._names: OrderedDict[tuple[ClientKey, str], tuple[str, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._names)

    def learn(self, client: ClientKey, query: str, answers: Iterable[object], at_ms: int) -> None:
        """Remember that ``client`` resolved ``query`` to the addresses among ``answers``."""
        names = self._names
        for answer in answers:
            address = _canonical(answer) if isinstance(answer, str) else None
            if address is None:
                continue  # a CNAME target
            key = (client, address)
            names.pop(key, None)
            if len(names) >= self._max_names:
                names.popitem(last=False)
            names[key] = (query, at_ms + self._ttl_ms)

    def lookup(self, client: ClientKey, ip: str, at_ms: int) -> str:
        """The name ``client`` resolved ``ip`` from, or ``""`` (never, or expired)."""
        address = _canonical(ip)
        if address is None:
            return ""
        found = self._names.get((client, address))
        if found is None:
            return ""
        name, expiry = found
        if expiry < at_ms:
            del self._names[(client, address)]
            return ""
        return name


def _canonical(text: str) -> str | None:
    """The compressed form of an IP address (``fd00:0::1`` -> ``fd00::1``); None if not one."""
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return None
