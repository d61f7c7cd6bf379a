"""Run a drill as fast as it can go on the demo jurisdiction and return its figures.

``DrillSpec`` is what a planner asks ("24 hours from Friday 00:00, 3,000 calls a day, 80 units");
``run_fast`` builds the drill's world, generates the calls, runs them through the real services
on the simulated clock and returns the report with the time each part took.
"""

from __future__ import annotations

import gc
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jingwu.config import Settings
from jingwu.sim.calls import CallGenerator
from jingwu.sim.drill import Drill
from jingwu.sim.mix import IncidentMix, load_mix
from jingwu.sim.profile import WeeklyProfile, load_call_profile
from jingwu.sim.records import Pace
from jingwu.sim.report import drill_report
from jingwu.sim.spatial import CallSurfaces, build_surfaces, patrol_posts
from jingwu.sim.world import Travel, World, build_world

DEFAULT_START = "2026-11-27T00:00"
"""A Friday: the start of the busiest 48 hours of the week in the fitted profile."""


@dataclass(frozen=True)
class DrillSpec:
    hours: float = 24.0
    calls_per_day: float = 1200.0
    units: int | None = None
    """Units on duty; None = the demo fleet as seeded (42)."""
    seed: int = 1
    start: str = DEFAULT_START
    """Local date and time in the jurisdiction's time zone (ISO 8601), or with an offset."""
    travel: Travel = "road"

    def start_at(self, timezone: str) -> datetime:
        at = datetime.fromisoformat(self.start)
        if at.tzinfo is None:
            at = at.replace(tzinfo=ZoneInfo(timezone))
        return at.astimezone(UTC)


@dataclass
class DrillResult:
    report: dict[str, Any]
    world: World
    drill: Drill


def pace_from(mix: IncidentMix, position_every_s: float | None = None) -> Pace:
    return Pace(turnout_s=mix.turnout_s, backup_on_scene_factor=mix.backup_on_scene_factor,
                close_after_s=mix.close_after_s, position_every_s=position_every_s)


def run_fast(settings: Settings, spec: DrillSpec, *, profile: WeeklyProfile | None = None,
             mix_file: Path | None = None) -> DrillResult:
    wall0 = time.perf_counter()
    start = spec.start_at(settings.timezone)
    world = build_world(settings, start=start, units=spec.units, travel=spec.travel, seed=spec.seed)
    t0 = time.perf_counter()
    mix = load_mix(world.deps.catalogue, mix_file)
    surfaces: CallSurfaces = build_surfaces(world.network, world.osm_file, world.org,
                                            cache_dir=settings.data_dir / "drill")
    generator = CallGenerator(profile or load_call_profile(), mix, surfaces, calls_per_day=spec.calls_per_day,
                              seed=spec.seed, timezone=settings.timezone,
                              in_area=lambda p: world.org.resolve_station(p) is not None)
    end = start + timedelta(hours=spec.hours)
    world.setup_s["call surfaces"] = time.perf_counter() - t0
    drill = Drill(world.desk, world.sched, world.deps.catalogue, pace_from(mix), world.roster,
                  horizon_s=spec.hours * 3600)
    drill.take_posts(patrol_posts(surfaces, [(u.id, u.home_station) for u in world.roster], spec.seed))
    gc.collect()
    gc.freeze()  # the world is built: keep the collector off its objects while the drill runs
    thresholds = gc.get_threshold()
    # Each service call leaves a few hundred short-lived objects: collecting the young generation
    # every 50,000 allocations instead of 700 cut the day's collector time from 0.75 s to 0.33 s.
    gc.set_threshold(50_000, 20, 20)
    try:
        t0, cpu0 = time.perf_counter(), time.process_time()
        drill.run(generator.calls(start, end))
        simulate_s, simulate_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
    scenario = asdict(spec) | {
        "start_utc": start.isoformat(), "jurisdiction": "Andorra (demo)", "units_on_duty": len(drill.units),
        "expected_calls": round(generator.expected_calls(start, end), 1),
    }
    report = drill_report(drill.outcome(), world.deps.catalogue, scenario)
    report["simulation"] = {
        "wall_s": round(time.perf_counter() - wall0, 3),
        "simulate_s": round(simulate_s, 3),
        "simulate_cpu_s": round(simulate_cpu_s, 3),
        "setup_s": {k: round(v, 3) for k, v in world.setup_s.items()},
        "events": world.sched.executed,
        "simulated_s": round(world.sched.now, 1),
        "service_calls": world.desk.timer.summary(),
    }
    return DrillResult(report, world, drill)
