"""A stand-in for the hub's ``/ws/live`` inside the page, for states a real hub shows rarely
(a connection's events arriving apart, lagging and gone workers, a global filter). Every other
request still goes to the real hub."""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import Page, WebSocketRoute


class FakeLive:
    """Answers the dashboard's websocket: hello, filter.ok (with ``matched``), then whatever the
    test sends with :meth:`send`."""

    def __init__(self, page: Page, matched: int = 0) -> None:
        self.matched = matched
        self.socket: WebSocketRoute | None = None
        self.seq = 0
        page.route_web_socket(re.compile(r"/ws/live$"), self._accept)

    def _accept(self, socket: WebSocketRoute) -> None:
        self.socket = socket
        socket.on_message(self._received)
        self.send(
            {
                "type": "hello",
                "session": 1,
                "query": "",
                "level": "namespace",
                "ackWindow": 4,
                "limits": {},
                "demo": False,
                "targeting": False,
                "defaultFilter": "",
                "recording": None,
            }
        )

    def _received(self, text: str | bytes) -> None:
        message = json.loads(text)
        if message["type"] == "filter.set":
            query = message["query"]
            self.send({"type": "filter.ok", "query": query, "limit": None, "matched": self.matched})
            self.entries([], backfill=True)

    def send(self, message: dict[str, Any]) -> None:
        """Send one server message to the page."""
        assert self.socket is not None, "the page has not opened its websocket yet"
        self.socket.send(json.dumps(message))

    def entries(self, entries: list[dict[str, Any]], *, backfill: bool = False) -> None:
        """Send an entries message."""
        self.seq += 1
        self.send(
            {
                "type": "entries",
                "seq": self.seq,
                "backfill": backfill,
                "missed": 0,
                "first": None,
                "entries": entries,
            }
        )

    def stats(self, workers: dict[str, Any], excluded: int = 0, query: str = "") -> None:
        """Send a stats message with these workers and global filter counts."""
        self.send(
            {
                "type": "stats",
                "session": {"query": "", "matched": self.matched},
                "hub": {
                    "accepted": 0,
                    "connections": 0,
                    "lagSeconds": 0,
                    "workers": workers,
                    "globalFilter": {"query": query, "excluded": excluded},
                },
            }
        )


def tcp(number: int, event: str, conn_id: str, **extra: Any) -> dict[str, Any]:
    """A named TCP wire entry of one connection, ``event`` being its TCP event."""
    entry: dict[str, Any] = {
        "id": f"w1/{number}",
        "v": 1,
        "worker": "w1",
        "node": {"name": "n1", "ip": "10.0.0.1"},
        "timestamp": 1_764_000_000_000,
        "elapsedTime": 40 if event != "connect" else 0,
        "protocol": {"name": "tcp", "abbr": "TCP"},
        "outgoing": True,
        "src": {
            "ip": "10.244.1.10",
            "port": 41000,
            "name": "frontend-1",
            "namespace": "shop",
            "pod": "frontend-1",
            "service": "",
            "workload": "frontend",
            "kind": "pod",
        },
        "dst": {
            "ip": "10.244.2.20",
            "port": 8080,
            "name": "cart-1",
            "namespace": "shop",
            "pod": "cart-1",
            "service": "",
            "workload": "cart",
            "kind": "pod",
        },
        "requestSize": 300 if event != "connect" else 0,
        "responseSize": 2000 if event != "connect" else 0,
        "tcp": {"event": event},
        "summary": f"10.244.1.10:41000 -> 10.244.2.20:8080 {event}",
        "connId": conn_id,
    }
    entry.update(extra)
    return entry
