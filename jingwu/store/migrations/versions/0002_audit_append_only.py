"""audit_log is append-only; entries written before the hash chain are sealed into it

The database refuses UPDATE, DELETE (and on PostgreSQL TRUNCATE) of audit_log, so nobody changes
the log through jingwu or by accident. Someone with the rights to drop the trigger can still do
it; ``jingwu audit verify`` detects that through the hash chain.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jingwu.store.audit_chain import GENESIS, entry_hash

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


def _seal_unchained() -> None:
    """Chain the entries written before 0002 (they have no hash yet), in seq order."""
    conn = op.get_bind()
    log = sa.table("audit_log", sa.column("seq"), sa.column("at"), sa.column("actor"), sa.column("action"),
                   sa.column("object_type"), sa.column("object_id"), sa.column("request_id"),
                   sa.column("detail", sa.JSON), sa.column("prev_hash"), sa.column("hash"))
    from jingwu.store.tables import audit_log  # typed columns (UTC times, JSON) for reading back

    known = [audit_log.c[name] for name in ("seq", "at", "actor", "action", "object_type", "object_id",
                                            "request_id", "detail", "prev_hash", "hash")]  # as at 0002
    prev = GENESIS
    for r in conn.execute(sa.select(*known).order_by(audit_log.c.seq)):
        if r.hash is not None and r.prev_hash == prev:
            prev = r.hash
            continue
        digest = entry_hash(prev, dict(r._mapping))
        conn.execute(sa.update(log).where(log.c.seq == r.seq).values(prev_hash=prev, hash=digest))
        prev = digest


def upgrade() -> None:
    _seal_unchained()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute("CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
                   "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()")
        op.execute("CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()")
    else:
        for what in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_log_no_{what.lower()} BEFORE {what} ON audit_log "
                       "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
