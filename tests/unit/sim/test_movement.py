"""A unit moving along its route: position and heading by distance covered."""

from __future__ import annotations

import pytest

from jingwu.domain.geography import GeoPoint, haversine_m
from jingwu.sim.movement import Trip, joined, standing

PATH = ((1.50, 42.50), (1.51, 42.50), (1.51, 42.52))  # east ~820 m, then north ~2,220 m


def test_position_is_proportional_to_distance() -> None:
    trip = Trip(PATH, depart=100.0, seconds=300.0)
    assert trip.arrive == 400.0
    assert trip.where(50.0)[0] == GeoPoint(lat=42.50, lon=1.50)
    assert trip.where(1000.0)[0] == GeoPoint(lat=42.52, lon=1.51)
    first_leg = trip.cum[1] / trip.metres
    corner, _ = trip.where(100.0 + 300.0 * first_leg)
    assert haversine_m(corner, GeoPoint(lat=42.50, lon=1.51)) < 2
    half, heading = trip.where(250.0)
    travelled = haversine_m(GeoPoint(lat=42.50, lon=1.50), GeoPoint(lat=42.50, lon=1.51)) + haversine_m(
        GeoPoint(lat=42.50, lon=1.51), half)
    assert travelled == pytest.approx(trip.metres / 2, rel=0.01)
    assert heading == pytest.approx(0.0, abs=0.5)  # going north on the second stretch
    assert trip.where(110.0)[1] == pytest.approx(90.0, abs=0.5)  # east on the first
    assert trip.speed_mps() == pytest.approx(trip.metres / 300.0)


def test_standing_and_joined() -> None:
    here = GeoPoint(lat=42.4, lon=1.4)
    s = standing(here, 5.0)
    assert s.where(0.0) == (here, None) and s.where(99.0) == (here, None)
    assert joined(here, PATH)[0] == (1.4, 42.4) and joined(GeoPoint(lat=42.5, lon=1.5), PATH) == PATH
