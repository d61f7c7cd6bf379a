"""The discrete-event scheduler: time order, ties in scheduling order, cancelling, real-time pacing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jingwu.sim.engine import Scheduler

T0 = datetime(2026, 11, 27, tzinfo=UTC)


def test_events_run_in_time_then_scheduling_order() -> None:
    s = Scheduler(T0)
    seen: list[tuple[float, str]] = []
    s.at(5, lambda: seen.append((s.now, "b")))
    s.at(1, lambda: seen.append((s.now, "a")))
    s.at(5, lambda: seen.append((s.now, "c")))
    s.at(2, lambda: s.after(1, lambda: seen.append((s.now, "nested"))))
    s.run()
    assert seen == [(1, "a"), (3, "nested"), (5, "b"), (5, "c")]
    assert s.clock() == T0 + timedelta(seconds=5)


def test_cancel_until_and_stop() -> None:
    s = Scheduler(T0)
    seen: list[str] = []
    h = s.at(1, lambda: seen.append("cancelled"))
    s.at(2, lambda: seen.append("two"))
    s.at(10, lambda: seen.append("ten"))
    h.cancel()
    s.run(until=5)
    assert seen == ["two"] and s.now == 5 and s.pending == 1
    s.at(6, s.stop)
    s.at(7, lambda: seen.append("after stop"))
    s.run()
    assert seen == ["two"]


def test_errors_end_the_run_unless_handled() -> None:
    def boom() -> None:
        raise RuntimeError("boom")

    s = Scheduler(T0)
    s.at(1, boom)
    with pytest.raises(RuntimeError):
        s.run()
    errors: list[BaseException] = []
    s = Scheduler(T0, on_error=errors.append)
    s.at(1, boom)
    s.at(2, lambda: None)
    s.run()
    assert len(errors) == 1 and s.executed == 2


def test_real_time_waits_for_the_wall_clock() -> None:
    wall = [100.0]

    def clock() -> float:
        return wall[0]

    s = Scheduler(T0, speed=60.0, wall=clock)
    seen: list[float] = []

    def note() -> None:
        seen.append(wall[0])
        wall[0] += 0.5  # work takes half a wall second

    s.at(0, note)
    s.at(60, note)  # one wall second later
    s.at(61, note)  # due at 101.0167 but the clock already reads 101.5: runs late, lag recorded
    s._wake.wait = lambda timeout=None: wall.__setitem__(0, wall[0] + (timeout or 0)) or False  # type: ignore[method-assign]
    s.run()
    assert seen == [100.0, 101.0, 101.5]
    assert s.lag_s == pytest.approx(101.5 - (100.0 + 61 / 60), abs=1e-9)
