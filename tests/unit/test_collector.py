"""The collector's clock: which generation each tick collects, seen by the collector itself."""

import asyncio
import gc
from collections.abc import Iterator

import pytest

from jingwu.api.collector import CollectorClock, collect_on_a_clock


@pytest.fixture
def collected() -> Iterator[list[int]]:
    """The generations the collector starts, in order, while the test runs."""
    seen: list[int] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(note)
    try:
        yield seen
    finally:
        gc.callbacks.remove(note)


def test_the_clock_collects_the_young_generation_and_the_older_ones_at_their_turn(collected) -> None:
    clock = CollectorClock(middle_every=3, full_every=7)
    gc.disable()  # only the clock's collections, not the count's
    try:
        ticks = [clock.tick() for _ in range(14)]
    finally:
        gc.enable()
    assert ticks == [0, 0, 1, 0, 0, 1, 2, 0, 1, 0, 0, 1, 0, 2]
    assert collected == ticks


def test_a_clock_that_never_collects_the_older_generations_is_refused() -> None:
    with pytest.raises(ValueError, match="middle_every"):
        CollectorClock(middle_every=0)


def test_on_the_event_loop_it_ticks_between_other_work(collected) -> None:
    clock = CollectorClock()

    async def run() -> None:
        task = asyncio.create_task(collect_on_a_clock(0.02, clock))
        for _ in range(20):
            await asyncio.sleep(0.01)  # the loop's other work
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    gc.disable()
    try:
        asyncio.run(run())
    finally:
        gc.enable()
    assert clock.ticks >= 5
    assert collected.count(0) >= 5
