import pytest

from jingwu.analytics.forecast_map import forecast_geojson, forecast_next


def test_next_week_flags_the_asked_share_of_the_area(districts6_7):
    result = forecast_next(districts6_7, "seppexp", "week", 150.0, 0.05)
    assert result.origin == "2020-01-01"
    assert list(result.expected) == sorted(result.expected, reverse=True)
    assert set(result.district_share) == {"6", "7"}
    assert sum(result.district_share.values()) == pytest.approx(1.0, abs=1e-3)
    geo = forecast_geojson(result)
    assert len(geo["features"]) == len(result.flagged)
    assert geo["properties"]["flagged_share_by_district"] == result.district_share


def test_unknown_model_and_bad_coverage_are_refused(districts6_7):
    with pytest.raises(ValueError, match="unknown model"):
        forecast_next(districts6_7, "oracle")
    with pytest.raises(ValueError, match="coverage"):
        forecast_next(districts6_7, coverage=1.5)
