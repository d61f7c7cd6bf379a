"""Units: the roster, status changes from terminals and dispatchers, and positions (AVL)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query

from jingwu.api.deps import ActorDep, DepsDep
from jingwu.api.lanes import operations_lane
from jingwu.api.schemas import PositionIn, UnitDetail, UnitOut, UnitStatusIn
from jingwu.domain.errors import DomainError
from jingwu.domain.geography import GeoPoint
from jingwu.services import queries
from jingwu.services.dispatch import set_unit_status
from jingwu.services.units import report_position
from jingwu.store.unit_of_work import read_connection

router = APIRouter(prefix="/api/units", tags=["units"])


@router.get("", response_model=list[UnitOut])
def list_units(actor: ActorDep, deps: DepsDep,
               station: Annotated[str | None, Query(max_length=32, description=(
                   "an org unit's code: a station, or a district branch for all its stations"))] = None,
               ) -> list[UnitOut]:
    with read_connection(deps.engine) as conn:
        return [UnitOut(**u) for u in queries.list_units(conn, actor, deps.org.under(station))]


@router.get("/{unit_id}", response_model=UnitDetail)
def get_unit(unit_id: str, actor: ActorDep, deps: DepsDep) -> UnitDetail:
    with read_connection(deps.engine) as conn:
        return UnitDetail(**queries.unit_detail(conn, actor, unit_id))


@router.post("/{unit_id}/status", response_model=UnitOut)
@operations_lane
def set_status(
    unit_id: str, body: UnitStatusIn, actor: ActorDep, deps: DepsDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> UnitOut:
    """Set the unit's status; a retry with the same Idempotency-Key changes nothing."""
    set_unit_status(deps, actor, unit_id, body.status, idempotency_key)
    with read_connection(deps.engine) as conn:
        return UnitOut(**queries.unit_detail(conn, actor, unit_id))


@router.post("/{unit_id}/position", status_code=202)
@operations_lane
def position(unit_id: str, body: PositionIn, actor: ActorDep, deps: DepsDep) -> dict[str, bool]:
    if body.at is not None and body.at.tzinfo is None:
        raise DomainError("at must carry a time zone (e.g. 2026-11-27T10:00:00Z)", field="at")
    accepted = report_position(deps, actor, unit_id, GeoPoint(lat=body.lat, lon=body.lon), body.at,
                               body.speed_mps, body.heading)
    return {"accepted": accepted}
