"""A unit on the move: where it is at any moment of a trip along a route.

A trip is a path (road route or straight line) driven in a known time; the position is
interpolated by distance along the path, so the unit covers each stretch in proportion to its
length. Nothing is written per tick in a fast drill: the position is computed when it matters
(a new dispatch, a live map update).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property

from jingwu.domain.geography import GeoPoint

M_PER_DEG = 111_320.0


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lon0, lat0), (lon1, lat1) = a, b
    kx = M_PER_DEG * math.cos(math.radians((lat0 + lat1) / 2))
    return math.hypot((lon1 - lon0) * kx, (lat1 - lat0) * M_PER_DEG)


@dataclass
class Trip:
    path: tuple[tuple[float, float], ...]
    """(lon, lat) vertices, first = where the unit starts, last = where it is going."""
    depart: float
    """Simulated second the unit moves off."""
    seconds: float

    def __post_init__(self) -> None:
        if len(self.path) < 1:
            raise ValueError("a trip needs at least one point")

    @cached_property
    def cum(self) -> list[float]:
        """Metres from the start to each vertex (worked out only when a position is asked for)."""
        cum = [0.0]
        for a, b in zip(self.path, self.path[1:], strict=False):
            cum.append(cum[-1] + _metres(a, b))
        return cum

    @property
    def arrive(self) -> float:
        return self.depart + self.seconds

    @property
    def metres(self) -> float:
        return self.cum[-1]

    @property
    def destination(self) -> GeoPoint:
        lon, lat = self.path[-1]
        return GeoPoint(lat=lat, lon=lon)

    def fraction(self, t: float) -> float:
        if self.seconds <= 0:
            return 1.0 if t >= self.depart else 0.0
        return min(1.0, max(0.0, (t - self.depart) / self.seconds))

    def where(self, t: float) -> tuple[GeoPoint, float | None]:
        """Position at simulated time ``t`` and heading in degrees (None when standing)."""
        f = self.fraction(t)
        if f >= 1.0 or len(self.path) == 1:
            lon, lat = self.path[-1]
            return GeoPoint(lat=lat, lon=lon), None
        if f <= 0.0:
            lon, lat = self.path[0]
            return GeoPoint(lat=lat, lon=lon), None
        total = self.cum[-1]
        d = f * total
        if total <= 0:
            lon, lat = self.path[-1]
            return GeoPoint(lat=lat, lon=lon), None
        i = min(bisect_right(self.cum, d) - 1, len(self.path) - 2)
        seg = self.cum[i + 1] - self.cum[i]
        f = (d - self.cum[i]) / seg if seg > 0 else 1.0
        (lon0, lat0), (lon1, lat1) = self.path[i], self.path[i + 1]
        point = GeoPoint(lat=round(lat0 + f * (lat1 - lat0), 6), lon=round(lon0 + f * (lon1 - lon0), 6))
        kx = math.cos(math.radians(lat0))
        heading = math.degrees(math.atan2((lon1 - lon0) * kx, lat1 - lat0)) % 360
        return point, round(heading, 1) % 360

    def speed_mps(self) -> float | None:
        return self.metres / self.seconds if self.seconds > 0 else None


def standing(point: GeoPoint, at: float) -> Trip:
    return Trip(((point.lon, point.lat),), at, 0.0)


def joined(start: GeoPoint, path: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
    """``path`` starting from ``start`` (a unit a little off the route's first vertex drives to it)."""
    first = (start.lon, start.lat)
    return path if path and path[0] == first else (first, *path)
