"""pytest-benchmark for reading routes (metres and drawn line) off search trees on Andorra: a chain
at a time (``ChainPathTree``, what a junction-graph search uses), against the node walk it replaced
(``PathTree``) and the node-by-node walk before that (tests/reference_paths.py).

    .venv/bin/python -m pytest tests/bench/test_path_walk_bench.py --benchmark-enable

Each round draws the routes of the 10 fastest units to each of 100 places (the search trees are
made once, as ``RoadTravelTimes`` makes them: junction graph, bound grown until 10 units are
reached), every place with a fresh tree of routes, so every walk is new and later walks merge into
earlier ones as they do when an incident is asked about. ``units`` is how many units stand on the
map: 12 (routes of ~580 nodes, few merges) or 60 (~230 nodes). Compare the medians
(``--benchmark-group-by=param:units``). The node walks read the junction graph's tree a chain at a
time too; ``node_by_node`` reads it expanded (made once per tree and kept between rounds, so its
~0.25 ms expansion is not in its figure).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from jingwu.domain.geography import GeoPoint
from jingwu.geo.chain_paths import ChainPathTree
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
        target = travel.snap_place(GeoPoint(float(net.lat[v]), float(net.lon[v])))
        straight = haversine_arrays(lat, lon, np.full(units, target.point.lat), np.full(units, target.point.lon))
        eta, via, kept = travel._reach(target, snaps, straight, WANT, 3600.0, weights)
        best = np.argsort(eta, kind="stable")[:WANT]
        best = best[(via[best] >= 0) & np.isfinite(eta[best])]
        out.append((kept.searched, via[best].tolist()))
    return travel, out


@pytest.mark.parametrize("units", [12, 60])
@pytest.mark.parametrize("method", ["chain", "node_walk", "node_by_node"])
def test_draw_routes(benchmark, andorra, method, units):
    travel, questions = _questions(andorra, units)
    travel._drawing()  # made before the rounds, as a server makes it at its first route

    def tree_of(searched):
        if method == "chain":
            return ChainPathTree(travel, searched)
        return (PathTree if method == "node_walk" else NodeByNodePathTree)(travel, searched)

    def all_places() -> int:
        drawn = 0
        for searched, vias in questions:
            tree = tree_of(searched)
            for v in vias:
                line = tree.route(v)[2]
                drawn += len(line) if line is not None else 0
        return drawn

    benchmark.extra_info["routes_per_round"] = sum(len(v) for _, v in questions)
    benchmark.extra_info["drawn_points_per_round"] = all_places()
    benchmark.pedantic(all_places, rounds=30, iterations=1, warmup_rounds=2)


def main() -> None:
    """For counting instructions, which a shared machine cannot spoil: ``python -m
    tests.bench.test_path_walk_bench METHOD UNITS ROUNDS`` draws the rounds after one warm-up round;
    run it under callgrind with ROUNDS 2 and 0 and halve the difference (docs/benchmarks.md)::

        PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
            .venv/bin/python -m tests.bench.test_path_walk_bench chain 60 2 2>&1 | grep Collected
    """
    import sys
    import tempfile

    method, units, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with tempfile.TemporaryDirectory() as tmp:
        travel, questions = _questions(load_road_network(shipped_andorra(), tmp), units)
    travel._drawing()
    for _ in range(rounds + 1):
        for searched, vias in questions:
            if method == "chain":
                tree: PathTree | ChainPathTree = ChainPathTree(travel, searched)
            else:
                tree = (PathTree if method == "node_walk" else NodeByNodePathTree)(travel, searched)
            for v in vias:
                tree.route(v)


if __name__ == "__main__":
    main()
