"""The sender waits while the websocket's transport holds more than it could write."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from tests.dashboard.djangoenv import installed  # isort: skip  (sets Django up)

from dashboard.consumers import LiveConsumer
from dashboard.core.config import HubConfig
from dashboard.core.hub import Hub
from dashboard.transport import TransportGate, attach
from tests.dashboard.hubentries import cluster_index, tcp_entry


class _Protocol:
    """What daphne hands the application in ``send``: a protocol a producer registers on."""

    def __init__(self) -> None:
        self.producers: list[tuple[Any, bool]] = []

    def registerProducer(self, producer: Any, streaming: bool) -> None:  # noqa: N802
        if self.producers:
            raise RuntimeError("a producer is registered already")
        self.producers.append((producer, streaming))


async def _handle_reply(protocol: _Protocol, message: dict[str, Any]) -> None:
    """Stands in for daphne's ``Server.handle_reply``."""


def test_attach_registers_a_streaming_producer_on_daphnes_protocol() -> None:
    protocol = _Protocol()
    gate = attach(functools.partial(_handle_reply, protocol))
    assert gate is not None
    assert protocol.producers == [(gate, True)]
    assert attach(functools.partial(_handle_reply, protocol)) is None  # one producer only
    assert attach(_handle_reply) is None  # not daphne: no gate


async def test_the_sender_sends_nothing_while_the_transport_is_full() -> None:
    hub = Hub(HubConfig(store_size=1000), cluster_index())
    with installed(hub):
        sent: list[str] = []
        consumer = LiveConsumer()
        consumer.hub = hub

        async def send(text_data: str | None = None, **_: Any) -> None:
            sent.append(text_data or "")

        consumer.send = send  # type: ignore[method-assign,assignment]
        consumer.gate = TransportGate()
        session = hub.sessions.open()
        sender = asyncio.create_task(consumer._send_loop(session))
        await asyncio.sleep(0.05)
        before = len(sent)  # map and stats
        consumer.gate.pauseProducing()  # the transport's buffer is over its limit
        for number in range(1, 200):
            hub.accept([tcp_entry(number)])
            session.ack(session.sent_seq)
        await asyncio.sleep(0.1)
        assert len(sent) == before  # nothing more was handed to the transport
        consumer.gate.resumeProducing()  # it drained
        await asyncio.sleep(0.1)
        assert any('"type":"entries"' in text for text in sent[before:])
        sender.cancel()
        hub.sessions.close(session)
