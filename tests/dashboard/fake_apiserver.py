"""A local Kubernetes API server for tests: real HTTP, the real list/watch protocol, no cluster.

Serves the collections the watcher uses (``/api/v1/pods``, ``/apis/discovery.k8s.io/v1/
endpointslices``, ...) from an in-memory store with a global resourceVersion:

- ``GET <collection>``: a ``<Kind>List`` with ``metadata.resourceVersion``, items without
  kind/apiVersion as the real server sends them; ``limit``/``continue`` paginate.
- ``GET <collection>?watch=true&resourceVersion=N``: a chunked stream of newline-delimited
  events (``{"type": "ADDED", "object": {...}}``) after N, then new ones as they happen, until
  ``timeoutSeconds`` (clean end) or a test calls :meth:`FakeApiServer.disconnect`.
- A resourceVersion older than the last :meth:`FakeApiServer.compact` gets "410 Gone": an ERROR
  event with a Status object (``gone_as="event"``, what a real server does for a watch) or an
  HTTP 410 response (``gone_as="status"``). BOOKMARK events go to watches that allow them.
- :meth:`FakeApiServer.fail` makes the next requests to a path answer a 5xx Status;
  :meth:`FakeApiServer.stop` closes every connection (the API server going away) and
  :meth:`FakeApiServer.start` brings it back on the same port.
"""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Obj = dict[str, Any]

COLLECTIONS: dict[str, tuple[str, str]] = {
    "/api/v1/pods": ("Pod", "v1"),
    "/api/v1/services": ("Service", "v1"),
    "/api/v1/nodes": ("Node", "v1"),
    "/api/v1/namespaces": ("Namespace", "v1"),
    "/apis/discovery.k8s.io/v1/endpointslices": ("EndpointSlice", "discovery.k8s.io/v1"),
    "/apis/apps/v1/replicasets": ("ReplicaSet", "apps/v1"),
    "/apis/apps/v1/deployments": ("Deployment", "apps/v1"),
    "/apis/batch/v1/jobs": ("Job", "batch/v1"),
}
PATH_OF_KIND = {kind: path for path, (kind, _) in COLLECTIONS.items()}


def status(code: int, reason: str, message: str) -> Obj:
    """A ``Status`` object as the API server sends it with errors."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


@dataclass
class _Event:
    rv: int
    path: str
    type: str
    obj: Obj


@dataclass
class _State:
    rv: int = 100
    compacted: int = 0
    generation: int = 0
    stopping: bool = False
    events: list[_Event] = field(default_factory=list)
    store: dict[str, dict[tuple[str, str], Obj]] = field(
        default_factory=lambda: {path: {} for path in COLLECTIONS}
    )
    failures: dict[str, list[int]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)


class FakeApiServer:
    """The in-memory API server; a test drives it and points a kubernetes client at ``url``."""

    def __init__(self, gone_as: str = "event") -> None:
        if gone_as not in ("event", "status"):
            raise ValueError(f"gone_as must be 'event' or 'status', not {gone_as!r}")
        self.gone_as = gone_as
        self.state = _State()
        self.changed = threading.Condition()
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()

    @property
    def url(self) -> str:
        """Base URL (``http://127.0.0.1:PORT``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[str]:
        """Every request line received so far (path and query)."""
        with self.changed:
            return list(self.state.requests)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Listen (on the previous port after a stop) and serve in a daemon thread."""
        handler = type("Handler", (_Handler,), {"api": self})
        server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        with self.changed:
            self.state.stopping = False
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        """Stop listening and cut every open connection, as a dead API server would."""
        if self._server is None:
            return
        with self.changed:
            self.state.stopping = True
            self.changed.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        for conn in list(self._connections):
            _shutdown(conn)

    # --- what tests do --------------------------------------------------------------------

    def add(self, obj: Obj) -> Obj:
        """Create or replace an object (ADDED or MODIFIED event); return the stored copy."""
        path = PATH_OF_KIND[obj["kind"]]
        key = _key(obj)
        with self.changed:
            existed = key in self.state.store[path]
            return self._record(path, "MODIFIED" if existed else "ADDED", obj)

    def delete(self, obj: Obj) -> None:
        """Delete an object (DELETED event carrying its last state)."""
        path = PATH_OF_KIND[obj["kind"]]
        with self.changed:
            stored = self.state.store[path].get(_key(obj), obj)
            self._record(path, "DELETED", stored)

    def delete_silently(self, obj: Obj) -> None:
        """Delete an object while no watch sees it (events lost, e.g. during a long outage)."""
        path = PATH_OF_KIND[obj["kind"]]
        with self.changed:
            self.state.rv += 1
            self.state.store[path].pop(_key(obj), None)

    def compact(self) -> None:
        """Forget history: a watch or continue token from before now gets 410 Gone."""
        with self.changed:
            self.state.compacted = self.state.rv
            self.state.events.clear()

    def bookmark(self) -> None:
        """Send a BOOKMARK with the current resourceVersion to every watch that allows them."""
        with self.changed:
            for path, (kind, api_version) in COLLECTIONS.items():
                obj = {
                    "kind": kind,
                    "apiVersion": api_version,
                    "metadata": {"resourceVersion": str(self.state.rv)},
                }
                self.state.events.append(_Event(self.state.rv, path, "BOOKMARK", obj))
            self.changed.notify_all()

    def disconnect(self) -> None:
        """Cut every open watch stream mid-way (no final chunk), as a dropped connection does."""
        with self.changed:
            self.state.generation += 1
            self.changed.notify_all()

    def fail(self, path: str, *codes: int) -> None:
        """Answer the next requests to ``path`` with these HTTP error codes, in order."""
        with self.changed:
            self.state.failures.setdefault(path, []).extend(codes)

    def _record(self, path: str, event_type: str, obj: Obj) -> Obj:
        self.state.rv += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self.state.rv)
        if event_type == "DELETED":
            self.state.store[path].pop(_key(stored), None)
        else:
            self.state.store[path][_key(stored)] = stored
        self.state.events.append(_Event(self.state.rv, path, event_type, stored))
        self.changed.notify_all()
        return stored


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    api: FakeApiServer

    def setup(self) -> None:
        super().setup()
        self.api._connections.add(self.connection)

    def finish(self) -> None:
        self.api._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        """Serve a list, a watch, or an injected failure."""
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with self.api.changed:
            self.api.state.requests.append(self.path)
            failures = self.api.state.failures.get(url.path)
            code = failures.pop(0) if failures else None
        if url.path not in COLLECTIONS:
            self._json(404, status(404, "NotFound", f"the server could not find {url.path}"))
        elif code is not None:
            self._json(code, status(code, "InternalError", "injected failure"))
        elif query.get("watch") in ("true", "1"):
            try:
                self._watch(url.path, query)
            except OSError:  # the client went away mid-stream
                self.close_connection = True
        else:
            self._list(url.path, query)

    def _list(self, path: str, query: dict[str, str]) -> None:
        kind, api_version = COLLECTIONS[path]
        with self.api.changed:
            state = self.api.state
            offset, list_rv = 0, state.rv
            if "continue" in query:
                offset_text, rv_text = query["continue"].split(":")
                offset, list_rv = int(offset_text), int(rv_text)
                if list_rv < state.compacted:
                    self._json(410, status(410, "Expired", "the continue token has expired"))
                    return
            items = [state.store[path][k] for k in sorted(state.store[path])]
        limit = int(query.get("limit", 0)) or len(items) or 1
        page = [_without_type(item) for item in items[offset : offset + limit]]
        metadata: Obj = {"resourceVersion": str(list_rv)}
        if offset + limit < len(items):
            metadata["continue"] = f"{offset + limit}:{list_rv}"
        body = {"kind": f"{kind}List", "apiVersion": api_version, "metadata": metadata}
        self._json(200, {**body, "items": page})

    def _watch(self, path: str, query: dict[str, str]) -> None:
        since = int(query.get("resourceVersion") or 0)
        bookmarks = query.get("allowWatchBookmarks") == "true"
        deadline = time.monotonic() + int(query.get("timeoutSeconds", 1800))
        with self.api.changed:
            gone = since < self.api.state.compacted
            generation = self.api.state.generation
        if gone and self.api.gone_as == "status":
            self._json(410, status(410, "Expired", f"too old resource version: {since}"))
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if gone:
            message = f"too old resource version: {since} ({self.api.state.compacted})"
            self._chunk({"type": "ERROR", "object": status(410, "Expired", message)})
            self._end()
            return
        for event in self._events(path, since, bookmarks, deadline, generation):
            if event is None:
                _shutdown(self.connection)  # disconnected: no final chunk
                return
            self._chunk({"type": event.type, "object": event.obj})
        self._end()

    def _events(
        self, path: str, since: int, bookmarks: bool, deadline: float, generation: int
    ) -> Iterator[_Event | None]:
        """Events after ``since``, waiting for more; None means "cut the connection"."""
        sent = since
        while time.monotonic() < deadline:
            with self.api.changed:
                state = self.api.state
                if state.stopping or state.generation != generation:
                    yield None
                    return
                pending = [
                    e
                    for e in state.events
                    if e.path == path and e.rv > sent and (bookmarks or e.type != "BOOKMARK")
                ]
                if not pending:
                    self.api.changed.wait(min(0.2, max(0.0, deadline - time.monotonic())))
                    continue
            for event in pending:
                sent = max(sent, event.rv)
                yield event

    def _chunk(self, payload: Obj) -> None:
        data = json.dumps(payload).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _json(self, code: int, body: Obj) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj["metadata"]
    return meta.get("namespace", ""), meta["name"]


def _without_type(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


def _shutdown(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
