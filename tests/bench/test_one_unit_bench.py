"""pytest-benchmark for travel questions about ONE unit on Andorra: the scalar path
(``RoadTravelTimes._estimate_one``) against the array path on one-element arrays (what every
question took before).

    .venv/bin/pytest tests/bench/test_one_unit_bench.py --benchmark-enable --benchmark-group-by=param:routes

Each round asks about 200 places, one unit each (near a road anywhere on the network), as the
services do for the chosen unit's route, the assignment check and a unit driving back to its post.
Every place's search is kept and already covers its unit, and the unit's position is already
snapped (untimed warm-up rounds), so a round times what most one-unit questions cost in the drill:
the kept-tree hit, the ETA and, with ``routes``, the drawn route. Answers are not remembered
(``answers_kept=0``), or every round after the first would be a dictionary lookup. Divide a median
by 200 for one question.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from jingwu.domain.geography import GeoPoint
from jingwu.domain.travel import UnitOrigin
from jingwu.geo.roads import RoadNetwork, load_road_network, shipped_andorra
from jingwu.geo.traffic import TrafficTable
from jingwu.geo.travel import RoadTravelTimes

PLACES = 200
NIGHT = datetime(2026, 3, 4, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def andorra(tmp_path_factory: pytest.TempPathFactory) -> RoadNetwork:
    return load_road_network(shipped_andorra(), tmp_path_factory.mktemp("roads"))


def _questions(net: RoadNetwork) -> list[tuple[GeoPoint, list[UnitOrigin]]]:
    rng = np.random.default_rng(2026)
    out = []
    for i, (v, u) in enumerate(rng.choice(net.n_nodes, (PLACES, 2)).tolist()):
        place = GeoPoint(float(net.lat[v] + rng.normal(0, 1e-4)), float(net.lon[v] + rng.normal(0, 1e-4)))
        unit = GeoPoint(float(net.lat[u] + rng.normal(0, 1e-4)), float(net.lon[u] + rng.normal(0, 1e-4)))
        out.append((place, [UnitOrigin(f"u{i}", unit)]))
    return out


@pytest.mark.parametrize("routes", [True, False])
@pytest.mark.parametrize("method", ["scalar", "array"])
def test_one_unit_estimates(benchmark: Any, andorra: RoadNetwork, method: str, routes: bool) -> None:
    travel = RoadTravelTimes(andorra, traffic=TrafficTable.default("Europe/Andorra"), answers_kept=0)
    travel.one_unit_path = method == "scalar"
    questions = _questions(andorra)

    def all_places() -> int:
        found = 0
        for place, origins in questions:
            found += len(travel.estimate(place, origins, want=1, max_seconds=86400.0, at=NIGHT, routes=routes))
        return found

    all_places()  # search each place and walk each route once: the rounds hit kept trees
    misses = travel.trees.misses
    benchmark.extra_info["questions_per_round"] = PLACES
    found = benchmark.pedantic(all_places, rounds=30, iterations=1, warmup_rounds=2)
    assert found == PLACES
    assert travel.trees.misses == misses  # every question answered from a kept search
