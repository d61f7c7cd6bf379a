import numpy as np
import pytest

from jingwu.analytics.backtest import COVERAGES, backtest


@pytest.fixture(scope="module")
def result(district11):
    return backtest(district11, period="week", max_periods=6)


def test_json_has_the_agreed_shape(result):
    data = result.to_json()
    assert set(data["models"]) == {"naive", "retrospective_kde", "prospective_hotspot", "seppexp"}
    for scores in data["models"].values():
        for metric in ("hit_rate", "pai", "pei"):
            assert set(scores[metric]) == {"0.01", "0.05", "0.1", "0.2"}
    assert data["best"] in data["models"]
    assert data["periods"] == 6
    assert len(data["origins"]) == 6


def test_metrics_are_consistent(result):
    for m in result.models.values():
        rates = [m.hit_rate[c].value for c in COVERAGES]
        assert rates == sorted(rates)  # more area never catches less
        for c in COVERAGES:
            assert 0.0 <= m.hit_rate[c].value <= m.pei[c].value + 1e-12 <= 1.0 + 1e-9
            assert m.hit_rate[c].low <= m.hit_rate[c].value <= m.hit_rate[c].high
            # PAI is the hit rate over the area share (the share is rounded to whole cells)
            assert m.pai[c].value == pytest.approx(m.hit_rate[c].value / c, rel=0.1)
    best = result.models[result.best].hit_rate[0.05].value
    assert best == max(m.hit_rate[0.05].value for m in result.models.values())


def test_kernel_maps_beat_last_weeks_counts_on_real_records(result):
    """A year of history locates assaults far better than one week's: the baseline any model must pass."""
    assert result.models["retrospective_kde"].hit_rate[0.05].value > result.models["naive"].hit_rate[0.05].value


def test_flagged_area_by_district_is_reported(districts6_7):
    result = backtest(districts6_7, period="week", max_periods=3)
    shares = result.district_share[result.best]
    assert set(shares) == {"6", "7"}
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-3)
    assert len(result.best_district_share_by_period) == 3


def test_too_little_history_is_refused(district11):
    recent = district11.select(district11.t >= np.datetime64("2019-12-01"))
    with pytest.raises(ValueError, match="too few records"):
        backtest(recent, period="week")
