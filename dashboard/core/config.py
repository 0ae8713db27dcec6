"""The hub's knobs, read from the ``PODSCOPE`` Django setting into a frozen :class:`HubConfig`.

Exception hierarchy (classes in :mod:`dashboard.errors`)::

    DashboardError, ValueError
     └── HubConfigError    a bad global filter or initial targeting: the message says which
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dashboard.core.ingest.vantage import DEFAULT_HOLD_SECONDS
from dashboard.core.sessions.registry import SessionLimits
from dashboard.core.store.scans import ScanLimits
from dashboard.core.targeting.spec import TargetingSpec, spec_from_settings
from dashboard.errors import HubConfigError, TargetingError
from kfl import Filter, KflError, compile_filter

DEFAULT_STORE_SIZE = 100_000
"""Entries the hub keeps (``PODSCOPE_STORE_SIZE``)."""


@dataclass(frozen=True, slots=True)
class HubConfig:
    """The hub's knobs (from the ``PODSCOPE`` setting)."""

    store_size: int = DEFAULT_STORE_SIZE
    prefix: str = "podscope"
    demo: bool = False
    auth: bool = False
    limits: SessionLimits = field(default_factory=SessionLimits)
    scans: ScanLimits = field(default_factory=ScanLimits)
    global_filter: str = ""  # KFL every entry must match to be kept (Kubeshark's globalFilter)
    targeting: TargetingSpec | None = None  # the pods targeted until a user sets others
    vantage_hold_seconds: float = DEFAULT_HOLD_SECONDS
    """How long a server node's report of a cross-node connection waits for the client's node
    (:mod:`dashboard.core.ingest.vantage`)."""

    @classmethod
    def from_settings(cls, podscope: Mapping[str, Any]) -> HubConfig:
        """Build from ``settings.PODSCOPE``; HubConfigError names a bad filter or targeting."""
        try:
            spec = spec_from_settings(podscope)
        except TargetingError as exc:
            raise HubConfigError(str(exc)) from None
        config = cls(
            store_size=int(podscope["STORE_SIZE"]),
            prefix=str(podscope["PREFIX"]),
            demo=bool(podscope["DEMO"]),
            auth=bool(podscope["AUTH"]),
            limits=SessionLimits(
                max_sessions=int(podscope["MAX_SESSIONS"]),
                max_query_chars=int(podscope["MAX_QUERY_CHARS"]),
                filters_per_minute=int(podscope["FILTERS_PER_MINUTE"]),
            ),
            global_filter=str(podscope.get("GLOBAL_FILTER", "")),
            targeting=spec,
        )
        config.compiled_global_filter()  # a bad global filter stops the hub at start
        return config

    def compiled_global_filter(self) -> Filter | None:
        """The global filter compiled (None without one); HubConfigError if it is invalid."""
        if not self.global_filter.strip():
            return None
        try:
            return compile_filter(self.global_filter)
        except KflError as exc:
            raise HubConfigError(f"PODSCOPE_GLOBAL_FILTER: {exc}") from None


DEFAULT_CONFIG = HubConfig()
"""The knobs of a hub built without settings (tests, benchmarks, the embedded default)."""
