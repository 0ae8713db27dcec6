"""The process's one hub: built from the Django settings on first use, or installed by a command.

:func:`install` makes a hub the process's hub; :func:`current` returns it, building one from the
Django settings the first time (a Redis reader when ``REDIS_URL`` is set, else an empty hub that
``podscope serve`` feeds from its embedded worker).
"""

from __future__ import annotations

import logging

from dashboard.core.config import HubConfig
from dashboard.core.hub import Hub
from dashboard.core.ingest.sources import EntryDecoder, RedisEntrySource
from dashboard.core.naming.index import ClusterIndex
from dashboard.core.naming.watch import ClusterWatcher
from dashboard.core.targeting.scopes import RedisScopes
from dashboard.errors import WatcherError

log = logging.getLogger(__name__)

_current: Hub | None = None


def install(hub: Hub | None) -> None:
    """Make ``hub`` the process's hub (None forgets it)."""
    global _current  # noqa: PLW0603 - the one process-wide hub, as Django has one settings
    _current = hub


def current() -> Hub:
    """The process's hub, built from the Django settings on first use."""
    if _current is None:
        install(from_settings())
    assert _current is not None
    return _current


def from_settings(index: ClusterIndex | None = None) -> Hub:
    """A hub configured by ``settings.PODSCOPE``; it reads Redis when ``REDIS_URL`` is set.

    Without ``index``, names come from the Kubernetes API when a configuration is found.
    """
    from django.conf import settings  # noqa: PLC0415 - settings are configured by then

    config = HubConfig.from_settings(settings.PODSCOPE)
    if index is None:
        index = watched_index()
    url = settings.REDIS_URL
    if not url:
        log.info("no REDIS_URL: the hub waits for entries from an embedded worker")
        return Hub(config, index)
    decoder = EntryDecoder()
    source = RedisEntrySource(url, prefix=config.prefix, decoder=decoder)
    # In demo mode too: the browser may not change the targeting, but the chart's applies.
    scopes = RedisScopes(url, config.prefix)
    return Hub(config, index, source=source, scopes=scopes, decoder=decoder)


def watched_index() -> ClusterIndex:
    """An index kept up to date by a ClusterWatcher, or an empty one without a kube config."""
    index = ClusterIndex()
    try:
        ClusterWatcher(index).start()
    except WatcherError as exc:
        log.info("no Kubernetes names (IPs and DNS names only): %s", exc)
    return index
