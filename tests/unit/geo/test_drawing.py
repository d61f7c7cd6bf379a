"""Drawn routes: the shape points a route's line keeps, and how close the line stays to the roads."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
import shapely

from jingwu.domain.geography import EARTH_RADIUS_M, GeoPoint
from jingwu.domain.travel import UnitOrigin
from jingwu.geo.drawing import ROUTE_TOLERANCE_M, RouteDrawing, drawn_nodes
from jingwu.geo.reverse_search import network_chains
from jingwu.geo.roads import BuildReport, network_of
from jingwu.geo.travel import RoadTravelTimes

NIGHT = datetime(2026, 3, 4, 2, 0, tzinfo=UTC)
KY = EARTH_RADIUS_M * math.pi / 180  # metres per degree of latitude


def _line_network(lat: list[float], lon: list[float]):
    """One two-way road through the points in order (its ends are junctions, the rest shape points)."""
    n = len(lat)
    tail = np.array([i for i in range(n - 1)] + [i + 1 for i in range(n - 1)])
    head = np.array([i + 1 for i in range(n - 1)] + [i for i in range(n - 1)])
    metres = np.full(len(tail), 10.0)
    report = BuildReport("test", "", n, len(tail), 0, 0, 0.0)
    return network_of(np.array(lat), np.array(lon), tail, head, metres, metres / 10, report)


def test_a_straight_road_draws_its_ends_and_a_bend_keeps_its_corner() -> None:
    # five points due north (collinear), then a corner, then three points due east
    lat = [42.5 + i * 1e-4 for i in range(5)] + [42.5004] * 3
    lon = [1.5] * 5 + [1.5 + i * 1e-4 for i in range(1, 4)]
    net = _line_network(lat, lon)
    kept = drawn_nodes(net)
    assert np.flatnonzero(kept).tolist() == [0, 4, 7]


def test_a_wiggle_under_the_tolerance_is_dropped_and_one_over_it_kept() -> None:
    small = ROUTE_TOLERANCE_M / 2 / KY
    big = ROUTE_TOLERANCE_M * 2 / KY
    lat = [42.5, 42.5 + small, 42.5, 42.5 + big, 42.5]
    lon = [1.5 + i * 3e-4 for i in range(5)]
    kept = drawn_nodes(_line_network(lat, lon))
    assert kept.tolist() == [True, False, True, True, True]


def test_every_junction_is_drawn_and_no_dropped_point_strays_beyond_the_tolerance(andorra) -> None:
    kept = drawn_nodes(andorra)
    chains = network_chains(andorra)
    assert kept[chains.junctions].all()
    assert 0.2 * andorra.n_nodes < kept.sum() < 0.9 * andorra.n_nodes  # it does drop points, not most
    lat0 = float(np.mean(andorra.lat))
    kx = EARTH_RADIUS_M * math.cos(math.radians(lat0)) * math.pi / 180
    worst = 0.0
    for c in range(len(chains.first)):
        nodes = chains.node[chains.first[c] : chains.last[c] + 1]
        xy = np.column_stack([andorra.lon[nodes] * kx, andorra.lat[nodes] * KY])
        drawn = xy[kept[nodes]]
        if len(drawn) < 2 or len(nodes) < 3:
            continue
        gone = xy[~kept[nodes]]
        if len(gone):
            worst = max(worst, float(shapely.distance(shapely.LineString(drawn), shapely.points(gone)).max()))
    assert 0 < worst <= ROUTE_TOLERANCE_M + 1e-6


def test_a_route_line_keeps_its_ends_and_writes_six_decimals(andorra) -> None:
    drawing = RouteDrawing.of(andorra)
    kept = drawing.drawn
    assert (kept == drawn_nodes(andorra)).all()
    interior = np.flatnonzero(~kept)[:2]
    path = np.array([int(interior[0]), int(np.flatnonzero(kept)[0]), int(interior[1])])
    line = drawing.line(path)
    assert len(line) == 3  # both ends drawn even where a route through them would not draw them
    for lon, lat in line:
        assert lon == round(lon, 6) and lat == round(lat, 6)
    assert line[0] == pytest.approx([andorra.lon[path[0]], andorra.lat[path[0]]], abs=6e-7)  # half the sixth decimal


def test_a_routes_line_runs_from_the_unit_to_the_incident_along_its_drawn_nodes(andorra) -> None:
    travel = RoadTravelTimes(andorra)
    unit = GeoPoint(lat=42.5063, lon=1.5218)
    scene = GeoPoint(lat=42.5360, lon=1.5837)
    [got] = travel.estimate(scene, [UnitOrigin("u", unit)], want=1, max_seconds=3600, at=NIGHT)
    coords = got.route["coordinates"]
    assert coords[0] == pytest.approx((unit.lon, unit.lat), abs=6e-7)
    assert coords[-1] == pytest.approx((scene.lon, scene.lat), abs=6e-7)
    kept = travel._drawing().drawn
    drawn = {tuple(c) for c in np.column_stack([andorra.lon[kept], andorra.lat[kept]]).round(6).tolist()}
    inner = [tuple(c) for c in coords[3:-3]]  # between the path's own ends, drawn whatever they are
    assert inner and all(c in drawn for c in inner)
    assert len(coords) == len({tuple(c) for c in coords})  # no point written twice
