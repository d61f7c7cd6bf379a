"""What dispatch needs to know about travel, independent of how it is computed.

``geo`` provides the road-network implementation; the straight-line one lives there too and is
always flagged as such so a dispatcher never mistakes it for a road ETA.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from jingwu.domain.geography import GeoPoint

TravelMethod = Literal["road", "straight_line"]


@dataclass(frozen=True, slots=True)
class UnitOrigin:
    unit_id: str
    point: GeoPoint


@dataclass(frozen=True, slots=True)
class TravelEstimate:
    unit_id: str
    eta_s: float
    road_distance_m: float | None
    straight_distance_m: float
    method: TravelMethod
    note: str = ""
    route: dict | None = field(default=None, compare=False)
    """GeoJSON LineString from the unit to the incident, when known."""


class TravelTimeEstimator(Protocol):
    """Ranks origins by time to reach one destination (an incident)."""

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
        """Estimates for up to ``want`` nearest-by-time origins within ``max_seconds``, best first.

        ``routes=False`` leaves ``route`` out (None) when only the times matter: drawing a route
        costs more than ranking by it."""
        ...

    def route(self, origin: GeoPoint, destination: GeoPoint, at: datetime) -> dict | None:
        """GeoJSON LineString of the fastest route, or None when there is no road route."""
        ...
