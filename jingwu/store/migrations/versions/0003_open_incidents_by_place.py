"""an index of the open incidents by family and place, for the duplicate check of every call

Without it the check read every incident of the family received in the duplicate window, over the
whole service area (6,000 open incidents: ~1 ms of PostgreSQL a call, growing with the load);
with it, the open ones in a band of latitude (~0.03 ms).

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

# Written out as at this revision (tables.OPEN_INCIDENT), so later changes to the code leave it be.
OPEN_INCIDENT = "status IN ('cleared', 'dispatched', 'en_route', 'on_scene', 'received')"


def upgrade() -> None:
    op.create_index("ix_incidents_open_place", "incidents", ["family", "lat", "lon"],
                    postgresql_where=sa.text(OPEN_INCIDENT), sqlite_where=sa.text(OPEN_INCIDENT))


def downgrade() -> None:
    op.drop_index("ix_incidents_open_place", table_name="incidents")
