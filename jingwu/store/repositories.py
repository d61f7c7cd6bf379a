"""Repositories: load and save aggregates (incidents, units, major incidents) on one connection.

Loads for writing lock the row (``FOR UPDATE`` on PostgreSQL; SQLite already serialises writers),
and saves check the version read, so a change based on a stale read can never be committed.
Each save appends the aggregate's new events to its timeline in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, select, update

from jingwu.domain.errors import Conflict, NotFound
from jingwu.domain.events import Event
from jingwu.domain.geography import GeoPoint, degree_margins
from jingwu.domain.incident import OPEN_STATUSES, Incident, IncidentStatus, Source
from jingwu.domain.incident_types import Capability
from jingwu.domain.major import ChecklistItem, MajorIncident
from jingwu.domain.unit import Unit, UnitStatus
from jingwu.store import tables as t


def _timeline_rows(events: Iterable[Event], key: str, value: str) -> list[dict[str, Any]]:
    rows = []
    for e in events:
        if getattr(e, key, None) != value:
            continue
        data = e.to_dict()
        for k in ("kind", "at", "actor"):
            data.pop(k, None)
        rows.append({key: value, "at": e.at, "actor": e.actor, "kind": e.kind, "data": data})
    return rows


def incident_from_row(r: Row[Any] | Any) -> Incident:
    m = r._mapping
    return Incident(
        id=m["id"], type_code=m["type_code"], family=m["family"], priority=m["priority"],
        location=GeoPoint(lat=m["lat"], lon=m["lon"]), station_code=m["station_code"],
        received_at=m["received_at"], received_by=m["received_by"], source=Source(m["source"]),
        status=IncidentStatus(m["status"]), address=m["address"], street=m["street"],
        description=m["description"], callers=m["callers"], dispatched_at=m["dispatched_at"],
        en_route_at=m["en_route_at"], arrived_at=m["arrived_at"], cleared_at=m["cleared_at"],
        closed_at=m["closed_at"], merged_into=m["merged_into"], major_id=m["major_id"],
        active_units=list(m["active_units"] or []), version=m["version"],
    )


def _incident_values(i: Incident) -> dict[str, Any]:
    return {
        "type_code": i.type_code, "family": i.family, "priority": i.priority, "status": i.status.value,
        "lat": i.location.lat, "lon": i.location.lon, "station_code": i.station_code, "address": i.address,
        "street": i.street, "description": i.description, "source": i.source.value, "callers": i.callers,
        "received_at": i.received_at, "received_by": i.received_by, "dispatched_at": i.dispatched_at,
        "en_route_at": i.en_route_at, "arrived_at": i.arrived_at, "cleared_at": i.cleared_at,
        "closed_at": i.closed_at, "merged_into": i.merged_into, "major_id": i.major_id,
        "active_units": list(i.active_units),
    }


def incident_as_row(i: Incident) -> dict[str, Any]:
    """The incident as its ``incidents`` row (the shape read models and the API answer with)."""
    return {"id": i.id, "version": i.version, **_incident_values(i)}


def _versioned_update(table: Any, columns: Iterable[str]) -> Any:
    """UPDATE … SET <columns>, version = :b_new WHERE id = :b_id AND version = :b_version, built once:
    saves are the hot path, and rebuilding the statement each time cost more than running it."""
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.version == bindparam("b_version"))
        .values({name: bindparam(name) for name in columns} | {"version": bindparam("b_new")})
    )


_INCIDENT_COLUMNS = [c.name for c in t.incidents.c if c.name not in ("id", "version")]
_INSERT_INCIDENT = insert(t.incidents)
_UPDATE_INCIDENT = _versioned_update(t.incidents, _INCIDENT_COLUMNS)


class IncidentRepository:
    def __init__(self, conn: Connection, lock: bool) -> None:
        self.conn = conn
        self.lock = lock
        self.seen: list[Incident] = []

    def add(self, inc: Incident) -> None:
        self.conn.execute(_INSERT_INCIDENT, {"id": inc.id, "version": 0, **_incident_values(inc)})
        self._timeline(inc)
        self.seen.append(inc)

    def get(self, incident_id: str, *, for_update: bool = False) -> Incident:
        q = select(t.incidents).where(t.incidents.c.id == incident_id)
        if for_update and self.lock:
            q = q.with_for_update()
        row = self.conn.execute(q).first()
        if row is None:
            raise NotFound(f"incident {incident_id} not found", field="incident_id")
        inc = incident_from_row(row)
        if for_update:
            self.seen.append(inc)
        return inc

    def save(self, inc: Incident) -> None:
        res = self.conn.execute(_UPDATE_INCIDENT, {**_incident_values(inc), "b_id": inc.id, "b_version": inc.version,
                                                   "b_new": inc.version + 1})
        if res.rowcount != 1:
            raise Conflict(f"incident {inc.id} was changed by someone else; reload and retry", field="incident_id")
        inc.version += 1
        self._timeline(inc)

    def _timeline(self, inc: Incident) -> None:
        rows = _timeline_rows(inc.events, "incident_id", inc.id)
        if rows:
            self.conn.execute(insert(t.incident_timeline), rows)

    def open_near(self, family: str, since: datetime, lat: float, lon: float, radius_m: float,
                  limit: int = 50) -> list[Incident]:
        """Open incidents of a family received since ``since`` inside the box around a circle of
        ``radius_m`` (newest first); the exact distance is the domain's to judge."""
        c = t.incidents.c
        dlat, dlon = degree_margins(lat, radius_m)
        rows = self.conn.execute(
            select(t.incidents).where(
                c.family == family, c.received_at >= since, c.status.in_([s.value for s in OPEN_STATUSES]),
                c.lat.between(lat - dlat, lat + dlat), c.lon.between(lon - dlon, lon + dlon),
            ).order_by(c.received_at.desc()).limit(limit)
        )
        return [incident_from_row(r) for r in rows]


def unit_from_row(r: Row[Any] | Any) -> Unit:
    m = r._mapping
    pos = GeoPoint(lat=m["lat"], lon=m["lon"]) if m["lat"] is not None else None
    return Unit(
        id=m["id"], call_sign=m["call_sign"], home_station=m["home_station"],
        capabilities=frozenset(Capability(c) for c in m["capabilities"]), crew_size=m["crew_size"],
        status=UnitStatus(m["status"]), position=pos, position_at=m["position_at"],
        incident_id=m["incident_id"], status_at=m["status_at"], checkin_at=m["checkin_at"], version=m["version"],
    )


def _unit_values(u: Unit) -> dict[str, Any]:
    return {
        "call_sign": u.call_sign, "home_station": u.home_station,
        "capabilities": sorted(c.value for c in u.capabilities), "crew_size": u.crew_size,
        "status": u.status.value, "lat": u.position.lat if u.position else None,
        "lon": u.position.lon if u.position else None, "position_at": u.position_at,
        "incident_id": u.incident_id, "status_at": u.status_at, "checkin_at": u.checkin_at,
    }


_UNIT_COLUMNS = [c.name for c in t.units.c if c.name not in ("id", "version")]
_INSERT_UNIT = insert(t.units)
_UPDATE_UNIT = _versioned_update(t.units, _UNIT_COLUMNS)


class UnitRepository:
    def __init__(self, conn: Connection, lock: bool) -> None:
        self.conn = conn
        self.lock = lock
        self.seen: list[Unit] = []

    def add(self, u: Unit) -> None:
        self.conn.execute(_INSERT_UNIT, {"id": u.id, "version": 0, **_unit_values(u)})
        self._timeline(u)
        self.seen.append(u)

    def get(self, unit_id: str, *, for_update: bool = False) -> Unit:
        q = select(t.units).where(t.units.c.id == unit_id)
        if for_update and self.lock:
            q = q.with_for_update()
        row = self.conn.execute(q).first()
        if row is None:
            raise NotFound(f"unit {unit_id} not found", field="unit_id")
        u = unit_from_row(row)
        if for_update:
            self.seen.append(u)
        return u

    def save(self, u: Unit) -> None:
        res = self.conn.execute(_UPDATE_UNIT, {**_unit_values(u), "b_id": u.id, "b_version": u.version,
                                               "b_new": u.version + 1})
        if res.rowcount != 1:
            raise Conflict(f"unit {u.call_sign} was changed by someone else; reload and retry", field="unit_id")
        u.version += 1
        self._timeline(u)

    def _timeline(self, u: Unit) -> None:
        # Positions are frequent and live in the unit row; the timeline keeps status changes.
        rows = [r for r in _timeline_rows(u.events, "unit_id", u.id) if r["kind"] != "UnitMoved"]
        if rows:
            self.conn.execute(insert(t.unit_timeline), rows)


def major_from_row(r: Row[Any] | Any) -> MajorIncident:
    m = r._mapping
    items = [
        ChecklistItem(i["text"], i.get("done_by"),
                      datetime.fromisoformat(i["done_at"]) if i.get("done_at") else None)
        for i in m["checklist"]
    ]
    return MajorIncident(
        id=m["id"], title=m["title"], plan=m["plan"], commander=m["commander"], station_code=m["station_code"],
        declared_at=m["declared_at"], incident_ids=list(m["incident_ids"]), checklist=items,
        stood_down_at=m["stood_down_at"],
    )


def _major_values(mi: MajorIncident) -> dict[str, Any]:
    return {
        "title": mi.title, "plan": mi.plan, "commander": mi.commander, "station_code": mi.station_code,
        "declared_at": mi.declared_at, "incident_ids": list(mi.incident_ids),
        "checklist": [
            {"text": i.text, "done_by": i.done_by, "done_at": i.done_at.isoformat() if i.done_at else None}
            for i in mi.checklist
        ],
        "stood_down_at": mi.stood_down_at,
    }


class MajorIncidentRepository:
    def __init__(self, conn: Connection, lock: bool) -> None:
        self.conn = conn
        self.lock = lock
        self.seen: list[MajorIncident] = []

    def add(self, mi: MajorIncident) -> None:
        self.conn.execute(insert(t.major_incidents).values(id=mi.id, **_major_values(mi)))
        self.seen.append(mi)

    def get(self, major_id: str, *, for_update: bool = False) -> MajorIncident:
        q = select(t.major_incidents).where(t.major_incidents.c.id == major_id)
        if for_update and self.lock:
            q = q.with_for_update()
        row = self.conn.execute(q).first()
        if row is None:
            raise NotFound(f"major incident {major_id} not found", field="major_id")
        mi = major_from_row(row)
        self.seen.append(mi)
        return mi

    def save(self, mi: MajorIncident) -> None:
        self.conn.execute(update(t.major_incidents).where(t.major_incidents.c.id == mi.id).values(**_major_values(mi)))
