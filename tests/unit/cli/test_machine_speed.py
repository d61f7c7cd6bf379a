"""The machine's reference loop: ``python -m timeit``'s figure (the best repeat, per loop, in ms)."""

from __future__ import annotations

import timeit

import pytest

from jingwu.cli import machine_speed
from jingwu.cli.machine_speed import reference_ms


def test_the_figure_is_the_best_repeat_per_loop_in_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: dict[str, object] = {}

    def repeat(stmt: str, number: int, repeat: int) -> list[float]:
        asked.update(stmt=stmt, number=number, repeat=repeat)
        return [0.25, 0.15, 0.40]

    monkeypatch.setattr(machine_speed.timeit, "repeat", repeat)
    assert reference_ms(loops=50, repeats=3) == 3.0
    assert asked == {"stmt": "sum(i*i for i in range(100000))", "number": 50, "repeat": 3}


def test_it_times_the_loop_for_real() -> None:
    one = reference_ms(loops=2, repeats=2)
    assert one > 0
    # The same statement under timeit directly, within the spread of a shared machine.
    direct = 1000 * min(timeit.repeat(machine_speed.STATEMENT, number=2, repeat=2)) / 2
    assert direct / 5 < one < direct * 5


@pytest.mark.parametrize("loops,repeats", [(0, 5), (50, 0)])
def test_no_loops_or_no_repeats_is_refused(loops: int, repeats: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        reference_ms(loops=loops, repeats=repeats)
