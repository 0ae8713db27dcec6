"""Pod targeting at run time: the hub turns the spec into node scopes and hands them to workers.

:class:`Targeting` keeps the current :class:`~dashboard.core.targeting.spec.TargetingSpec` (at first
the ``initial`` one, until a saved spec is found), recomputes the per-node scopes
(:func:`~dashboard.core.targeting.spec.node_scopes`) and the pods targeted and left out
(:func:`~dashboard.core.targeting.spec.coverage`) when the spec changes and on every ``refresh``
(pods come and go), and passes the scopes that changed to a :class:`ScopeSink`:

- :class:`RedisScopes` writes ``{prefix}:scope:{node}`` and announces the change on the
  ``{prefix}:scope`` channel (the layout of :mod:`capture.sinks.publish`), and keeps the spec itself
  in ``{prefix}:targeting`` so that every hub replica and a restarted hub follow the same one;
  with it the ``initial`` spec (the deployment's, e.g. helm values) in force when it was chosen:
  a saved spec holds only while the deployment's spec is still that one, so changing the helm
  values wins over a browser edit made before the change;
- :class:`LocalScopes` hands the scope of its node to the embedded worker directly.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import redis

from contract.bus import ALL_NODES, RedisKeys, connect
from dashboard.core.naming.index import ClusterIndex
from dashboard.core.targeting.spec import TargetingCoverage, TargetingSpec, coverage, node_scopes
from dashboard.errors import TargetingError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SavedSpec:
    """A spec a user chose, and the deployment's initial spec in force when they did (None:
    not known, saved by an older hub)."""

    spec: TargetingSpec
    base: TargetingSpec | None


class ScopeSink(Protocol):
    """Where node scopes go."""

    def apply(self, scopes: Mapping[str, str]) -> None:
        """Deliver the scopes that changed (node -> BPF scope expression)."""

    def load_spec(self) -> SavedSpec | None:
        """The spec saved by a previous hub, if any."""

    def save_spec(self, saved: SavedSpec) -> None:
        """Keep the spec for other replicas and the next start."""


class RedisScopes:
    """Node scopes and the spec in Redis, per :mod:`contract.bus`'s layout."""

    def __init__(self, url: str, prefix: str = "podscope") -> None:
        self._client = connect(url)
        self._keys = RedisKeys(prefix)

    @property
    def spec_key(self) -> str:
        """Where the targeting spec is kept."""
        return self._keys.targeting

    def apply(self, scopes: Mapping[str, str]) -> None:
        """Write each node's scope key, then tell every worker to re-read its key."""
        if not scopes:
            return
        pipe = self._client.pipeline(transaction=False)
        for node, scope in scopes.items():
            pipe.set(self._keys.scope(node), scope)
        pipe.publish(self._keys.scope_channel, ALL_NODES)
        pipe.execute()

    def load_spec(self) -> SavedSpec | None:
        """The saved spec; None when there is none or it is unreadable (logged)."""
        raw = self._client.get(self.spec_key)
        if raw is None:
            return None
        try:
            body = json.loads(raw)
            if "spec" not in body:  # saved by a hub that kept no base
                return SavedSpec(TargetingSpec.from_dict(body), None)
            base = body.get("base")
            return SavedSpec(
                TargetingSpec.from_dict(body["spec"]),
                None if base is None else TargetingSpec.from_dict(base),
            )
        except (ValueError, TypeError, AttributeError, TargetingError) as exc:
            log.error("ignoring the saved targeting in %s: %s", self.spec_key, exc)
            return None

    def save_spec(self, saved: SavedSpec) -> None:
        """Save the spec and its base as JSON."""
        base = None if saved.base is None else saved.base.to_dict()
        self._client.set(self.spec_key, json.dumps({"spec": saved.spec.to_dict(), "base": base}))

    def close(self) -> None:
        """Close the Redis connection."""
        self._client.close()


class LocalScopes:
    """The embedded workers' scopes: each worker's ``request_scope`` with the scope of its node."""

    def __init__(self, node: str, request_scope: Callable[[str], None]) -> None:
        self._requests = {node: request_scope}

    def add(self, node: str, request_scope: Callable[[str], None]) -> None:
        """Also pass ``node``'s scope to ``request_scope`` (a second embedded worker)."""
        self._requests[node] = request_scope

    def apply(self, scopes: Mapping[str, str]) -> None:
        """Pass each node's scope, if it changed, to its worker."""
        for node, request_scope in self._requests.items():
            if node in scopes:
                request_scope(scopes[node])

    def load_spec(self) -> SavedSpec | None:
        """Nothing survives the process in embedded mode."""
        return None

    def save_spec(self, saved: SavedSpec) -> None:
        """Nothing to keep: the spec lives in the hub's memory."""


class Targeting:
    """The current spec, the scopes last delivered and the pods covered; thread-safe.

    ``initial`` is the spec in force until one is set or the sink has a saved one, which wins
    (it is what a user chose, possibly on another replica) while it was chosen over this same
    ``initial``: a deployment whose initial spec changed since (new helm values) starts from its
    own again.
    """

    def __init__(
        self, index: ClusterIndex, sink: ScopeSink, initial: TargetingSpec | None = None
    ) -> None:
        self._index = index
        self._sink = sink
        self._lock = threading.Lock()
        self._initial = initial or TargetingSpec()
        self._spec = self._initial
        self._delivered: dict[str, str] = {}
        self._coverage: TargetingCoverage | None = None
        self.errors = 0

    @property
    def spec(self) -> TargetingSpec:
        """The spec in force."""
        with self._lock:
            return self._spec

    def scopes(self) -> dict[str, str]:
        """The scopes last delivered, per node."""
        with self._lock:
            return dict(self._delivered)

    def summary(self) -> dict[str, Any]:
        """The spec and the pods it selects and leaves out (as of the last refresh), as JSON."""
        with self._lock:
            spec, covered = self._spec, self._current_coverage()
        return {"spec": spec.to_dict(), "coverage": covered.to_dict()}

    def _current_coverage(self) -> TargetingCoverage:
        if self._coverage is None:  # the caller holds the lock
            self._coverage = coverage(self._index.pods(), self._spec)
        return self._coverage

    def set(self, spec: TargetingSpec) -> dict[str, str]:
        """Apply a new spec now and save it; return the scopes per node."""
        with self._lock:
            self._spec = spec
            self._coverage = None
        self._sink.save_spec(SavedSpec(spec, self._initial))
        return self.refresh()

    def refresh(self) -> dict[str, str]:
        """Recompute the scopes (pods moved, another replica changed the spec); deliver changes."""
        saved = self._sink.load_spec()
        with self._lock:
            if saved is not None and saved.base == self._initial:
                self._spec = saved.spec
            elif saved is not None:  # chosen before the deployment's own spec changed
                self._spec = self._initial
            scopes = node_scopes(self._index, self._spec)
            self._coverage = coverage(self._index.pods(), self._spec)
            changed = {n: s for n, s in scopes.items() if self._delivered.get(n) != s}
        try:
            self._sink.apply(changed)
        except redis.RedisError as exc:
            self.errors += 1
            log.warning("cannot deliver capture scopes, retrying on the next refresh: %s", exc)
            return scopes
        with self._lock:
            self._delivered.update(changed)
        return scopes
