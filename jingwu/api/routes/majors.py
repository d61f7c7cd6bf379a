"""Major incidents (重大突發案事件): escalate, tick the plan's checklist, link, hand over, stand down."""

from __future__ import annotations

from fastapi import APIRouter

from jingwu.api.deps import ActorDep, DepsDep
from jingwu.api.schemas import MajorIn, MajorOut, MajorUpdateIn
from jingwu.domain.major import MajorIncident
from jingwu.services import queries
from jingwu.services.incidents import declare_major, update_major
from jingwu.store.unit_of_work import read_connection

router = APIRouter(prefix="/api", tags=["major incidents"])


def _out(m: MajorIncident) -> MajorOut:
    return MajorOut(
        id=m.id, title=m.title, plan=m.plan, commander=m.commander, station_code=m.station_code,
        declared_at=m.declared_at, incident_ids=m.incident_ids, stood_down_at=m.stood_down_at,
        checklist=[{"text": i.text, "done_by": i.done_by, "done_at": i.done_at} for i in m.checklist],  # type: ignore[misc]
    )


@router.post("/incidents/{incident_id}/escalate", status_code=201, response_model=MajorOut)
def escalate(incident_id: str, body: MajorIn, actor: ActorDep, deps: DepsDep) -> MajorOut:
    return _out(declare_major(deps, actor, incident_id, body.title, body.link))


@router.get("/major-incidents", response_model=list[MajorOut])
def list_majors(actor: ActorDep, deps: DepsDep) -> list[MajorOut]:
    with read_connection(deps.engine) as conn:
        return [MajorOut(**m) for m in queries.list_majors(conn, actor)]


@router.post("/major-incidents/{major_id}", response_model=MajorOut)
def change_major(major_id: str, body: MajorUpdateIn, actor: ActorDep, deps: DepsDep) -> MajorOut:
    return _out(update_major(deps, actor, major_id, tick=body.tick, link=body.link, commander=body.commander,
                             stand_down=body.stand_down))
