"""One dispatch cycle through the real services, as the drill makes them, on the drill's world.

A cycle is what one call costs the command system: ``receive_call``, ``recommend_units`` (road
ETAs and the route), ``assign_unit``, en route, a position fix, on scene, clear, close. Each is its
own transaction with timeline, outbox and audit rows, exactly as in ``jingwu drill``.

Timing it on a shared 2-core machine swings by a third from run to run, so besides the
pytest-benchmark in ``test_dispatch_cycle_bench.py`` this module counts instructions, which do not
depend on what else the machine is doing. Run it under callgrind twice and subtract::

    for n in 0 200; do PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n \
        .venv/bin/python -m tests.bench.dispatch_cycle $n 2>&1 | grep Collected; done
    # (instructions at 200 - instructions at 0) / 200 = instructions per cycle

Both runs build the same world and warm up the same way, so the difference is the cycles alone.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

from jingwu.config import Settings
from jingwu.domain.geography import GeoPoint
from jingwu.domain.unit import UnitStatus
from jingwu.sim.calls import SimCall
from jingwu.sim.world import World, build_world

START = datetime(2026, 11, 27, 8, tzinfo=UTC)
WARM_UP = 50


@dataclass
class DispatchCycle:
    """Calls near the units' posts, one at a time: every unit is free again when the next comes."""

    world: World
    seed: int = 3

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.posts = [u.position for u in self.world.roster if u.position is not None]
        self.count = 0

    def __call__(self) -> str:
        """One cycle; returns the incident's id."""
        desk, sched = self.world.desk, self.world.sched
        i = self.count = self.count + 1
        post = self.posts[i % len(self.posts)]
        point = GeoPoint(lat=post.lat + self.rng.uniform(-0.003, 0.003), lon=post.lon + self.rng.uniform(-0.003, 0.003))
        sched.now += 120.0
        call = SimCall(at=sched.now, event=f"cycle-{i}", type_code="THEFT", priority=3, point=point,
                       on_scene_s=600.0, processing_s=60.0)
        got = desk.receive(call, f"cycle-{i}")
        for pick in desk.recommend(got.incident_id)[:1]:
            if desk.assign(got.incident_id, pick.unit_id) == "assigned":
                desk.status(pick.unit_id, UnitStatus.EN_ROUTE)
                desk.position(pick.unit_id, point)
                desk.status(pick.unit_id, UnitStatus.ON_SCENE)
                desk.status(pick.unit_id, UnitStatus.AVAILABLE)
        desk.close(got.incident_id)
        return got.incident_id


def warmed_cycle(settings: Settings, units: int = 80) -> DispatchCycle:
    """A drill world with ``units`` on duty and caches warm (``WARM_UP`` cycles run)."""
    cycle = DispatchCycle(build_world(settings, start=START, units=units, travel="road", seed=1))
    for _ in range(WARM_UP):
        cycle()
    return cycle


def main(argv: list[str]) -> None:
    n = int(argv[1]) if len(argv) > 1 else 200
    cycle = warmed_cycle(Settings())
    for _ in range(n):
        cycle()
    cycle.world.close()
    print(f"{n} dispatch cycles after {WARM_UP} to warm up")


if __name__ == "__main__":
    main(sys.argv)
