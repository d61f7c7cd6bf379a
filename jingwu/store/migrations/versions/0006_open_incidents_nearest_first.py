"""on PostgreSQL, the duplicate check finds the nearest open incidents by walking outwards (GiST)

0003's index (family, lat, lon) of the open incidents hands the duplicate check every open incident
of the family in a band of latitude, and the check sorts them all to keep the nearest ten. Where
calls crowd (the intake benchmark: seven places, ~500 calls a second) the band fills: the check
took 25 us of PostgreSQL at the start of a 45 s run and 530 us at its end, more than the rest of
the intake's statements together, and throughput fell with it. A GiST index on the incidents'
points on the unit sphere (``tables.sphere_point``, from the contrib extension ``cube``) with
family and time beside them (``btree_gist``), so that both are checked in the index, walks
outwards from the call and stops at the tenth: ~0.1 ms with 30,000 open incidents at seven
places, and about the same for a call far from any.
It replaces 0003's index on PostgreSQL (its insert costs more: ~19 against ~7 us a row, single-row
inserts in psql); SQLite keeps 0003's.

Both extensions are trusted since PostgreSQL 13: the database's owner can create them (in the
schema ``public``); where the database is not the application's own, its owner runs
``CREATE EXTENSION cube SCHEMA public; CREATE EXTENSION btree_gist SCHEMA public;`` once first.
Built CONCURRENTLY, as 0003.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

NAME = "ix_incidents_open_nearest"
OLD = "ix_incidents_open_place"
EXTENSIONS = ("cube", "btree_gist")
# Written out as at this revision (tables.OPEN_INCIDENT, tables.sphere_point render the same).
OPEN_INCIDENT = "status IN ('cleared', 'dispatched', 'en_route', 'on_scene', 'received')"
SPHERE_POINT = ("public.cube(ARRAY[cos(radians(lat)) * cos(radians(lon)), "
                "cos(radians(lat)) * sin(radians(lon)), sin(radians(lat))])")
INVALID = sa.text("""
    SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE c.relname = :name AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid
""")
INSTALLED = sa.text("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = :name")


def _extension(name: str) -> None:
    """``name`` installed in ``public`` (two servers migrating at once may race to create it)."""
    bind = op.get_bind()
    schema = bind.execute(INSTALLED, {"name": name}).scalar()
    if schema is None:
        try:
            bind.exec_driver_sql(f"CREATE EXTENSION IF NOT EXISTS {name} SCHEMA public")
        except sa.exc.DBAPIError as e:
            schema = bind.execute(INSTALLED, {"name": name}).scalar()
            if schema is None:
                raise RuntimeError(
                    f"jingwu needs PostgreSQL's extension {name} (in contrib, trusted since PostgreSQL 13) and "
                    f"could not create it: {e.orig}. Ask the database's owner to run "
                    f"CREATE EXTENSION {name} SCHEMA public; then upgrade again.") from e
        else:
            schema = "public"
    if schema != "public":
        raise RuntimeError(f"PostgreSQL's extension {name} is installed in schema {schema}; jingwu uses it "
                           f"from public (ALTER EXTENSION {name} SET SCHEMA public)")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite keeps 0003's index
    with op.get_context().autocommit_block():
        for name in EXTENSIONS:
            _extension(name)
        if op.get_bind().execute(INVALID, {"name": NAME}).first() is not None:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")
        # The point first: GiST lays its pages out by the first column, and the nearest are then
        # on a few pages; with family first, pages follow the time calls came in, and the walk
        # read ~20 times as many (1.9 against 0.09 ms with 30,000 open incidents at seven places).
        op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME} ON incidents USING gist "
                   f"(({SPHERE_POINT}), family, received_at) WHERE {OPEN_INCIDENT}")
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {OLD}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    with op.get_context().autocommit_block():
        op.create_index(OLD, "incidents", ["family", "lat", "lon"], postgresql_where=sa.text(OPEN_INCIDENT),
                        postgresql_concurrently=True, if_not_exists=True)
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")
