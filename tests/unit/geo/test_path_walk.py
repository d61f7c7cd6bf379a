"""Routes read off searches against the node-by-node reference walk (tests/reference_paths.py).

Routes must be identical: the same nodes and the same drawn points. Metres may differ from the
reference's in the last bits (a chain's prefix sums against a sum from the end), but never with
the order units were asked in: a later walk joining an earlier one must give each node the very
float it would have had alone, or a kept search and a fresh one would disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from jingwu.domain.geography import GeoPoint
from jingwu.domain.travel import TravelEstimate, UnitOrigin
from jingwu.geo.chain_paths import END, JOIN, RUNS_AT, ChainPathTree
from jingwu.geo.reverse_search import ReverseSearch
from jingwu.geo.travel import PathTree, RoadTravelTimes
from tests.reference_paths import NodeByNodePathTree

NIGHT = datetime(2026, 3, 4, 2, 0, tzinfo=UTC)
SEARCHES = ["contracted", "whole", "local"]


def _travel(net, search: str) -> RoadTravelTimes:
    """Keeps nothing (every question walks afresh), searching the junction graph, whole graph or a region
    (small grid cells, so that short searches cut a region out of a network as small as Andorra)."""
    travel = RoadTravelTimes(net, search_cache_bytes=0, answers_kept=0)
    if search == "local":
        travel.search = ReverseSearch(net, local_above_nodes=0, cell_m=200.0)
    if search != "contracted":
        travel.search._may_contract = False
    return travel


def _places(net, rng, count: int) -> list[tuple[GeoPoint, int]]:
    """Points part-way along random edges, with the edge."""
    out = []
    for e in rng.integers(net.n_edges, size=count).tolist():
        u, v, f = int(net.tail[e]), int(net.head[e]), float(rng.uniform(0.2, 0.8))
        out.append((GeoPoint(float(net.lat[u] + f * (net.lat[v] - net.lat[u])),
                             float(net.lon[u] + f * (net.lon[v] - net.lon[u]))), e))
    return out


def _units(net, rng, junctions: np.ndarray, place_edge: int, count: int) -> list[UnitOrigin]:
    """Near random nodes, standing exactly on junctions, and on the incident's own street."""
    points = []
    for v in rng.choice(net.n_nodes, count, replace=False).tolist():
        points.append(GeoPoint(float(net.lat[v] + rng.normal(0, 1e-4)), float(net.lon[v] + rng.normal(0, 1e-4))))
    for v in rng.choice(junctions, count // 4, replace=False).tolist():
        points.append(GeoPoint(float(net.lat[v]), float(net.lon[v])))
    u, v = int(net.tail[place_edge]), int(net.head[place_edge])
    for f in (0.05, 0.5, 0.95):
        points.append(GeoPoint(float(net.lat[u] + f * (net.lat[v] - net.lat[u])),
                               float(net.lon[u] + f * (net.lon[v] - net.lon[u]))))
    return [UnitOrigin(f"u{i:03d}", p) for i, p in enumerate(points)]


def _identical(got: list[TravelEstimate], expected: list[TravelEstimate]) -> None:
    assert [e.unit_id for e in got] == [e.unit_id for e in expected]
    for a, b in zip(got, expected, strict=True):
        assert (a.eta_s, a.method) == (b.eta_s, b.method)
        assert a.road_distance_m == pytest.approx(b.road_distance_m, rel=1e-12, abs=1e-9)
        assert a.route is not None and b.route is not None
        assert a.route["coordinates"] == b.route["coordinates"]


def _nodes_and_metres(tree: PathTree | ChainPathTree, start: int) -> tuple[list[int], float, list[tuple[float, float]]]:
    """Every node of the route from ``start``, its metres and its drawn points."""
    if isinstance(tree, ChainPathTree):
        _, metres, line = tree.route(start)
        return tree.nodes(start), metres, list(line or ())
    nodes, metres = tree.path(start)
    return nodes.tolist(), metres, list(tree.travel._drawing().line(nodes))


@pytest.fixture(scope="module")
def junctions(andorra) -> np.ndarray:
    chains = ReverseSearch(andorra)._junction_chains()
    assert chains is not None
    return chains.junctions


@pytest.mark.parametrize("search", SEARCHES)
def test_routes_and_distances_are_those_of_the_node_by_node_walk(andorra, junctions, search, monkeypatch):
    rng = np.random.default_rng(2026)
    questions = []
    for point, edge in _places(andorra, rng, 12):
        units = _units(andorra, rng, junctions, edge, 40)
        questions.append((point, units, int(rng.integers(3, 15)), float(rng.choice([300.0, 600.0, 1800.0, 86400.0]))))
    travel = _travel(andorra, search)
    got = [travel.estimate(p, u, want=w, max_seconds=s, at=NIGHT, routes=True) for p, u, w, s in questions]
    reference = _travel(andorra, search)
    monkeypatch.setattr(reference, "_paths", lambda searched: NodeByNodePathTree(reference, searched))
    expected = [reference.estimate(p, u, want=w, max_seconds=s, at=NIGHT, routes=True) for p, u, w, s in questions]
    roads = 0
    for a, b in zip(got, expected, strict=True):
        _identical(a, b)
        roads += sum(e.method == "road" for e in a)
    assert roads > 50
    # some units drove straight along the incident's street (no walk at all): start and end points only
    assert any(len(e.route["coordinates"]) <= 4 for found in got for e in found if e.route)


@pytest.mark.parametrize("search", SEARCHES)
def test_metres_do_not_depend_on_which_walk_came_first(andorra, junctions, search):
    """Walks in one order and in the reverse one (later walks merge into earlier ones) against the reference."""
    rng = np.random.default_rng(7)
    travel = _travel(andorra, search)
    weights = andorra.weights(travel.traffic.factors_at(NIGHT))
    merged = regions = 0
    for point, _ in _places(andorra, rng, 16):
        target = travel.snap_place(point)
        searched = travel._search(weights, target, float(rng.choice([120.0, 300.0, 900.0, 3600.0])))
        regions += searched.nodes is not None
        reached = np.flatnonzero(np.isfinite(searched.dist[: searched.root]))
        ids = reached if searched.nodes is None else searched.nodes[reached]
        on_junction = ids[np.isin(ids, junctions)]
        starts = np.concatenate([rng.choice(ids, 12), rng.choice(on_junction, 4)]).tolist()
        starts += [int(net_v) for net_v in rng.choice(ids, 2)] * 2  # the same start asked twice
        order = list(rng.permutation(len(starts)))
        runs = {}
        for name, seq in (("forward", order), ("backward", order[::-1]), ("reference", order)):
            tree = NodeByNodePathTree(travel, searched) if name == "reference" else travel._paths(searched)
            assert isinstance(tree, ChainPathTree) == (name != "reference" and search == "contracted")
            runs[name] = {starts[i]: _nodes_and_metres(tree, starts[i]) for i in seq}
            if name == "forward":
                merged += sum(r != (-1, 0) for r in tree._rest) if isinstance(tree, PathTree) else sum(
                    walk[JOIN] != END for walk in tree._walks)
        for s in starts:
            (a_nodes, a_m, a_line), (b_nodes, b_m, b_line), (r_nodes, r_m, r_line) = (
                runs[k][s] for k in ("forward", "backward", "reference"))
            assert a_nodes == r_nodes and b_nodes == r_nodes
            assert a_line == r_line and b_line == r_line
            assert a_m == b_m  # whichever walk came first
            assert a_m == pytest.approx(r_m, rel=1e-12, abs=1e-9)
            assert isinstance(a_m, float)
    assert merged > 20
    assert (regions > 0) == (search == "local")


def test_routes_from_the_incidents_own_street_are_those_of_the_node_by_node_walk(andorra):
    """Every point of the chains that hold the incident's street (where a way runs along its chain
    only as far as it turns off for the incident, and the two sides of the incident drive towards
    each other), asked in both orders, against the reference."""
    rng = np.random.default_rng(11)
    travel = _travel(andorra, "contracted")
    weights = andorra.weights(travel.traffic.factors_at(NIGHT))
    along_own_street = 0
    for point, _ in _places(andorra, rng, 12):
        target = travel.snap_place(point)
        searched = travel._search(weights, target, 900.0)
        own = sorted(searched._fixed)  # the interior points of the chains with a source (white box)
        starts = own + rng.choice(np.flatnonzero(np.isfinite(searched.dist[: searched.root])), 6).tolist()
        reference = NodeByNodePathTree(travel, searched)
        expected = {s: _nodes_and_metres(reference, s) for s in starts}
        got = {}
        for seq in (starts, starts[::-1]):
            tree = travel._paths(searched)
            assert isinstance(tree, ChainPathTree)
            got[len(got)] = {s: _nodes_and_metres(tree, s) for s in seq}
            along_own_street += sum(
                1 for walk in tree._walks for runs in (walk[RUNS_AT],) for i in range(0, len(runs), 4)
                if runs[i] >= 0 and int(searched.chains.node[runs[i + 1]]) in searched._fixed)
        for s in starts:
            (a_nodes, a_m, a_line), (b_nodes, b_m, b_line) = got[0][s], got[1][s]
            r_nodes, r_m, r_line = expected[s]
            assert a_nodes == r_nodes and b_nodes == r_nodes
            assert a_line == r_line and b_line == r_line
            assert a_m == b_m and a_m == pytest.approx(r_m, rel=1e-12, abs=1e-9)
    assert along_own_street > 20


@pytest.mark.parametrize("name", ["mixed", "parallel", "loops"])
def test_routes_on_hand_made_chains_are_those_of_the_node_by_node_walk(name):
    """Loops at a junction and without one, one-way stretches, parallel chains and sources at every
    point of every edge (tests/unit/geo/test_contracted_search.py's networks): from every node the
    search reached, in two orders, the chain walk's routes are the reference's."""
    from tests.unit.geo.test_contracted_search import SMALL, _sources_on_edge

    net = SMALL[name]
    travel = RoadTravelTimes(net, search_cache_bytes=0, answers_kept=0)
    travel.search = ReverseSearch(net, contract_share=1.0)  # contracted although junctions are most nodes
    weights = net.weights()
    rng = np.random.default_rng(5)
    joined = 0
    for e in range(net.n_edges):
        for f in (0.0, 0.3, 1.0):
            tree = travel.search._contracted_search(weights, _sources_on_edge(net, weights, e, f), np.inf)
            assert tree is not None
            starts = [v for v in range(net.n_nodes) if tree.dist_at(v) < np.inf and tree.pred_at(v) != tree.root]
            expected = {s: _nodes_and_metres(NodeByNodePathTree(travel, tree), s) for s in starts}
            for order in (starts, starts[::-1], list(rng.permutation(starts))):
                chains = travel._paths(tree)
                assert isinstance(chains, ChainPathTree)
                for s in order:
                    nodes, metres, line = _nodes_and_metres(chains, s)
                    r_nodes, r_metres, r_line = expected[s]
                    assert nodes == r_nodes and line == r_line
                    assert metres == pytest.approx(r_metres, rel=1e-12, abs=1e-9)
                joined += sum(walk[JOIN] != END for walk in chains._walks)
    assert joined > 50
