"""The same incident asked about again: recommend, recommend again, assign (in-process, Andorra).

The services ask the travel engine several times per incident (once per capability in the run
card, again when the dispatcher reloads, again inside ``assign_unit`` to decide whether the unit
was the recommendation); the road search of the first question is kept for the others
(docs/geo.md). Each round is a new incident near a random road, so the first question of a round
is never answered from an earlier round. The service benchmarks run on SQLite, and on PostgreSQL
too when JINGWU_TEST_POSTGRES_URL is set.

    .venv/bin/pytest tests/bench/test_repeat_question_bench.py --benchmark-enable

No timed assertions; the figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from jingwu.api.runtime import Runtime
from jingwu.cli.bench_dispatch import build_scenario
from jingwu.domain.access import SYSTEM
from jingwu.domain.errors import DomainError
from jingwu.domain.geography import GeoPoint
from jingwu.domain.travel import UnitOrigin
from jingwu.domain.unit import UnitStatus
from jingwu.geo.roads import RoadNetwork, load_road_network, shipped_andorra
from jingwu.services.dispatch import AssignUnit, assign_unit, recommend_units, set_unit_status
from jingwu.services.intake import ReceiveCall, receive_call

RUSH_HOUR = datetime(2026, 3, 4, 7, 30, tzinfo=UTC)
ROUNDS = 60


def _near_roads(network: RoadNetwork, count: int, seed: int) -> list[GeoPoint]:
    rng = np.random.default_rng(seed)
    nodes = rng.choice(network.n_nodes, count, replace=False)
    return [GeoPoint(float(network.lat[v]) + float(rng.normal(0, 1e-4)), float(network.lon[v])) for v in nodes]


def _frozen(run: Callable[[], Any]) -> Any:
    """Start-up objects out of the collector's reach, as the server and the drill do (docs/geo.md)."""
    gc.collect()
    gc.freeze()
    try:
        return run()
    finally:
        gc.unfreeze()


@pytest.fixture(scope="module")
def andorra(tmp_path_factory: pytest.TempPathFactory) -> RoadNetwork:
    return load_road_network(shipped_andorra(), tmp_path_factory.mktemp("roads"))


@pytest.mark.parametrize("units", [40, 400])
def test_travel_same_incident_three_times(benchmark: Any, andorra: RoadNetwork, units: int) -> None:
    """What one incident costs the travel engine: the recommendation, asked twice, then one unit's route."""
    scenario = build_scenario(f"andorra_{units}", andorra, units, incidents=ROUNDS * 4, seed=3)
    travel, origins = scenario.travel, scenario.units
    scenario.query(0)  # snap the units once, as the service does
    incidents = iter(scenario.incidents[1:])

    def setup() -> tuple[tuple[GeoPoint], dict[str, Any]]:
        return (next(incidents),), {}

    def three(incident: GeoPoint) -> int:
        first = travel.estimate(incident, origins, want=10, max_seconds=3600, at=RUSH_HOUR)
        again = travel.estimate(incident, origins, want=10, max_seconds=3600, at=RUSH_HOUR)
        chosen = next(o for o in origins if o.unit_id == first[0].unit_id)
        leg = travel.estimate(incident, [UnitOrigin("leg", chosen.point)], want=1, max_seconds=86400, at=RUSH_HOUR)
        return len(first) + len(again) + len(leg)

    assert _frozen(lambda: benchmark.pedantic(three, setup=setup, rounds=ROUNDS, iterations=1)) > 0


def _new_incidents(runtime: Runtime, seed: int) -> Callable[[], str]:
    """A function giving a new ROBBERY_IN_PROGRESS incident near a random road each call."""
    places = itertools.cycle(_near_roads(runtime.extras["roads"], ROUNDS * 4, seed=seed))

    def new_incident() -> str:
        while True:  # the graph runs a little past the border: skip places outside the service area
            try:
                return receive_call(runtime.deps, SYSTEM, ReceiveCall("ROBBERY_IN_PROGRESS", next(places))).incident.id
            except DomainError as exc:
                if exc.field != "location":
                    raise

    return new_incident


@pytest.mark.parametrize("step", ["first_recommend", "second_recommend", "assign"])
def test_each_question_about_one_incident(benchmark: Any, runtime: Runtime, step: str) -> None:
    """One step of the sequence below timed alone; the steps before it run untimed in the set-up."""
    deps = runtime.deps
    new_incident = _new_incidents(runtime, seed=7)
    sent: list[str] = []

    def setup() -> tuple[tuple[str, str | None], dict[str, Any]]:
        while sent:
            set_unit_status(deps, SYSTEM, sent.pop(), UnitStatus.AVAILABLE)
        incident_id = new_incident()
        pick = None
        if step != "first_recommend":
            pick = next(r for r in recommend_units(deps, SYSTEM, incident_id) if r.fills_plan).unit_id
        if step == "assign":
            recommend_units(deps, SYSTEM, incident_id)
        return (incident_id, pick), {}

    def one(incident_id: str, pick: str | None) -> int:
        if step != "assign":
            return len(recommend_units(deps, SYSTEM, incident_id))
        assert pick is not None
        assign_unit(deps, SYSTEM, AssignUnit(incident_id, pick))
        sent.append(pick)
        return 1

    assert _frozen(lambda: benchmark.pedantic(one, setup=setup, rounds=ROUNDS, iterations=1)) > 0


def test_recommend_twice_then_assign(benchmark: Any, runtime: Runtime) -> None:
    """The dispatcher's screen and the assignment: two ``recommend_units`` and one ``assign_unit``.

    The unit sent in one round is made available again before the next (untimed), so every round
    sees the same units on duty.
    """
    deps = runtime.deps
    new_incident = _new_incidents(runtime, seed=5)
    sent: list[str] = []

    def setup() -> tuple[tuple[str], dict[str, Any]]:
        while sent:
            set_unit_status(deps, SYSTEM, sent.pop(), UnitStatus.AVAILABLE)
        return (new_incident(),), {}

    def ask_twice_and_assign(incident_id: str) -> bool:
        recs = recommend_units(deps, SYSTEM, incident_id)
        recommend_units(deps, SYSTEM, incident_id)
        pick = next(r for r in recs if r.fills_plan)
        done = assign_unit(deps, SYSTEM, AssignUnit(incident_id, pick.unit_id))
        sent.append(pick.unit_id)
        return done.recommended

    assert _frozen(lambda: benchmark.pedantic(ask_twice_and_assign, setup=setup, rounds=ROUNDS, iterations=1))
