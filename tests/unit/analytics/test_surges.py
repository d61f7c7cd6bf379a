import numpy as np
import pytest

from jingwu.analytics.surge_evaluation import evaluate_detectors
from jingwu.analytics.surges import count_series, detect, ears, poisson_cusum, surge_alerts


def test_ears_c1_flags_a_jump_over_a_steady_week():
    x = np.array([[2, 3, 2, 3, 2, 3, 2, 12, 2]], float)
    _, alarm, expected = ears(x, "ears_c1")
    assert alarm[0].tolist() == [False] * 7 + [True, False]
    assert expected[0, 7] == pytest.approx(17 / 7)


def test_ears_c2_guard_band_keeps_a_building_surge_out_of_its_baseline():
    x = np.array([[1, 1, 2, 1, 1, 2, 1, 1, 1, 6, 7, 8]], float)
    _, c1, _ = ears(x, "ears_c1")
    _, c2, _ = ears(x, "ears_c2")
    assert c2[0, 11] and not c1[0, 11]  # by day 3 of the surge C1's baseline already holds it


def test_quiet_series_raises_nothing():
    x = np.zeros((1, 60))
    for method in ("ears_c1", "ears_c2", "ears_c3", "poisson_cusum"):
        assert not detect(x, method)[1].any()


def test_poisson_cusum_catches_a_sustained_doubling():
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.poisson(3, 60), rng.poisson(9, 10)]).astype(float)[None, :]
    _, alarm, _ = poisson_cusum(x)
    assert alarm[0, 60:].any()
    assert alarm[0, :60].sum() <= 1


def test_hourly_series_compare_the_same_hour_of_previous_days(district11):
    series = count_series(district11, "hour")
    assert series.season == 24
    assert series.counts.sum() == len(district11)


def test_alerts_name_area_family_and_counts(districts6_7):
    series = count_series(districts6_7, "day")
    assert {k[0] for k in series.keys} == {"6", "7"}
    alerts = surge_alerts(series)
    assert alerts, "a year of two districts' assaults has some surge days"
    a = alerts[0]
    assert a.area in {"6", "7"} and a.observed > a.expected


def test_injected_outbreaks_are_found_more_often_than_false_alarms(districts6_7):
    ev = evaluate_detectors(count_series(districts6_7, "day"), outbreaks=200, eval_bins=300)
    for s in ev.scores.values():
        assert s.sensitivity > 0.2
        assert s.false_alarms_per_100 < 15.0
        assert s.sensitivity_ci[0] <= s.sensitivity <= s.sensitivity_ci[1]
    assert ev.scores["ears_c3"].sensitivity >= ev.scores["ears_c1"].sensitivity
