"""The NATS event bus, for several jingwu nodes sharing one PostgreSQL database.

The node that relays the outbox publishes committed events to NATS, a relay batch in one message
on ``<subject>.events`` (one event's JSON a line, in commit order). ``subject`` is the
deployment's (``jingwu`` by default), so that deployments sharing a NATS server do not hear each
other. Every node subscribes and hands each event to its own listeners (the WebSocket fan-out),
so a dashboard connected to node B sees a change committed through node A. A message per batch
rather than per event, since every node handles every message: the relay's batch is one publish,
one hop to this adapter's thread and one message for each node to take in, however many events
it carries (docs/benchmarks.md). Only one node relays at a time (see
``OutboxRelay(leader_lock=True)``), which keeps commit order; a node that commits while another
relays tells it so on ``<subject>.outbox.waiting`` (``tell_relay``).

nats-py is asyncio; this adapter runs its own event loop on a daemon thread so the rest of jingwu,
which publishes from the relay thread, stays synchronous.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import nats
from nats.aio.client import Client

from jingwu.bus.loops import new_event_loop
from jingwu.bus.memory import Filter, InProcessBus, Listener, Message

log = logging.getLogger(__name__)
SUBJECT = "jingwu"
"""The default subject prefix of a deployment's messages (``Settings.bus_subject``)."""


def encode_batch(messages: Sequence[Message], limit: int = 1 << 20) -> list[bytes]:
    """Events as NATS messages of at most ``limit`` bytes (the server's max_payload): each event's
    JSON on a line of its own (JSON text has no raw newline), in order."""
    out: list[bytes] = []
    lines: list[bytes] = []
    size = 0
    for m in messages:
        line = json.dumps(m, default=str, ensure_ascii=False).encode()
        if lines and size + 1 + len(line) > limit:
            out.append(b"\n".join(lines))
            lines, size = [], 0
        lines.append(line)
        size += len(line) + (1 if size else 0)
    if lines:
        out.append(b"\n".join(lines))
    return out


def decode_batch(data: bytes) -> list[Message]:
    return [json.loads(line) for line in data.split(b"\n") if line]


class NatsBus:
    """Publishes to NATS; delivers what NATS sends to local listeners (filters as InProcessBus)."""

    def __init__(self, url: str, *, subject: str = SUBJECT, connect_timeout_s: float = 5.0) -> None:
        self.url = url
        self.events_subject = f"{subject}.events"
        self.waiting_subject = f"{subject}.outbox.waiting"
        """Events wait in the outbox: said by a node that does not relay, heard by the one that does."""
        self.local = InProcessBus()
        self._told: Callable[[], None] | None = None
        self._loop = new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nats-bus", daemon=True)
        self._thread.start()
        self._nc: Client = self._call(self._connect(), connect_timeout_s + 1)

    def _call(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _connect(self) -> Client:
        nc = await nats.connect(self.url, connect_timeout=5, max_reconnect_attempts=-1, name="jingwu")

        async def on_message(msg: Any) -> None:
            try:
                messages = decode_batch(msg.data)
            except ValueError:
                log.warning("dropped a malformed event batch on %s", msg.subject)
                return
            for message in messages:
                self.local.publish(message)

        async def on_waiting(_msg: Any) -> None:
            if self._told is not None:
                self._told()

        await nc.subscribe(self.events_subject, cb=on_message)
        await nc.subscribe(self.waiting_subject, cb=on_waiting)
        await nc.flush()
        return nc

    def subscribe(self, listener: Listener, where: Filter | None = None) -> Callable[[], None]:
        return self.local.subscribe(listener, where)

    def publish(self, message: Message) -> None:
        """Publish one event (sent, not awaited: ``flush`` waits for it)."""
        for data in encode_batch([message], self._nc.max_payload):
            self._loop.call_soon_threadsafe(self._publish_soon, self.events_subject, data)

    def _publish_soon(self, subject: str, data: bytes) -> None:
        self._loop.create_task(self._nc.publish(subject, data))

    def publish_batch(self, messages: Sequence[Message], timeout: float = 5.0) -> None:
        """Publish the events in order, as one message, and wait until NATS has it: one hop to the
        bus's thread for the relay's whole batch, instead of one per event and one for the flush."""
        if messages:
            self._call(self._publish_and_flush(encode_batch(messages, self._nc.max_payload), timeout), timeout + 1)

    async def _publish_and_flush(self, sent: list[bytes], timeout: float) -> None:
        for data in sent:
            await self._nc.publish(self.events_subject, data)
        await self._nc.flush(timeout=int(max(1, timeout)))

    def tell_relay(self) -> None:
        """Tell the node that relays that events wait in the outbox (sent, not awaited)."""
        self._loop.call_soon_threadsafe(self._publish_soon, self.waiting_subject, b"")

    def on_relay_told(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the bus's thread) whenever a node says events wait in the outbox."""
        self._told = callback

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until NATS has every message published so far (``publish`` does not wait; the relay
        uses ``publish_batch``, which waits for its own)."""
        self._call(self._nc.flush(timeout=int(max(1, timeout))), timeout + 1)

    def close(self) -> None:
        try:
            self._call(self._nc.drain(), 5)
        except Exception:  # closing anyway
            log.debug("NATS drain failed", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
