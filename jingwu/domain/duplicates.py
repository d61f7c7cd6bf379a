"""Possible duplicate calls: the same event reported by several callers.

A new call of the same type family near an open incident in space and time is *offered* as a
duplicate; the call-taker decides. Nothing is linked automatically.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from jingwu.domain.geography import GeoPoint, haversine_m
from jingwu.domain.incident import Incident


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
    open_incidents: Iterable[Incident],
    radius_m: float,
    window_s: float,
    exclude: str | None = None,
) -> list[DuplicateCandidate]:
    out = []
    for inc in open_incidents:
        if inc.id == exclude or inc.family != family or not inc.is_open:
            continue
        age = (at - inc.received_at).total_seconds()
        if not (-60 <= age <= window_s):
            continue
        d = haversine_m(point, inc.location)
        if d <= radius_m:
            out.append(DuplicateCandidate(inc.id, inc.type_code, inc.status.value, round(d, 1), round(age, 1)))
    out.sort(key=lambda c: (c.distance_m, c.age_s))
    return out
