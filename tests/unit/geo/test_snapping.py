"""Nearest-edge snapping against brute force over every segment."""

import numpy as np

from jingwu.domain.geography import GeoPoint
from jingwu.geo.snapping import RoadSnapper


def test_snap_many_finds_the_nearest_segment(andorra):
    snapper = RoadSnapper(andorra, max_distance_m=300)
    rng = np.random.default_rng(2)
    nodes = rng.choice(andorra.n_nodes, 300)
    lat = andorra.lat[nodes] + rng.normal(0, 0.001, 300)  # up to a few hundred metres off
    lon = andorra.lon[nodes] + rng.normal(0, 0.001, 300)
    got = snapper.snap_many(lat, lon)
    for i in range(300):
        px, py = snapper._project(lat[i : i + 1], lon[i : i + 1])
        count = len(snapper.segments)
        _, dist = snapper._project_onto(np.repeat(px, count), np.repeat(py, count), snapper.segments)
        best = float(dist.min())
        if best <= 290:  # well inside the snapping distance: must be found, and be the nearest
            assert got.on_network[i]
            assert abs(got.off_road_m[i] - best) < max(0.5, 0.005 * best)
        elif best > 310:
            assert not got.on_network[i]


def test_snap_gives_edge_fraction_and_twin(andorra):
    snapper = RoadSnapper(andorra)
    twins = andorra.reverse_edges()
    e = int(np.flatnonzero(twins >= 0)[100])
    t, h = andorra.tail[e], andorra.head[e]
    point = GeoPoint(
        float(andorra.lat[t] * 0.7 + andorra.lat[h] * 0.3), float(andorra.lon[t] * 0.7 + andorra.lon[h] * 0.3)
    )
    snap = snapper.snap(point)
    assert snap.on_network and snap.off_road_m < 0.5
    assert {snap.edge, snap.twin} == {e, int(twins[e])}
    frac = snap.fraction if snap.edge == e else 1 - snap.fraction
    assert abs(frac - 0.3) < 0.01


def test_points_far_from_roads_are_flagged(andorra):
    snap = RoadSnapper(andorra, max_distance_m=300).snap(GeoPoint(42.5200, 1.4700))
    assert not snap.on_network and snap.off_road_m > 300
