"""The discrete-event scheduler: a simulated clock and a queue of things due at given times.

As fast as possible (``speed=None``) the clock jumps from one event to the next; in real time it
waits until the wall clock reaches each event (``speed`` simulated seconds per wall second), and
falls behind rather than skipping anything when the work takes longer than the time it models.
Events due at the same time run in the order they were scheduled, so a run is reproducible.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

Action = Callable[[], None]


@dataclass(order=True)
class _Entry:
    at: float
    seq: int
    action: Action = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class Handle:
    """Lets the scheduler's user cancel an event that has not run yet."""

    __slots__ = ("_entry",)

    def __init__(self, entry: _Entry) -> None:
        self._entry = entry

    def cancel(self) -> None:
        self._entry.cancelled = True

    @property
    def at(self) -> float:
        return self._entry.at


class Scheduler:
    def __init__(self, start: datetime, *, speed: float | None = None,
                 wall: Callable[[], float] = time.monotonic,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start
        self.speed = speed
        self.now = 0.0
        """Simulated seconds since ``start``."""
        self._queue: list[_Entry] = []
        self._seq = itertools.count()
        self._wall = wall
        self._wall0: float | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.on_error = on_error
        """Given an event's exception, and the run goes on; without it the exception ends the run."""
        self.lag_s = 0.0
        """Worst wall-clock lag behind schedule seen in real time (seconds)."""
        self.executed = 0

    def clock(self) -> datetime:
        """The simulated time as an aware datetime (``Dependencies.clock``)."""
        return self.start + timedelta(seconds=self.now)

    def at(self, when: float, action: Action) -> Handle:
        entry = _Entry(max(when, self.now), next(self._seq), action)
        heapq.heappush(self._queue, entry)
        self._wake.set()
        return Handle(entry)

    def after(self, delay: float, action: Action) -> Handle:
        return self.at(self.now + max(0.0, delay), action)

    def stop(self) -> None:
        """Ask a running ``run`` to return (safe from any thread)."""
        self._stop.set()
        self._wake.set()

    @property
    def pending(self) -> int:
        return sum(1 for e in self._queue if not e.cancelled)

    def run(self, until: float | None = None) -> None:
        """Run events in time order until none is left, ``until`` is passed or ``stop`` is called."""
        if self.speed is not None and self._wall0 is None:
            self._wall0 = self._wall() - self.now / self.speed
        while self._queue and not self._stop.is_set():
            entry = self._queue[0]
            if entry.cancelled:
                heapq.heappop(self._queue)
                continue
            if until is not None and entry.at > until:
                break
            if self.speed is not None and not self._wait_for(entry.at):
                continue  # woken early: something new may be due first
            heapq.heappop(self._queue)
            self.now = entry.at
            self.executed += 1
            if self.on_error is None:
                entry.action()
                continue
            try:
                entry.action()
            except Exception as exc:  # live runs: one failed request must not end the drill
                self.on_error(exc)
        if until is not None and not self._stop.is_set():
            self.now = max(self.now, until)

    def _wait_for(self, at: float) -> bool:
        """Sleep until the wall clock reaches simulated time ``at``; False if woken before then."""
        assert self.speed is not None and self._wall0 is not None
        due = self._wall0 + at / self.speed
        delay = due - self._wall()
        if delay <= 0:
            self.lag_s = max(self.lag_s, -delay)
            return True
        self._wake.clear()
        if self._wake.wait(timeout=delay):
            return False
        return not self._stop.is_set()
