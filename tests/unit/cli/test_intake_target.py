"""Issue 2's target as the intake benchmark judges a run, and the median of repeated runs."""

from __future__ import annotations

import math

import pytest

from jingwu.cli.intake_target import TARGET_P99_MS, TARGET_PER_S, median_run, meets_target


def _run(per_s: float, p99: float, errors: int = 0, **more: object) -> dict[str, object]:
    return {"backend": "postgresql ×2", "flow": "one-request", "errors": errors, "throughput_per_s": per_s,
            "flow_p99_ms": p99, **more}


@pytest.mark.parametrize("per_s,p99,errors,met", [
    (TARGET_PER_S, TARGET_P99_MS, 0, True),  # both at the line
    (612.0, 31.2, 0, True),
    (499.9, 31.2, 0, False),  # too few
    (612.0, 50.01, 0, False),  # too slow at the tail
    (612.0, 31.2, 1, False),  # a refused request or an answer without its units
    (612.0, math.nan, 0, False),  # no flows timed
])
def test_a_run_meets_the_target_with_enough_flows_a_short_enough_tail_and_no_errors(
        per_s: float, p99: float, errors: int, met: bool) -> None:
    assert meets_target(_run(per_s, p99, errors)) is met


def test_a_run_without_its_figures_does_not_meet_it() -> None:
    assert not meets_target({"errors": 0})
    assert meets_target(_run(120.0, 9.0), per_s=100, p99_ms=10)  # the line can be drawn elsewhere


def test_the_median_is_taken_figure_by_figure() -> None:
    runs = [
        _run(480.0, 41.0, machine_ms="3.1/3.3", connections_per_worker="4+4", db_cpu_ms_per_flow=None, incidents=9),
        _run(530.0, 62.0, machine_ms="2.9/3.0", connections_per_worker="4+4", db_cpu_ms_per_flow=None, incidents=12),
        _run(510.0, 38.0, machine_ms="3.0/5.0", connections_per_worker="5+3", db_cpu_ms_per_flow=None, incidents=10),
    ]
    m = median_run(runs)
    assert (m["throughput_per_s"], m["flow_p99_ms"], m["errors"]) == (510.0, 41.0, 0)  # no one run's pair
    assert m["incidents"] == 10 and isinstance(m["incidents"], int) and isinstance(m["errors"], int)
    assert median_run(runs[:2])["incidents"] == 10  # of 9 and 12: 10.5, rounded to even, still a count
    assert m["machine_ms"] == "3/3.3"  # each side's median
    assert median_run(runs[:2])["machine_ms"] == "3/3.15"
    assert m["flow"] == "one-request"  # shared: kept
    assert m["connections_per_worker"] is None  # the runs differ
    assert m["db_cpu_ms_per_flow"] is None  # never measured (SQLite)
    assert m["backend"] == "postgresql ×2, median of 3"


def test_no_runs_have_no_median() -> None:
    with pytest.raises(ValueError, match="no runs"):
        median_run([])
