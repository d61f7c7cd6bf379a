"""The incident (警情) and its state machine.

Allowed moves are a table, not scattered ifs; every move records who and when and emits an event.
Status is mostly driven by the units assigned (first assignment → dispatched, first unit on scene
→ on scene, last unit clear → cleared); dispatchers close, cancel or merge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from jingwu.domain import events as ev
from jingwu.domain.errors import IllegalTransition
from jingwu.domain.geography import GeoPoint


class IncidentStatus(StrEnum):
    RECEIVED = "received"
    DISPATCHED = "dispatched"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    CLEARED = "cleared"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    MERGED = "merged"


S = IncidentStatus
INCIDENT_TRANSITIONS: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    S.RECEIVED: frozenset({S.DISPATCHED, S.CANCELLED, S.MERGED}),
    # Back to received when every unit has been released before arriving.
    S.DISPATCHED: frozenset({S.EN_ROUTE, S.ON_SCENE, S.RECEIVED, S.CANCELLED}),
    S.EN_ROUTE: frozenset({S.ON_SCENE, S.RECEIVED, S.CANCELLED}),
    S.ON_SCENE: frozenset({S.CLEARED}),
    # Reopened when another unit is sent after all cleared.
    S.CLEARED: frozenset({S.CLOSED, S.DISPATCHED}),
    S.CLOSED: frozenset(),
    S.CANCELLED: frozenset(),
    S.MERGED: frozenset(),
}
OPEN_STATUSES = frozenset({S.RECEIVED, S.DISPATCHED, S.EN_ROUTE, S.ON_SCENE, S.CLEARED})
"""Statuses in which an incident is still on the board (cleared awaits the dispatcher's close)."""
ASSIGNABLE_STATUSES = frozenset({S.RECEIVED, S.DISPATCHED, S.EN_ROUTE, S.ON_SCENE, S.CLEARED})
# Which timestamp each status stamps the first time it is reached.
STAGE_STAMP = {
    S.DISPATCHED: "dispatched_at",
    S.EN_ROUTE: "en_route_at",
    S.ON_SCENE: "arrived_at",
    S.CLEARED: "cleared_at",
    S.CLOSED: "closed_at",
    S.CANCELLED: "closed_at",
    S.MERGED: "closed_at",
}


class Source(StrEnum):
    PUBLIC_CALL = "public_call"
    ONLINE_REPORT = "online_report"
    OFFICER_INITIATED = "officer_initiated"
    IMPORT = "import"
    DRILL = "drill"


def can_transition(old: IncidentStatus, new: IncidentStatus) -> bool:
    return new in INCIDENT_TRANSITIONS[old]


@dataclass
class Incident:
    id: str
    type_code: str
    family: str
    priority: int
    location: GeoPoint
    station_code: str | None
    received_at: datetime
    received_by: str
    source: Source = Source.PUBLIC_CALL
    status: IncidentStatus = IncidentStatus.RECEIVED
    address: str | None = None
    street: str | None = None
    description: str = ""
    callers: int = 1
    dispatched_at: datetime | None = None
    en_route_at: datetime | None = None
    arrived_at: datetime | None = None
    cleared_at: datetime | None = None
    closed_at: datetime | None = None
    merged_into: str | None = None
    major_id: str | None = None
    active_units: list[str] = field(default_factory=list)
    version: int = 0
    events: list[ev.Event] = field(default_factory=list, repr=False, compare=False)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def _move(self, new: IncidentStatus, at: datetime, actor: str, reason: str = "") -> None:
        old = self.status
        if not can_transition(old, new):
            raise IllegalTransition(f"incident {self.id} cannot go from {old} to {new}", field="status")
        self.status = new
        stamp = STAGE_STAMP.get(new)
        if stamp and getattr(self, stamp) is None:
            setattr(self, stamp, at)
        self.events.append(
            ev.IncidentStatusChanged(
                at=at, actor=actor, station_code=self.station_code,
                incident_id=self.id, old=old.value, new=new.value, reason=reason,
            )
        )

    def transition(self, new: IncidentStatus, at: datetime, actor: str, reason: str = "") -> None:
        """A dispatcher's explicit move (close, cancel). Unit-driven moves go through the methods below."""
        if new in (S.CANCELLED,) and self.active_units:
            raise IllegalTransition(
                f"incident {self.id} still has units assigned; release them first", field="status"
            )
        if new is S.MERGED:
            raise IllegalTransition("use merge to merge an incident into another", field="status")
        self._move(new, at, actor, reason)

    def unit_assigned(self, unit_id: str, at: datetime, actor: str) -> None:
        if self.status not in ASSIGNABLE_STATUSES:
            raise IllegalTransition(f"incident {self.id} is {self.status}; units cannot be assigned", "incident")
        if unit_id in self.active_units:
            raise IllegalTransition(f"unit {unit_id} is already on incident {self.id}", field="unit_id")
        self.active_units.append(unit_id)
        if self.status in (S.RECEIVED, S.CLEARED):
            self._move(S.DISPATCHED, at, actor)

    def unit_progressed(self, unit_status: str, at: datetime, actor: str) -> None:
        """A unit on this incident reported en route / on scene: the incident follows the leading unit."""
        if unit_status == "en_route" and self.status is S.DISPATCHED:
            self._move(S.EN_ROUTE, at, actor)
        elif unit_status == "on_scene" and self.status in (S.DISPATCHED, S.EN_ROUTE):
            self._move(S.ON_SCENE, at, actor)

    def unit_left(self, unit_id: str, at: datetime, actor: str, arrived: bool) -> None:
        """A unit cleared (after arriving) or was released (before arriving)."""
        if unit_id in self.active_units:
            self.active_units.remove(unit_id)
        if self.active_units:
            return
        if self.status is S.ON_SCENE or (arrived and self.status in (S.DISPATCHED, S.EN_ROUTE)):
            if self.status is not S.ON_SCENE:
                self._move(S.ON_SCENE, at, actor)
            self._move(S.CLEARED, at, actor)
        elif self.status in (S.DISPATCHED, S.EN_ROUTE):
            self._move(S.RECEIVED, at, actor, reason="all units released")

    def merge_into(self, other: Incident, at: datetime, actor: str) -> None:
        if other.id == self.id:
            raise IllegalTransition("an incident cannot be merged into itself", field="into")
        if not other.is_open:
            raise IllegalTransition(f"incident {other.id} is {other.status}", field="into")
        if self.active_units:
            raise IllegalTransition(f"incident {self.id} still has units assigned", field="status")
        if not can_transition(self.status, S.MERGED):
            raise IllegalTransition(f"incident {self.id} cannot be merged from {self.status}", field="status")
        self._move(S.MERGED, at, actor)
        self.merged_into = other.id
        other.callers += self.callers
        self.events.append(
            ev.IncidentMerged(
                at=at, actor=actor, station_code=self.station_code, incident_id=self.id, into_incident_id=other.id
            )
        )

    def file_report(self, text: str, unit_id: str | None, at: datetime, actor: str,
                    written_at: datetime | None = None) -> None:
        """A scene report joins the timeline; a closed incident takes no more."""
        if self.status in (S.CLOSED, S.CANCELLED, S.MERGED):
            raise IllegalTransition(f"incident {self.id} is {self.status}; it takes no more reports", "incident_id")
        self.events.append(ev.SceneReportFiled(at=at, actor=actor, station_code=self.station_code,
                                               incident_id=self.id, unit_id=unit_id, text=text,
                                               written_at=written_at.isoformat() if written_at else None))
