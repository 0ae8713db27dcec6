"""The Kubernetes watcher: the only module that talks to the API server.

For each indexed kind, one background thread lists (paginated) into the
:class:`~dashboard.core.naming.index.ClusterIndex` with ``replace``, then watches from the list's
resourceVersion (bookmarks allowed) and applies every event, on the raw JSON (``kubernetes``
client calls with ``_preload_content=False``; no model objects). "410 Gone", as an ERROR event
or an HTTP status, means a fresh list. Disconnects, timeouts and 5xx answers mean a reconnect
after a capped, jittered exponential backoff. Nothing raises into the caller: the index keeps
its last state (names degrade, IPs still show) and :attr:`ClusterWatcher.stats` counts what
happened, per kind.

Exception hierarchy (classes in :mod:`dashboard.errors`)::

    DashboardError
     └── WatcherError    no usable Kubernetes configuration (raised by the constructor only)
"""

from __future__ import annotations

import copy
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client, config

from contract.stats import counters
from dashboard.core.naming.index import ClusterIndex
from dashboard.core.naming.resources import (
    ENDPOINT_SLICE,
    JOB,
    NAMESPACE,
    NODE,
    POD,
    REPLICA_SET,
    SERVICE,
)
from dashboard.errors import WatcherError

log = logging.getLogger(__name__)

LIST_PAGE = 500
HTTP_GONE = 410

ListCall = Callable[..., Any]
_LIST_CALLS: dict[str, Callable[[client.ApiClient], ListCall]] = {
    POD: lambda api: client.CoreV1Api(api).list_pod_for_all_namespaces,
    SERVICE: lambda api: client.CoreV1Api(api).list_service_for_all_namespaces,
    NODE: lambda api: client.CoreV1Api(api).list_node,
    NAMESPACE: lambda api: client.CoreV1Api(api).list_namespace,
    ENDPOINT_SLICE: lambda api: client.DiscoveryV1Api(api).list_endpoint_slice_for_all_namespaces,
    REPLICA_SET: lambda api: client.AppsV1Api(api).list_replica_set_for_all_namespaces,
    JOB: lambda api: client.BatchV1Api(api).list_job_for_all_namespaces,
}
WATCHED_KINDS = tuple(_LIST_CALLS)


class _GoneError(Exception):
    """The resourceVersion is too old (410): list again."""


class _StreamError(Exception):
    """The watch stream ended badly (an ERROR event other than 410)."""


@dataclass
class KindStats:
    """What the watcher did for one kind (a snapshot is returned by ``stats``)."""

    lists: int = 0
    relists: int = 0
    reconnects: int = 0
    errors: int = 0
    events: int = 0
    bookmarks: int = 0
    bad_lines: int = 0
    connected: bool = False
    last_sync_ms: int = 0
    resource_version: str = ""
    last_error: str = ""


def load_configuration() -> client.Configuration:
    """In-cluster service-account config, else the local kubeconfig; WatcherError if neither."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        try:
            config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except (config.ConfigException, OSError, ValueError) as exc:
            detail = f"no Kubernetes configuration (in-cluster or kubeconfig): {exc}"
            raise WatcherError(detail) from exc
    return configuration


class ClusterWatcher:
    """Keeps a ClusterIndex in step with the API server from background threads."""

    def __init__(
        self,
        index: ClusterIndex,
        configuration: client.Configuration | None = None,
        *,
        kinds: Iterable[str] = WATCHED_KINDS,
        watch_timeout_s: int = 300,
        connect_timeout_s: float = 5.0,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
    ) -> None:
        self._index = index
        self._configuration = copy.deepcopy(configuration or load_configuration())
        self._configuration.retries = 0  # the watcher's own backoff decides when to retry
        self._kinds = tuple(kinds)
        unknown = [kind for kind in self._kinds if kind not in _LIST_CALLS]
        if unknown:
            raise WatcherError(f"cannot watch {unknown}; known kinds: {list(_LIST_CALLS)}")
        self._watch_timeout_s = watch_timeout_s
        self._timeouts = (connect_timeout_s, watch_timeout_s + 30.0)
        self._backoff = (backoff_base_s, backoff_cap_s)
        self._stats = {kind: KindStats() for kind in self._kinds}
        self._stats_lock = threading.Lock()
        self._stopping = threading.Event()
        self._streams: dict[str, urllib3.BaseHTTPResponse] = {}
        self._threads: list[threading.Thread] = []

    @property
    def stats(self) -> dict[str, dict[str, Any]]:
        """Per kind: lists, relists, reconnects, errors, events, connected, last sync time..."""
        with self._stats_lock:
            return {kind: counters(stats) for kind, stats in self._stats.items()}

    @property
    def synced(self) -> bool:
        """True once every kind has been listed at least once."""
        with self._stats_lock:
            return all(stats.lists > 0 for stats in self._stats.values())

    def start(self) -> None:
        """Start one daemon thread per kind (list, then watch, forever)."""
        if self._threads:
            raise RuntimeError("the watcher is already started")
        self._stopping.clear()
        for kind in self._kinds:
            thread = threading.Thread(target=self._run, args=(kind,), name=f"watch-{kind}")
            thread.daemon = True
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop every thread: cut open watch streams and wait for the threads to end."""
        self._stopping.set()
        with self._stats_lock:
            streams = list(self._streams.values())
        for stream in streams:
            _cut(stream)
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads = []

    def wait_synced(self, timeout_s: float) -> bool:
        """Wait until every kind is listed (or the timeout passes); return ``synced``."""
        deadline = time.monotonic() + timeout_s
        while not self.synced and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.synced

    # --- one thread per kind ------------------------------------------------------------------

    def _run(self, kind: str) -> None:
        api = client.ApiClient(self._configuration)
        list_call = _LIST_CALLS[kind](api)
        resource_version = ""
        delay = self._backoff[0]
        try:
            while not self._stopping.is_set():
                try:
                    if not resource_version:
                        resource_version = self._list(kind, list_call)
                    resource_version = self._watch(kind, list_call, resource_version)
                    delay = self._backoff[0]
                except _GoneError:
                    resource_version = ""
                except client.ApiException as exc:
                    if exc.status == HTTP_GONE:
                        resource_version = ""
                        continue
                    delay = self._failed(kind, f"HTTP {exc.status} {exc.reason}", delay)
                except (urllib3.exceptions.HTTPError, OSError, ValueError, _StreamError) as exc:
                    delay = self._failed(kind, f"{type(exc).__name__}: {exc}", delay)
                except Exception as exc:  # a bug must not end the watch for good
                    log.exception("unexpected error in the watch of %s", kind)
                    delay = self._failed(kind, f"unexpected {type(exc).__name__}: {exc}", delay)
        finally:
            api.close()  # type: ignore[no-untyped-call]

    def _list(self, kind: str, list_call: ListCall) -> str:
        items: list[Any] = []
        token = None
        while True:
            response = list_call(
                limit=LIST_PAGE,
                _continue=token,
                _preload_content=False,
                _request_timeout=self._timeouts,
            )
            page = json.loads(response.data)
            response.release_conn()
            metadata = page.get("metadata") if isinstance(page, dict) else None
            if not isinstance(metadata, dict) or not metadata.get("resourceVersion"):
                raise ValueError(f"{kind} list without metadata.resourceVersion")
            items.extend(page.get("items") or ())
            token = metadata.get("continue")
            if not token:
                break
        for item in items:
            if isinstance(item, dict):
                item.setdefault("kind", kind)
        self._index.replace(kind, items)
        resource_version = str(metadata["resourceVersion"])
        with self._stats_lock:
            stats = self._stats[kind]
            if stats.last_error:
                log.warning("watch of %s recovered after %d errors", kind, stats.errors)
            stats.relists += stats.lists > 0
            stats.lists += 1
            stats.connected = True
            stats.last_sync_ms = int(time.time() * 1000)
            stats.resource_version = resource_version
            stats.last_error = ""
        return resource_version

    def _watch(self, kind: str, list_call: ListCall, resource_version: str) -> str:
        response = list_call(
            watch=True,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=self._watch_timeout_s,
            _preload_content=False,
            _request_timeout=self._timeouts,
        )
        with self._stats_lock:
            self._streams[kind] = response
        if self._stopping.is_set():  # stop() ran while this watch was being opened
            _cut(response)
        try:
            for line in _lines(response):
                if self._stopping.is_set():
                    break
                resource_version = self._event(kind, line) or resource_version
        finally:
            with self._stats_lock:
                self._streams.pop(kind, None)
            response.close()
        return resource_version

    def _event(self, kind: str, line: bytes) -> str:
        """Apply one watch line; return the resourceVersion it carries ("" if none)."""
        try:
            event = json.loads(line)
            event_type, obj = event["type"], event["object"]
            resource_version = str(obj.get("metadata", {}).get("resourceVersion", ""))
        except (ValueError, KeyError, TypeError, AttributeError):
            with self._stats_lock:
                self._stats[kind].bad_lines += 1
            return ""
        if event_type == "ERROR":
            if obj.get("code") == HTTP_GONE:
                raise _GoneError
            raise _StreamError(f"watch ERROR event: {obj.get('message', obj)}")
        if event_type != "BOOKMARK":
            obj.setdefault("kind", kind)
            self._index.apply(event_type, obj)
        with self._stats_lock:
            stats = self._stats[kind]
            if event_type == "BOOKMARK":
                stats.bookmarks += 1
            else:
                stats.events += 1
            stats.resource_version = resource_version or stats.resource_version
        return resource_version

    def _failed(self, kind: str, error: str, delay: float) -> float:
        """Count a failure, sleep the jittered backoff, return the next (doubled, capped) one."""
        if self._stopping.is_set():  # the stream was cut by stop(): not a failure
            return delay
        with self._stats_lock:
            stats = self._stats[kind]
            if not stats.last_error:
                log.warning("watch of %s failed, naming may degrade: %s", kind, error)
            stats.errors += 1
            stats.reconnects += 1
            stats.connected = False
            stats.last_error = error
        self._stopping.wait(delay * random.uniform(0.5, 1.0))
        return min(delay * 2, self._backoff[1])


def _lines(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """Newline-delimited records of a streamed response, as they arrive."""
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=False):
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        yield from (line for line in complete if line.strip())
    if buffer.strip():
        yield buffer


def _cut(response: urllib3.BaseHTTPResponse) -> None:
    """Interrupt a blocked read of a watch stream from another thread."""
    try:
        response.shutdown()
    except (OSError, ValueError, RuntimeError, AttributeError):
        response.close()
