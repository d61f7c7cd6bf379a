"""Straight-line travel times: the fallback when no road network is loaded.

Every estimate is flagged ``method="straight_line"`` with a note, so a dispatcher never mistakes a
crow-flies guess for a road ETA (in mountains the two can differ by a factor of five).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from jingwu.domain.geography import GeoPoint, haversine_m
from jingwu.domain.travel import TravelEstimate, UnitOrigin

STRAIGHT_LINE_NOTE = "straight-line estimate: no road network"


class StraightLineTravelTimes:
    """Time = great-circle distance / a constant speed (``Settings.straight_line_speed_kmh``)."""

    def __init__(self, speed_kmh: float = 40.0, note: str = STRAIGHT_LINE_NOTE) -> None:
        if speed_kmh <= 0:
            raise ValueError(f"speed_kmh must be positive, got {speed_kmh}")
        self.speed_ms = speed_kmh / 3.6
        self.note = note

    def estimate(
        self,
        destination: GeoPoint,
        origins: Sequence[UnitOrigin],
        *,
        want: int,
        max_seconds: float,
        at: datetime,
        routes: bool = True,
    ) -> list[TravelEstimate]:
        """Up to ``want`` origins within ``max_seconds``, best first (ties broken by unit id)."""
        found: list[TravelEstimate] = []
        for origin in origins:
            d = haversine_m(origin.point, destination)
            eta = d / self.speed_ms
            if eta <= max_seconds:
                found.append(self.one(origin, destination, d))
        found.sort(key=lambda e: (e.eta_s, e.unit_id))
        return found[: max(0, want)]

    def one(self, origin: UnitOrigin, destination: GeoPoint, distance_m: float | None = None) -> TravelEstimate:
        """The flagged estimate for a single origin (also used by the road estimator for off-network units)."""
        d = haversine_m(origin.point, destination) if distance_m is None else distance_m
        return TravelEstimate(
            unit_id=origin.unit_id,
            eta_s=d / self.speed_ms,
            road_distance_m=None,
            straight_distance_m=d,
            method="straight_line",
            note=self.note,
            route=None,
        )

    def route(self, origin: GeoPoint, destination: GeoPoint, at: datetime) -> dict | None:
        """No road route is known; the caller draws nothing rather than a misleading line."""
        return None
