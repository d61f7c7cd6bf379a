import numpy as np

from jingwu.analytics.etas import fit_etas, pairs_within, predict_etas
from jingwu.analytics.forecast import (
    ForecastContext,
    History,
    best_possible,
    captured,
    naive,
    prospective_hotspot,
    prospective_kernel,
)
from jingwu.analytics.grid import Grid


def test_ties_at_the_cut_are_shared_in_proportion():
    scores = np.array([3.0, 1.0, 1.0, 1.0, 0.0])
    counts = np.array([2.0, 3.0, 0.0, 0.0, 5.0])
    assert captured(scores, counts, 1) == 2.0
    assert captured(scores, counts, 2) == 2.0 + 3.0 / 3  # one of three tied cells, on average
    assert best_possible(counts, 2) == 8.0


def _history(district11):
    x, y = district11.metres()
    return History(x, y, district11.days()), Grid.covering(x, y, 150.0, *district11.centre())


def test_naive_is_last_periods_counts(district11):
    history, grid = _history(district11)
    origin = float(np.floor(history.t[-1])) - 6.0
    ctx = ForecastContext(grid, 7.0, 150.0)
    scores = naive(history, origin, ctx)
    assert scores.sum() == np.sum((history.t >= origin - 7) & (history.t < origin))


def test_prospective_weights_fall_with_distance_and_age(district11):
    kernel = prospective_kernel(150.0)
    centre = kernel.shape[0] // 2
    assert kernel[centre, centre] == 1.0 and kernel[centre, centre + 1] == 0.5
    assert kernel[centre, -1] > 0 and kernel[0, 0] == 0.0  # 400 m reach, corners cut
    history, grid = _history(district11)
    origin = float(np.floor(history.t[-1]))
    ctx = ForecastContext(grid, 7.0, 150.0)
    assert prospective_hotspot(history, origin, ctx).max() > 0


def _simulate_hawkes(rng, b, theta, omega, sigma, side, days):
    """Background uniform on a square, offspring by generations (the model EM should recover)."""
    n = rng.poisson(b * days)
    t = list(rng.uniform(0, days, n))
    x = list(rng.uniform(0, side, n))
    y = list(rng.uniform(0, side, n))
    parents = list(range(n))
    while parents:
        children = []
        for p in parents:
            for _ in range(rng.poisson(theta)):
                tc = t[p] + rng.exponential(1 / omega)
                if tc < days:
                    t.append(tc)
                    x.append(x[p] + rng.normal(0, sigma))
                    y.append(y[p] + rng.normal(0, sigma))
                    children.append(len(t) - 1)
        parents = children
    order = np.argsort(t)
    return np.array(x)[order], np.array(y)[order], np.array(t)[order]


def test_em_recovers_the_parameters_of_a_known_process():
    rng = np.random.default_rng(11)
    x, y, t = _simulate_hawkes(rng, b=6.0, theta=0.4, omega=0.25, sigma=120.0, side=8000.0, days=500.0)
    grid = Grid.covering(x, y, 150.0, 0.0, 0.0)
    fit = fit_etas(x, y, t, 0.0, 500.0, grid, background_sigma_m=400.0)
    assert abs(fit.theta - 0.4) < 0.1
    assert 2.5 < 1 / fit.omega < 6.0
    assert 80.0 < fit.sigma_m < 170.0
    assert abs(fit.b - 6.0) < 1.0
    assert abs(fit.background.sum() - 1.0) < 1e-9


def test_pairs_are_found_across_time_slices():
    t = np.array([0.0, 59.0, 61.0, 100.0])
    x = np.zeros(4)
    i, j = pairs_within(x, x, t, 10.0, 60.0)
    assert sorted(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 1), (1, 2), (1, 3), (2, 3)]


def test_etas_forecast_on_real_records_has_the_fitted_expected_count(district11):
    history, grid = _history(district11)
    origin = float(np.floor(history.t[-1])) - 7.0
    past = history.between(origin - 365, origin)
    fit = fit_etas(past.x, past.y, past.t, origin - 365, origin, grid, 150.0)
    assert 0.0 <= fit.theta < 0.95 and fit.iterations >= 2
    forecast = predict_etas(fit, past.x, past.y, past.t, origin, 7.0, grid)
    weekly = len(past.t) / 52.0
    assert 0.7 * weekly < forecast.sum() < 1.3 * weekly


def test_a_grid_over_a_continent_is_refused():
    import pytest

    with pytest.raises(ValueError, match="too large"):
        Grid.covering(np.array([0.0, 3_000_000.0]), np.array([0.0, 3_000_000.0]), 150.0, 0.0, 0.0)
