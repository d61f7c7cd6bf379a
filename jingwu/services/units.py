"""Units in the field: positions (AVL) from mobile terminals and the drill, and the unit roster."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, select

from jingwu.domain import events as ev
from jingwu.domain.access import Action, Actor, Role
from jingwu.domain.errors import Conflict, DomainError, NotFound
from jingwu.domain.geography import GeoPoint
from jingwu.domain.incident_types import Capability
from jingwu.domain.org import OrgLevel, OrgTree
from jingwu.domain.unit import Unit, UnitStatus
from jingwu.interop.units_csv import UnitRecord
from jingwu.services.dependencies import Dependencies
from jingwu.store import audit_chain
from jingwu.store import tables as t
from jingwu.store.repositories import UnitRepository, record_position, unit_from_row, unit_home_station


def report_position(deps: Dependencies, actor: Actor, unit_id: str, point: GeoPoint, at: datetime | None = None,
                    speed_mps: float | None = None, heading: float | None = None) -> bool:
    """Record a position fix; an older fix than the one stored is ignored (returns False).

    Positions are not written to the audit log: they arrive every few seconds per unit and are
    published as UnitMoved events naming the sender; the audit log records who changed what.
    """
    actor.require(Action.UNIT_POSITION)
    if actor.role is Role.OFFICER and actor.unit_id != unit_id:
        raise NotFound(f"unit {unit_id} not found", field="unit_id")
    now = deps.clock()
    at = at or now
    if (at - now).total_seconds() > 120:
        raise DomainError("position time is in the future", field="at")
    with deps.uow() as uow:
        home = unit_home_station(uow.conn, unit_id)
        if home is None or not actor.sees(home):
            raise NotFound(f"unit {unit_id} not found", field="unit_id")
        if not record_position(uow.conn, unit_id, point, at):
            return False
        uow.emit(ev.UnitMoved(at=at, actor=actor.username, station_code=home, unit_id=unit_id,
                              lat=point.lat, lon=point.lon, speed_mps=speed_mps, heading=heading))
        uow.commit()
    return True


def add_unit(deps: Dependencies, actor: Actor, unit_id: str, call_sign: str, station: str,
             capabilities: set[Capability], crew_size: int = 2, position: GeoPoint | None = None,
             status: UnitStatus = UnitStatus.OFF_DUTY) -> Unit:
    actor.require(Action.UNIT_MANAGE)
    if station not in deps.org:
        raise DomainError(f"unknown station {station!r}", field="station")
    if not actor.sees(station):
        raise NotFound(f"station {station} not found", field="station")
    now = deps.clock()
    unit = Unit(id=unit_id, call_sign=call_sign, home_station=station, capabilities=frozenset(capabilities),
                crew_size=crew_size, status=status, position=position, position_at=now if position else None,
                status_at=now)
    with deps.uow() as uow:
        uow.units.add(unit)
        uow.audit(at=now, actor=actor.username, action="unit.add", object_type="unit", object_id=unit_id,
                  detail={"call_sign": call_sign, "station": station, "status": status.value,
                          "capabilities": sorted(c.value for c in capabilities)})
        uow.commit()
    return unit


def import_units(conn: Connection, org: OrgTree, records: Sequence[UnitRecord], now: datetime, by: str) -> list[Unit]:
    """Add units from a roster file, in the caller's transaction, and audit it. All rows are
    checked before any is written: stations exist and are stations, ids and call signs are new.
    A unit without a position starts at its station house (or the middle of its area), so it can
    be ranked by road as soon as it is available."""
    audit_chain.hold_writer(conn)
    taken_ids = set(conn.execute(select(t.units.c.id)).scalars())
    taken_signs = set(conn.execute(select(t.units.c.call_sign)).scalars())
    units = []
    for r in records:
        where = f"line {r.line} ({r.call_sign})"
        station = org.units.get(r.home_station)
        if station is None or station.level is not OrgLevel.STATION:
            raise DomainError(f"{where}: home_station: {r.home_station!r} is not a station's org code",
                              field="home_station")
        if r.id in taken_ids:
            raise Conflict(f"{where}: id: {r.id!r} is already taken", field="id")
        if r.call_sign in taken_signs:
            raise Conflict(f"{where}: call_sign: {r.call_sign!r} is already taken", field="call_sign")
        taken_ids.add(r.id)
        taken_signs.add(r.call_sign)
        home = station.base or (station.area.centroid() if station.area else None)
        position = r.position or home
        units.append(Unit(id=r.id, call_sign=r.call_sign, home_station=r.home_station, capabilities=r.capabilities,
                          crew_size=r.crew_size, status=r.status, position=position,
                          position_at=now if position else None, status_at=now))
    repo = UnitRepository(conn, lock=False)
    for u in units:
        repo.add(u)
    audit_chain.append(conn, [{"at": now, "actor": by, "action": "unit.import", "object_type": "unit",
                               "object_id": units[0].id if len(units) == 1 else f"{len(units)} units",
                               "detail": {"ids": [u.id for u in units][:1000], "count": len(units)}}])
    return units


def all_units(conn: Connection) -> list[Unit]:
    """Every unit as stored (for export)."""
    return [unit_from_row(r) for r in conn.execute(select(t.units).order_by(t.units.c.call_sign))]
