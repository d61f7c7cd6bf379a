"""SQLAlchemy Core tables. Domain objects stay plain; repositories convert rows to and from them.

Times are stored in UTC and always read back timezone-aware, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

from jingwu.domain.geography import EARTH_RADIUS_M
from jingwu.domain.incident import OPEN_STATUSES

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _aware_utc(value: Any) -> datetime | None:
    """A stored timestamp (a datetime, or SQLite's ISO text) as a timezone-aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    zone = value.tzinfo
    if zone is UTC:  # PostgreSQL's, whose sessions are in UTC (``engine.build_engine``)
        return value
    return value.replace(tzinfo=UTC) if zone is None else value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is UTC on the way in and timezone-aware on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return _aware_utc(value)

    # On SQLite, one function each way instead of SQLAlchemy's layering (this type's step, then the
    # dialect's string conversion): every unit row a recommendation reads has four of these. They
    # store and read exactly what the layered form does (tests/unit/test_store_types.py).

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # A use case binds its one ``now`` many times over, and an incident's save binds its
        # received/dispatched/... times again: recent texts by instant (equal aware datetimes are
        # the same instant, whatever their zone, so they share one UTC text).
        texts: dict[datetime, str] = {}

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            text = texts.get(value)
            if text is not None:
                return text
            if value.tzinfo is None:
                raise ValueError("naive datetime given to the store; use timezone-aware UTC times")
            text = value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
            if len(texts) >= 512:
                texts.clear()
            texts[value] = text
            return text

        return process

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        return _aware_utc  # reads SQLite's stored text itself, without the dialect's parsing first


# BIGINT autoincrement on PostgreSQL, INTEGER PRIMARY KEY (rowid) on SQLite.
Seq = BigInteger().with_variant(Integer(), "sqlite")

org_units = Table(
    "org_units", metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("names", JSON, nullable=False, default=dict),
    Column("level", String(16), nullable=False),
    Column("parent_code", String(32), ForeignKey("org_units.code"), nullable=True),
    Column("area", JSON, nullable=True),
    Column("base_lat", Float, nullable=True),
    Column("base_lon", Float, nullable=True),
)

users = Table(
    "users", metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("org_code", String(32), ForeignKey("org_units.code"), nullable=False),
    Column("unit_id", String(40), nullable=True),
    Column("display_name", String(200), nullable=True),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("token_version", Integer, nullable=False, default=0),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", UtcDateTime, nullable=True),
    Column("password_changed_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
)

CELLS_PER_DEGREE = 100
"""The place index of incidents files them by cells of a hundredth of a degree of latitude and of
longitude (~1.1 km by ~0.8 km in Andorra): ``place_cell``."""
_LON_CELLS = 40_000  # longitude cells -18,000 … 18,000 are stored as 2,000 … 38,000 in a row of this many


def cell_of(lat: float, lon: float) -> int:
    """``place_cell`` of a point, worked out in Python (the same float products, the same floor)."""
    return (math.floor(lat * CELLS_PER_DEGREE) * _LON_CELLS
            + math.floor(lon * CELLS_PER_DEGREE) + _LON_CELLS // 2)


class place_cell(FunctionElement[int]):
    """``cell_of(lat, lon)`` in SQL. On SQLite ``floor`` is written with CAST, as not every SQLite
    has it; an index on the expression is used only by queries that write it the same way, which
    this construct makes sure of."""

    type = BigInteger()
    inherit_cache = True


def _cell_sql(element: place_cell, compiler: Any, floor: Callable[[str], str], **kw: Any) -> str:
    lat, lon = (compiler.process(c, **kw) for c in element.clauses)
    return (f"({floor(f'{lat} * {CELLS_PER_DEGREE}')} * {_LON_CELLS}"
            f" + {floor(f'{lon} * {CELLS_PER_DEGREE}')} + {_LON_CELLS // 2})")


@compiles(place_cell)
def _place_cell(element: place_cell, compiler: Any, **kw: Any) -> str:
    return _cell_sql(element, compiler, lambda x: f"CAST(floor({x}) AS BIGINT)", **kw)


@compiles(place_cell, "sqlite")
def _place_cell_sqlite(element: place_cell, compiler: Any, **kw: Any) -> str:
    return _cell_sql(element, compiler, lambda x: f"(CAST({x} AS INTEGER) - ({x} < CAST({x} AS INTEGER)))", **kw)


class sphere_point(FunctionElement[Any]):
    """A point as a ``cube`` (PostgreSQL's contrib extension) on the unit sphere: x, y, z from
    latitude and longitude. The ``<->`` of two is the chord between them, which orders points by
    their great-circle distance exactly, anywhere on Earth, so a GiST index on it answers "the
    nearest k" by walking outwards from the point (``ix_incidents_open_nearest``). PostgreSQL
    only; an index on the expression serves the queries that write it the same way, which this
    construct makes sure of (the migration that builds the index writes it out as here)."""

    inherit_cache = True


@compiles(sphere_point, "postgresql")
def _sphere_point(element: sphere_point, compiler: Any, **kw: Any) -> str:
    lat, lon = (compiler.process(c, **kw) for c in element.clauses)
    return (f"public.cube(ARRAY[cos(radians({lat})) * cos(radians({lon})), "
            f"cos(radians({lat})) * sin(radians({lon})), sin(radians({lat}))])")


def chord_of(metres: float) -> float:
    """The chord on the unit sphere between two points ``metres`` apart along the surface."""
    return 2.0 * math.sin(min(math.pi, metres / EARTH_RADIUS_M) / 2.0)


OPEN_INCIDENT = text("status IN (" + ", ".join(f"'{s.value}'" for s in sorted(OPEN_STATUSES)) + ")")
"""An incident still on the board, written out: a query must say it in these very words for
SQLite, and with no bound values for PostgreSQL's prepared plans, to use the index it qualifies."""

incidents = Table(
    "incidents", metadata,
    Column("id", String(40), primary_key=True),
    Column("type_code", String(40), nullable=False),
    Column("family", String(40), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("station_code", String(32), nullable=True),
    Column("address", Text, nullable=True),
    Column("street", String(200), nullable=True),
    Column("description", Text, nullable=False, default=""),
    Column("source", String(24), nullable=False),
    Column("callers", Integer, nullable=False, default=1),
    Column("received_at", UtcDateTime, nullable=False),
    Column("received_by", String(64), nullable=False),
    Column("dispatched_at", UtcDateTime, nullable=True),
    Column("en_route_at", UtcDateTime, nullable=True),
    Column("arrived_at", UtcDateTime, nullable=True),
    Column("cleared_at", UtcDateTime, nullable=True),
    Column("closed_at", UtcDateTime, nullable=True),
    Column("merged_into", String(40), nullable=True),
    Column("major_id", String(40), nullable=True),
    Column("active_units", JSON, nullable=False, default=list),
    Column("version", Integer, nullable=False, default=0),
    Index("ix_incidents_status_priority", "status", "priority"),
    Index("ix_incidents_station_received", "station_code", "received_at"),
    Index("ix_incidents_family_received", "family", "received_at"),
    Index("ix_incidents_received_at", "received_at"),
    # The duplicate check of every call on SQLite: the open incidents of a family in a band of
    # latitude, whatever the history holds and however busy the rest of the service area is. On
    # PostgreSQL migration 0006 replaces it with ix_incidents_open_nearest, a GiST index on
    # (sphere_point(lat, lon), family, received_at) of the open incidents, which hands them over
    # nearest first (repositories._nearest_open); it lives in the migration only (GiST and cube).
    Index("ix_incidents_open_place", "family", "lat", "lon", postgresql_where=OPEN_INCIDENT,
          sqlite_where=OPEN_INCIDENT),
)
# The near-repeat check of every new incident: the family's incidents of the last days in the few
# cells its circle touches, however long the history and however wide the area.
Index("ix_incidents_family_cell_received", incidents.c.family, place_cell(incidents.c.lat, incidents.c.lon),
      incidents.c.received_at)

incident_timeline = Table(
    "incident_timeline", metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("incident_id", String(40), ForeignKey("incidents.id"), nullable=False, index=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("data", JSON, nullable=False),
)

callers = Table(
    "callers", metadata,
    Column("id", Seq, primary_key=True, autoincrement=True),
    Column("incident_id", String(40), ForeignKey("incidents.id"), nullable=False, index=True),
    Column("name", String(200), nullable=True),
    Column("phone", String(40), nullable=True),
    Column("received_at", UtcDateTime, nullable=False),
    Column("anonymised_at", UtcDateTime, nullable=True),
)

units = Table(
    "units", metadata,
    Column("id", String(40), primary_key=True),
    Column("call_sign", String(40), nullable=False, unique=True),
    Column("home_station", String(32), ForeignKey("org_units.code"), nullable=False, index=True),
    Column("capabilities", JSON, nullable=False),
    Column("crew_size", Integer, nullable=False, default=2),
    Column("status", String(16), nullable=False),
    Column("lat", Float, nullable=True),
    Column("lon", Float, nullable=True),
    Column("position_at", UtcDateTime, nullable=True),
    Column("incident_id", String(40), nullable=True),
    Column("status_at", UtcDateTime, nullable=True),
    Column("checkin_at", UtcDateTime, nullable=True),
    Column("version", Integer, nullable=False, default=0),
)

unit_timeline = Table(
    "unit_timeline", metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("unit_id", String(40), ForeignKey("units.id"), nullable=False, index=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("data", JSON, nullable=False),
)

assignments = Table(
    "assignments", metadata,
    Column("id", Seq, primary_key=True, autoincrement=True),
    Column("incident_id", String(40), ForeignKey("incidents.id"), nullable=False, index=True),
    Column("unit_id", String(40), ForeignKey("units.id"), nullable=False),
    Column("assigned_at", UtcDateTime, nullable=False),
    Column("assigned_by", String(64), nullable=False),
    Column("recommended", Boolean, nullable=False),
    Column("override_reason", Text, nullable=True),
    Column("eta_s", Float, nullable=True),
    Column("ended_at", UtcDateTime, nullable=True),
    Column("end_reason", String(40), nullable=True),
    # The database itself refuses a second open assignment of one unit.
    Index(
        "uq_assignments_open_unit", "unit_id", unique=True,
        postgresql_where=text("ended_at IS NULL"), sqlite_where=text("ended_at IS NULL"),
    ),
)

idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("key", String(200), primary_key=True),
    Column("actor", String(64), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("incident_id", String(40), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

outbox = Table(
    "outbox", metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("stream", String(80), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("station_code", String(32), nullable=True),
    Column("payload", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("published_at", UtcDateTime, nullable=True),
    Index("ix_outbox_unpublished", "seq", postgresql_where=text("published_at IS NULL"),
          sqlite_where=text("published_at IS NULL")),
)

major_incidents = Table(
    "major_incidents", metadata,
    Column("id", String(40), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("plan", String(40), nullable=False),
    Column("commander", String(64), nullable=False),
    Column("station_code", String(32), nullable=True),
    Column("declared_at", UtcDateTime, nullable=False),
    Column("incident_ids", JSON, nullable=False),
    Column("checklist", JSON, nullable=False),
    Column("stood_down_at", UtcDateTime, nullable=True),
)

timer_alerts = Table(
    "timer_alerts", metadata,
    Column("key", String(120), primary_key=True),
    Column("level", String(8), nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(60), nullable=False),
    Column("object_type", String(40), nullable=True),
    Column("object_id", String(80), nullable=True),
    Column("request_id", String(64), nullable=True),
    Column("detail", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=True),
    Column("hash", String(64), nullable=True),
    Column("chain_pos", Seq, nullable=True),
    Index("ix_audit_log_actor_at", "actor", "at"),
    # The sealer's work list on PostgreSQL: entries committed but not yet in the chain.
    Index("ix_audit_log_unsealed", "seq", postgresql_where=text("hash IS NULL"), sqlite_where=text("hash IS NULL")),
)
SEALED = text("hash IS NOT NULL")
"""An entry in the chain, written out (as ``OPEN_INCIDENT``) so that queries match the index below."""


def chain_position(log: Table = audit_log) -> ColumnElement[int]:
    """Where a sealed entry stands in the chain: ``chain_pos`` where the sealer set it (PostgreSQL,
    since 0005), else ``seq`` (SQLite, which seals as it writes, and every entry sealed before 0005)."""
    return func.coalesce(log.c.chain_pos, log.c.seq)


# The chain's order: the head for each seal, the walk of ``jingwu audit verify``. Unique, so two
# sealers can never put two entries in one place.
Index("ix_audit_log_chain_position", chain_position(), unique=True, postgresql_where=SEALED, sqlite_where=SEALED)
