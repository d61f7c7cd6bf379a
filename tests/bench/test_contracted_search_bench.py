"""pytest-benchmark for the bounded reverse search on Andorra: junction graph against whole graph.

    .venv/bin/python -m pytest tests/bench/test_contracted_search_bench.py --benchmark-enable

Each round searches from the same 200 places on the road (a point part-way along a random edge,
as ``RoadTravelTimes._search`` builds its sources), so the two methods time the same work; compare
the medians of ``contracted`` and ``whole`` for each limit (``--benchmark-group-by=param:limit``).
Each search is read at one node: the junction graph's tree is expanded only where it is read.
"""

from __future__ import annotations

import numpy as np
import pytest

from jingwu.geo.reverse_search import ReverseSearch
from jingwu.geo.roads import load_road_network, shipped_andorra

PLACES = 200


@pytest.fixture(scope="module")
def andorra(tmp_path_factory):
    return load_road_network(shipped_andorra(), tmp_path_factory.mktemp("roads"))


@pytest.fixture(scope="module")
def places(andorra):
    weights = andorra.weights()
    rng = np.random.default_rng(2026)
    out = []
    for e in rng.integers(andorra.n_edges, size=PLACES).tolist():
        f = float(rng.random())
        sources = [(int(andorra.tail[e]), f * float(weights[e]))]
        twin = andorra.edge_between(int(andorra.head[e]), int(andorra.tail[e]))
        if twin >= 0:
            sources.append((int(andorra.head[e]), (1 - f) * float(weights[twin])))
        out.append(sources)
    return out


@pytest.mark.parametrize("limit", [300.0, 1000.0, 2000.0, np.inf])
@pytest.mark.parametrize("method", ["contracted", "whole"])
def test_reverse_search(benchmark, andorra, places, method, limit):
    search = ReverseSearch(andorra)
    weights = andorra.weights()
    run = search._contracted_search if method == "contracted" else search._whole_graph
    run(weights, places[0], limit)  # build the per-network and per-weights structures first

    def all_places() -> int:
        reached = 0
        for sources in places:
            tree = run(weights, sources, limit)
            assert tree is not None
            reached += int(tree.dist_at(0) < np.inf)  # one node read, as a question reads a few
        return reached

    benchmark.extra_info["searches_per_round"] = PLACES
    benchmark.pedantic(all_places, rounds=15, iterations=1, warmup_rounds=1)
