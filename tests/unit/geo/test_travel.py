"""Road ETAs against an independent full Dijkstra, ranking across the valley, fallbacks, traffic."""

from datetime import UTC, datetime
from itertools import pairwise

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from jingwu.domain.geography import GeoPoint, haversine_m
from jingwu.domain.travel import UnitOrigin
from jingwu.geo.traffic import TrafficTable
from jingwu.geo.travel import RoadTravelTimes

AT = datetime(2026, 3, 4, 3, 0, tzinfo=UTC)  # a Wednesday night
CENTRE = GeoPoint(42.5075, 1.5235)  # Andorra la Vella, by the Gran Valira


def _at_fraction(net, e, f) -> GeoPoint:
    t, h = net.tail[e], net.head[e]
    lat = net.lat[t] + f * (net.lat[h] - net.lat[t])
    return GeoPoint(float(lat), float(net.lon[t] + f * (net.lon[h] - net.lon[t])))


def _reference(net, weights):
    """Forward graph straight from the edge list; scipy's full (unbounded) one-to-all Dijkstra."""
    return csr_matrix((weights, (net.tail, net.head)), shape=(net.n_nodes, net.n_nodes))


def test_node_to_node_etas_equal_full_dijkstra(andorra, andorra_travel):
    graph = _reference(andorra, andorra.weights(andorra_travel.traffic.factors_at(AT)))
    rng = np.random.default_rng(7)
    units = rng.choice(andorra.n_nodes, 40, replace=False)
    full = dijkstra(graph, indices=units)  # rows: from each unit to every node
    origins = [UnitOrigin(f"u{i}", GeoPoint(float(andorra.lat[v]), float(andorra.lon[v]))) for i, v in enumerate(units)]
    for target in rng.choice(andorra.n_nodes, 25, replace=False):
        point = GeoPoint(float(andorra.lat[target]), float(andorra.lon[target]))
        got = andorra_travel.estimate(point, origins, want=40, max_seconds=1e6, at=AT)
        assert len(got) == 40 and all(e.method == "road" for e in got)
        by_unit = {e.unit_id: e.eta_s for e in got}
        for i in range(len(units)):
            assert by_unit[f"u{i}"] == pytest.approx(full[i, target], abs=1.0)
        assert [e.eta_s for e in got] == sorted(e.eta_s for e in got)


def test_mid_edge_etas_equal_full_dijkstra(andorra, andorra_travel):
    """Points part-way along edges: the reference composes partial edges with node-to-node times."""
    w = andorra.weights(andorra_travel.traffic.factors_at(AT))
    graph = _reference(andorra, w)
    rng = np.random.default_rng(11)
    for _ in range(30):
        a, b = (int(x) for x in rng.choice(andorra.n_edges, 2))
        fa, fb = (float(x) for x in rng.uniform(0.05, 0.95, 2))
        unit, incident = _at_fraction(andorra, a, fa), _at_fraction(andorra, b, fb)
        su, si = andorra_travel.snapper.snap(unit), andorra_travel.snapper.snap(incident)
        starts = [(su.edge, su.fraction)] + ([(su.twin, 1 - su.fraction)] if su.twin >= 0 else [])
        ends = [(si.edge, si.fraction)] + ([(si.twin, 1 - si.fraction)] if si.twin >= 0 else [])
        full = dijkstra(graph, indices=[andorra.head[e] for e, _ in starts])
        best = np.inf
        for k, (e, g) in enumerate(starts):
            for end, f in ends:
                best = min(best, (1 - g) * w[e] + full[k, andorra.tail[end]] + f * w[end])
                if e == end and g <= f:
                    best = min(best, (f - g) * w[e])
        best += (su.off_road_m + si.off_road_m) / andorra_travel.off_road_ms
        (got,) = andorra_travel.estimate(incident, [UnitOrigin("u", unit)], want=1, max_seconds=1e6, at=AT)
        assert got.eta_s == pytest.approx(best, abs=1.0)


def test_unit_across_the_valley_ranks_below_nearer_by_road(andorra_travel):
    across = UnitOrigin("across", GeoPoint(42.50141, 1.52919))  # ~820 m away, up the far slope
    along = UnitOrigin("along", GeoPoint(42.50145, 1.51133))  # ~1,200 m away, down the valley road
    got = andorra_travel.estimate(CENTRE, [across, along], want=2, max_seconds=3600, at=AT)
    assert [e.unit_id for e in got] == ["along", "across"]
    assert got[0].straight_distance_m > got[1].straight_distance_m
    assert got[1].eta_s > 2 * got[0].eta_s
    for e in got:
        assert e.road_distance_m is not None and e.road_distance_m >= e.straight_distance_m * 0.95
        coords = e.route["coordinates"]
        assert e.route["type"] == "LineString" and len(coords) >= 3
        # the route's length is the road distance it reports
        length = sum(haversine_m(GeoPoint(a[1], a[0]), GeoPoint(b[1], b[0])) for a, b in pairwise(coords))
        assert length == pytest.approx(e.road_distance_m, rel=0.02)


def test_want_and_bound_limit_the_search(andorra, andorra_travel):
    rng = np.random.default_rng(3)
    nodes = rng.choice(andorra.n_nodes, 200, replace=False)
    origins = [UnitOrigin(f"u{v}", GeoPoint(float(andorra.lat[v]), float(andorra.lon[v]))) for v in nodes]
    five = andorra_travel.estimate(CENTRE, origins, want=5, max_seconds=3600, at=AT)
    allof = andorra_travel.estimate(CENTRE, origins, want=200, max_seconds=1e6, at=AT)
    assert [e.unit_id for e in five] == [e.unit_id for e in allof[:5]]
    bounded = andorra_travel.estimate(CENTRE, origins, want=200, max_seconds=300, at=AT)
    assert bounded and all(e.eta_s <= 300 for e in bounded)
    assert len(bounded) == sum(e.eta_s <= 300 for e in allof)


def test_off_network_unit_falls_back_flagged(andorra_travel):
    on_road = UnitOrigin("road", GeoPoint(42.50145, 1.51133))
    in_the_hills = UnitOrigin("hills", GeoPoint(42.5200, 1.4700))  # far from any road
    got = andorra_travel.estimate(CENTRE, [on_road, in_the_hills], want=2, max_seconds=1e5, at=AT)
    flagged = {e.unit_id: e for e in got}
    assert flagged["road"].method == "road"
    assert flagged["hills"].method == "straight_line" and "from the nearest road" in flagged["hills"].note
    assert flagged["hills"].road_distance_m is None and flagged["hills"].route is None


def test_off_network_incident_is_flagged(andorra_travel):
    got = andorra_travel.estimate(GeoPoint(42.5200, 1.4700), [UnitOrigin("u", CENTRE)], want=1, max_seconds=1e5, at=AT)
    assert got[0].method == "straight_line" and "incident" in got[0].note


def test_rush_hour_slows_main_roads_without_rebuilding(andorra):
    traffic = TrafficTable.from_ranges({"primary": {"7-9": 2.0}, "secondary": {"7-9": 2.0}}, timezone="Europe/Andorra")
    travel = RoadTravelTimes(andorra, traffic=traffic)
    unit = [UnitOrigin("u", GeoPoint(42.5350, 1.5800))]  # Encamp, up the CG-2
    night = travel.estimate(CENTRE, unit, want=1, max_seconds=1e5, at=AT)[0]
    rush = travel.estimate(CENTRE, unit, want=1, max_seconds=1e5, at=AT.replace(hour=7))[0]  # 08:00 local
    assert rush.eta_s > 1.4 * night.eta_s
    again = travel.estimate(CENTRE, unit, want=1, max_seconds=1e5, at=AT)[0]
    assert again.eta_s == pytest.approx(night.eta_s)


def test_traffic_table_hours_and_weekend():
    table = TrafficTable.from_ranges({"primary": {"22-6": 0.5}}, {"primary": {"12-13": 3.0}}, timezone="UTC")
    wed = datetime(2026, 3, 4, 23, tzinfo=UTC)
    assert table.factors_at(wed)[2] == 0.5
    assert table.factors_at(wed.replace(hour=5))[2] == 0.5
    assert table.factors_at(wed.replace(hour=6))[2] == 1.0
    sat = datetime(2026, 3, 7, 12, tzinfo=UTC)
    assert table.factors_at(sat)[2] == 3.0
    with pytest.raises(ValueError):
        TrafficTable.from_ranges({"footway": {"1-2": 2.0}})


def test_route_for_display(andorra_travel):
    route = andorra_travel.route(GeoPoint(42.50145, 1.51133), CENTRE, AT)
    assert route is not None and route["type"] == "LineString"
    assert route["coordinates"][-1] == (CENTRE.lon, CENTRE.lat)


def test_region_cut_search_equals_full_dijkstra(andorra, monkeypatch):
    """The large-graph path (search only the box the bound can reach) on Andorra, forced on."""
    travel = RoadTravelTimes(andorra, local_search_above_nodes=0)
    cuts = []
    real = travel.search._local
    monkeypatch.setattr(travel.search, "_local", lambda *a: cuts.append(len(a[3])) or real(*a))
    graph = _reference(andorra, andorra.weights(travel.traffic.factors_at(AT)))
    rng = np.random.default_rng(5)
    units = rng.choice(andorra.n_nodes, 60, replace=False)
    full = dijkstra(graph, indices=units)
    origins = [UnitOrigin(f"u{i}", GeoPoint(float(andorra.lat[v]), float(andorra.lon[v]))) for i, v in enumerate(units)]
    for target in rng.choice(andorra.n_nodes, 25, replace=False):
        point = GeoPoint(float(andorra.lat[target]), float(andorra.lon[target]))
        got = travel.estimate(point, origins, want=60, max_seconds=240, at=AT)
        expected = {f"u{i}": full[i, target] for i in range(len(units)) if full[i, target] <= 240 - 1e-6}
        assert {e.unit_id for e in got} == set(expected)
        for e in got:
            assert e.eta_s == pytest.approx(expected[e.unit_id], abs=1.0)
            assert e.road_distance_m is not None
    assert cuts and max(cuts) < andorra.n_nodes // 4
