"""How a serving process runs Python's garbage collector: start-up objects frozen, fewer full
collections, and collections on a clock as well as by count.

CPython collects the young generation once more tracked objects were made than freed since the
last collection. The server's caches (road searches kept, snapped places) evict as they keep:
once full, they free about as many objects as they make, so the count barely grows, a young
collection comes only every ~25 s in a worker at 250 calls a second, and it then walks everything
made since: 85,000-210,000 objects, 43-160 ms in which the worker answers nothing
(docs/benchmarks.md, "The collector walked the caches"). Collected on a clock, the young
generation every quarter second walks a quarter second's objects (at most ~3 ms in-process), the
middle one every tenth tick (6-12 ms), and all of them every thousandth (~4 min). Counting still
starts a collection between ticks if a burst makes more than ``YOUNG_GC_THRESHOLD`` objects.
"""

from __future__ import annotations

import asyncio
import gc

YOUNG_GC_THRESHOLD = 20_000
"""Collect the young generation once 20,000 more objects were made than freed (CPython: 700)."""
FULL_GC_THRESHOLD = 100
"""Collect every generation once per 100 collections of the middle one (CPython: 10)."""
MIDDLE_EVERY = 10
"""On the clock: the middle generation at every tenth tick (with the young one)."""
FULL_EVERY = 1000
"""On the clock: every generation at every thousandth tick."""


def set_serving_collector() -> tuple[int, int, int]:
    """Set the collector's thresholds as the server runs it; returns the thresholds it replaced.

    Start-up objects (road graph, geocoder, catalogue) live for the whole run: freezing them keeps
    them out of the collector's way, or a full collection lands on one request in ~50 (see
    docs/geo.md). Requests make and drop thousands of objects: collecting the young generation once
    20,000 more have been made than freed, instead of 700, took ~5 % off the server's CPU per
    intake flow (docs/benchmarks.md, intake, sixth pass). A full collection walks every object made
    since start-up (the road searches kept, the row memo), and the worker waits; once per 100
    middle collections instead of 10 took the intake's p99 at 150 calls a second from a median of
    68 ms to 40 (docs/benchmarks.md, "The collector's full collections, ten times rarer"). The
    intake makes little cyclic garbage for it to free: the workers' memory after 40 s of that load
    was the same either way. The bench harnesses call this too, to measure what the server runs."""
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(YOUNG_GC_THRESHOLD, thresholds[1], FULL_GC_THRESHOLD)
    return thresholds


class CollectorClock:
    """Which generation each tick collects: the young one, the middle one every ``middle_every``
    ticks and every generation every ``full_every``."""

    def __init__(self, middle_every: int = MIDDLE_EVERY, full_every: int = FULL_EVERY) -> None:
        if middle_every < 1 or full_every < 1:
            raise ValueError("middle_every and full_every must be 1 or more")
        self.middle_every = middle_every
        self.full_every = full_every
        self.ticks = 0

    def next_generation(self) -> int:
        after = self.ticks + 1
        if after % self.full_every == 0:
            return 2
        return 1 if after % self.middle_every == 0 else 0

    def tick(self) -> int:
        """Collect the next tick's generation (and the younger ones); returns which it was."""
        generation = self.next_generation()
        self.ticks += 1
        gc.collect(generation)
        return generation


async def collect_on_a_clock(period_s: float, clock: CollectorClock | None = None) -> None:
    """Tick ``clock`` every ``period_s`` seconds on the running event loop, between requests."""
    clock = clock or CollectorClock()
    while True:
        await asyncio.sleep(period_s)
        clock.tick()
