"""``WS /api/events``: every committed change as JSON, in commit order, filtered to what the user may see.

The bus listener runs on the relay thread; it hands each message to this socket's asyncio queue.
A client that cannot keep up is disconnected rather than allowed to hold memory without bound.

A command centre has many consoles open on one server, each subscribed to the same events: an
event is written as JSON once, not once per console (``EventTexts``), and a socket sends what
waits in its queue without a task or a wait per message (the client reader ends the loop by
queueing ``_CLOSED``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect

from jingwu.api.deps import socket_actor
from jingwu.api.runtime import Runtime
from jingwu.bus.memory import Message
from jingwu.domain.access import Action
from jingwu.domain.events import event_kinds

router = APIRouter(tags=["events"])
QUEUE_LIMIT = 10_000
_CLOSED = object()
"""Queued by the client reader when the client has gone."""


def _encode(message: Message) -> str:
    return json.dumps(message, default=str, ensure_ascii=False)


class EventTexts:
    """One app's recent events as sent, by (stream, seq): every console is sent the same text. Kept
    per app, as ``seq`` is its database's; used on the app's event loop only."""

    def __init__(self, kept: int = 2_048) -> None:
        self.kept = kept
        self._texts: dict[tuple[Any, Any], str] = {}

    def text(self, message: Message) -> str:
        """The event as JSON, written once for all the sockets it goes to (a relayed event has a
        ``seq``; anything else is written each time)."""
        seq = message.get("seq")
        if seq is None:
            return _encode(message)
        key = (message.get("stream"), seq)
        text = self._texts.get(key)
        if text is None:
            if len(self._texts) >= self.kept:
                del self._texts[next(iter(self._texts))]  # the oldest: long since sent to every socket
            text = self._texts[key] = _encode(message)
        return text


def _event_texts(websocket: WebSocket) -> EventTexts:
    state = websocket.app.state
    texts = getattr(state, "event_texts", None)
    if texts is None:
        texts = state.event_texts = EventTexts()
    return texts


@router.websocket("/api/events")
async def events(websocket: WebSocket) -> None:
    """``?token=…`` (or the session cookie), optionally ``&kinds=IncidentReceived,UnitMoved``: the
    socket first says ``hello``, then sends each event the user may see. Unknown kinds are refused
    with an ``error`` message naming ``kinds``, then close code 4422."""
    try:
        actor = socket_actor(websocket)
    except HTTPException:
        await websocket.close(code=4401, reason="log in first")
        return
    if not actor.can(Action.EVENTS_SUBSCRIBE):
        await websocket.close(code=4403, reason="your role may not subscribe to events")
        return
    kinds_param = websocket.query_params.get("kinds")
    kinds = set(kinds_param.split(",")) if kinds_param else None
    await websocket.accept()
    unknown = sorted((kinds or set()) - event_kinds())
    if unknown:  # a typo would otherwise wait for events that never come
        message = f"unknown event kind {unknown[0]!r}; one of {', '.join(sorted(event_kinds()))}"
        await websocket.send_text(json.dumps({"kind": "error", "detail": [{"field": "kinds", "message": message}]}))
        await websocket.close(code=4422, reason="unknown event kind")
        return
    runtime: Runtime = websocket.app.state.runtime
    texts = _event_texts(websocket)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=QUEUE_LIMIT)

    def wanted(message: Message) -> bool:
        if kinds is not None and message.get("kind") not in kinds:
            return False
        return actor.sees(message.get("station_code"))

    def deliver(message: Message) -> None:
        loop.call_soon_threadsafe(_put, queue, message)

    unsubscribe = runtime.bus.subscribe(deliver, wanted)
    reader = asyncio.create_task(_drain_client(websocket, queue))
    try:
        await websocket.send_text(json.dumps({"kind": "hello", "user": actor.username}))
        while True:
            message = await queue.get()  # no suspension while messages wait
            if message is _CLOSED:
                break
            if message is None:
                await websocket.close(code=4408, reason="too slow: events were dropped")
                break
            await websocket.send_text(texts.text(message))
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        unsubscribe()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


def _put(queue: asyncio.Queue[Any], message: Any) -> None:
    """Queue a message; when the queue is full, empty it and queue ``None`` (the socket is then
    closed as too slow) or, for ``_CLOSED``, that."""
    try:
        queue.put_nowait(message)
    except asyncio.QueueFull:
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                queue.get_nowait()
        queue.put_nowait(_CLOSED if message is _CLOSED else None)


async def _drain_client(websocket: WebSocket, queue: asyncio.Queue[Any]) -> None:
    """Reads (and ignores) what the client sends, so a close is noticed at once: it then ends the
    sending loop through the queue."""
    try:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                await websocket.receive_text()
    finally:
        _put(queue, _CLOSED)
