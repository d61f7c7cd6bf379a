"""The unit (警力: a patrol car, a traffic team, a station's community officer) and its state machine."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from jingwu.domain import events as ev
from jingwu.domain.errors import Conflict, IllegalTransition
from jingwu.domain.geography import GeoPoint
from jingwu.domain.incident_types import Capability


class UnitStatus(StrEnum):
    OFF_DUTY = "off_duty"
    AVAILABLE = "available"
    DISPATCHED = "dispatched"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    OUT_OF_SERVICE = "out_of_service"


U = UnitStatus
UNIT_TRANSITIONS: dict[UnitStatus, frozenset[UnitStatus]] = {
    U.OFF_DUTY: frozenset({U.AVAILABLE}),
    U.AVAILABLE: frozenset({U.DISPATCHED, U.OFF_DUTY, U.OUT_OF_SERVICE}),
    # Back to available = released before arrival, or cleared.
    U.DISPATCHED: frozenset({U.EN_ROUTE, U.ON_SCENE, U.AVAILABLE}),
    U.EN_ROUTE: frozenset({U.ON_SCENE, U.AVAILABLE}),
    U.ON_SCENE: frozenset({U.AVAILABLE}),
    U.OUT_OF_SERVICE: frozenset({U.AVAILABLE, U.OFF_DUTY}),
}
BUSY_STATUSES = frozenset({U.DISPATCHED, U.EN_ROUTE, U.ON_SCENE})


def can_transition(old: UnitStatus, new: UnitStatus) -> bool:
    return new in UNIT_TRANSITIONS[old]


@dataclass
class Unit:
    id: str
    call_sign: str
    home_station: str
    capabilities: frozenset[Capability]
    crew_size: int = 2
    status: UnitStatus = UnitStatus.OFF_DUTY
    position: GeoPoint | None = None
    position_at: datetime | None = None
    incident_id: str | None = None
    status_at: datetime | None = None
    checkin_at: datetime | None = None
    """Last officer-safety check-in while on scene."""
    version: int = 0
    events: list[ev.Event] = field(default_factory=list, repr=False, compare=False)

    def _move(self, new: UnitStatus, at: datetime, actor: str) -> None:
        old = self.status
        if not can_transition(old, new):
            raise IllegalTransition(f"unit {self.call_sign} cannot go from {old} to {new}", field="status")
        self.status = new
        self.status_at = at
        if new is U.ON_SCENE:
            self.checkin_at = at
        self.events.append(
            ev.UnitStatusChanged(
                at=at, actor=actor, station_code=self.home_station, unit_id=self.id,
                call_sign=self.call_sign, old=old.value, new=new.value, incident_id=self.incident_id,
            )
        )

    def assign(self, incident_id: str, at: datetime, actor: str) -> None:
        if self.status is not U.AVAILABLE:
            raise Conflict(f"unit {self.call_sign} is {self.status}, not available", field="unit_id")
        self.incident_id = incident_id
        self._move(U.DISPATCHED, at, actor)

    def set_status(self, new: UnitStatus, at: datetime, actor: str) -> str | None:
        """Move to ``new``; returns the incident left when the move frees the unit."""
        if new is self.status and new is U.ON_SCENE:
            self.checkin_at = at  # a repeated "on scene" is a safety check-in
            return None
        if new in (U.DISPATCHED,):
            raise IllegalTransition("units are dispatched by assignment, not by status", field="status")
        if new in BUSY_STATUSES and self.incident_id is None:
            raise IllegalTransition(f"unit {self.call_sign} has no incident", field="status")
        left = self.incident_id if new is U.AVAILABLE and self.status in BUSY_STATUSES else None
        self._move(new, at, actor)
        if left:
            self.incident_id = None
        return left

    def move_to(self, point: GeoPoint, at: datetime, actor: str, speed_mps: float | None = None,
                heading: float | None = None) -> None:
        if self.position_at is not None and at < self.position_at:
            return  # a late, out-of-order fix: keep the newer one
        self.position = point
        self.position_at = at
        self.events.append(
            ev.UnitMoved(
                at=at, actor=actor, station_code=self.home_station, unit_id=self.id,
                lat=point.lat, lon=point.lon, speed_mps=speed_mps, heading=heading,
            )
        )
