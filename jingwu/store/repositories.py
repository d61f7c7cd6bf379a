"""Repositories: load and save aggregates (incidents, units, major incidents) on one connection.

Loads for writing lock the row (``FOR UPDATE`` on PostgreSQL; SQLite already serialises writers),
and saves check the version read, so a change based on a stale read can never be committed.
Each save appends the aggregate's new events to its timeline in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, Float, Row, Table, Text, bindparam, cast, insert, or_, select, update

from jingwu.domain.duplicates import OpenIncident
from jingwu.domain.errors import Conflict, NotFound
from jingwu.domain.events import Event
from jingwu.domain.geography import GeoPoint, degree_margins
from jingwu.domain.incident import Incident, IncidentStatus, Source
from jingwu.domain.incident_types import Capability
from jingwu.domain.major import ChecklistItem, MajorIncident
from jingwu.domain.timers import TIMED_STATUSES, RunningIncident
from jingwu.domain.unit import Unit, UnitStatus
from jingwu.store import tables as t
from jingwu.store.direct import DirectStatement, RowMemo
from jingwu.store.pending_inserts import PendingInserts


def _timeline_rows(events: Iterable[Event], key: str, value: str) -> list[dict[str, Any]]:
    rows = []
    for e in events:
        if getattr(e, key, None) != value:
            continue
        data = e.to_dict()
        for k in ("kind", "at", "actor"):
            data.pop(k, None)
        rows.append({key: value, "at": e.at, "actor": e.actor, "kind": e.kind, "data": data})
    return rows


_INCIDENT_FIELDS = tuple(c.name for c in t.incidents.c)
_UNIT_FIELDS = tuple(c.name for c in t.units.c)
_INCIDENT_STATUS = {s.value: s for s in IncidentStatus}
_SOURCE = {s.value: s for s in Source}
_UNIT_STATUS = {s.value: s for s in UnitStatus}
_CAPABILITIES: dict[str | tuple[str, ...], frozenset[Capability]] = {}


_LAYOUTS: dict[tuple[str, ...], Any] = {}
"""Per field list, the last result layout (a Row's ``_parent``) seen to match it: checking a row's
names costs more than converting it, and one compiled query yields rows of one layout."""


def _values(r: Row[Any] | Sequence[Any], fields: tuple[str, ...]) -> Sequence[Any]:
    """The row's values in ``fields`` order: a tuple from a ``DirectStatement`` of the whole table
    is that already; a SQLAlchemy ``Row`` of ``select(table)`` is too (checked by its names)."""
    if not isinstance(r, Row):
        return r
    layout = r._parent
    if _LAYOUTS.get(fields) is not layout:
        if r._fields != fields:
            m = r._mapping
            return tuple(m[f] for f in fields)
        _LAYOUTS[fields] = layout
    return tuple(r)


def incident_from_row(r: Row[Any] | Sequence[Any]) -> Incident:
    """An incident from its ``incidents`` row (a Row with those columns, or a tuple in table order)."""
    (id_, type_code, family, priority, status, lat, lon, station_code, address, street, description, source,
     callers, received_at, received_by, dispatched_at, en_route_at, arrived_at, cleared_at, closed_at,
     merged_into, major_id, active_units, version) = _values(r, _INCIDENT_FIELDS)
    return Incident(
        id=id_, type_code=type_code, family=family, priority=priority, location=GeoPoint(lat=lat, lon=lon),
        station_code=station_code, received_at=received_at, received_by=received_by, source=_SOURCE[source],
        status=_INCIDENT_STATUS[status], address=address, street=street, description=description,
        callers=callers, dispatched_at=dispatched_at, en_route_at=en_route_at, arrived_at=arrived_at,
        cleared_at=cleared_at, closed_at=closed_at, merged_into=merged_into, major_id=major_id,
        active_units=list(active_units or []), version=version,
    )


def _incident_values(i: Incident) -> dict[str, Any]:
    return {
        "type_code": i.type_code, "family": i.family, "priority": i.priority, "status": i.status.value,
        "lat": i.location.lat, "lon": i.location.lon, "station_code": i.station_code, "address": i.address,
        "street": i.street, "description": i.description, "source": i.source.value, "callers": i.callers,
        "received_at": i.received_at, "received_by": i.received_by, "dispatched_at": i.dispatched_at,
        "en_route_at": i.en_route_at, "arrived_at": i.arrived_at, "cleared_at": i.cleared_at,
        "closed_at": i.closed_at, "merged_into": i.merged_into, "major_id": i.major_id,
        "active_units": list(i.active_units),
    }


def incident_as_row(i: Incident) -> dict[str, Any]:
    """The incident as its ``incidents`` row (the shape read models and the API answer with)."""
    return {"id": i.id, "version": i.version, **_incident_values(i)}


class ChangedColumnsUpdate:
    """The versioned UPDATE of only the columns whose values changed since the row was read.

    Why: SQLite rewrites the entries of every index, and checks every foreign key, of each column
    named in SET, changed or not; an incident's save that set all its columns cost ~70 µs where the
    three that changed cost ~30 µs (docs/benchmarks.md). One compiled statement per set of columns.
    """

    def __init__(self, table: Table) -> None:
        self.table = table
        self.columns = tuple(c.name for c in table.c if c.name not in ("id", "version"))
        self._statements: dict[tuple[str, ...], DirectStatement] = {}

    def execute(self, conn: Connection, row_id: str, version: int, values: dict[str, Any],
                before: dict[str, Any] | None) -> int:
        """Set ``values`` (all of them without ``before``, else those differing from it) and bump
        the version, if the row still has ``version``; returns the rows changed (0 or 1)."""
        names = self.columns if before is None else tuple(k for k in self.columns if values[k] != before[k])
        params = {name: values[name] for name in names}
        params.update(b_id=row_id, b_version=version, b_new=version + 1)
        return self.statement(names).execute(conn, params)

    def statement(self, names: tuple[str, ...]) -> DirectStatement:
        """UPDATE … SET <names>, version = :b_new WHERE id = :b_id AND version = :b_version."""
        stmt = self._statements.get(names)
        if stmt is None:
            table = self.table
            stmt = self._statements[names] = DirectStatement(
                update(table)
                .where(table.c.id == bindparam("b_id"), table.c.version == bindparam("b_version"))
                .values({name: bindparam(name) for name in names} | {"version": bindparam("b_new")})
            )
        return stmt


def _by_id(table: Table, *, for_update: bool = False) -> DirectStatement:
    """SELECT <every column in table order> WHERE id = :id, optionally FOR UPDATE."""
    q = select(table).where(table.c.id == bindparam("id"))
    return DirectStatement(q.with_for_update() if for_update else q)


_UPDATE_INCIDENT = ChangedColumnsUpdate(t.incidents)
_INCIDENT_BY_ID = _by_id(t.incidents)
_INCIDENT_BY_ID_LOCKED = _by_id(t.incidents, for_update=True)


def _refuse_in_single_write(single_write: bool, what: str) -> None:
    """A single-write unit of work (``UnitOfWork``) runs outside a transaction until its commit's
    one statement: a write or a lock before it would not be undone with the rest."""
    if single_write:
        raise RuntimeError(f"{what} in a single-write unit of work: its only write is the commit's")


class _AggregateRows:
    """What the incident and unit repositories share: where their new rows and timelines go."""

    def __init__(self, conn: Connection, lock: bool, pending: PendingInserts | None,
                 single_write: bool = False) -> None:
        """``pending``: the unit of work's held inserts, for new rows and timelines (written at
        once without). ``single_write``: the unit of work's one write is its commit's statement
        (``UnitOfWork``), so changing a row, locking one, or sending the held rows early is refused."""
        self.conn = conn
        self.lock = lock
        self.pending = pending
        self.single_write = single_write
        self._added: set[str] = set()
        """Ids added here whose rows may still be held in ``pending``."""
        self._read: dict[str, dict[str, Any]] = {}
        """Column values of each aggregate as read or last written here (saves write the changes)."""

    def _write(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Hold rows with the unit of work's other inserts, or, without one, write them at once."""
        held = self.pending if self.pending is not None else PendingInserts()
        held.add_many(table, rows)
        if held is not self.pending:
            held.send(self.conn)

    def _sent_if_added(self, key: str) -> None:
        """Send the held inserts before reading or updating a row added here: it may be one of them."""
        if key in self._added and self.pending:
            _refuse_in_single_write(self.single_write, "reading back a row added")
            self.pending.send(self.conn)


def incident_row(conn: Connection, incident_id: str) -> dict[str, Any] | None:
    """The incident's ``incidents`` row as a dict by column name, or None (for read models)."""
    row = _INCIDENT_BY_ID.first(conn, {"id": incident_id})
    return dict(zip(_INCIDENT_FIELDS, row, strict=True)) if row is not None else None


def load_incident(conn: Connection, incident_id: str) -> Incident | None:
    """The incident, or None: the fast read for read models (one compiled statement, no locking)."""
    row = _INCIDENT_BY_ID.first(conn, {"id": incident_id})
    return incident_from_row(row) if row is not None else None


class IncidentRepository(_AggregateRows):
    def __init__(self, conn: Connection, lock: bool, pending: PendingInserts | None = None,
                 single_write: bool = False) -> None:
        super().__init__(conn, lock, pending, single_write)
        self.seen: list[Incident] = []

    def add(self, inc: Incident) -> None:
        values = _incident_values(inc)
        self._write(t.incidents, [{"id": inc.id, "version": 0, **values}])
        self._added.add(inc.id)
        self._read[inc.id] = values
        self._timeline(inc)
        self.seen.append(inc)

    def get(self, incident_id: str, *, for_update: bool = False) -> Incident:
        if for_update:
            _refuse_in_single_write(self.single_write, "reading an incident to change it")
        self._sent_if_added(incident_id)
        stmt = _INCIDENT_BY_ID_LOCKED if for_update and self.lock else _INCIDENT_BY_ID
        row = stmt.first(self.conn, {"id": incident_id})
        if row is None:
            raise NotFound(f"incident {incident_id} not found", field="incident_id")
        inc = incident_from_row(row)
        if for_update:
            self.seen.append(inc)
            self._read[inc.id] = _incident_values(inc)
        return inc

    def save(self, inc: Incident) -> None:
        _refuse_in_single_write(self.single_write, "saving an incident")
        self._sent_if_added(inc.id)
        values = _incident_values(inc)
        changed = _UPDATE_INCIDENT.execute(self.conn, inc.id, inc.version, values, self._read.get(inc.id))
        if changed != 1:
            raise Conflict(f"incident {inc.id} was changed by someone else; reload and retry", field="incident_id")
        inc.version += 1
        self._read[inc.id] = values
        self._timeline(inc)

    def _timeline(self, inc: Incident) -> None:
        self._write(t.incident_timeline, _timeline_rows(inc.events, "incident_id", inc.id))

    def open_near(self, family: str, since: datetime, lat: float, lon: float, radius_m: float,
                  limit: int) -> list[OpenIncident]:
        """The ``limit`` open incidents of a family received since ``since`` nearest to a point
        within ``radius_m`` (nearest first; the newer first at equal distance); the exact distance
        is the domain's to judge. Only what the duplicate check reads: every call runs it.

        PostgreSQL walks outwards from the point on ``ix_incidents_open_nearest`` (GiST) and stops
        at the ``limit``-th, however many open incidents crowd the place (``_nearest_open``).
        SQLite reads the box around the circle on ``ix_incidents_open_place`` and keeps its
        nearest on a flat approximation: points of the box outside the circle are farther than
        any inside it, so the nearest of the box are the nearest of the circle."""
        if self.conn.dialect.name == "postgresql":
            return _nearest_open(self.conn, family, since, lat, lon, radius_m, limit)
        dlat, dlon = degree_margins(lat, radius_m)
        return _OPEN_NEAR.all(self.conn, {"family": family, "since": since, "lat_lo": lat - dlat,
                                          "lat_hi": lat + dlat, "lon_lo": lon - dlon, "lon_hi": lon + dlon,
                                          "lat": lat, "lon": lon, "lon_scale": (dlat / dlon) ** 2,
                                          "limit": limit}, memo=_OPEN_NEAR_ROWS)


def _nearest_open(conn: Connection, family: str, since: datetime, lat: float, lon: float, radius_m: float,
                  limit: int) -> list[OpenIncident]:
    """``open_near`` on PostgreSQL: the index hands rows over nearest first (by the chord between
    the points on the unit sphere, which orders them as their great-circle distance does), so the
    statement reads ``limit`` + 1 of them. Incidents at the same distance (calls placed at one
    address) come in the index's order, not newest first: when the one after the ``limit``-th
    ties with it, more are read until one is farther, and the newest of the tied are kept."""
    read = limit + 1
    while True:
        rows = _OPEN_NEAREST.all(conn, {"family": family, "since": since, "lat": lat, "lon": lon, "limit": read})
        if len(rows) < read or limit == 0 or rows[-1][-1] > rows[limit - 1][-1]:
            break
        read *= 4
    within = t.chord_of(radius_m) * (1 + 1e-9)
    rows.sort(key=lambda r: (r[-1], -r[6].timestamp()))  # nearest, then newest
    return [_open_incident(r[:-1]) for r in rows[:limit] if r[-1] <= within]


def _open_nearest() -> DirectStatement:
    c = t.incidents.c
    chord = t.sphere_point(c.lat, c.lon).op("OPERATOR(public.<->)", return_type=Float)(
        t.sphere_point(bindparam("lat", type_=Float), bindparam("lon", type_=Float)))
    return DirectStatement(
        select(c.id, c.type_code, c.family, c.status, c.lat, c.lon, c.received_at, chord).where(
            c.family == bindparam("family"), t.OPEN_INCIDENT, c.received_at >= bindparam("since"),
        ).order_by(chord).limit(bindparam("limit"))
    )


_OPEN_NEAREST = _open_nearest()


def _open_near() -> DirectStatement:
    c = t.incidents.c
    # Squared distance in degrees of latitude: a degree of longitude is cos(lat) of one of latitude.
    d_lat, d_lon = c.lat - bindparam("lat", type_=Float), c.lon - bindparam("lon", type_=Float)
    flat_distance = d_lat * d_lat + d_lon * d_lon * bindparam("lon_scale", type_=Float)
    return DirectStatement(
        select(c.id, c.type_code, c.family, c.status, c.lat, c.lon, c.received_at).where(
            c.family == bindparam("family"), t.OPEN_INCIDENT,
            c.lat.between(bindparam("lat_lo"), bindparam("lat_hi")),
            c.lon.between(bindparam("lon_lo"), bindparam("lon_hi")), c.received_at >= bindparam("since"),
        ).order_by(flat_distance, c.received_at.desc()).limit(bindparam("limit"))
    )


_OPEN_NEAR = _open_near()


def _open_incident(row: tuple[Any, ...]) -> OpenIncident:
    id_, type_code, family, status, lat, lon, received_at = row
    return OpenIncident(id=id_, type_code=type_code, family=family, status=_INCIDENT_STATUS[status],
                        location=GeoPoint(lat=lat, lon=lon), received_at=received_at)


_OPEN_NEAR_ROWS = RowMemo(max_rows=5_000, make=_open_incident)
"""A burst of calls about one place reads the same open incidents near it call after call (the
nearest ten): an unchanged row gives back the ``OpenIncident`` made of it last time, unconverted.
A row whose status changed is another key (a closed incident is no longer read at all)."""


def _capabilities(names: Sequence[str] | str) -> frozenset[Capability]:
    """Capability sets repeat across units (a handful of kinds): built once each, from the list or
    from its JSON text (``_UNITS_WITH_STATUS`` reads the text)."""
    key = names if isinstance(names, str) else tuple(names)
    caps = _CAPABILITIES.get(key)
    if caps is None:
        listed = json.loads(key) if isinstance(key, str) else key
        caps = _CAPABILITIES[key] = frozenset(Capability(c) for c in listed)
    return caps


def unit_from_row(r: Row[Any] | Sequence[Any]) -> Unit:
    """A unit from its ``units`` row (a Row with those columns, or a tuple in table order); cheap,
    since every recommendation converts every available unit."""
    (id_, call_sign, home_station, capabilities, crew_size, status, lat, lon, position_at, incident_id,
     status_at, checkin_at, version) = _values(r, _UNIT_FIELDS)
    return Unit(
        id=id_, call_sign=call_sign, home_station=home_station, capabilities=_capabilities(capabilities),
        crew_size=crew_size, status=_UNIT_STATUS[status],
        position=GeoPoint(lat=lat, lon=lon) if lat is not None else None, position_at=position_at,
        incident_id=incident_id, status_at=status_at, checkin_at=checkin_at, version=version,
    )


def _unit_values(u: Unit) -> dict[str, Any]:
    return {
        "call_sign": u.call_sign, "home_station": u.home_station,
        "capabilities": sorted(c.value for c in u.capabilities), "crew_size": u.crew_size,
        "status": u.status.value, "lat": u.position.lat if u.position else None,
        "lon": u.position.lon if u.position else None, "position_at": u.position_at,
        "incident_id": u.incident_id, "status_at": u.status_at, "checkin_at": u.checkin_at,
    }


_UPDATE_UNIT = ChangedColumnsUpdate(t.units)
_UNIT_BY_ID = _by_id(t.units)
_UNIT_BY_ID_LOCKED = _by_id(t.units, for_update=True)
_UNITS_WITH_STATUS = DirectStatement(
    select(*(cast(c, Text).label(c.name) if c.name == "capabilities" else c for c in t.units.c))
    .where(t.units.c.status == bindparam("status"))
)
"""The units' rows in table order, with the capability list as its JSON text: psycopg decodes a JSON
column itself, so each row came back holding a list, which ``RowMemo`` cannot hash as it is; the
text is hashed as it comes and decoded once per distinct list (``_capabilities``)."""


_RUNNING_INCIDENTS = DirectStatement(
    select(t.incidents.c.id, t.incidents.c.status, t.incidents.c.priority, t.incidents.c.station_code,
           t.incidents.c.received_at, t.incidents.c.dispatched_at)
    .where(t.incidents.c.status.in_([bindparam(s.value) for s in TIMED_STATUSES]))
)


def running_incidents(conn: Connection) -> list[RunningIncident]:
    """Every incident whose stage timers run (received, dispatched, en route), as the timer check
    reads them: six columns in one compiled statement, not whole incidents (with 5,000 open ones,
    building ``Incident``s took most of each check's ~0.1 s)."""
    rows = _RUNNING_INCIDENTS.all(conn, {s.value: s.value for s in TIMED_STATUSES})
    status = _INCIDENT_STATUS
    return [RunningIncident(id_, status[st], priority, station, received_at, dispatched_at)
            for id_, st, priority, station, received_at, dispatched_at in rows]


def load_unit(conn: Connection, unit_id: str) -> Unit | None:
    """The unit, or None: the fast read for read models (one compiled statement, no locking)."""
    row = _UNIT_BY_ID.first(conn, {"id": unit_id})
    return unit_from_row(row) if row is not None else None


_AVAILABLE_UNITS = RowMemo(max_rows=5_000, make=unit_from_row)
"""Most units are unchanged from one recommendation to the next: each row is made a ``Unit`` once."""

_AVAILABLE_STATE = DirectStatement(
    select(t.units.c.id, t.units.c.version, t.units.c.lat, t.units.c.lon, t.units.c.position_at)
    .where(t.units.c.status == bindparam("status"))
)
"""What tells whether an available unit's row changed since it was read: every change to a unit
goes through its versioned save (the version goes up) except a position fix, which writes only
lat, lon and position_at."""

_KNOWN_UNITS: WeakKeyDictionary[Engine, dict[str, Unit]] = WeakKeyDictionary()
"""Per database, the ``Unit`` last made of each unit's row by ``available_units``."""
_KNOWN_UNITS_MAX = 20_000
_READ_ALL_OVER = 8
"""More changed units than this and the whole list is read again in one statement."""


def _unchanged(unit: Unit, version: int, lat: float | None, lon: float | None, at: datetime | None) -> bool:
    pos = unit.position
    return (unit.version == version and unit.position_at == at
            and (pos.lat == lat and pos.lon == lon if pos is not None else lat is None))


def available_units(conn: Connection, also: Iterable[str] = ()) -> list[Unit]:
    """The available units, plus the units ``also`` names (an incident's active units) whatever their
    status: what ``recommend_units`` ranks, read with compiled statements.

    Every recommendation, and the check inside every assignment, reads all the available units,
    and most are as they were at the last read. So the read asks first for each available unit's
    version and position only (five columns instead of thirteen: SQLite's driver and psycopg pay
    per value), and reads in full only the units that changed, one by one, or all of them again
    when more than a few did. Units are shared between reads while their rows are unchanged: they
    are for reading, never to be changed or saved; a use case that changes a unit loads it in its
    unit of work."""
    known = _KNOWN_UNITS.get(conn.engine)
    if known is None:
        known = _KNOWN_UNITS.setdefault(conn.engine, {})
    state = _AVAILABLE_STATE.all(conn, {"status": UnitStatus.AVAILABLE.value})
    found: list[Unit | None] = []
    changed: list[int] = []
    for uid, version, lat, lon, at in state:
        unit = known.get(uid)
        if unit is not None and _unchanged(unit, version, lat, lon, at):
            found.append(unit)
        else:
            changed.append(len(found))
            found.append(None)
    if len(changed) > _READ_ALL_OVER:
        units = _UNITS_WITH_STATUS.all(conn, {"status": UnitStatus.AVAILABLE.value}, memo=_AVAILABLE_UNITS)
        if len(known) >= _KNOWN_UNITS_MAX:
            known.clear()
        known.update((u.id, u) for u in units)
    else:
        for i in changed:
            unit = load_unit(conn, state[i][0])
            # On PostgreSQL this is a later snapshot: a unit that stopped being available is left out.
            if unit is not None and unit.status is UnitStatus.AVAILABLE:
                known[unit.id] = found[i] = unit
        units = [u for u in found if u is not None]
    have = {u.id for u in units}
    for unit_id in also:
        if unit_id not in have:
            u = load_unit(conn, unit_id)
            if u is not None:
                units.append(u)
                have.add(unit_id)
    return units


_UNIT_HOME = DirectStatement(select(t.units.c.home_station).where(t.units.c.id == bindparam("id")))
_MOVE_UNIT = DirectStatement(
    update(t.units)
    .where(t.units.c.id == bindparam("b_id"),
           or_(t.units.c.position_at.is_(None), t.units.c.position_at <= bindparam("b_at")))
    .values(lat=bindparam("lat"), lon=bindparam("lon"), position_at=bindparam("b_at"))
)


_END_ASSIGNMENT = DirectStatement(
    update(t.assignments)
    .where(t.assignments.c.unit_id == bindparam("b_unit"), t.assignments.c.ended_at.is_(None))
    .values(ended_at=bindparam("b_at"), end_reason=bindparam("b_reason"))
)


def end_assignment(conn: Connection, unit_id: str, at: datetime, reason: str) -> int:
    """Close the unit's open assignment (cleared, released); returns how many rows were closed."""
    return _END_ASSIGNMENT.execute(conn, {"b_unit": unit_id, "b_at": at, "b_reason": reason})


def unit_home_station(conn: Connection, unit_id: str) -> str | None:
    """The unit's home station, or None if there is no such unit (the scope check of a position fix)."""
    row = _UNIT_HOME.first(conn, {"id": unit_id})
    return row[0] if row is not None else None


def record_position(conn: Connection, unit_id: str, point: GeoPoint, at: datetime) -> bool:
    """Store a position fix unless the unit already has a newer one; True if it was stored.
    Positions bypass the version check: they change nothing a dispatcher decided."""
    return _MOVE_UNIT.execute(conn, {"b_id": unit_id, "b_at": at, "lat": point.lat, "lon": point.lon}) == 1


class UnitRepository(_AggregateRows):
    def __init__(self, conn: Connection, lock: bool, pending: PendingInserts | None = None,
                 single_write: bool = False) -> None:
        super().__init__(conn, lock, pending, single_write)
        self.seen: list[Unit] = []

    def add(self, u: Unit) -> None:
        values = _unit_values(u)
        self._write(t.units, [{"id": u.id, "version": 0, **values}])
        self._added.add(u.id)
        self._read[u.id] = values
        self._timeline(u)
        self.seen.append(u)

    def get(self, unit_id: str, *, for_update: bool = False) -> Unit:
        if for_update:
            _refuse_in_single_write(self.single_write, "reading a unit to change it")
        self._sent_if_added(unit_id)
        stmt = _UNIT_BY_ID_LOCKED if for_update and self.lock else _UNIT_BY_ID
        row = stmt.first(self.conn, {"id": unit_id})
        if row is None:
            raise NotFound(f"unit {unit_id} not found", field="unit_id")
        u = unit_from_row(row)
        if for_update:
            self.seen.append(u)
            self._read[u.id] = _unit_values(u)
        return u

    def locked(self, seen: Unit) -> Unit:
        """``seen`` (read in this transaction) as the row to change: read again FOR UPDATE where rows
        are locked one by one; taken as it is on SQLite, whose writer holds the whole database from
        its first statement, so nothing can have changed it since it was read."""
        if self.lock:
            return self.get(seen.id, for_update=True)
        _refuse_in_single_write(self.single_write, "taking a unit to change it")
        self.seen.append(seen)
        self._read[seen.id] = _unit_values(seen)
        return seen

    def save(self, u: Unit) -> None:
        _refuse_in_single_write(self.single_write, "saving a unit")
        self._sent_if_added(u.id)
        values = _unit_values(u)
        changed = _UPDATE_UNIT.execute(self.conn, u.id, u.version, values, self._read.get(u.id))
        if changed != 1:
            raise Conflict(f"unit {u.call_sign} was changed by someone else; reload and retry", field="unit_id")
        u.version += 1
        self._read[u.id] = values
        self._timeline(u)

    def _timeline(self, u: Unit) -> None:
        # Positions are frequent and live in the unit row; the timeline keeps status changes.
        rows = [r for r in _timeline_rows(u.events, "unit_id", u.id) if r["kind"] != "UnitMoved"]
        self._write(t.unit_timeline, rows)


def major_from_row(r: Row[Any] | Any) -> MajorIncident:
    m = r._mapping
    items = [
        ChecklistItem(i["text"], i.get("done_by"),
                      datetime.fromisoformat(i["done_at"]) if i.get("done_at") else None)
        for i in m["checklist"]
    ]
    return MajorIncident(
        id=m["id"], title=m["title"], plan=m["plan"], commander=m["commander"], station_code=m["station_code"],
        declared_at=m["declared_at"], incident_ids=list(m["incident_ids"]), checklist=items,
        stood_down_at=m["stood_down_at"],
    )


def _major_values(mi: MajorIncident) -> dict[str, Any]:
    return {
        "title": mi.title, "plan": mi.plan, "commander": mi.commander, "station_code": mi.station_code,
        "declared_at": mi.declared_at, "incident_ids": list(mi.incident_ids),
        "checklist": [
            {"text": i.text, "done_by": i.done_by, "done_at": i.done_at.isoformat() if i.done_at else None}
            for i in mi.checklist
        ],
        "stood_down_at": mi.stood_down_at,
    }


class MajorIncidentRepository:
    def __init__(self, conn: Connection, lock: bool, single_write: bool = False) -> None:
        """``single_write``: see ``_AggregateRows``; a major incident's rows are written at once, so
        nothing here may be written in such a unit of work."""
        self.conn = conn
        self.lock = lock
        self.single_write = single_write
        self.seen: list[MajorIncident] = []

    def add(self, mi: MajorIncident) -> None:
        _refuse_in_single_write(self.single_write, "adding a major incident")
        self.conn.execute(insert(t.major_incidents).values(id=mi.id, **_major_values(mi)))
        self.seen.append(mi)

    def get(self, major_id: str, *, for_update: bool = False) -> MajorIncident:
        if for_update:
            _refuse_in_single_write(self.single_write, "reading a major incident to change it")
        q = select(t.major_incidents).where(t.major_incidents.c.id == major_id)
        if for_update and self.lock:
            q = q.with_for_update()
        row = self.conn.execute(q).first()
        if row is None:
            raise NotFound(f"major incident {major_id} not found", field="major_id")
        mi = major_from_row(row)
        self.seen.append(mi)
        return mi

    def save(self, mi: MajorIncident) -> None:
        _refuse_in_single_write(self.single_write, "saving a major incident")
        self.conn.execute(update(t.major_incidents).where(t.major_incidents.c.id == mi.id).values(**_major_values(mi)))
