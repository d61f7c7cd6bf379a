"""Units in the field: positions (AVL) from mobile terminals and the drill, and the unit roster."""

from __future__ import annotations

from datetime import datetime

from jingwu.domain import events as ev
from jingwu.domain.access import Action, Actor, Role
from jingwu.domain.errors import DomainError, NotFound
from jingwu.domain.geography import GeoPoint
from jingwu.domain.incident_types import Capability
from jingwu.domain.unit import Unit, UnitStatus
from jingwu.services.dependencies import Dependencies
from jingwu.store.repositories import record_position, unit_home_station


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
