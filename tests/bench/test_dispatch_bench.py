"""pytest-benchmark for road-ETA recommendations (no timed assertions; figures go to docs/benchmarks.md).

    .venv/bin/python -m pytest tests/bench/test_dispatch_bench.py --benchmark-enable
    JINGWU_BENCH_PROVINCE=1 .venv/bin/python -m pytest tests/bench/test_dispatch_bench.py --benchmark-enable

The province scenario generates a 1M-node graph (~10 s, ~0.5 GB, cached under the pytest temp dir)
and only runs when JINGWU_BENCH_PROVINCE is set.
"""

from __future__ import annotations

import gc
import itertools
import os

import pytest

from jingwu.cli.bench_dispatch import Scenario, build_scenario
from jingwu.geo.roads import load_road_network, shipped_andorra
from jingwu.geo.synthetic import load_province


@pytest.fixture(scope="module")
def andorra(tmp_path_factory):
    return load_road_network(shipped_andorra(), tmp_path_factory.mktemp("roads"))


def _run(benchmark, scenario: Scenario) -> None:
    scenario.query(0)  # snap the units once, as the service does
    counter = itertools.count(1)
    gc.collect()
    gc.freeze()  # as the server does after start-up (docs/geo.md)
    try:
        found = benchmark(lambda: scenario.query(next(counter)))
    finally:
        gc.unfreeze()
    assert found > 0


@pytest.mark.parametrize("units", [40, 400])
def test_andorra_recommendation(benchmark, andorra, units):
    _run(benchmark, build_scenario(f"andorra_{units}", andorra, units, incidents=200))


def test_andorra_load_from_cache(benchmark, tmp_path):
    load_road_network(shipped_andorra(), tmp_path)
    network = benchmark(load_road_network, shipped_andorra(), tmp_path)
    assert network.report.from_cache


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("JINGWU_BENCH_PROVINCE"), reason="set JINGWU_BENCH_PROVINCE=1 (1M nodes)")
def test_province_recommendation(benchmark, tmp_path_factory):
    network = load_province(tmp_path_factory.mktemp("province"))
    _run(benchmark, build_scenario("province_1m", network, 5000, incidents=200, piece_m=200.0))
