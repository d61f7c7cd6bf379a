"""audit entries on PostgreSQL are sealed into the hash chain after their commit, in the order sealed

Before, every audited commit took the chain head's advisory lock and held it through COMMIT, so
every intake of every node queued on one lock (with two server processes, 73 flows/s with it and
103 without it, the machine half idle). Now a request writes its entry unsealed (no hashes) and a
sealer links a batch of entries at a time shortly after (``audit_chain.seal_pending``):

* ``chain_pos`` is the entry's place in the chain, set when it is sealed: entries commit in another
  order than their ``seq`` was drawn, so the chain's order is the sealer's, not ``seq``. Entries
  sealed before this revision (and every entry on SQLite, which seals as it writes) keep
  ``chain_pos`` NULL and stand at their ``seq`` (``tables.chain_position``).
* The append-only trigger lets an unsealed entry be sealed once: its hashes and place set, nothing
  else changed (compared as a whole row, so a column added later is covered too).
* Two indexes: the unsealed entries (the sealer's work list) and the chain position (unique; the
  head for each seal and the walk of ``jingwu audit verify``), built CONCURRENTLY on PostgreSQL as
  0003, since the log holds years of entries.

Downgrading is refused while any entry waits for its link (``jingwu audit verify`` seals them) or
once the chain's order differs from ``seq`` order: 0004's code checks the chain in ``seq`` order
and would find it broken.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UNSEALED = "ix_audit_log_unsealed"
POSITION = "ix_audit_log_chain_position"
INDEXES = {
    UNSEALED: "ON audit_log (seq) WHERE hash IS NULL",
    POSITION: "ON audit_log (coalesce(chain_pos, seq)) WHERE hash IS NOT NULL",
}
INVALID = sa.text("""
    SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE c.relname = :name AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid
""")

SEALING_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
DECLARE
    entry audit_log;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.hash IS NULL AND OLD.prev_hash IS NULL AND OLD.chain_pos IS NULL
           AND NEW.hash IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.chain_pos IS NOT NULL THEN
            entry := NEW;
            entry.hash := NULL;
            entry.prev_hash := NULL;
            entry.chain_pos := NULL;
            IF entry::text = OLD::text THEN
                RETURN NEW;  -- sealing: the hashes and the place set once, the entry itself unchanged
            END IF;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""

APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""
"""0002's function, restored by the downgrade."""


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("chain_pos", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                                         nullable=True))
    if op.get_bind().dialect.name != "postgresql":
        for name, body in INDEXES.items():
            unique = "UNIQUE " if name == POSITION else ""
            op.execute(f"CREATE {unique}INDEX IF NOT EXISTS {name} {body}")
        return
    op.execute(SEALING_FUNCTION)
    with op.get_context().autocommit_block():
        for name, body in INDEXES.items():
            if op.get_bind().execute(INVALID, {"name": name}).first() is not None:
                op.drop_index(name, table_name="audit_log", postgresql_concurrently=True)
            unique = "UNIQUE " if name == POSITION else ""
            op.execute(f"CREATE {unique}INDEX CONCURRENTLY IF NOT EXISTS {name} {body}")


def downgrade() -> None:
    conn = op.get_bind()
    waiting = conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE hash IS NULL")).scalar_one()
    if waiting:
        raise RuntimeError(f"{waiting} audit entries wait for their link: run `jingwu audit verify` (it seals "
                           "them), then downgrade")
    out_of_order = conn.execute(sa.text(
        "SELECT count(*) FROM (SELECT seq, lag(seq) OVER (ORDER BY coalesce(chain_pos, seq)) AS before"
        " FROM audit_log WHERE hash IS NOT NULL) AS chain WHERE before > seq")).scalar_one()
    if out_of_order:
        raise RuntimeError(f"{out_of_order} audit entries were sealed out of seq order; revision 0004 checks "
                           "the chain in seq order and would report it broken")
    for name in INDEXES:
        op.drop_index(name, table_name="audit_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_FUNCTION)
    op.drop_column("audit_log", "chain_pos")
