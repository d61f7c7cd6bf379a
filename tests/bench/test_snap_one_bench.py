"""pytest-benchmark for snapping ONE point to Andorra's roads: ``snap`` (the scalar path) against
``snap_many`` on a one-element array (what ``snap`` did before).

    .venv/bin/python -m pytest tests/bench/test_snap_one_bench.py --benchmark-enable

Each round snaps the same 500 points (near random nodes, up to a few hundred metres off, some
beyond the snapping distance), one call per point, as the geocoder's ``reverse`` and
``RoadTravelTimes`` do once per incident; divide a median by 500 for the cost of one call.
"""

from __future__ import annotations

import numpy as np
import pytest

from jingwu.domain.geography import GeoPoint
from jingwu.geo.roads import load_road_network, shipped_andorra
from jingwu.geo.snapping import RoadSnapper

POINTS = 500


@pytest.fixture(scope="module")
def andorra(tmp_path_factory):
    return load_road_network(shipped_andorra(), tmp_path_factory.mktemp("roads"))


@pytest.fixture(scope="module")
def points(andorra):
    rng = np.random.default_rng(2026)
    nodes = rng.choice(andorra.n_nodes, POINTS)
    lat = andorra.lat[nodes] + rng.normal(0, 0.001, POINTS)
    lon = andorra.lon[nodes] + rng.normal(0, 0.001, POINTS)
    return [GeoPoint(a, b) for a, b in zip(lat.tolist(), lon.tolist(), strict=True)]


@pytest.mark.parametrize("masked", [False, True], ids=["all-roads", "named-only"])
@pytest.mark.parametrize("method", ["snap", "snap_many_1"])
def test_snap_one_point(benchmark, andorra, points, method, masked):
    mask = andorra.name_id >= 0 if masked else None
    snapper = RoadSnapper(andorra, max_distance_m=150.0 if masked else 300.0, edge_mask=mask)
    snapper.snap(points[0])  # build the scalar path's tables first

    if method == "snap":

        def all_points() -> int:
            return sum(snapper.snap(p).on_network for p in points)

    else:

        def all_points() -> int:
            on = 0
            for p in points:
                r = snapper.snap_many(np.array([p.lat]), np.array([p.lon]))
                on += bool(r.on_network[0])
            return on

    benchmark.extra_info["snaps_per_round"] = POINTS
    found = benchmark.pedantic(all_points, rounds=20, iterations=1, warmup_rounds=2)
    assert 0 < found <= POINTS
