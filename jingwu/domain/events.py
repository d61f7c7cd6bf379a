"""Domain events: facts in the past tense, frozen. Every state change is one of these.

Each carries the ``station_code`` it concerns so the bus can fan it out only to those who may see it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Event:
    at: datetime
    actor: str
    station_code: str | None

    @property
    def kind(self) -> str:
        return type(self).__name__

    @property
    def stream(self) -> str:
        """The aggregate this event belongs to (``incident:ID`` / ``unit:ID``), for ordering."""
        for name in ("incident_id", "unit_id", "major_id"):
            value = getattr(self, name, None)
            if value:
                return f"{name.removesuffix('_id')}:{value}"
        return "global"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": type(self).__name__}
        for name in _field_names(type(self)):
            v = getattr(self, name)
            out[name] = v.isoformat() if isinstance(v, datetime) else v
        return out


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """An event class's field names, looked up once (every event is serialised for the outbox and
    its timeline, ~40,000 times in a drilled day; ``dataclasses.fields`` builds a tuple each call)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


@dataclass(frozen=True, kw_only=True)
class IncidentReceived(Event):
    incident_id: str
    type_code: str
    priority: int
    lat: float
    lon: float
    source: str


@dataclass(frozen=True, kw_only=True)
class IncidentStatusChanged(Event):
    incident_id: str
    old: str
    new: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class IncidentUpdated(Event):
    incident_id: str
    changes: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class SceneReportFiled(Event):
    """An officer's short report from the scene (what was found, what was done)."""

    incident_id: str
    unit_id: str | None
    text: str
    written_at: str | None = None
    """When the officer wrote it, by the phone's clock (it may have waited offline)."""


@dataclass(frozen=True, kw_only=True)
class IncidentMerged(Event):
    incident_id: str
    into_incident_id: str


@dataclass(frozen=True, kw_only=True)
class UnitAssigned(Event):
    incident_id: str
    unit_id: str
    call_sign: str
    recommended: bool
    override_reason: str = ""
    eta_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class UnitReleased(Event):
    incident_id: str
    unit_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class UnitStatusChanged(Event):
    unit_id: str
    call_sign: str
    old: str
    new: str
    incident_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class UnitMoved(Event):
    unit_id: str
    lat: float
    lon: float
    speed_mps: float | None = None
    heading: float | None = None


@dataclass(frozen=True, kw_only=True)
class TimerBreached(Event):
    incident_id: str | None
    unit_id: str | None
    stage: str
    level: str  # "amber" | "red"
    elapsed_s: float
    target_s: float


@dataclass(frozen=True, kw_only=True)
class MajorIncidentDeclared(Event):
    major_id: str
    incident_id: str
    commander: str
    plan: str
    title: str


@dataclass(frozen=True, kw_only=True)
class MajorIncidentUpdated(Event):
    major_id: str
    change: str
    detail: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class AnalysisAlert(Event):
    """An early-warning alert (surge, near-repeat series) about a place and a time."""

    alert_kind: str
    area: str
    family: str
    detail: dict[str, Any]


def event_kinds() -> frozenset[str]:
    """Every kind of event the system publishes (what a subscriber may ask for by name)."""
    found: set[str] = set()
    todo = [Event]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.add(sub.__name__)
            todo.append(sub)
    return frozenset(found)
