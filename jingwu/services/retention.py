"""Retention of personal data: nothing is kept longer than the law allows.

Each kind of personal data has its own period, counted from when its case closed. Expired
personal data is anonymised in place (the row stays, the person is gone), so incidents, their
times and places keep feeding analytics. Every purge leaves one audit record with what it did.

Kinds so far: the caller's identity (name, phone) of a closed, cancelled or merged incident.
Applicants and parties to a dispute join this table when those services exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from jingwu.services.dependencies import Dependencies
from jingwu.store import tables as t

CLOSED = ("closed", "cancelled", "merged")
BATCH = 1000


@dataclass(frozen=True)
class RetentionPolicy:
    caller_days: int = 180


@dataclass(frozen=True)
class RetentionReport:
    at: datetime
    callers_anonymised: int
    cutoff: datetime


def run_retention(deps: Dependencies, policy: RetentionPolicy, actor: str = "system:retention",
                  now: datetime | None = None) -> RetentionReport:
    """Anonymise callers of incidents closed more than ``policy.caller_days`` ago, in batches; audited.

    A caller whose incident was merged into another follows that incident (the link moved the
    caller row), so they are kept as long as the incident they now belong to.
    """
    now = now or deps.clock()
    cutoff = now - timedelta(days=policy.caller_days)
    c, i = t.callers.c, t.incidents.c
    total = 0
    while True:
        with deps.uow() as uow:
            ids = [r.id for r in uow.conn.execute(
                select(c.id).join(t.incidents, i.id == c.incident_id)
                .where(c.anonymised_at.is_(None), i.status.in_(CLOSED), i.closed_at < cutoff)
                .order_by(c.id).limit(BATCH))]
            if ids:
                uow.conn.execute(update(t.callers).where(c.id.in_(ids)).values(name=None, phone=None,
                                                                             anonymised_at=now))
                uow.audit(at=now, actor=actor, action="retention.purge", object_type="callers",
                          detail={"kind": "caller identity", "rows": len(ids), "first_id": ids[0],
                                  "last_id": ids[-1], "closed_before": cutoff.isoformat(),
                                  "days": policy.caller_days, "method": "anonymised"})
                uow.commit()
        total += len(ids)
        if len(ids) < BATCH:
            break
    if total == 0:
        with deps.uow() as uow:
            uow.audit(at=now, actor=actor, action="retention.purge", object_type="callers",
                      detail={"kind": "caller identity", "rows": 0, "closed_before": cutoff.isoformat(),
                              "days": policy.caller_days})
            uow.commit()
    return RetentionReport(at=now, callers_anonymised=total, cutoff=cutoff)
