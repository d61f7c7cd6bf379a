"""Request keys: a client-chosen ``Idempotency-Key`` makes a retried write harmless.

The officer terminal replays actions queued offline; a replay whose first attempt did reach the
server must change nothing. Keys live in ``idempotency_keys`` (per actor), claimed in the same
transaction as the change, so a key is recorded if and only if its change committed. Incident
intake keeps its own use of the table (it also answers with the incident created).
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from jingwu.store import tables as t
from jingwu.store.unit_of_work import UnitOfWork


def already_applied(conn: Connection, actor: str, purpose: str, key: str | None) -> bool:
    if not key:
        return False
    k = t.idempotency_keys.c
    return conn.execute(select(k.key).where(k.key == f"{purpose}:{key}", k.actor == actor)).first() is not None


def claim(uow: UnitOfWork, actor: str, purpose: str, key: str | None, object_id: str, now: object) -> None:
    """Record ``key`` as applied, with the change's other writes at commit; a concurrent duplicate
    fails that commit on the primary key."""
    if key:
        uow.insert(t.idempotency_keys, {
            "key": f"{purpose}:{key}"[:200], "actor": actor, "request_hash": purpose, "incident_id": object_id,
            "created_at": now})
