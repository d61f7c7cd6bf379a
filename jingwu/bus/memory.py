"""The in-process event bus: listeners subscribe with a filter and get back their unsubscribe.

Publishing never fails the publisher: a listener that raises is logged and the others still run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)

Message = Mapping[str, Any]
"""A published event: ``seq``, ``kind``, ``stream``, ``station_code`` and the event's fields."""
Listener = Callable[[Message], None]
Filter = Callable[[Message], bool]


class InProcessBus:
    def __init__(self) -> None:
        self._listeners: dict[int, tuple[Listener, Filter | None]] = {}
        self._next = 0
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener, where: Filter | None = None) -> Callable[[], None]:
        with self._lock:
            token = self._next
            self._next += 1
            self._listeners[token] = (listener, where)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners.pop(token, None)

        return unsubscribe

    def publish(self, message: Message) -> None:
        with self._lock:
            listeners = list(self._listeners.values())
        for listener, where in listeners:
            try:
                if where is None or where(message):
                    listener(message)
            except Exception:  # a broken listener must not stop the others
                log.exception("event listener failed for %s", message.get("kind"))
