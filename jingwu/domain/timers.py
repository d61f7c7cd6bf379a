"""Stage timers: each stage of an incident against its priority's targets, and the officer-safety
check-in for units on scene. Crossing amber (80 % of target) or red (the target) is reported once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from jingwu.domain.incident import IncidentStatus
from jingwu.domain.incident_types import StageTargets
from jingwu.domain.unit import Unit, UnitStatus

AMBER_SHARE = 0.8


@dataclass(frozen=True, slots=True)
class TimerState:
    key: str
    """Stable name of the timer: ``incident:ID:stage`` or ``unit:ID:checkin``."""
    incident_id: str | None
    unit_id: str | None
    stage: str
    elapsed_s: float
    target_s: float
    level: str  # "ok" | "amber" | "red"


TIMED_STATUSES = (IncidentStatus.RECEIVED, IncidentStatus.DISPATCHED, IncidentStatus.EN_ROUTE)
"""The statuses in which an incident's stage timers run."""


class TimedIncident(Protocol):
    """What an incident's stage timers read of it (an ``Incident`` or a ``RunningIncident``)."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> IncidentStatus: ...
    @property
    def received_at(self) -> datetime: ...
    @property
    def dispatched_at(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class RunningIncident:
    """An incident whose stage timers run, as the timer check reads it: only what the timers and
    their alerts need, since the check goes through every running incident every few seconds."""

    id: str
    status: IncidentStatus
    priority: int
    station_code: str | None
    received_at: datetime
    dispatched_at: datetime | None


def _level(elapsed: float, target: float) -> str:
    if elapsed >= target:
        return "red"
    if elapsed >= AMBER_SHARE * target:
        return "amber"
    return "ok"


def incident_timers(inc: TimedIncident, targets: StageTargets, now: datetime) -> list[TimerState]:
    """The running stage timers of an open incident (a finished stage no longer runs)."""
    out = []

    def add(stage: str, start: datetime, target: int) -> None:
        elapsed = (now - start).total_seconds()
        key = f"incident:{inc.id}:{stage}"
        out.append(TimerState(key, inc.id, None, stage, elapsed, target, _level(elapsed, target)))

    if inc.status is IncidentStatus.RECEIVED:
        add("dispatch", inc.received_at, targets.dispatch_s)
    if inc.status in TIMED_STATUSES:
        add("response", inc.received_at, targets.response_s)
        if inc.dispatched_at is not None and inc.status is not IncidentStatus.RECEIVED:
            add("travel", inc.dispatched_at, targets.travel_s)
    return out


def checkin_timers(units: Iterable[Unit], interval_s: int, now: datetime) -> list[TimerState]:
    out = []
    for u in units:
        if u.status is UnitStatus.ON_SCENE and u.checkin_at is not None:
            elapsed = (now - u.checkin_at).total_seconds()
            out.append(
                TimerState(f"unit:{u.id}:checkin", u.incident_id, u.id, "checkin", elapsed, interval_s,
                           _level(elapsed, interval_s))
            )
    return out


def crossings(states: Iterable[TimerState], already: dict[str, str]) -> list[TimerState]:
    """Timers whose level rose since last reported (``already``: key → last level), updating it."""
    rank = {"ok": 0, "amber": 1, "red": 2}
    out = []
    for s in states:
        prev = already.get(s.key, "ok")
        if rank[s.level] > rank[prev]:
            out.append(s)
            already[s.key] = s.level
    return out
