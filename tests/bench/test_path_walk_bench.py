"""pytest-benchmark for reading routes off search trees (``PathTree``) on Andorra, against the
node-by-node walk it replaced (tests/reference_paths.py).

    .venv/bin/python -m pytest tests/bench/test_path_walk_bench.py --benchmark-enable

Each round draws the routes of the 10 fastest units to each of 100 places (the search trees are
made once, as ``RoadTravelTimes`` makes them: junction graph, bound grown until 10 units are
reached), every place with a fresh ``PathTree``, so every walk is new and later walks merge into
earlier ones as they do when an incident is asked about. ``units`` is how many units stand on the
map: 12 (routes of ~480 nodes, few merges) or 60 (~260 nodes). Compare the medians of ``new`` and
``node_by_node`` (``--benchmark-group-by=param:units``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from jingwu.domain.geography import GeoPoint
from jingwu.geo.reverse_search import SearchTree
from jingwu.geo.roads import haversine_arrays, load_road_network, shipped_andorra
from jingwu.geo.travel import PathTree, RoadTravelTimes
from tests.reference_paths import NodeByNodePathTree

PLACES, WANT = 100, 10
NIGHT = datetime(2026, 3, 4, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def andorra(tmp_path_factory):
    return load_road_network(shipped_andorra(), tmp_path_factory.mktemp("roads"))


def _questions(net, units: int) -> tuple[RoadTravelTimes, list[tuple[SearchTree, list[int]]]]:
    """(search tree, exits of the ``WANT`` fastest units) for each place."""
    travel = RoadTravelTimes(net, search_cache_bytes=0, answers_kept=0)
    weights = net.weights(travel.traffic.factors_at(NIGHT))
    rng = np.random.default_rng(2026)
    nodes = rng.choice(net.n_nodes, units, replace=False)
    lat, lon = net.lat[nodes] + rng.normal(0, 2e-4, units), net.lon[nodes] + rng.normal(0, 2e-4, units)
    snaps = travel._snap_units(lat, lon)
    out = []
    for v in rng.choice(net.n_nodes, PLACES, replace=False).tolist():
        target = travel._snap_place(GeoPoint(float(net.lat[v]), float(net.lon[v])))
        straight = haversine_arrays(lat, lon, np.full(units, target.point.lat), np.full(units, target.point.lon))
        eta, via, kept = travel._reach(target, snaps, straight, WANT, 3600.0, weights)
        best = np.argsort(eta, kind="stable")[:WANT]
        best = best[(via[best] >= 0) & np.isfinite(eta[best])]
        out.append((kept.searched, via[best].tolist()))
    return travel, out


@pytest.mark.parametrize("units", [12, 60])
@pytest.mark.parametrize("method", ["new", "node_by_node"])
def test_draw_routes(benchmark, andorra, method, units):
    travel, questions = _questions(andorra, units)
    cls = PathTree if method == "new" else NodeByNodePathTree

    def all_places() -> int:
        drawn = 0
        for searched, vias in questions:
            tree = cls(travel, searched)
            for v in vias:
                drawn += len(tree.path(v)[0])
        return drawn

    benchmark.extra_info["routes_per_round"] = sum(len(v) for _, v in questions)
    benchmark.extra_info["route_nodes_per_round"] = all_places()
    benchmark.pedantic(all_places, rounds=30, iterations=1, warmup_rounds=2)
