from datetime import UTC, datetime

import pytest

from jingwu.domain.geography import GeoPoint
from jingwu.domain.travel import UnitOrigin
from jingwu.geo.straight_line import StraightLineTravelTimes

AT = datetime(2026, 1, 1, 12, tzinfo=UTC)
INCIDENT = GeoPoint(42.5063, 1.5218)


def test_ranks_by_distance_and_flags_method():
    est = StraightLineTravelTimes(speed_kmh=36.0)  # 10 m/s
    origins = [
        UnitOrigin("far", GeoPoint(42.5163, 1.5218)),  # ~1.1 km
        UnitOrigin("near", GeoPoint(42.5073, 1.5218)),  # ~111 m
    ]
    out = est.estimate(INCIDENT, origins, want=5, max_seconds=3600, at=AT)
    assert [e.unit_id for e in out] == ["near", "far"]
    assert all(e.method == "straight_line" and e.road_distance_m is None and e.note for e in out)
    assert out[0].eta_s == pytest.approx(out[0].straight_distance_m / 10.0)
    assert out[0].straight_distance_m == pytest.approx(111.2, abs=1.0)


def test_respects_want_and_max_seconds():
    est = StraightLineTravelTimes(speed_kmh=36.0)
    origins = [UnitOrigin(f"u{i}", GeoPoint(42.5063 + 0.001 * i, 1.5218)) for i in range(1, 6)]
    assert len(est.estimate(INCIDENT, origins, want=2, max_seconds=3600, at=AT)) == 2
    # 0.001 deg lat ~ 111 m ~ 11 s; a 25 s bound keeps u1, u2 only
    assert [e.unit_id for e in est.estimate(INCIDENT, origins, want=9, max_seconds=25, at=AT)] == ["u1", "u2"]
    assert est.route(origins[0].point, INCIDENT, AT) is None


def test_rejects_non_positive_speed():
    with pytest.raises(ValueError):
        StraightLineTravelTimes(speed_kmh=0)
