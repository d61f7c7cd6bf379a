"""The audit log for the auditor: ``GET /api/audit`` (search) and ``GET /api/audit/export.csv``.

Read-only by design: no route changes or removes an entry. Exports are themselves audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from jingwu.api.deps import ActorDep, DepsDep, RequestIdDep
from jingwu.services import audit
from jingwu.store.unit_of_work import read_connection

router = APIRouter(prefix="/api/audit", tags=["audit"])


class AuditEntryOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    object_type: str | None
    object_id: str | None
    request_id: str | None
    detail: dict[str, Any]
    prev_hash: str | None
    hash: str | None
    """Empty for the moment between an entry's commit and its seal (PostgreSQL)."""
    chain_pos: int | None = None
    """Its place in the chain, where the sealer set it; else the chain stands in seq order."""


class AuditList(BaseModel):
    items: list[AuditEntryOut]
    total: int


Text = Annotated[str | None, Query(max_length=80)]


def _filter(actor: str | None, action: str | None, object_type: str | None, object_id: str | None,
            since: datetime | None, until: datetime | None, limit: int = 200, offset: int = 0) -> audit.AuditFilter:
    return audit.AuditFilter(actor=actor, action=action, object_type=object_type, object_id=object_id,
                             since=since, until=until, limit=limit, offset=offset)


@router.get("", response_model=AuditList)
def search_audit(
    user: ActorDep, deps: DepsDep, actor: Text = None, action: Text = None, object_type: Text = None,
    object_id: Text = None, since: datetime | None = None, until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200, offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> AuditList:
    """Search the log (auditor only), newest first. ``action`` ending in ``.`` matches a family (``login.``)."""
    with read_connection(deps.engine) as conn:
        rows, total = audit.search(conn, user, _filter(actor, action, object_type, object_id, since, until,
                                                       limit, offset))
    return AuditList(items=[AuditEntryOut(**r) for r in rows], total=total)


@router.get("/export.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "the matching entries, oldest first"}})
def export_audit(
    user: ActorDep, deps: DepsDep, rid: RequestIdDep, actor: Text = None, action: Text = None,
    object_type: Text = None, object_id: Text = None, since: datetime | None = None, until: datetime | None = None,
) -> StreamingResponse:
    """Export the log as CSV (auditor only); the export is recorded in the log before it starts."""
    lines = audit.export_csv(deps, user, _filter(actor, action, object_type, object_id, since, until), rid)
    return StreamingResponse(lines, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="jingwu-audit.csv"'})
