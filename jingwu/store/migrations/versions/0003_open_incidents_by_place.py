"""an index of the open incidents by family and place, for the duplicate check of every call

Without it the check read every incident of the family received in the duplicate window, over the
whole service area (6,000 open incidents: ~1 ms of PostgreSQL a call, growing with the load);
with it, the open ones in a band of latitude (~0.03 ms).

On PostgreSQL the index is built CONCURRENTLY, outside a transaction: a plain CREATE INDEX would
hold off every write to ``incidents`` (every 110 call) while it reads the table's whole history.
A build that was interrupted leaves an invalid index behind; it is dropped and built again.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

NAME = "ix_incidents_open_place"
# Written out as at this revision (tables.OPEN_INCIDENT), so later changes to the code leave it be.
OPEN_INCIDENT = "status IN ('cleared', 'dispatched', 'en_route', 'on_scene', 'received')"
INVALID = sa.text("""
    SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE c.relname = :name AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid
""")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.create_index(NAME, "incidents", ["family", "lat", "lon"], sqlite_where=sa.text(OPEN_INCIDENT))
        return
    with op.get_context().autocommit_block():
        if op.get_bind().execute(INVALID, {"name": NAME}).first() is not None:
            op.drop_index(NAME, table_name="incidents", postgresql_concurrently=True)
        op.create_index(NAME, "incidents", ["family", "lat", "lon"], postgresql_where=sa.text(OPEN_INCIDENT),
                        postgresql_concurrently=True, if_not_exists=True)


def downgrade() -> None:
    op.drop_index(NAME, table_name="incidents")
