"""pytest-benchmark for one dispatch cycle through the real services (no timed assertions; figures
go to docs/benchmarks.md). See ``dispatch_cycle.py`` for the cycle and for counting its
instructions with callgrind, which this noisy machine needs for before/after comparisons.

    .venv/bin/python -m pytest tests/bench/test_dispatch_cycle_bench.py --benchmark-enable
"""

from __future__ import annotations

import gc

import pytest

from jingwu.config import Settings
from jingwu.store.repositories import load_incident
from jingwu.store.unit_of_work import read_connection
from tests.bench.dispatch_cycle import warmed_cycle


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.getbasetemp() / "jingwu-data", secret_key="x" * 40)


def test_one_dispatch_cycle(benchmark, settings: Settings) -> None:
    cycle = warmed_cycle(settings)
    gc.collect()
    gc.freeze()  # as the drill does once its world is built
    try:
        last = benchmark.pedantic(cycle, rounds=60, iterations=1, warmup_rounds=5)
    finally:
        gc.unfreeze()
    with read_connection(cycle.world.engine) as conn:
        inc = load_incident(conn, last)
    assert inc is not None and inc.status.value == "closed" and inc.arrived_at is not None
    cycle.world.close()
