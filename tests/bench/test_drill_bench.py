"""pytest-benchmark for the drill (no timed assertions; figures go to docs/benchmarks.md).

    .venv/bin/python -m pytest tests/bench/test_drill_bench.py --benchmark-enable
    JINGWU_BENCH_DRILL_DAY=1 .venv/bin/python -m pytest tests/bench/test_drill_bench.py --benchmark-enable

The quick case is two Friday-evening hours at 3,000 calls a day with 80 units; the full day (24 h,
3,000 calls, 80 units: the issue's target of 10 s) takes minutes with the services as they are and
only runs when JINGWU_BENCH_DRILL_DAY is set. `jingwu bench drill` gives the breakdown by service.
"""

from __future__ import annotations

import os

import pytest

from jingwu.config import Settings
from jingwu.sim.runner import DrillSpec, run_fast


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    s = Settings(data_dir=tmp_path_factory.getbasetemp() / "jingwu-data", secret_key="x" * 40)
    run_fast(s, DrillSpec(hours=0.1, calls_per_day=200)).world.close()  # seed template and road cache
    return s


def _drill(settings: Settings, spec: DrillSpec) -> int:
    out = run_fast(settings, spec)
    out.world.close()
    return int(out.report["calls"])


@pytest.mark.slow
def test_two_busy_hours(benchmark, settings: Settings) -> None:
    spec = DrillSpec(hours=2, calls_per_day=3000, units=80, seed=1, start="2026-11-27T20:00")
    calls = benchmark.pedantic(_drill, args=(settings, spec), rounds=3, iterations=1)
    assert calls > 200


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("JINGWU_BENCH_DRILL_DAY"), reason="set JINGWU_BENCH_DRILL_DAY=1 (minutes)")
def test_a_day_of_3000_calls_with_80_units(benchmark, settings: Settings) -> None:
    spec = DrillSpec(hours=24, calls_per_day=3000, units=80, seed=1)
    calls = benchmark.pedantic(_drill, args=(settings, spec), rounds=1, iterations=1)
    assert calls > 2500
