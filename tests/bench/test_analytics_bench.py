"""Analytics benchmarks (pytest-benchmark; figures recorded in docs/benchmarks.md, not asserted).

    .venv/bin/pytest tests/bench/test_analytics_bench.py --benchmark-enable -p no:randomly

The million-incident set is the packaged Chicago decade (148,636 records) repeated 7 times, each copy
moved by up to ±50 m at the data's own 4-decimal precision: a city-decade's volume with real structure.
"""

from __future__ import annotations

from dataclasses import replace
from importlib import resources

import numpy as np
import pytest

from jingwu.analytics.etas import fit_etas, predict_etas
from jingwu.analytics.forecast import ForecastContext, History, retrospective_kde
from jingwu.analytics.grid import Grid
from jingwu.analytics.hotspots import density_surface, hex_hotspots
from jingwu.analytics.records import IncidentRecords


@pytest.fixture(scope="module")
def chicago() -> IncidentRecords:
    with resources.as_file(resources.files("jingwu.data") / "chicago_aggravated_assaults_2010_2019.csv.gz") as f:
        return IncidentRecords.from_csv(f)


@pytest.fixture(scope="module")
def million(chicago: IncidentRecords) -> IncidentRecords:
    rng = np.random.default_rng(1)
    copies = 7
    n = len(chicago) * copies

    def tile(a):
        return np.tile(a, copies)

    jitter = np.round(rng.uniform(-0.00045, 0.00045, (2, n)), 4)
    jitter[:, : len(chicago)] = 0.0
    return replace(chicago, t=tile(chicago.t), lat=tile(chicago.lat) + jitter[0], lon=tile(chicago.lon) + jitter[1],
                   type=tile(chicago.type), family=tile(chicago.family), source=tile(chicago.source),
                   station=tile(chicago.station))


def _hotspots(records: IncidentRecords) -> int:
    surface = density_surface(records, cell_m=100.0)
    spots = hex_hotspots(records, resolution=9, permutations=999)
    return int(spots.hot.sum()) + int(surface.density.size > 0)


@pytest.mark.slow
def test_hotspots_one_million(benchmark, million):
    assert len(million) >= 1_000_000
    benchmark.pedantic(_hotspots, args=(million,), rounds=3, iterations=1, warmup_rounds=1)


def test_hotspots_one_year_baseline(benchmark, chicago):
    year = chicago.select(chicago.t >= np.datetime64("2019-01-01"))
    benchmark.pedantic(_hotspots, args=(year,), rounds=3, iterations=1, warmup_rounds=1)


def _year(chicago: IncidentRecords, years: int):
    lat0, lon0 = chicago.centre()
    x, y = chicago.metres((lat0, lon0))
    history = History(x, y, chicago.days())
    grid = Grid.covering(x, y, 150.0, lat0, lon0)
    origin = float(np.floor(history.t[-1])) + 1.0
    return history.between(origin - 365.0 * years, origin), grid, origin


@pytest.mark.parametrize("years", [1, 3])
def test_seppexp_fit_city_years(benchmark, chicago, years):
    past, grid, origin = _year(chicago, years)

    def fit_and_predict() -> float:
        fit = fit_etas(past.x, past.y, past.t, origin - 365.0 * years, origin, grid, 75.0)
        return float(predict_etas(fit, past.x, past.y, past.t, origin, 7.0, grid).sum())

    benchmark.pedantic(fit_and_predict, rounds=3, iterations=1, warmup_rounds=1)


def test_retrospective_kde_city_year_baseline(benchmark, chicago):
    past, grid, origin = _year(chicago, 1)
    ctx = ForecastContext(grid, 7.0, 75.0)
    benchmark.pedantic(retrospective_kde, args=(past, origin, ctx), rounds=5, iterations=1, warmup_rounds=1)
