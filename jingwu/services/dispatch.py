"""Dispatch (派警): recommend the units that fill the run card fastest, assign, release.

A unit can never be on two incidents: the unit row is locked and version-checked, and a unique
index on open assignments refuses a second one even if everything else failed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import NoReturn

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from jingwu.domain import events as ev
from jingwu.domain.access import Action, Actor
from jingwu.domain.dispatch import Recommendation, candidates, rank, still_needed
from jingwu.domain.errors import Conflict, DomainError, NotFound
from jingwu.domain.incident import Incident
from jingwu.domain.incident_types import Capability
from jingwu.domain.travel import TravelEstimate, UnitOrigin
from jingwu.domain.unit import Unit, UnitStatus
from jingwu.services.dependencies import Dependencies
from jingwu.services.request_keys import already_applied, claim
from jingwu.store import tables as t
from jingwu.store.repositories import (
    available_units,
    end_assignment,
    load_incident,
    load_unit,
    unit_from_row,
)
from jingwu.store.unit_of_work import read_connection


@dataclass(frozen=True)
class AssignUnit:
    incident_id: str
    unit_id: str
    override_reason: str | None = None


@dataclass(frozen=True)
class Assignment:
    incident_id: str
    unit_id: str
    call_sign: str
    recommended: bool
    override_reason: str | None
    eta_s: float | None


def _visible_incident(inc: Incident | None, actor: Actor, incident_id: str) -> Incident:
    if inc is None or not actor.sees(inc.station_code):
        raise NotFound(f"incident {incident_id} not found", field="incident_id")
    return inc


def recommend_units(deps: Dependencies, actor: Actor, incident_id: str,
                    limit: int | None = None, *, plan_only: bool = False,
                    routes: bool = True) -> list[Recommendation]:
    """Units ranked for an incident: those that fill the run card first, each fastest by travel time.

    ``plan_only`` asks only for the units that fill the run card (no alternatives): the same
    plan-fillers, with ETAs and routes for far fewer units (assignment checks, the drill's desk).
    Each capability's search still looks at as many units as the whole plan needs, so a unit
    picked for another capability first can never leave this one short. ``routes=False`` leaves
    the routes out (``assign_unit`` only needs to know who fills the plan, and at what ETA)."""
    actor.require(Action.INCIDENT_READ)
    with read_connection(deps.engine) as conn:
        inc = _visible_incident(load_incident(conn, incident_id), actor, incident_id)
        units = available_units(conn, also=inc.active_units)
    return recommend_for(deps, actor, inc, units, limit, plan_only=plan_only, routes=routes)


def recommend_for(deps: Dependencies, actor: Actor, inc: Incident, units: list[Unit], limit: int | None, *,
                  plan_only: bool = False, routes: bool = True) -> list[Recommendation]:
    """``recommend_units`` on the incident and units already read (by a read, by the unit of work
    of an assignment, or by intake's own transaction)."""
    rules = deps.dispatch_rules
    limit = limit or rules.recommendation_limit
    units = [u for u in units if actor.sees(u.home_station)]
    by_id = {u.id: u for u in units}
    itype = deps.catalogue.get(inc.type_code)
    assigned = [by_id[uid] for uid in inc.active_units if uid in by_id]
    need = still_needed(itype.plan_for(inc.priority), assigned)
    if plan_only:
        limit = max(1, sum(need.values()))
    caps = set(need) | {itype.capability}
    # With one capability asked for, the units its search returns are the answer (the plan's
    # fillers first, then alternatives up to ``limit``; for the plan only, when that capability is
    # what the plan lacks): the routes are drawn in that search, not in a second question about
    # the same units.
    routes_now = routes and len(caps) == 1 and (set(need) == caps or not plan_only)
    now = deps.clock()
    estimates: dict[Capability, list[TravelEstimate]] = defaultdict(list)
    for cap in sorted(caps, key=lambda c: c.value):
        pool = candidates(units, cap)
        if not pool:
            continue
        origins = [UnitOrigin(u.id, u.position) for u in pool if u.position is not None]
        estimates[cap] = deps.travel.estimate(inc.location, origins, want=max(limit, need.get(cap, 0)),
                                              max_seconds=rules.recommendation_max_eta_s, at=now,
                                              routes=routes_now)
    ranked = rank(need, estimates, by_id, limit)
    if plan_only:
        ranked = [r for r in ranked if r.fills_plan]
    return _with_routes(deps, ranked, by_id, inc, now) if routes else ranked


def _with_routes(deps: Dependencies, ranked: list[Recommendation], by_id: dict[str, Unit], inc: Incident,
                 now: datetime) -> list[Recommendation]:
    """Routes drawn for the units kept in the answer only (each capability's search ranks more
    units than the answer keeps), in one more question the kept search answers."""
    origins = [UnitOrigin(r.unit_id, pos) for r in ranked
               if r.route is None and (pos := by_id[r.unit_id].position) is not None]
    if not origins:
        return ranked
    drawn = deps.travel.estimate(inc.location, origins, want=len(origins), max_seconds=24 * 3600, at=now)
    route_of = {e.unit_id: e.route for e in drawn}
    return [r if r.route is not None else replace(r, route=route_of.get(r.unit_id)) for r in ranked]


def assign_unit(deps: Dependencies, actor: Actor, cmd: AssignUnit) -> Assignment:
    actor.require(Action.INCIDENT_ASSIGN)
    actor.require(Action.INCIDENT_READ)
    reason = (cmd.override_reason or "").strip() or None
    now = deps.clock()
    try:
        with deps.uow() as uow:
            # The recommendation is checked on the incident as locked and the units as they stand
            # now, in this transaction: one read of each, and no stale ranking between the two.
            inc = _visible_incident(uow.incidents.get(cmd.incident_id, for_update=True), actor, cmd.incident_id)
            recs = recommend_for(deps, actor, inc, available_units(uow.conn, also=inc.active_units), None,
                                 plan_only=True, routes=False)
            rec = next((r for r in recs if r.unit_id == cmd.unit_id), None)
            recommended = rec is not None and rec.fills_plan
            if not recommended and reason is None:
                _refuse_unrecommended(uow.conn, actor, cmd.unit_id)
            unit = uow.units.get(cmd.unit_id, for_update=True)
            if not actor.sees(unit.home_station):
                raise NotFound(f"unit {cmd.unit_id} not found", field="unit_id")
            eta_s = rec.eta_s if rec else _eta_of(deps, unit, inc, now)
            unit.assign(inc.id, now, actor.username)
            inc.unit_assigned(unit.id, now, actor.username)
            inc.events.append(ev.UnitAssigned(
                at=now, actor=actor.username, station_code=inc.station_code, incident_id=inc.id, unit_id=unit.id,
                call_sign=unit.call_sign, recommended=recommended, override_reason=reason or "",
                eta_s=eta_s,
            ))
            uow.units.save(unit)
            uow.incidents.save(inc)
            uow.insert(t.assignments, {
                "incident_id": inc.id, "unit_id": unit.id, "assigned_at": now, "assigned_by": actor.username,
                "recommended": recommended, "override_reason": reason, "eta_s": eta_s})
            uow.audit(at=now, actor=actor.username, action="incident.assign", object_type="incident",
                      object_id=inc.id, detail={"unit_id": unit.id, "recommended": recommended,
                                                "override_reason": reason})
            uow.commit()
    except IntegrityError as exc:
        raise Conflict(f"unit {cmd.unit_id} is already assigned", field="unit_id") from exc
    return Assignment(inc.id, unit.id, unit.call_sign, recommended, reason, eta_s)


def _refuse_unrecommended(conn: Connection, actor: Actor, unit_id: str) -> NoReturn:
    """Why a unit sent without a reason is refused: a unit that is not free is 409 (a dispatcher who
    lost a race by milliseconds is told so, as with a reason), a free one needs ``override_reason``."""
    seen = load_unit(conn, unit_id)
    if seen is None or not actor.sees(seen.home_station):
        raise NotFound(f"unit {unit_id} not found", field="unit_id")
    if seen.status is not UnitStatus.AVAILABLE:
        raise Conflict(f"unit {seen.call_sign} is {seen.status.value}, not available", field="unit_id")
    raise DomainError(
        "this unit is not the recommendation; give override_reason to send it anyway", field="override_reason")


def _eta_of(deps: Dependencies, unit: Unit, inc: Incident, now: datetime) -> float | None:
    """The ETA of a unit sent against the recommendation (recorded with the override)."""
    if unit.position is None:
        return None
    found = deps.travel.estimate(inc.location, [UnitOrigin(unit.id, unit.position)], want=1,
                                 max_seconds=24 * 3600, at=now, routes=False)
    return round(found[0].eta_s, 1) if found else None


def set_unit_status(deps: Dependencies, actor: Actor, unit_id: str, status: UnitStatus,
                    request_key: str | None = None) -> Unit:
    """A unit reports en route / on scene / clear (available) / off duty; its incident follows.

    With ``request_key``, a repeat of a status change already applied changes nothing (the officer
    terminal replays its offline queue with the keys it sent first)."""
    actor.require(Action.UNIT_STATUS)
    if actor.unit_id is not None and actor.role.value == "officer" and actor.unit_id != unit_id:
        raise NotFound(f"unit {unit_id} not found", field="unit_id")
    now = deps.clock()
    try:
        return _set_unit_status(deps, actor, unit_id, status, request_key, now)
    except IntegrityError:
        # The same key raced in twice; the other attempt applied it.
        with read_connection(deps.engine) as conn:
            if request_key and already_applied(conn, actor.username, "unit-status", request_key):
                return unit_from_row(conn.execute(select(t.units).where(t.units.c.id == unit_id)).one())
        raise


def _set_unit_status(deps: Dependencies, actor: Actor, unit_id: str, status: UnitStatus,
                     request_key: str | None, now: datetime) -> Unit:
    with deps.uow() as uow:
        seen = load_unit(uow.conn, unit_id)  # unlocked: which incident to lock first
        if seen is None or not actor.sees(seen.home_station):
            raise NotFound(f"unit {unit_id} not found", field="unit_id")
        if already_applied(uow.conn, actor.username, "unit-status", request_key):
            return seen
        # Lock order is always incident, then unit (as in assign_unit), so the two cannot deadlock.
        inc = uow.incidents.get(seen.incident_id, for_update=True) if seen.incident_id else None
        unit = uow.units.locked(seen)
        if unit.incident_id != (inc.id if inc else None):
            raise Conflict(f"unit {unit.call_sign} changed meanwhile; retry", field="unit_id")
        was_on_scene = unit.status is UnitStatus.ON_SCENE
        before = unit.status.value
        left = unit.set_status(status, now, actor.username)
        if inc is not None:
            if left:
                inc.unit_left(unit.id, now, actor.username, arrived=was_on_scene)
                end_assignment(uow.conn, unit.id, now, "cleared" if was_on_scene else "released")
                if not was_on_scene:
                    inc.events.append(ev.UnitReleased(at=now, actor=actor.username, station_code=inc.station_code,
                                                      incident_id=inc.id, unit_id=unit.id, reason="released"))
            else:
                inc.unit_progressed(status.value, now, actor.username)
            uow.incidents.save(inc)
        uow.units.save(unit)
        uow.audit(at=now, actor=actor.username, action="unit.status", object_type="unit", object_id=unit.id,
                  detail={"from": before, "to": status.value, "incident_id": inc.id if inc else None})
        claim(uow, actor.username, "unit-status", request_key, unit.id, now)
        uow.commit()
    return unit
