"""The NATS event bus, for several jingwu nodes sharing one PostgreSQL database.

Each node's outbox relay publishes committed events to NATS (subject ``jingwu.events.<station>``);
every node subscribes to ``jingwu.events.>`` and hands what arrives to its own listeners (the
WebSocket fan-out), so a dashboard connected to node B sees a change committed through node A.
Only one node relays at a time (see ``OutboxRelay(leader_lock=True)``), which keeps commit order.

nats-py is asyncio; this adapter runs its own event loop on a daemon thread so the rest of jingwu,
which publishes from the relay thread, stays synchronous.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import nats
from nats.aio.client import Client

from jingwu.bus.memory import Filter, InProcessBus, Listener, Message

log = logging.getLogger(__name__)
SUBJECT = "jingwu.events"


def subject_for(message: Message) -> str:
    station = str(message.get("station_code") or "none").replace(".", "_").replace(" ", "_")
    return f"{SUBJECT}.{station}"


class NatsBus:
    """Publishes to NATS; delivers what NATS sends to local listeners (filters as InProcessBus)."""

    def __init__(self, url: str, *, connect_timeout_s: float = 5.0) -> None:
        self.url = url
        self.local = InProcessBus()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nats-bus", daemon=True)
        self._thread.start()
        self._nc: Client = self._call(self._connect(), connect_timeout_s + 1)

    def _call(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _connect(self) -> Client:
        nc = await nats.connect(self.url, connect_timeout=5, max_reconnect_attempts=-1, name="jingwu")

        async def on_message(msg: Any) -> None:
            try:
                self.local.publish(json.loads(msg.data))
            except ValueError:
                log.warning("dropped a malformed event on %s", msg.subject)

        await nc.subscribe(f"{SUBJECT}.>", cb=on_message)
        await nc.flush()
        return nc

    def subscribe(self, listener: Listener, where: Filter | None = None) -> Callable[[], None]:
        return self.local.subscribe(listener, where)

    def publish(self, message: Message) -> None:
        data = json.dumps(message, default=str, ensure_ascii=False).encode()
        self._loop.call_soon_threadsafe(self._publish_soon, subject_for(message), data)

    def _publish_soon(self, subject: str, data: bytes) -> None:
        self._loop.create_task(self._nc.publish(subject, data))

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until NATS has every event published so far (the relay calls it per batch)."""
        self._call(self._nc.flush(timeout=int(max(1, timeout))), timeout + 1)

    def close(self) -> None:
        try:
            self._call(self._nc.drain(), 5)
        except Exception:  # closing anyway
            log.debug("NATS drain failed", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
