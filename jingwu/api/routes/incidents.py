"""Incidents: intake, queue, detail with timeline, duplicates, transitions, recommendations, assignment."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from pydantic import Field

from jingwu.api.deps import ActorDep, DepsDep, RequestIdDep
from jingwu.api.json_answer import JSONAnswer, fields_of
from jingwu.api.lanes import operations_lane
from jingwu.api.schemas import (
    AssignmentCreated,
    AssignmentIn,
    CallerOut,
    DuplicateOut,
    IncidentCreated,
    IncidentDetail,
    IncidentIn,
    IncidentList,
    IncidentOut,
    LinkIn,
    RecommendationOut,
    ReportIn,
    RevealIn,
    TransitionIn,
)
from jingwu.domain.errors import DomainError
from jingwu.domain.geography import GeoPoint
from jingwu.domain.incident import IncidentStatus, Source
from jingwu.services import queries
from jingwu.services.dispatch import AssignUnit, assign_unit, recommend_units
from jingwu.services.incidents import file_scene_report, link_duplicate, transition_incident
from jingwu.services.intake import ReceiveCall, receive_call
from jingwu.store.repositories import incident_as_row
from jingwu.store.unit_of_work import read_connection

router = APIRouter(prefix="/api/incidents", tags=["incidents"])


@router.post("", status_code=201, response_model=IncidentCreated,
             responses={200: {"model": IncidentCreated, "description": "a retry: the incident already created"}})
@operations_lane
def create_incident(
    body: IncidentIn, actor: ActorDep, deps: DepsDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
    recommend: Annotated[int, Query(ge=0, le=100, description=(
        "answer with this many units to send, ranked as by GET …/recommendations (0: none)"))] = 0,
    routes: Annotated[bool, Query(description="with ?recommend, also draw each unit's route")] = False,
) -> Response:
    """A call becomes an incident; ``?recommend=N`` answers with the units to send in the same request.
    The answer is written by orjson (``JSONAnswer``), to ``IncidentCreated``'s fields."""
    digest = hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
    cmd = ReceiveCall(
        type_code=body.type,
        location=GeoPoint(lat=body.location.lat, lon=body.location.lon) if body.location else None,
        address=body.address, priority=body.priority, description=body.description,
        caller_name=body.caller.name if body.caller else None, caller_phone=body.caller.phone if body.caller else None,
        source=Source(body.source), idempotency_key=idempotency_key, request_hash=digest,
        recommend=recommend, routes=routes,
    )
    result = receive_call(deps, actor, cmd)
    return JSONAnswer(fields_of(
        incident_as_row(result.incident), IncidentCreated, replayed=not result.created,
        geocoded_as=result.geocoded, possible_duplicates=[_dup(d) for d in result.duplicates],
        recommendations=None if result.recommendations is None else [_rec(r) for r in result.recommendations],
    ), status_code=201 if result.created else 200)


_DUP_FIELDS = tuple(DuplicateOut.model_fields)


def _dup(d: object) -> dict:
    return {k: getattr(d, k) for k in _DUP_FIELDS}


@router.get("", response_model=IncidentList)
def list_incidents(
    actor: ActorDep, deps: DepsDep,
    status: Annotated[list[IncidentStatus] | None, Query(max_length=10)] = None,
    priority: Annotated[list[Annotated[int, Field(ge=1, le=4)]] | None, Query(max_length=4)] = None,
    station: Annotated[str | None, Query(max_length=32, description=(
        "an org unit's code: a station, or a district branch for all its stations"))] = None,
    type: Annotated[str | None, Query(max_length=40)] = None,
    since: datetime | None = None, until: datetime | None = None,
    open: bool = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200, offset: Annotated[int, Query(ge=0)] = 0,
) -> IncidentList:
    """The queue and the record: filters combine (AND); an unknown status, priority, org unit or
    type is refused (422, naming it), not taken as a filter that matches nothing."""
    f = queries.IncidentFilter(
        status=[s.value for s in status] if status else None, priority=priority,
        stations=deps.org.under(station), type_code=deps.catalogue.known_type(type),
        since=since, until=until, open_only=open, limit=limit, offset=offset)
    with read_connection(deps.engine) as conn:
        rows, total = queries.list_incidents(conn, actor, f)
    return IncidentList(items=[IncidentOut(**r) for r in rows], total=total)


@router.get("/{incident_id}", response_model=IncidentDetail)
@operations_lane
def get_incident(incident_id: str, actor: ActorDep, deps: DepsDep) -> IncidentDetail:
    with read_connection(deps.engine) as conn:
        return IncidentDetail(**queries.incident_detail(conn, actor, incident_id))


@router.post("/{incident_id}/callers/reveal", response_model=list[CallerOut])
def reveal_callers(incident_id: str, body: RevealIn, actor: ActorDep, deps: DepsDep,
                   rid: RequestIdDep) -> list[CallerOut]:
    with deps.engine.begin() as conn:
        found = queries.reveal_callers(conn, actor, incident_id, body.reason, deps.clock(), rid)
    return [CallerOut(**c) for c in found]


@router.post("/{incident_id}/report", status_code=201, response_model=IncidentOut)
def scene_report(
    incident_id: str, body: ReportIn, actor: ActorDep, deps: DepsDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> IncidentOut:
    """A short report from the scene, into the incident's timeline (a retry with the same key is a no-op)."""
    if body.at is not None and body.at.tzinfo is None:
        raise DomainError("at must carry a time zone", field="at")
    inc = file_scene_report(deps, actor, incident_id, body.text, idempotency_key, body.at)
    return IncidentOut(**incident_as_row(inc))


@router.post("/{incident_id}/link", response_model=IncidentOut)
@operations_lane
def link(incident_id: str, body: LinkIn, actor: ActorDep, deps: DepsDep) -> IncidentOut:
    """Confirm this incident duplicates ``into``: it is merged and its callers join ``into``."""
    return IncidentOut(**incident_as_row(link_duplicate(deps, actor, incident_id, body.into)))


@router.post("/{incident_id}/transition", response_model=IncidentOut)
@operations_lane
def transition(incident_id: str, body: TransitionIn, actor: ActorDep, deps: DepsDep) -> IncidentOut:
    return IncidentOut(**incident_as_row(transition_incident(deps, actor, incident_id, body.status, body.reason)))


@router.get("/{incident_id}/recommendations", response_model=list[RecommendationOut])
@operations_lane
def recommendations(incident_id: str, actor: ActorDep, deps: DepsDep,
                    limit: Annotated[int, Query(ge=1, le=100)] = 10,
                    routes: Annotated[bool, Query(description="draw each unit's route (the map's lines)")] = True,
                    ) -> Response:
    """The units to send, best first (written by orjson, to ``RecommendationOut``'s fields)."""
    return JSONAnswer([_rec(r) for r in recommend_units(deps, actor, incident_id, limit, routes=routes)])


_REC_FIELDS = tuple(RecommendationOut.model_fields)


def _rec(r: object) -> dict:
    """A recommendation as ``RecommendationOut`` writes it (every field is one of ``Recommendation``'s)."""
    out = {k: getattr(r, k) for k in _REC_FIELDS}
    out["capability"] = str(out["capability"])
    return out


@router.post("/{incident_id}/assignments", status_code=201, response_model=AssignmentCreated,
             responses={409: {"description": "the unit is not available"}})
@operations_lane
def assign(incident_id: str, body: AssignmentIn, actor: ActorDep, deps: DepsDep) -> AssignmentCreated:
    a = assign_unit(deps, actor, AssignUnit(incident_id, body.unit_id, body.override_reason))
    return AssignmentCreated(incident_id=a.incident_id, unit_id=a.unit_id, call_sign=a.call_sign,
                             recommended=a.recommended, override_reason=a.override_reason, eta_s=a.eta_s)
