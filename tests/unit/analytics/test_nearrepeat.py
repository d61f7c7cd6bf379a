import numpy as np

from jingwu.analytics.nearrepeat import knox_test, near_repeat_alerts


def test_knox_on_real_assaults_has_the_expected_table(district11):
    result = knox_test(district11, permutations=19)
    assert result.observed.shape == (4, 5)
    assert result.expected.shape == (4, 5)
    assert abs(result.observed.sum() - result.expected.sum()) < 1e-6  # permutations keep the pairs
    assert ((result.p_value > 0) & (result.p_value <= 1)).all()


def test_knox_detects_planted_near_repeats(district11):
    """Copies of real incidents moved 30 m and 2 days on: a near-repeat pattern the test must see."""
    copies = district11.select(np.arange(len(district11)) % 5 == 0)
    from dataclasses import replace

    moved = replace(copies, t=copies.t + np.timedelta64(2, "D"), lat=copies.lat + 0.00027)
    joined = replace(district11, **{f: np.concatenate([getattr(district11, f), getattr(moved, f)])
                                    for f in ("t", "lat", "lon", "type", "family", "source", "station")})
    result = knox_test(joined, permutations=19)
    assert result.ratio[0, 0] > 1.5
    assert result.p_value[0, 0] <= 0.05


def test_near_repeat_alert_for_a_new_incident_beside_recent_ones(district11):
    history = district11.select(district11.t < np.datetime64("2019-06-01"))
    june = np.datetime64("2019-06-01")
    new = district11.select((district11.t >= june) & (district11.t < june + np.timedelta64(7, "D")))
    alerts = near_repeat_alerts(history, new, distance_m=200.0, days=14.0)
    assert alerts
    assert all(a.recent >= 1 and a.distance_m == 200.0 for a in alerts)
    far_back = near_repeat_alerts(history, new, distance_m=1.0, days=0.001)
    assert len(far_back) < len(alerts)
