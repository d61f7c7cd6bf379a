"""The auditor's view of the audit log: search, export (itself audited) and chain verification.

Nobody edits the log through jingwu: there is no use case that changes or removes an entry, the
database refuses it (migration 0002), and the hash chain shows it if someone does it anyway.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Select, func, select

from jingwu.domain.access import Action, Actor
from jingwu.services.dependencies import Dependencies
from jingwu.services.queries import as_utc
from jingwu.store import audit_chain
from jingwu.store import tables as t
from jingwu.store.audit_sealer import AuditSealer
from jingwu.store.unit_of_work import read_connection

EXPORT_COLUMNS = ("seq", "at", "actor", "action", "object_type", "object_id", "request_id", "detail",
                  "prev_hash", "hash", "chain_pos")
"""``chain_pos``: the entry's place in the chain where the sealer set it (else its ``seq``), so a
check made outside jingwu can walk the export in chain order."""
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    """An exact action (``caller.reveal``) or a family ending in a dot (``login.``)."""
    object_type: str | None = None
    object_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 200
    offset: int = 0


def _query(f: AuditFilter) -> Select[Any]:
    c = t.audit_log.c
    q = select(t.audit_log)
    if f.actor:
        q = q.where(c.actor == f.actor)
    if f.action:
        q = q.where(c.action.startswith(f.action, autoescape=True) if f.action.endswith(".")
                    else c.action == f.action)
    if f.object_type:
        q = q.where(c.object_type == f.object_type)
    if f.object_id:
        q = q.where(c.object_id == f.object_id)
    since, until = as_utc(f.since, "since"), as_utc(f.until, "until")
    if since:
        q = q.where(c.at >= since)
    if until:
        q = q.where(c.at < until)
    return q


def search(conn: Connection, actor: Actor, f: AuditFilter) -> tuple[list[dict[str, Any]], int]:
    """Entries matching the filter, newest first, and how many match in all."""
    actor.require(Action.AUDIT_READ)
    q = _query(f)
    total = conn.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    rows = conn.execute(q.order_by(t.audit_log.c.seq.desc()).limit(f.limit).offset(f.offset))
    return [dict(r._mapping) for r in rows], int(total)


def _cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet will not run as a formula."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        value = audit_chain.canonical_detail(value)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def export_csv(deps: Dependencies, actor: Actor, f: AuditFilter, request_id: str | None = None) -> Iterator[str]:
    """The matching entries as CSV lines, oldest first; the export itself is audited before any line."""
    actor.require(Action.AUDIT_READ)
    _query(f)  # refuse a bad filter before the export is recorded
    with deps.uow() as uow:
        uow.audit(at=deps.clock(), actor=actor.username, action="audit.export", object_type="audit_log",
                  detail={k: (v.isoformat() if isinstance(v, datetime) else v)
                          for k, v in asdict(f).items() if v is not None and k not in ("limit", "offset")},
                  request_id=request_id)
        uow.commit()
    return _lines(deps, f)


def _lines(deps: Dependencies, f: AuditFilter) -> Iterator[str]:
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(EXPORT_COLUMNS)
    yield buf.getvalue()
    last = None
    while True:
        q = _query(f).order_by(t.audit_log.c.seq).limit(2000)
        if last is not None:
            q = q.where(t.audit_log.c.seq > last)
        with read_connection(deps.engine) as conn:
            rows = conn.execute(q).all()
        if not rows:
            return
        buf.seek(0)
        buf.truncate()
        for r in rows:
            out.writerow([_cell(r._mapping[col]) for col in EXPORT_COLUMNS])
        yield buf.getvalue()
        last = rows[-1].seq


def verify_chain(conn: Connection, anchor: tuple[int, str] | None = None) -> audit_chain.ChainReport:
    """Walk the whole chain (the CLI's ``jingwu audit verify``; it runs on the server, no actor)."""
    return audit_chain.verify(conn, anchor)


def seal_waiting(engine: Engine) -> int:
    """Seal the entries waiting for their link (PostgreSQL; none on SQLite), so that a check
    covers every committed entry; returns how many. A server's sealer would do it within a
    second; a check run with no server up must not leave them out."""
    return AuditSealer(engine).seal_all()
