"""Read models: what lists, maps and detail pages show. Scope is applied here, where data is read,
so no route can forget it; personal data comes out masked unless revealed (and audited)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BindParameter, Connection, Select, bindparam, func, select

from jingwu.domain.access import Action, Actor
from jingwu.domain.errors import DomainError, NotFound
from jingwu.store import audit_chain
from jingwu.store import tables as t
from jingwu.store.direct import DirectStatement
from jingwu.store.repositories import incident_row

INCIDENT_COLUMNS = (
    "id", "type_code", "family", "priority", "status", "lat", "lon", "station_code", "address", "street",
    "description", "source", "callers", "received_at", "received_by", "dispatched_at", "en_route_at",
    "arrived_at", "cleared_at", "closed_at", "merged_into", "major_id", "active_units", "version",
)


MAX_OFFSET = 2**31 - 1


def mask_name(name: str | None) -> str | None:
    if not name:
        return name
    return name[0] + "*" * max(1, len(name) - 1)


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    digits = len(phone)
    if digits <= 4:
        return "*" * digits
    return phone[:2] + "*" * (digits - 4) + phone[-2:]


def as_utc(value: datetime | None, field: str) -> datetime | None:
    """A filter time in UTC; a time without a zone is taken as UTC (query strings often omit it)."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise DomainError("time out of range", field=field) from exc


def _scoped(q: Select[Any], actor: Actor, column: Any) -> Select[Any]:
    return q if actor.scope is None else q.where(column.in_(sorted(actor.scope)))


@dataclass(frozen=True)
class IncidentFilter:
    status: list[str] | None = None
    priority: list[int] | None = None
    stations: frozenset[str] | None = None
    """An org unit's subtree (``OrgTree.under``): one station, or a district branch's stations."""
    type_code: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    open_only: bool = False
    limit: int = 200
    offset: int = 0


def list_incidents(conn: Connection, actor: Actor, f: IncidentFilter) -> tuple[list[dict[str, Any]], int]:
    actor.require(Action.INCIDENT_READ)
    c = t.incidents.c
    q = _scoped(select(t.incidents), actor, c.station_code)
    if f.status:
        q = q.where(c.status.in_(f.status))
    if f.open_only:
        q = q.where(c.status.in_(["received", "dispatched", "en_route", "on_scene", "cleared"]))
    if f.priority:
        q = q.where(c.priority.in_(f.priority))
    if f.stations is not None:
        q = q.where(c.station_code.in_(sorted(f.stations)))
    if f.type_code:
        q = q.where(c.type_code == f.type_code)
    since, until = as_utc(f.since, "since"), as_utc(f.until, "until")
    if since is not None and until is not None and until <= since:
        raise DomainError("until must be after since", field="until")
    if since is not None:
        q = q.where(c.received_at >= since)
    if until is not None:
        q = q.where(c.received_at < until)
    total = conn.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    offset = min(f.offset, MAX_OFFSET)  # past any real table; keeps the number within a database integer
    rows = conn.execute(q.order_by(c.priority, c.received_at.desc()).limit(f.limit).offset(offset))
    return [dict(r._mapping) for r in rows], total


def sent_to(conn: Connection, actor: Actor, incident_id: str) -> bool:
    """Whether the actor's own unit was assigned to the incident: an officer sent across a
    boundary may read the incident they were sent to, and nothing else there."""
    if actor.unit_id is None:
        return False
    a = t.assignments.c
    return conn.execute(select(a.id).where(a.incident_id == incident_id, a.unit_id == actor.unit_id)
                        .limit(1)).first() is not None


def _detail_statements() -> tuple[DirectStatement, DirectStatement, DirectStatement]:
    """The detail page's reads after the incident's own row, compiled once (it is read on every
    click on the board)."""
    one: BindParameter[str] = bindparam("id")
    tl, a, cl = t.incident_timeline.c, t.assignments.c, t.callers.c
    return (
        DirectStatement(select(tl.at, tl.actor, tl.kind, tl.data).where(tl.incident_id == one).order_by(tl.seq)),
        DirectStatement(
            select(*(a[c] if c != "call_sign" else t.units.c.call_sign for c in _ASSIGNMENT_FIELDS))
            .join(t.units, t.units.c.id == a.unit_id).where(a.incident_id == one).order_by(a.id)),
        DirectStatement(select(cl.id, cl.name, cl.phone).where(cl.incident_id == one).order_by(cl.id)),
    )


_ASSIGNMENT_FIELDS = ("unit_id", "call_sign", "assigned_at", "assigned_by", "recommended", "override_reason",
                      "eta_s", "ended_at", "end_reason")
_TIMELINE, _ASSIGNMENTS, _CALLERS = _detail_statements()


def incident_detail(conn: Connection, actor: Actor, incident_id: str) -> dict[str, Any]:
    actor.require(Action.INCIDENT_READ)
    key = {"id": incident_id}
    out = incident_row(conn, incident_id)
    if out is None or not (actor.sees(out["station_code"]) or sent_to(conn, actor, incident_id)):
        raise NotFound(f"incident {incident_id} not found", field="incident_id")
    out["timeline"] = [{"at": at, "actor": who, "kind": kind, "data": data}
                       for at, who, kind, data in _TIMELINE.all(conn, key)]
    out["assignments"] = [dict(zip(_ASSIGNMENT_FIELDS, r, strict=True)) for r in _ASSIGNMENTS.all(conn, key)]
    out["caller_details"] = [
        {"id": caller_id, "name": mask_name(name), "phone": mask_phone(phone), "masked": True}
        for caller_id, name, phone in _CALLERS.all(conn, key)
    ]
    return out


def reveal_callers(conn: Connection, actor: Actor, incident_id: str, reason: str, at: datetime,
                   request_id: str | None = None) -> list[dict[str, Any]]:
    """Unmasked caller details, only with a stated reason, and the read is written to the audit log."""
    actor.require(Action.CALLER_REVEAL)
    if len(reason.strip()) < 5:
        raise DomainError("state why you need the caller's details (at least 5 characters)", field="reason")
    audit_chain.hold_writer(conn)  # it reads, then writes the audit record
    row = conn.execute(select(t.incidents.c.station_code).where(t.incidents.c.id == incident_id)).first()
    if row is None or not actor.sees(row.station_code):
        raise NotFound(f"incident {incident_id} not found", field="incident_id")
    found = [
        {"id": r.id, "name": r.name, "phone": r.phone, "masked": False}
        for r in conn.execute(select(t.callers).where(t.callers.c.incident_id == incident_id).order_by(t.callers.c.id))
    ]
    audit_chain.append(conn, [{
        "at": at, "actor": actor.username, "action": "caller.reveal", "object_type": "incident",
        "object_id": incident_id, "detail": {"reason": reason.strip()[:500], "callers": [c["id"] for c in found]},
        "request_id": request_id}])
    return found


def list_units(conn: Connection, actor: Actor, stations: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """The roster the actor may see, of ``stations`` (an org unit's subtree) when given."""
    actor.require(Action.UNIT_READ)
    c = t.units.c
    q = _scoped(select(t.units), actor, c.home_station)
    if stations is not None:
        q = q.where(c.home_station.in_(sorted(stations)))
    return [dict(r._mapping) for r in conn.execute(q.order_by(c.call_sign))]


def unit_detail(conn: Connection, actor: Actor, unit_id: str) -> dict[str, Any]:
    actor.require(Action.UNIT_READ)
    row = conn.execute(select(t.units).where(t.units.c.id == unit_id)).first()
    if row is None or not actor.sees(row.home_station):
        raise NotFound(f"unit {unit_id} not found", field="unit_id")
    out = dict(row._mapping)
    tl = t.unit_timeline.c
    out["timeline"] = [
        {"at": r.at, "actor": r.actor, "kind": r.kind, "data": r.data}
        for r in conn.execute(select(t.unit_timeline).where(tl.unit_id == unit_id).order_by(tl.seq.desc()).limit(50))
    ]
    return out


def list_majors(conn: Connection, actor: Actor) -> list[dict[str, Any]]:
    actor.require(Action.INCIDENT_READ)
    c = t.major_incidents.c
    q = _scoped(select(t.major_incidents), actor, c.station_code)
    return [dict(r._mapping) for r in conn.execute(q.order_by(c.declared_at.desc()))]
