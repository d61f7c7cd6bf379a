"""Queueing theory the drill is checked against: the M/M/c queue (Erlang C), and a drill set up to
be one: a single station, ``c`` interchangeable units standing where every call comes from (no
travel, no turnout, no call processing), Poisson arrivals and exponential times on scene.

With those assumptions the real dispatch services, driven by the drill, must behave as c servers
working one first-come-first-served queue; ``fcfs_waits`` computes the waits such a queue gives
for the very same arrivals and service times, so a drill can be compared call by call as well as
with the formulas.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from jingwu.config import Settings
from jingwu.domain.unit import UnitStatus
from jingwu.sim.calls import SimCall, poisson_calls
from jingwu.sim.drill import Drill
from jingwu.sim.records import Pace
from jingwu.sim.world import World, build_world


@dataclass(frozen=True)
class MMc:
    """Steady state of an M/M/c queue with arrival rate ``lam`` and service rate ``mu`` per server."""

    c: int
    lam: float
    mu: float

    @property
    def offered(self) -> float:
        return self.lam / self.mu

    @property
    def utilisation(self) -> float:
        return self.offered / self.c

    @property
    def p_wait(self) -> float:
        """Erlang C: the probability an arrival finds every server busy."""
        return erlang_c(self.c, self.offered)

    @property
    def wq(self) -> float:
        """Mean wait in the queue."""
        return self.p_wait / (self.c * self.mu - self.lam)

    @property
    def lq(self) -> float:
        return self.lam * self.wq


def erlang_c(c: int, a: float) -> float:
    """P(wait) for ``c`` servers and offered load ``a`` = λ/μ (needs a < c), computed stably."""
    if c < 1:
        raise ValueError("c must be at least 1")
    if not 0 <= a < c:
        raise ValueError("the queue is stable only when the offered load is below c")
    term = 1.0  # a^k / k!
    total = 1.0
    for k in range(1, c):
        term *= a / k
        total += term
    top = term * a / c * (c / (c - a))  # a^c / c! * c / (c - a)
    return top / (total + top)


def fcfs_waits(arrivals: Sequence[float], services: Sequence[float], c: int) -> list[float]:
    """Waits in a first-come-first-served queue with ``c`` servers (Kiefer–Wolfowitz recursion)."""
    free = [0.0] * c
    waits = []
    for t, s in zip(arrivals, services, strict=True):
        soonest = heapq.heappop(free)
        start = max(t, soonest)
        waits.append(start - t)
        heapq.heappush(free, start + s)
    return waits


@dataclass
class QueueDrill:
    world: World
    drill: Drill
    calls: list[SimCall]
    units: list[str]


def single_station_drill(settings: Settings, *, c: int, calls_per_hour: float, mean_on_scene_s: float,
                         hours: float, seed: int, start: datetime, station: str = "AD-07-S1",
                         type_code: str = "THEFT", priority: int = 3) -> QueueDrill:
    """A drill that is an M/M/c queue: ``c`` patrol cars of one station on duty, all calls at the
    station house, exponential times on scene. Run it with ``.drill.run(.calls)``."""
    world = build_world(settings, start=start, travel="straight")
    plan = world.deps.catalogue.get(type_code).plan_for(priority)
    if sum(plan.values()) != 1:
        raise ValueError(f"{type_code} P{priority} needs more than one unit: not an M/M/c queue")
    point = world.org.get(station).base
    if point is None or world.org.resolve_station(point) is None:
        raise ValueError(f"{station} has no station house inside the service area")
    cap = next(iter(plan)).value
    keep = [u.id for u in world.roster if u.home_station == station and cap in u.capabilities][:c]
    if len(keep) < c:
        raise ValueError(f"{station} has only {len(keep)} units with {cap}")
    for u in world.roster:
        if u.id not in keep and u.status != UnitStatus.OFF_DUTY.value:
            world.desk.status(u.id, UnitStatus.OFF_DUTY)
    for uid in keep:
        world.desk.position(uid, point)
    roster = world.desk.units()
    pace = Pace(turnout_s=dict.fromkeys((1, 2, 3, 4), 0.0), close_after_s=None, drain_s=48 * 3600)
    drill = Drill(world.desk, world.sched, world.deps.catalogue, pace, roster, horizon_s=hours * 3600)
    calls = poisson_calls(calls_per_hour, hours, type_code, priority, point, mean_on_scene_s, seed)
    world.desk.timer.reset()
    return QueueDrill(world, drill, calls, keep)


def batch_means_se(values: Sequence[float], batches: int = 20) -> float:
    """Standard error of a mean of autocorrelated values (a queue's waits), by batch means."""
    n = len(values) // batches
    if n < 2:
        return math.nan
    means = [sum(values[k * n:(k + 1) * n]) / n for k in range(batches)]
    grand = sum(means) / batches
    var = sum((m - grand) ** 2 for m in means) / (batches - 1)
    return math.sqrt(var / batches)
