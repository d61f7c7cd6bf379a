"""``RoadSnapper.snap`` (the scalar path for one point) against ``snap_many`` on that point.

They must agree field for field and bit for bit: the same edge (ties broken the same way), twin,
fraction, distance off the road, ``on_network`` flag and road position. Floats are compared by
``repr``, which round-trips a double exactly and tells ``-0.0`` from ``0.0``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jingwu.domain.geography import GeoPoint
from jingwu.geo.roads import BuildReport, RoadNetwork, network_of
from jingwu.geo.snapping import RoadSnapper, SnappedArrays, SnappedPoint

METRES_PER_DEGREE = 111_195.0


def _row(r: SnappedArrays, i: int, point: GeoPoint) -> SnappedPoint:
    """Row ``i`` of ``snap_many`` as a ``SnappedPoint``, converted as the old ``snap`` did."""
    return SnappedPoint(
        point=point,
        edge=int(r.edge[i]),
        twin=int(r.twin[i]),
        fraction=float(r.fraction[i]),
        off_road_m=float(r.off_road_m[i]),
        on_network=bool(r.on_network[i]),
        road_lat=float(r.road_lat[i]),
        road_lon=float(r.road_lon[i]),
    )


def _exact(s: SnappedPoint) -> tuple:
    return (s.point, s.edge, s.twin, repr(s.fraction), repr(s.off_road_m), s.on_network, repr(s.road_lat),
            repr(s.road_lon))  # fmt: skip


def _assert_same(snapper: RoadSnapper, lat: np.ndarray, lon: np.ndarray) -> list[SnappedPoint]:
    """``snap`` on each point equals the matching row of one ``snap_many`` over all of them."""
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    many = snapper.snap_many(lat, lon)
    got = []
    for i, (a, b) in enumerate(zip(lat.tolist(), lon.tolist(), strict=True)):
        point = GeoPoint(a, b)
        one = snapper.snap(point)
        assert _exact(one) == _exact(_row(many, i, point)), f"point {i}: {point}"
        # and against snap_many on that one point alone (no batch effect either way)
        alone = snapper.snap_many(np.array([a]), np.array([b]))
        assert _exact(one) == _exact(_row(alone, 0, point)), f"point {i} alone: {point}"
        got.append(one)
    return got


@pytest.fixture(scope="module")
def snapper(andorra) -> RoadSnapper:
    return RoadSnapper(andorra, max_distance_m=300)


@pytest.fixture(scope="module")
def named_snapper(andorra) -> RoadSnapper:
    """As the geocoder builds its reverse snapper: named streets only, 150 m."""
    return RoadSnapper(andorra, max_distance_m=150.0, edge_mask=andorra.name_id >= 0)


def _around_network(andorra: RoadNetwork, count: int, seed: int, spread_deg: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    nodes = rng.choice(andorra.n_nodes, count)
    return andorra.lat[nodes] + rng.normal(0, spread_deg, count), andorra.lon[nodes] + rng.normal(0, spread_deg, count)


def _bbox(andorra: RoadNetwork, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lat = rng.uniform(andorra.lat.min() - 0.02, andorra.lat.max() + 0.02, count)
    lon = rng.uniform(andorra.lon.min() - 0.02, andorra.lon.max() + 0.02, count)
    return lat, lon


@pytest.mark.parametrize("which", ["snapper", "named_snapper"])
def test_random_points_near_roads(request, andorra, which):
    snap = request.getfixturevalue(which)
    got = []
    for seed, spread in [(1, 0.0003), (2, 0.001), (3, 0.003)]:  # ~30 m, ~110 m, ~330 m off
        got += _assert_same(snap, *_around_network(andorra, 1500, seed, spread))
    assert any(g.on_network for g in got) and any(g.edge >= 0 and not g.on_network for g in got)
    assert any(g.edge < 0 for g in got)


@pytest.mark.parametrize("which", ["snapper", "named_snapper"])
def test_random_points_over_and_around_andorra(request, andorra, which):
    got = _assert_same(request.getfixturevalue(which), *_bbox(andorra, 2000, 4))
    assert any(g.edge < 0 for g in got) and any(g.on_network for g in got)


@pytest.mark.parametrize("which", ["snapper", "named_snapper"])
def test_points_exactly_on_nodes(request, andorra, which):
    nodes = np.random.default_rng(5).choice(andorra.n_nodes, 1000, replace=False)
    got = _assert_same(request.getfixturevalue(which), andorra.lat[nodes], andorra.lon[nodes])
    if which == "snapper":
        assert all(g.on_network and g.off_road_m < 1e-6 for g in got)


@pytest.mark.parametrize("which", ["snapper", "named_snapper"])
def test_points_on_segment_midpoints_and_ends_of_pieces(request, andorra, which):
    snap = request.getfixturevalue(which)
    seg = snap.segments[np.random.default_rng(6).choice(len(snap.segments), 700, replace=False)]
    t, h = andorra.tail[seg], andorra.head[seg]
    for f in (0.5, 0.25, 1 / 3):
        lat = andorra.lat[t] + f * (andorra.lat[h] - andorra.lat[t])
        lon = andorra.lon[t] + f * (andorra.lon[h] - andorra.lon[t])
        got = _assert_same(snap, lat, lon)
        assert all(g.on_network and g.off_road_m < 0.01 for g in got)


@pytest.mark.parametrize("which", ["snapper", "named_snapper"])
def test_points_ten_km_away(request, andorra, which):
    rng = np.random.default_rng(7)
    nodes = rng.choice(andorra.n_nodes, 300)
    bearing = rng.uniform(0, 2 * np.pi, 300)
    lat = np.clip(andorra.lat.min(), None, andorra.lat[nodes]) - 10_000 / METRES_PER_DEGREE * np.abs(np.cos(bearing))
    lon = andorra.lon[nodes] + 10_000 / METRES_PER_DEGREE * np.sin(bearing)
    lat = np.minimum(lat, andorra.lat.min() - 10_000 / METRES_PER_DEGREE)  # south of the whole country
    got = _assert_same(request.getfixturevalue(which), lat, lon)
    assert all(g.edge == -1 and g.twin == -1 and not g.on_network and g.off_road_m > 9_000 for g in got)
    assert all(g.road_lat == g.point.lat and g.road_lon == g.point.lon for g in got)


def test_points_around_the_far_cut_off(andorra):
    """A short ``max_distance_m`` puts many points either side of ``max_distance_m + half_piece``."""
    short = RoadSnapper(andorra, max_distance_m=25.0)
    got = _assert_same(short, *_around_network(andorra, 2000, 8, 0.0004))
    assert any(g.edge < 0 for g in got) and any(g.edge >= 0 and not g.on_network for g in got)
    assert any(g.on_network for g in got)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lat=st.floats(42.42, 42.66), lon=st.floats(1.40, 1.79), masked=st.booleans())
def test_any_point_in_andorra(snapper, named_snapper, lat, lon, masked):
    _assert_same(named_snapper if masked else snapper, np.array([lat]), np.array([lon]))


def test_empty_snapper_has_no_tree(andorra):
    empty = RoadSnapper(andorra, edge_mask=np.zeros(andorra.n_edges, dtype=bool))
    assert empty.tree is None
    got = _assert_same(empty, *_around_network(andorra, 20, 9, 0.001))
    assert all(g.edge == -1 and not g.on_network and g.off_road_m == np.inf for g in got)


# --- exact ties on a hand-made network ------------------------------------------------------------

D = 2.0**-10  # exactly representable offsets, so the projected nodes are exact mirror images


def _network(lat: list[float], lon: list[float], edges: list[tuple[int, int]]) -> RoadNetwork:
    n, m = len(lat), len(edges)
    tail = np.array([u for u, _ in edges], dtype=np.int32)
    head = np.array([v for _, v in edges], dtype=np.int32)
    return network_of(np.array(lat), np.array(lon), tail, head, np.full(m, 100.0), np.full(m, 10.0),
                      BuildReport("test", "", n, m, 0, 0, 0.0))


@pytest.mark.parametrize("north_first", [True, False])
@pytest.mark.parametrize("two_way", [True, False])
@pytest.mark.parametrize("piece_m", [40.0, 1000.0])
def test_tie_between_two_segments_is_broken_as_snap_many_does(north_first, two_way, piece_m):
    """Two parallel east-west streets, D north and D south of the centre: the centre is exactly as far
    from both. Whichever ``snap_many`` picks (the lower segment), ``snap`` picks too."""
    north = [(42.5 + D, 1.5 - D), (42.5 + D, 1.5 + D)]
    south = [(42.5 - D, 1.5 - D), (42.5 - D, 1.5 + D)]
    nodes = north + south if north_first else south + north
    edges = [(0, 1), (2, 3)] + ([(1, 0), (3, 2)] if two_way else [])
    net = _network([p[0] for p in nodes], [p[1] for p in nodes], edges)
    snapper = RoadSnapper(net, max_distance_m=300, piece_m=piece_m)
    assert (snapper.lat0, snapper.lon0) == (42.5, 1.5)
    count = len(snapper.segments)
    t, dist = snapper._project_onto(np.zeros(count), np.zeros(count), snapper.segments)
    assert count == 2 and dist[0] == dist[1] and t[0] == t[1] == 0.5  # a true tie
    # points on the line of ties (the centre line, and along it east and west), and near misses
    lats = [42.5] * 7 + [42.5 + 1e-12, 42.5 - 1e-12]
    lons = [1.5, 1.5 - D / 2, 1.5 + D / 2, 1.5 - D, 1.5 + D, 1.5 - 3 * D, 1.5 + 3 * D, 1.5, 1.5]
    got = _assert_same(snapper, np.array(lats), np.array(lons))
    assert all(g.on_network for g in got[:5])
    assert got[-2].edge != got[-1].edge  # off the tie line, the nearer street wins either way


def test_tie_broken_by_the_lowest_segment():
    """Many streets around one point at the same distance (a star of spokes): both ``snap`` and
    ``snap_many`` take the lowest of the tied segments, whatever order the k-d tree returns them in
    and however far ``snap``'s first question reaches."""
    lat = [42.5]
    lon = [1.5]
    edges = []
    for k, (dy, dx) in enumerate([(D, D), (D, -D), (-D, D), (-D, -D), (0.0, D), (0.0, -D), (D, 0.0), (-D, 0.0)]):
        lat += [42.5 + dy, 42.5 + 2 * dy]
        lon += [1.5 + dx, 1.5 + 2 * dx]
        edges.append((1 + 2 * k, 2 + 2 * k))
    for piece_m in (5.0, 40.0, 1000.0):
        for first_radius_m in (0.0, 60.0, 5000.0):
            snapper = RoadSnapper(_network(lat, lon, edges), max_distance_m=500, piece_m=piece_m,
                                  first_radius_m=first_radius_m)
            count = len(snapper.segments)
            _, dist = snapper._project_onto(np.zeros(count), np.zeros(count), snapper.segments)
            tied = np.flatnonzero(dist == dist.min())
            assert (snapper.lat0, snapper.lon0) == (42.5, 1.5) and len(tied) == 2
            got = _assert_same(snapper, np.array([42.5, 42.5 + 1e-9, 42.5]), np.array([1.5, 1.5, 1.5 + 1e-9]))
            assert got[0].edge == int(snapper.segments[tied.min()])


@pytest.mark.parametrize("first_radius_m", [0.0, 25.0, 60.0, 400.0])
def test_the_first_question_changes_no_answer(andorra, first_radius_m):
    """However near ``snap`` first looks (0: always as ``snap_many`` does), every field is the same,
    and it is the nearest segment by brute force over all of them, the lowest on a tie."""
    snapper = RoadSnapper(andorra, max_distance_m=300, first_radius_m=first_radius_m)
    lat, lon = _around_network(andorra, 150, 11, 0.0008)
    got = _assert_same(snapper, lat, lon)
    count = len(snapper.segments)
    for one in got:
        if not one.on_network:
            continue
        px, py = snapper._project(np.array([one.point.lat]), np.array([one.point.lon]))
        _, dist = snapper._project_onto(np.repeat(px, count), np.repeat(py, count), snapper.segments)
        assert one.edge == int(snapper.segments[np.flatnonzero(dist == dist.min()).min()])
