"""Pod targeting (Kubeshark's ``tap`` scope) -> the capture scope of each node's worker.

A :class:`TargetingSpec` selects pods by a name regex (RE2, searched anywhere in the name),
namespaces, and excluded namespaces. :func:`node_scopes` turns it into one BPF expression per
node for the worker to AND with its mode filter (``capture.sources.bpf.build_filter``):

- ``""`` when every pod on the node is targeted (or the spec targets everything): no scope;
- ``host A or host B ...`` for the targeted pods' IPs (IPv4 and IPv6);
- ``(host NODEIP and port P)`` for a targeted hostNetwork pod's declared ports (it shares the
  node's IP; with no declared port, ``host NODEIP``);
- :data:`MATCH_NOTHING` when nothing on the node is targeted.

Pure functions over a :class:`~dashboard.core.naming.index.ClusterIndex`; the hub recomputes them as
pods come and go and publishes them. Pods that finished (Succeeded/Failed) or have no IP yet are
ignored. :func:`coverage` counts the capturable pods a spec selects and leaves out, for the
dashboard's "what you are not seeing"; :func:`spec_from_settings` builds the initial spec from
the ``PODSCOPE_TAP_*`` settings.

Exception hierarchy (classes in :mod:`dashboard.errors`)::

    DashboardError, ValueError
     └── TargetingError    a bad regex, namespace list or targeting document
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import re2

from dashboard.core.naming.index import ClusterIndex
from dashboard.core.naming.resources import PodInfo
from dashboard.errors import TargetingError

MATCH_NOTHING = "less 1"  # no IP packet is one byte long: a valid filter that passes nothing
MAX_REGEX_CHARS = 1024
_SPEC_KEYS = frozenset({"podRegex", "namespaces", "excludedNamespaces"})


def _regex_options() -> Any:
    options = re2.Options()
    options.log_errors = False  # the error reaches the user through TargetingError
    return options


@dataclass(frozen=True, slots=True)
class TargetingSpec:
    """Which pods to capture: name regex (empty: all), namespaces (empty: all), exclusions."""

    pod_regex: str = ""
    namespaces: tuple[str, ...] = ()
    excluded_namespaces: tuple[str, ...] = ()
    _pattern: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.pod_regex, str) or len(self.pod_regex) > MAX_REGEX_CHARS:
            raise TargetingError(f"pod regex must be a string of at most {MAX_REGEX_CHARS} chars")
        for name, value in (
            ("namespaces", self.namespaces),
            ("excluded namespaces", self.excluded_namespaces),
        ):
            if not isinstance(value, tuple) or not all(isinstance(v, str) and v for v in value):
                raise TargetingError(f"{name} must be a tuple of non-empty names, got {value!r}")
        try:
            pattern = re2.compile(self.pod_regex, _regex_options())
        except re2.error as exc:
            detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
            raise TargetingError(f"bad pod regex {self.pod_regex!r}: {detail}") from None
        object.__setattr__(self, "_pattern", pattern)

    @classmethod
    def from_dict(cls, data: object) -> TargetingSpec:
        """Build from the API's JSON form ``{"podRegex", "namespaces", "excludedNamespaces"}``."""
        if not isinstance(data, Mapping):
            raise TargetingError("targeting must be a JSON object")
        unknown = sorted(set(data) - _SPEC_KEYS)
        if unknown:
            raise TargetingError(f"unknown targeting fields {unknown}; known: {sorted(_SPEC_KEYS)}")
        return cls(
            pod_regex=data.get("podRegex", ""),
            namespaces=_names(data.get("namespaces", []), "namespaces"),
            excluded_namespaces=_names(data.get("excludedNamespaces", []), "excludedNamespaces"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The API's JSON form."""
        return {
            "podRegex": self.pod_regex,
            "namespaces": list(self.namespaces),
            "excludedNamespaces": list(self.excluded_namespaces),
        }

    @property
    def targets_everything(self) -> bool:
        """True when no regex, namespace or exclusion narrows the selection."""
        return not (self.pod_regex or self.namespaces or self.excluded_namespaces)

    def targets(self, pod: PodInfo) -> bool:
        """Whether this spec selects ``pod``."""
        if self.namespaces and pod.namespace not in self.namespaces:
            return False
        if pod.namespace in self.excluded_namespaces:
            return False
        return self._pattern.search(pod.name) is not None


@dataclass(frozen=True, slots=True)
class TargetingCoverage:
    """How many capturable pods a spec selects and leaves out, and the namespaces of each."""

    targeted: int = 0
    not_targeted: int = 0
    namespaces: tuple[str, ...] = ()
    not_targeted_namespaces: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form the API and the live stats carry."""
        return {
            "targeted": self.targeted,
            "notTargeted": self.not_targeted,
            "namespaces": list(self.namespaces),
            "notTargetedNamespaces": list(self.not_targeted_namespaces),
        }


def capturable(pod: PodInfo) -> bool:
    """Whether a worker can see the pod's traffic: placed on a node, with an IP, not finished."""
    return bool(pod.node and pod.ips) and not pod.finished


def coverage(pods: Iterable[PodInfo], spec: TargetingSpec) -> TargetingCoverage:
    """Count the capturable ``pods`` that ``spec`` selects and those it leaves out."""
    targeted: Counter[str] = Counter()
    left_out: Counter[str] = Counter()
    for pod in pods:
        if capturable(pod):
            (targeted if spec.targets(pod) else left_out)[pod.namespace] += 1
    return TargetingCoverage(
        targeted=targeted.total(),
        not_targeted=left_out.total(),
        namespaces=tuple(sorted(targeted)),
        not_targeted_namespaces=tuple(sorted(left_out)),
    )


def spec_from_settings(podscope: Mapping[str, Any]) -> TargetingSpec:
    """The initial spec from ``settings.PODSCOPE``'s ``TAP_*`` entries (none set: every pod)."""
    regex = podscope.get("TAP_REGEX", "")
    if not isinstance(regex, str):
        raise TargetingError(f"PODSCOPE_TAP_REGEX must be a string, got {regex!r}")
    namespaces = _setting_names(podscope, "TAP_NAMESPACES")
    excluded = _setting_names(podscope, "TAP_EXCLUDED_NAMESPACES")
    try:
        return TargetingSpec(regex, namespaces, excluded)
    except TargetingError as exc:
        raise TargetingError(f"PODSCOPE_TAP_REGEX: {exc}") from None


def targeted_pods(index: ClusterIndex, spec: TargetingSpec) -> list[PodInfo]:
    """The running (or pending) pods that ``spec`` selects, by namespace and name."""
    return [pod for pod in index.pods() if not pod.finished and spec.targets(pod)]


def node_scopes(index: ClusterIndex, spec: TargetingSpec) -> dict[str, str]:
    """For every node, the BPF scope expression of its targeted pods (see module docstring)."""
    by_node: dict[str, list[PodInfo]] = {node.name: [] for node in index.nodes()}
    for pod in index.pods():
        if capturable(pod):
            by_node.setdefault(pod.node, []).append(pod)
    return {node: _scope(pods, spec) for node, pods in sorted(by_node.items())}


def _scope(pods: list[PodInfo], spec: TargetingSpec) -> str:
    targeted = [pod for pod in pods if spec.targets(pod)]
    if spec.targets_everything or (pods and len(targeted) == len(pods)):
        return ""
    terms = sorted({term for pod in targeted for term in _terms(pod)})
    return " or ".join(terms) if terms else MATCH_NOTHING


def _terms(pod: PodInfo) -> Iterable[str]:
    if not pod.host_network:
        return (f"host {ip}" for ip in pod.ips)
    ports = sorted({*pod.container_ports, *pod.host_ports})
    if not ports:
        return (f"host {ip}" for ip in pod.ips)
    return (f"(host {ip} and port {port})" for ip in pod.ips for port in ports)


def _setting_names(podscope: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = podscope.get(key, ())
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise TargetingError(f"PODSCOPE_{key} must be a list of namespaces, got {value!r}")
    if not all(isinstance(name, str) and name for name in value):
        raise TargetingError(f"PODSCOPE_{key} must hold non-empty namespace names, got {value!r}")
    return tuple(value)


def _names(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TargetingError(f"{what} must be a list of strings")
    return tuple(value)
