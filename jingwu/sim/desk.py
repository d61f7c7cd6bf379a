"""The drill's hands on the command system: the desk a call-taker and a dispatcher work at.

``ServiceDesk`` calls the real use cases in process (the same functions the API routes call) on
the drill's own database with the simulated clock; ``jingwu.sim.http_desk.HttpDesk`` makes the same
moves through the public HTTP API of any running server. The drill logic only sees this interface,
so the fast drill, the live demo and the load generator behave alike.

``ServiceDesk`` also times every call by kind, which is how the drill tells where its seconds go.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from jingwu.domain.access import Actor, Role
from jingwu.domain.errors import Conflict, DomainError, IllegalTransition
from jingwu.domain.geography import GeoPoint, haversine_m
from jingwu.domain.incident import IncidentStatus, Source
from jingwu.domain.travel import UnitOrigin
from jingwu.domain.unit import UnitStatus
from jingwu.services.dependencies import Dependencies
from jingwu.services.dispatch import AssignUnit, assign_unit, recommend_units, set_unit_status
from jingwu.services.incidents import link_duplicate, transition_incident
from jingwu.services.intake import ReceiveCall, receive_call
from jingwu.services.queries import list_units
from jingwu.services.units import report_position
from jingwu.sim.calls import SimCall
from jingwu.store.unit_of_work import read_connection

MAX_ROUTE_S = 6 * 3600.0
AssignOutcome = Literal["assigned", "taken", "not_recommended"]
"""Assigned; the unit was taken meanwhile; or the service no longer recommends it for the run card."""


@dataclass(frozen=True, slots=True)
class Received:
    incident_id: str
    duplicates: tuple[str, ...]
    """Open incidents the intake service offered as possible duplicates."""


@dataclass(frozen=True, slots=True)
class Pick:
    """A unit the recommendation puts forward to fill the run card."""

    unit_id: str
    capability: str
    eta_s: float
    route: tuple[tuple[float, float], ...] | None
    """(lon, lat) vertices from the unit's reported position to the incident, when known."""


@dataclass(frozen=True, slots=True)
class Leg:
    """How a unit gets from one point to another: seconds and the (lon, lat) path."""

    seconds: float
    path: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class UnitInfo:
    id: str
    call_sign: str
    home_station: str
    capabilities: frozenset[str]
    status: str
    position: GeoPoint | None


class Desk(Protocol):
    def receive(self, call: SimCall, key: str) -> Received: ...
    def link(self, incident_id: str, into: str) -> None: ...
    def recommend(self, incident_id: str) -> list[Pick]: ...
    def assign(self, incident_id: str, unit_id: str) -> AssignOutcome: ...
    def status(self, unit_id: str, status: UnitStatus) -> None: ...
    def position(self, unit_id: str, point: GeoPoint, speed_mps: float | None = None,
                 heading: float | None = None) -> None: ...
    def close(self, incident_id: str) -> None: ...
    def travel(self, origin: GeoPoint, destination: GeoPoint) -> Leg: ...
    def units(self) -> list[UnitInfo]: ...


def path_of(route: dict | None) -> tuple[tuple[float, float], ...] | None:
    if not route or route.get("type") != "LineString":
        return None
    coords = route.get("coordinates") or []
    if len(coords) < 2:
        return None
    path = tuple(map(tuple, coords))  # (lon, lat) pairs; routes run to thousands of vertices
    return path if len(path[0]) == 2 else tuple((float(c[0]), float(c[1])) for c in path)


class CallTimer:
    """Wall-clock and CPU seconds and counts per kind of call (``receive_call``, ``assign_unit``…),
    for the drill's report. CPU time (of the calling thread) is what the call cost; wall time also
    counts waiting for a core on a busy machine."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter,
                 cpu: Callable[[], float] = time.thread_time) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu_seconds: dict[str, float] = defaultdict(float)
        self.count: dict[str, int] = defaultdict(int)
        self._clock = clock
        self._cpu = cpu

    @contextmanager
    def time(self, kind: str) -> Iterator[None]:
        started, cpu = self._clock(), self._cpu()
        try:
            yield
        finally:
            self.seconds[kind] += self._clock() - started
            self.cpu_seconds[kind] += self._cpu() - cpu
            self.count[kind] += 1

    def reset(self) -> None:
        self.seconds.clear()
        self.cpu_seconds.clear()
        self.count.clear()

    def summary(self) -> dict[str, dict[str, float]]:
        return {k: {"calls": self.count[k], "seconds": round(self.seconds[k], 3),
                    "ms_per_call": round(1000 * self.seconds[k] / max(1, self.count[k]), 3),
                    "cpu_seconds": round(self.cpu_seconds[k], 3),
                    "cpu_ms_per_call": round(1000 * self.cpu_seconds[k] / max(1, self.count[k]), 3)}
                for k in sorted(self.seconds, key=lambda k: -self.cpu_seconds[k])}


DRILL_CALLTAKER = Actor(username="drill.calltaker", role=Role.CALL_TAKER, org_code="", scope=None)
DRILL_DISPATCHER = Actor(username="drill.dispatcher", role=Role.DISPATCHER, org_code="", scope=None)


class ServiceDesk:
    """The real services, in process, on ``deps`` (whose clock is the drill's)."""

    def __init__(self, deps: Dependencies, calltaker: Actor = DRILL_CALLTAKER,
                 dispatcher: Actor = DRILL_DISPATCHER) -> None:
        self.deps = deps
        self.calltaker = calltaker
        self.dispatcher = dispatcher
        self.timer = CallTimer()

    def receive(self, call: SimCall, key: str) -> Received:
        cmd = ReceiveCall(type_code=call.type_code, location=call.point, priority=call.priority,
                          description=f"drill call {call.event}", source=Source.DRILL)
        with self.timer.time("receive_call"):
            result = receive_call(self.deps, self.calltaker, cmd)
        return Received(result.incident.id, tuple(d.incident_id for d in result.duplicates))

    def link(self, incident_id: str, into: str) -> None:
        with self.timer.time("link_duplicate"):
            link_duplicate(self.deps, self.calltaker, incident_id, into)

    def recommend(self, incident_id: str) -> list[Pick]:
        with self.timer.time("recommend_units"):
            recs = recommend_units(self.deps, self.dispatcher, incident_id, plan_only=True)
        return [Pick(r.unit_id, r.capability.value, r.eta_s, path_of(r.route)) for r in recs if r.fills_plan]

    def assign(self, incident_id: str, unit_id: str) -> AssignOutcome:
        try:
            with self.timer.time("assign_unit"):
                assign_unit(self.deps, self.dispatcher, AssignUnit(incident_id, unit_id))
        except (Conflict, IllegalTransition):
            return "taken"
        except DomainError as exc:
            if exc.field == "override_reason":
                return "not_recommended"
            raise
        return "assigned"

    def status(self, unit_id: str, status: UnitStatus) -> None:
        with self.timer.time(f"set_unit_status:{status.value}"):
            set_unit_status(self.deps, self.dispatcher, unit_id, status)

    def position(self, unit_id: str, point: GeoPoint, speed_mps: float | None = None,
                 heading: float | None = None) -> None:
        with self.timer.time("report_position"):
            report_position(self.deps, self.dispatcher, unit_id, point, speed_mps=speed_mps, heading=heading)

    def close(self, incident_id: str) -> None:
        with self.timer.time("transition_incident:closed"):
            transition_incident(self.deps, self.dispatcher, incident_id, IncidentStatus.CLOSED, "drill")

    def travel(self, origin: GeoPoint, destination: GeoPoint) -> Leg:
        """The same travel-time engine the recommendations use, for a unit away from its last fix."""
        with self.timer.time("travel_estimate"):
            found = self.deps.travel.estimate(destination, [UnitOrigin("leg", origin)], want=1,
                                              max_seconds=MAX_ROUTE_S, at=self.deps.clock())
        if not found:
            return straight_leg(origin, destination)
        est = found[0]
        return Leg(est.eta_s, path_of(est.route) or ((origin.lon, origin.lat), (destination.lon, destination.lat)))

    def units(self) -> list[UnitInfo]:
        with read_connection(self.deps.engine) as conn:
            rows = list_units(conn, self.dispatcher)
        return [unit_info(r) for r in rows]


def unit_info(r: Mapping[str, Any]) -> UnitInfo:
    """From a unit as the read model (or the API) gives it."""
    pos = GeoPoint(lat=r["lat"], lon=r["lon"]) if r.get("lat") is not None else None
    return UnitInfo(r["id"], r["call_sign"], r["home_station"], frozenset(r["capabilities"]), r["status"], pos)


STRAIGHT_SPEED_MS = 40 / 3.6


def straight_leg(origin: GeoPoint, destination: GeoPoint, speed_ms: float = STRAIGHT_SPEED_MS) -> Leg:
    return Leg(haversine_m(origin, destination) / speed_ms,
               ((origin.lon, origin.lat), (destination.lon, destination.lat)))
