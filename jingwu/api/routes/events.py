"""``WS /api/events``: every committed change as JSON, in commit order, filtered to what the user may see.

The bus listener runs on the relay thread; it hands each message to this socket's asyncio queue.
A client that cannot keep up is disconnected rather than allowed to hold memory without bound.
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

router = APIRouter(tags=["events"])
QUEUE_LIMIT = 10_000


def _encode(message: Message) -> str:
    return json.dumps(message, default=str, ensure_ascii=False)


@router.websocket("/api/events")
async def events(websocket: WebSocket) -> None:
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
    runtime: Runtime = websocket.app.state.runtime
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=QUEUE_LIMIT)

    def wanted(message: Message) -> bool:
        if kinds is not None and message.get("kind") not in kinds:
            return False
        return actor.sees(message.get("station_code"))

    def deliver(message: Message) -> None:
        loop.call_soon_threadsafe(_put, queue, message)

    unsubscribe = runtime.bus.subscribe(deliver, wanted)
    reader = asyncio.create_task(_drain_client(websocket))
    try:
        await websocket.send_text(json.dumps({"kind": "hello", "user": actor.username}))
        while True:
            getter = asyncio.create_task(queue.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                getter.cancel()
                break
            message = getter.result()
            if message is None:
                await websocket.close(code=4408, reason="too slow: events were dropped")
                break
            await websocket.send_text(_encode(message))
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        unsubscribe()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


def _put(queue: asyncio.Queue[Any], message: Message) -> None:
    try:
        queue.put_nowait(message)
    except asyncio.QueueFull:
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                queue.get_nowait()
        queue.put_nowait(None)


async def _drain_client(websocket: WebSocket) -> None:
    """Reads (and ignores) what the client sends, so a close is noticed at once."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()
