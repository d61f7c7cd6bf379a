"""Dispatcher actions on incidents: close, cancel, link a duplicate, escalate to a major incident."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from jingwu.domain.access import Action, Actor
from jingwu.domain.errors import DomainError, NotFound
from jingwu.domain.incident import Incident, IncidentStatus
from jingwu.domain.major import MajorIncident
from jingwu.services.dependencies import Dependencies
from jingwu.services.ids import new_id
from jingwu.services.queries import sent_to
from jingwu.services.request_keys import already_applied, claim
from jingwu.store import tables as t
from jingwu.store.unit_of_work import UnitOfWork


def _get(uow: UnitOfWork, actor: Actor, incident_id: str, field: str = "incident_id") -> Incident:
    """The incident, locked, if the actor may see it; else "not found" naming ``field`` (the path's
    id, or the body's ``link``), whether it is missing or out of scope."""
    try:
        inc = uow.incidents.get(incident_id, for_update=True)
    except NotFound as exc:
        raise NotFound(exc.message, field=field) from None
    if not actor.sees(inc.station_code):
        raise NotFound(f"incident {incident_id} not found", field=field)
    return inc


def transition_incident(deps: Dependencies, actor: Actor, incident_id: str, status: IncidentStatus,
                        reason: str = "") -> Incident:
    actor.require(Action.INCIDENT_UPDATE)
    now = deps.clock()
    with deps.uow() as uow:
        inc = _get(uow, actor, incident_id)
        before = inc.status.value
        inc.transition(status, now, actor.username, reason)
        uow.incidents.save(inc)
        uow.audit(at=now, actor=actor.username, action="incident.transition", object_type="incident",
                  object_id=inc.id, detail={"from": before, "to": inc.status.value, "reason": reason})
        uow.commit()
    return inc


def link_duplicate(deps: Dependencies, actor: Actor, incident_id: str, into: str) -> Incident:
    """The call-taker confirms ``incident_id`` is the same event as ``into``: its callers join ``into``."""
    actor.require(Action.INCIDENT_LINK)
    now = deps.clock()
    with deps.uow() as uow:
        # Lock in id order so two opposite links cannot deadlock.
        first, second = sorted([incident_id, into])
        got = {i: _get(uow, actor, i, "incident_id" if i == incident_id else "into") for i in (first, second)}
        dup, keep = got[incident_id], got[into]
        dup.merge_into(keep, now, actor.username)
        uow.incidents.save(dup)
        uow.incidents.save(keep)
        uow.conn.execute(update(t.callers).where(t.callers.c.incident_id == dup.id).values(incident_id=keep.id))
        uow.audit(at=now, actor=actor.username, action="incident.link", object_type="incident", object_id=dup.id,
                  detail={"into": keep.id})
        uow.commit()
    return keep


def declare_major(deps: Dependencies, actor: Actor, incident_id: str, title: str,
                  link: list[str] | None = None) -> MajorIncident:
    """Escalate to a major incident: the acting commander takes charge and the type's plan is attached."""
    actor.require(Action.INCIDENT_ESCALATE)
    if not title.strip():
        raise DomainError("title must not be empty", field="title")
    now = deps.clock()
    with deps.uow() as uow:
        inc = _get(uow, actor, incident_id)
        if inc.major_id:
            raise DomainError(f"incident {inc.id} is already part of major incident {inc.major_id}", "incident_id")
        itype = deps.catalogue.get(inc.type_code)
        plan = itype.major_plan or "public_safety"
        items = deps.catalogue.major_plans.get(plan, ())
        major = MajorIncident.declare(new_id("MAJ", now), title.strip(), plan, items, actor.username, inc.id,
                                      inc.station_code, now)
        inc.major_id = major.id
        uow.incidents.save(inc)
        for other_id in link or []:
            other = _get(uow, actor, other_id, "link")
            other.major_id = major.id
            major.link(other.id, now, actor.username)
            uow.incidents.save(other)
        uow.majors.add(major)
        uow.audit(at=now, actor=actor.username, action="incident.escalate", object_type="incident",
                  object_id=inc.id, detail={"major_id": major.id, "title": major.title, "link": list(link or [])})
        uow.commit()
    return major


def update_major(deps: Dependencies, actor: Actor, major_id: str, *, tick: int | None = None,
                 link: str | None = None, commander: str | None = None, stand_down: bool = False) -> MajorIncident:
    actor.require(Action.INCIDENT_ESCALATE)
    now = deps.clock()
    with deps.uow() as uow:
        major = uow.majors.get(major_id, for_update=True)
        if not actor.sees(major.station_code):
            raise NotFound(f"major incident {major_id} not found", field="major_id")
        if tick is not None:
            major.tick(tick, now, actor.username)
        if link is not None:
            inc = _get(uow, actor, link, "link")
            inc.major_id = major.id
            uow.incidents.save(inc)
            major.link(inc.id, now, actor.username)
        if commander is not None:
            major.hand_over(commander, now, actor.username)
        if stand_down:
            major.stand_down(now, actor.username)
        uow.majors.save(major)
        uow.audit(at=now, actor=actor.username, action="major.update", object_type="major_incident",
                  object_id=major.id, detail={"tick": tick, "link": link, "commander": commander,
                                              "stand_down": stand_down})
        uow.commit()
    return major


def file_scene_report(deps: Dependencies, actor: Actor, incident_id: str, text: str,
                      request_key: str | None = None, written_at: datetime | None = None) -> Incident:
    """An officer's report from the scene (or a dispatcher's note of one), into the timeline.

    Officers may report on incidents their unit was sent to; others need the right to update."""
    text = text.strip()
    if not text:
        raise DomainError("the report is empty", field="text")
    now = deps.clock()
    with deps.uow() as uow:
        inc = uow.incidents.get(incident_id, for_update=True)
        sent = sent_to(uow.conn, actor, incident_id)
        if not (sent or (actor.can(Action.INCIDENT_UPDATE) and actor.sees(inc.station_code))):
            raise NotFound(f"incident {incident_id} not found", field="incident_id")
        if already_applied(uow.conn, actor.username, "scene-report", request_key):
            return inc
        inc.file_report(text, actor.unit_id if sent else None, now, actor.username, written_at)
        uow.incidents.save(inc)
        uow.audit(at=now, actor=actor.username, action="incident.report", object_type="incident",
                  object_id=inc.id, detail={"chars": len(text)})
        claim(uow, actor.username, "scene-report", request_key, inc.id, now)
        uow.commit()
    return inc
