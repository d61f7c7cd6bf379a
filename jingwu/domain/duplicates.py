"""Possible duplicate calls: the same event reported by several callers.

A new call of the same type family near an open incident in space and time is *offered* as a
duplicate; the call-taker decides. Nothing is linked automatically.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from jingwu.domain.geography import GeoPoint, haversine_m
from jingwu.domain.incident import OPEN_STATUSES, IncidentStatus


class ReportedIncident(Protocol):
    """What the duplicate check reads of an incident: an ``Incident``, or the store's narrow
    ``OpenIncident`` (the check runs on every call and reads dozens of incidents in a busy area)."""

    @property
    def id(self) -> str: ...
    @property
    def type_code(self) -> str: ...
    @property
    def family(self) -> str: ...
    @property
    def status(self) -> IncidentStatus: ...
    @property
    def location(self) -> GeoPoint: ...
    @property
    def received_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class OpenIncident:
    """An incident as the duplicate check sees it: where, when, what, and whether still open."""

    id: str
    type_code: str
    family: str
    status: IncidentStatus
    location: GeoPoint
    received_at: datetime


@dataclass(frozen=True, slots=True)
class DuplicateCandidate:
    incident_id: str
    type_code: str
    status: str
    distance_m: float
    age_s: float


def possible_duplicates(
    family: str,
    point: GeoPoint,
    at: datetime,
    open_incidents: Iterable[ReportedIncident],
    radius_m: float,
    window_s: float,
    exclude: str | None = None,
) -> list[DuplicateCandidate]:
    out = []
    for inc in open_incidents:
        if inc.id == exclude or inc.family != family or inc.status not in OPEN_STATUSES:
            continue
        age = (at - inc.received_at).total_seconds()
        if not (-60 <= age <= window_s):
            continue
        d = haversine_m(point, inc.location)
        if d <= radius_m:
            out.append(DuplicateCandidate(inc.id, inc.type_code, inc.status.value, round(d, 1), round(age, 1)))
    out.sort(key=lambda c: (c.distance_m, c.age_s))
    return out
