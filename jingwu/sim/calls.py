"""The call generator: seeded, deterministic 110 calls for any window of time.

Events (something happened) arrive by the weekly profile; each gets a type from the mix, a
priority, a place on the type's surface, a time on scene and a call-processing time. Some events
draw extra calls (duplicates: another caller, a few minutes later, a few tens of metres away);
calls per day counts them all, so events arrive at ``calls_per_day * (1 - duplicate_share)``.

Everything about the calls of one hour comes from that hour's own random stream (see
``jingwu.sim.profile``), so the calls do not depend on the window asked for or on what the
simulation does with them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np

from jingwu.domain.geography import GeoPoint
from jingwu.sim.mix import IncidentMix
from jingwu.sim.profile import ArrivalProcess, WeeklyProfile


@dataclass(frozen=True, slots=True)
class SimCall:
    """One 110 call. ``at`` is seconds from the drill's start."""

    at: float
    event: str
    """Identity of what happened; duplicates share their original's."""
    type_code: str
    priority: int
    point: GeoPoint
    on_scene_s: float
    processing_s: float
    duplicate: bool = False


class PlacesCalls(Protocol):
    def sample(self, rng: np.random.Generator, surface: str) -> GeoPoint: ...


def _offset(point: GeoPoint, rng: np.random.Generator, max_m: float) -> GeoPoint:
    r = max_m * math.sqrt(rng.random())
    a = rng.uniform(0, 2 * math.pi)
    dlat = r * math.cos(a) / 111_320
    dlon = r * math.sin(a) / (111_320 * math.cos(math.radians(point.lat)))
    return GeoPoint(lat=round(point.lat + dlat, 6), lon=round(point.lon + dlon, 6))


class CallGenerator:
    def __init__(self, profile: WeeklyProfile, mix: IncidentMix, places: PlacesCalls, *,
                 calls_per_day: float, seed: int, timezone: str = "UTC",
                 in_area: Callable[[GeoPoint], bool] | None = None) -> None:
        self.mix = mix
        self.places = places
        self.seed = seed
        self.process = ArrivalProcess(profile, calls_per_day * mix.events_per_call(), timezone)
        self.in_area = in_area
        """Optional ``GeoPoint -> bool``: a duplicate's offset point must stay in the service area."""

    def expected_calls(self, start: datetime, end: datetime) -> float:
        return self.process.expected(start, end) / self.mix.events_per_call()

    def calls(self, start: datetime, end: datetime) -> Iterator[SimCall]:
        """Calls in [start, end) in time order (seconds from ``start``)."""
        pending: list[SimCall] = []
        horizon = (end - start).total_seconds()
        for slot in self.process.slots(start, end):
            offset = (slot.start - start).total_seconds()
            rng = self.process.rng(self.seed, slot)
            made: list[SimCall] = []
            for k, sec in enumerate(self.process.arrivals(rng, slot)):
                made.extend(self._event(rng, f"{slot.index}.{k}", offset + float(sec)))
            # A duplicate may fall in a later hour: keep it until that hour is reached.
            pending.extend(c for c in made if 0 <= c.at < horizon)
            pending.sort(key=lambda c: (c.at, c.event, c.duplicate))
            slot_end = offset + 3600
            while pending and pending[0].at < slot_end:
                yield pending.pop(0)
        yield from pending

    def _event(self, rng: np.random.Generator, event: str, at: float) -> list[SimCall]:
        mix = self.mix
        t = mix.types[int(rng.choice(len(mix.types), p=mix.shares))]
        prios = [p for p, _ in t.priorities]
        priority = prios[int(rng.choice(len(prios), p=[w for _, w in t.priorities]))]
        point = self.places.sample(rng, t.surface)
        first = SimCall(at=at, event=event, type_code=t.code, priority=priority, point=point,
                        on_scene_s=t.on_scene.draw(rng), processing_s=mix.processing[priority].draw(rng))
        out = [first]
        extra = int(rng.poisson(mix.extra_calls_mean(t))) if mix.duplicate_share > 0 else 0
        for _ in range(extra):
            delay = min(mix.duplicate_delay.draw(rng), mix.duplicate_max_delay_s)
            spot = _offset(point, rng, mix.duplicate_offset_m)
            if self.in_area is not None and not self.in_area(spot):
                spot = point
            out.append(SimCall(at=at + max(delay, 1.0), event=event, type_code=t.code, priority=priority,
                               point=spot, on_scene_s=t.on_scene.draw(rng),
                               processing_s=mix.processing[priority].draw(rng),
                               duplicate=True))
        return out


def poisson_calls(rate_per_hour: float, hours: float, type_code: str, priority: int, point: GeoPoint,
                  on_scene_mean_s: float, seed: int) -> list[SimCall]:
    """Homogeneous Poisson arrivals at one point with exponential times on scene: an M/M/c input."""
    rng = np.random.default_rng(seed)
    out: list[SimCall] = []
    t = 0.0
    horizon = hours * 3600
    while True:
        t += float(rng.exponential(3600 / rate_per_hour))
        if t >= horizon:
            return out
        out.append(SimCall(at=t, event=str(len(out)), type_code=type_code, priority=priority, point=point,
                           on_scene_s=float(rng.exponential(on_scene_mean_s)), processing_s=0.0))
