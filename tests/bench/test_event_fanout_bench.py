"""Events fanned out to a command centre's consoles: ``WS /api/events`` on 20 sockets, 200 events.

What is timed is the event loop's share: each event handed to every socket's queue (as the bus
listener does from the relay), written as JSON and sent. The sockets are stand-ins that count what
they are sent, so the figure is the route's own work, not a network's. Run:
``.venv/bin/pytest tests/bench/test_event_fanout_bench.py --benchmark-enable``.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import WebSocketDisconnect

from jingwu.api.routes import events as route
from jingwu.bus.memory import InProcessBus
from jingwu.domain.access import Actor, Role

CONSOLES = 20
EVENTS = 200


class Console:
    """What the route asks of a WebSocket: the app, query parameters, accept, send and receive."""

    def __init__(self, app: Any, expect: int) -> None:
        self.app = app
        self.query_params: dict[str, str] = {}
        self.sent: list[str] = []
        self.expect = expect + 1  # and the hello
        self.all_sent = asyncio.Event()
        self.greeted = asyncio.Event()
        self.gone = asyncio.Event()

    async def accept(self) -> None:
        return None

    async def send_text(self, text: str) -> None:
        self.sent.append(text)
        self.greeted.set()
        if len(self.sent) == self.expect:
            self.all_sent.set()

    async def receive_text(self) -> str:
        await self.gone.wait()
        raise WebSocketDisconnect(1000)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.gone.set()


def _event(n: int) -> dict[str, Any]:
    return {"seq": n, "stream": f"incident:INC-20261127-{n:08X}", "kind": "IncidentReceived",
            "station_code": "AD-07-S1", "at": "2026-11-27T22:43:15.003001+00:00", "actor": "calltaker",
            "incident_id": f"INC-20261127-{n:08X}", "type_code": "THEFT", "priority": 3, "lat": 42.5063,
            "lon": 1.5218, "source": "public_call"}


async def _fan_out(events: list[dict[str, Any]]) -> list[Console]:
    bus = InProcessBus()
    app = SimpleNamespace(state=SimpleNamespace(runtime=SimpleNamespace(bus=bus)))
    consoles = [Console(app, len(events)) for _ in range(CONSOLES)]
    tasks = [asyncio.create_task(route.events(c)) for c in consoles]  # type: ignore[arg-type]
    for c in consoles:
        await c.greeted.wait()
    for e in events:
        bus.publish(e)
    for c in consoles:
        await c.all_sent.wait()
    for c in consoles:
        c.gone.set()
    await asyncio.gather(*tasks)
    return consoles


def test_fan_out_to_consoles(benchmark: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(route, "socket_actor", lambda ws: Actor("dispatcher", Role.DISPATCHER, "", None))
    events = [_event(n) for n in range(EVENTS)]
    consoles = benchmark(lambda: asyncio.run(_fan_out(events)))
    first = consoles[0].sent[1:]
    assert len(first) == EVENTS and all(c.sent[1:] == first for c in consoles)
    assert '"seq": 0,' in first[0] and '"seq": 199,' in first[-1]
