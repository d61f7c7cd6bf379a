"""The store's compiled statements (``DirectStatement``) against SQLAlchemy Core, on SQLite and
PostgreSQL: rows written by one read back identically through the other, in the same transaction,
with the same errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, exc, insert, select, update

from jingwu.domain import events as ev
from jingwu.domain.errors import Conflict, NotFound
from jingwu.domain.geography import GeoPoint
from jingwu.domain.incident import Incident, IncidentStatus, Source
from jingwu.domain.unit import UnitStatus
from jingwu.store import audit_chain
from jingwu.store import tables as t
from jingwu.store.pending_inserts import PendingInserts
from jingwu.store.repositories import (
    _INCIDENT_BY_ID,
    available_units,
    incident_as_row,
    incident_from_row,
    load_incident,
    load_unit,
    record_position,
    unit_from_row,
    unit_home_station,
)
from jingwu.store.unit_of_work import UnitOfWork, read_connection
from tests.conftest import drop_pg_schema, fresh_engine

CST = timezone(timedelta(hours=8))
UNIT = "U-P07-01"
LATER = datetime(2036, 1, 1, tzinfo=UTC)


def _incident(incident_id: str, **over: Any) -> Incident:
    values: dict[str, Any] = dict(
        id=incident_id, type_code="THEFT", family="property", priority=3, location=GeoPoint(42.5063, 1.5218),
        station_code="AD-ST-07", received_at=datetime(2026, 11, 27, 13, 5, 7, 123456, tzinfo=CST),
        received_by="dispatcher", source=Source.PUBLIC_CALL, address=None, street="Carrer Major 1",
        description="bicicleta — 自行車", callers=2, dispatched_at=datetime(2026, 11, 27, 5, 6, tzinfo=UTC),
        active_units=["U-1", "U-2"],
    )
    values.update(over)
    return Incident(**values)


def _sa_row(conn: Any, table: Any, key: str) -> dict[str, Any]:
    return dict(conn.execute(select(table).where(table.c.id == key)).one()._mapping)


def test_incident_written_directly_reads_back_through_core(engine: Engine) -> None:
    inc = _incident("INC-D-1")
    inc.events.append(ev.IncidentReceived(at=inc.received_at, actor="dispatcher", station_code=inc.station_code,
                                          incident_id=inc.id, type_code="THEFT", priority=3, lat=1.0, lon=2.0,
                                          source="public_call"))
    with UnitOfWork(engine) as uow:
        uow.incidents.add(inc)
        uow.commit()
    with engine.connect() as conn:
        row = _sa_row(conn, t.incidents, inc.id)
        timeline = conn.execute(select(t.incident_timeline).where(t.incident_timeline.c.incident_id == inc.id)).all()
    expected = incident_as_row(inc)
    expected["received_at"] = datetime(2026, 11, 27, 5, 5, 7, 123456, tzinfo=UTC)
    assert row == expected
    assert row["received_at"].utcoffset() == timedelta(0)
    assert row["address"] is None and row["closed_at"] is None
    assert row["active_units"] == ["U-1", "U-2"]
    assert [(r.kind, r.actor, r.at, r.data["type_code"]) for r in timeline] == [
        ("IncidentReceived", "dispatcher", expected["received_at"], "THEFT")]


def test_incident_written_through_core_reads_back_directly(engine: Engine) -> None:
    inc = _incident("INC-D-2", active_units=[], street=None, dispatched_at=None)
    with engine.begin() as conn:
        conn.execute(insert(t.incidents).values(incident_as_row(inc)))
    with UnitOfWork(engine) as uow:
        got = uow.incidents.get(inc.id, for_update=True)
    with read_connection(engine) as conn:
        via_core = incident_from_row(conn.execute(select(t.incidents).where(t.incidents.c.id == inc.id)).one())
        via_helper = load_incident(conn, inc.id)
        assert load_incident(conn, "INC-NONE") is None
    assert got == via_core == via_helper
    assert got.received_at == inc.received_at and got.received_at.tzinfo is UTC
    assert got.active_units == [] and got.street is None and got.dispatched_at is None
    assert got.status is IncidentStatus.RECEIVED and got.source is Source.PUBLIC_CALL


def test_a_row_with_other_columns_still_converts(engine: Engine) -> None:
    with read_connection(engine) as conn:
        reordered = conn.execute(select(*reversed(list(t.units.c))).where(t.units.c.id == UNIT)).one()
        plain = conn.execute(select(t.units).where(t.units.c.id == UNIT)).one()
    assert unit_from_row(reordered) == unit_from_row(plain) == unit_from_row(tuple(plain))


def test_versioned_update_and_unit_round_trip(engine: Engine) -> None:
    when = datetime(2026, 11, 27, 9, 30, tzinfo=CST)
    with UnitOfWork(engine) as uow:
        unit = uow.units.get(UNIT, for_update=True)
        version = unit.version
        unit.status_at = when
        unit.position = GeoPoint(42.51, 1.53)
        unit.position_at = None
        unit.set_status(UnitStatus.OFF_DUTY, when, "dispatcher")
        uow.units.save(unit)
        uow.commit()
    with read_connection(engine) as conn:
        row = _sa_row(conn, t.units, UNIT)
        direct = load_unit(conn, UNIT)
        steps = conn.execute(select(t.unit_timeline.c.kind, t.unit_timeline.c.data)
                             .where(t.unit_timeline.c.unit_id == UNIT)).all()
    assert row["version"] == version + 1 and row["status"] == "off_duty"
    assert row["status_at"] == when and row["position_at"] is None and (row["lat"], row["lon"]) == (42.51, 1.53)
    assert direct == unit_from_row(row.values()) == unit
    assert steps[-1].kind == "UnitStatusChanged" and steps[-1].data["new"] == "off_duty"

    # A save based on the version read before that one is refused.
    stale = unit
    stale.version = version
    with UnitOfWork(engine) as uow, pytest.raises(Conflict):
        uow.units.save(stale)


def test_a_save_writes_the_columns_that_changed(engine: Engine) -> None:
    """A loaded aggregate's save sets only what it changed (SQLite rewrites the indexes of every
    column named in SET): a column changed beside it in the same transaction keeps its value, a
    second save in the transaction writes from the first save's values, and an aggregate saved
    without being read writes every column."""
    with UnitOfWork(engine) as uow:
        uow.incidents.add(_incident("INC-D-9"))
        uow.commit()
    when = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    with UnitOfWork(engine) as uow:
        inc = uow.incidents.get("INC-D-9", for_update=True)
        uow.conn.execute(update(t.incidents).where(t.incidents.c.id == inc.id).values(description="by hand"))
        inc.priority = 1
        uow.incidents.save(inc)
        inc.arrived_at = when
        uow.incidents.save(inc)
        unit = uow.units.get(UNIT, for_update=True)
        assert record_position(uow.conn, UNIT, GeoPoint(42.52, 1.54), LATER)  # a fix in between
        unit.set_status(UnitStatus.OFF_DUTY, when, "dispatcher")
        uow.units.save(unit)
        uow.commit()
    with read_connection(engine) as conn:
        row = _sa_row(conn, t.incidents, "INC-D-9")
        u = _sa_row(conn, t.units, UNIT)
    assert (row["priority"], row["arrived_at"], row["description"], row["version"]) == (1, when, "by hand", 2)
    assert (u["status"], u["lat"], u["lon"], u["position_at"]) == ("off_duty", 42.52, 1.54, LATER)

    unread = _incident("INC-D-9", priority=4, description="whole row", version=2)
    with UnitOfWork(engine) as uow:
        uow.incidents.save(unread)
        uow.commit()
    with read_connection(engine) as conn:
        assert load_incident(conn, "INC-D-9") == unread
        assert _sa_row(conn, t.incidents, "INC-D-9")["arrived_at"] is None


def test_direct_writes_stay_in_the_unit_of_work_transaction(engine: Engine) -> None:
    query = select(t.incidents.c.id).where(t.incidents.c.id == "INC-D-3")
    with UnitOfWork(engine) as uow:
        uow.incidents.add(_incident("INC-D-3"))
        assert uow.conn.execute(query).scalar() is None  # held for the commit's statement
        assert uow.incidents.get("INC-D-3").id == "INC-D-3"  # the repository sends it before reading it
        assert uow.conn.execute(query).scalar() == "INC-D-3"
        uow.rollback()
    with UnitOfWork(engine) as uow, pytest.raises(NotFound):
        uow.incidents.get("INC-D-3")
    with engine.begin() as conn:  # a Core write, then a direct read in the same transaction
        conn.execute(update(t.units).where(t.units.c.id == UNIT).values(crew_size=5))
        unit = load_unit(conn, UNIT)
        assert unit is not None and unit.crew_size == 5
        conn.rollback()


def test_database_and_type_errors_are_sqlalchemys(engine: Engine) -> None:
    with UnitOfWork(engine) as uow:
        uow.incidents.add(_incident("INC-D-4"))
        uow.commit()
    # New rows are held to the commit (one statement on PostgreSQL): that is where they are refused.
    with UnitOfWork(engine) as uow, pytest.raises(exc.IntegrityError):
        uow.incidents.add(_incident("INC-D-4"))
        uow.commit()
    naive = _incident("INC-D-5", received_at=datetime(2026, 11, 27, 5, 0))
    with UnitOfWork(engine) as uow, pytest.raises(exc.StatementError, match="naive datetime"):
        uow.incidents.add(naive)
        uow.commit()
    with read_connection(engine) as conn:
        assert load_incident(conn, "INC-D-5") is None


def test_outbox_rows_follow_event_order(engine: Engine) -> None:
    at = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
    kinds = [ev.UnitStatusChanged(at=at + timedelta(seconds=i), actor="x", station_code=None, unit_id=UNIT,
                                  call_sign="P07-01", old="a", new=f"s{i}") for i in range(5)]
    with UnitOfWork(engine) as uow:
        for e in kinds:
            uow.emit(e)
        uow.commit()
    with engine.connect() as conn:
        rows = conn.execute(select(t.outbox).order_by(t.outbox.c.seq.desc()).limit(5)).all()[::-1]
    assert [r.payload["new"] for r in rows] == [f"s{i}" for i in range(5)]
    assert [r.created_at for r in rows] == [e.at for e in kinds]
    assert all(r.published_at is None and r.stream == f"unit:{UNIT}" for r in rows)


def test_audit_chain_appended_directly_verifies(engine: Engine) -> None:
    at = datetime(2026, 11, 27, 5, 0, tzinfo=CST)
    with UnitOfWork(engine) as uow:
        for i in range(3):
            uow.audit(at=at, actor="dispatcher", action="test.direct", object_type="incident",
                      object_id=f"INC-{i}", detail={"n": i, "when": at.isoformat(), "none": None})
        uow.commit()
    with engine.begin() as conn:
        audit_chain.seal_pending(conn)  # PostgreSQL seals after the commit (a no-op on SQLite)
    with engine.connect() as conn:
        _place, head_hash = audit_chain.head(conn)
        last = conn.execute(select(t.audit_log).order_by(t.audit_log.c.seq.desc()).limit(1)).one()
        report = audit_chain.verify(conn)
    assert head_hash == last.hash
    assert last.at == at and last.detail == {"n": 2, "when": at.isoformat(), "none": None}
    assert report.ok and (report.head_seq, report.head_hash) == (last.seq, last.hash) and report.unsealed == 0


def test_available_units_match_the_core_query(engine: Engine) -> None:
    with read_connection(engine) as conn:
        busy = conn.execute(select(t.units.c.id).where(t.units.c.status != "available").limit(1)).scalar()
        also = [UNIT] + ([busy] if busy else []) + ["U-MISSING"]
        uc = t.units.c
        core = [unit_from_row(r) for r in conn.execute(
            select(t.units).where((uc.status == "available") | uc.id.in_(also)))]
        direct = available_units(conn, also=also)
    assert len(core) > 0
    assert sorted(direct, key=lambda u: u.id) == sorted(core, key=lambda u: u.id)


def test_available_units_read_again_follow_every_change(engine: Engine) -> None:
    """The second read builds only units whose rows it has not seen (``RowMemo``): a moved unit, a
    status change and a unit gone off duty all show, and an unchanged unit is the same object."""
    with read_connection(engine) as conn:
        first = {u.id: u for u in available_units(conn)}
    assert UNIT in first and len(first) > 2
    moved_id, gone_id = sorted(set(first) - {UNIT})[:2]
    at = datetime.now(UTC) + timedelta(hours=1)  # newer than the seed's fixes
    with engine.begin() as conn:
        assert record_position(conn, moved_id, GeoPoint(42.51, 1.53), at)
        conn.execute(update(t.units).where(t.units.c.id == gone_id).values(status="off_duty"))
        conn.execute(update(t.units).where(t.units.c.id == UNIT).values(crew_size=5, version=t.units.c.version + 1))
    with read_connection(engine) as conn:
        again = {u.id: u for u in available_units(conn)}
        core = {u.id: u for u in (unit_from_row(r) for r in conn.execute(
            select(t.units).where(t.units.c.status == "available")))}
    assert again == core
    assert gone_id not in again
    assert again[moved_id].position == GeoPoint(42.51, 1.53) and again[moved_id].position_at == at
    assert again[UNIT].crew_size == 5 and again[UNIT].version == first[UNIT].version + 1
    same = next(uid for uid in again if uid not in (moved_id, UNIT) and again[uid].status_at is not None)
    # its row was not converted nor made a Unit again (on PostgreSQL too, whose driver decodes the
    # JSON list); the changed ones were
    assert again[same] is first[same]
    assert again[moved_id] is not first[moved_id] and again[UNIT] is not first[UNIT]


def test_available_units_follow_a_later_fix_at_the_same_place_and_many_changes_at_once(engine: Engine) -> None:
    """A unit's row is read again when only its fix's time moved, and when more than a few units
    changed the list is read whole: either way the answer is the Core query's."""
    with read_connection(engine) as conn:
        first = {u.id: u for u in available_units(conn)}
    assert len(first) > 10
    same_place = first[UNIT].position
    assert same_place is not None
    with engine.begin() as conn:
        assert record_position(conn, UNIT, same_place, LATER)
    with read_connection(engine) as conn:
        again = {u.id: u for u in available_units(conn)}
    assert again[UNIT].position_at == LATER and again[UNIT] is not first[UNIT]

    moved = sorted(set(first) - {UNIT})[:10]  # more than the few read one by one
    with engine.begin() as conn:
        for k, uid in enumerate(moved):
            assert record_position(conn, uid, GeoPoint(42.5 + k / 1000, 1.55), LATER + timedelta(seconds=k))
    with read_connection(engine) as conn:
        after = {u.id: u for u in available_units(conn)}
        core = {u.id: u for u in (unit_from_row(r) for r in conn.execute(
            select(t.units).where(t.units.c.status == "available")))}
    assert after == core
    assert after[moved[3]].position == GeoPoint(42.503, 1.55)


def test_available_units_of_two_databases_are_kept_apart(tmp_path: Path,
                                                         tmp_path_factory: pytest.TempPathFactory) -> None:
    """Two databases seeded alike hold the same unit ids, versions and fixes: what one read made of
    a unit is never handed out for the other's."""
    one, _ = fresh_engine("sqlite", tmp_path, tmp_path_factory)
    other, _ = fresh_engine("sqlite", tmp_path, tmp_path_factory)
    try:
        with other.begin() as conn:  # changed behind the store's back: no version bump
            conn.execute(update(t.units).where(t.units.c.id == UNIT).values(crew_size=7))
        with read_connection(one) as conn:
            ones = {u.id: u for u in available_units(conn)}
        with read_connection(other) as conn:
            others = {u.id: u for u in available_units(conn)}
        assert ones[UNIT].version == others[UNIT].version and ones[UNIT].position_at == others[UNIT].position_at
        assert ones[UNIT].crew_size != 7
        assert others[UNIT].crew_size == 7
    finally:
        one.dispose()
        other.dispose()


def _insert_now(conn: Any, table: Any, row: dict[str, Any]) -> None:
    held = PendingInserts()
    held.add(table, row)
    held.send(conn)


def test_held_inserts_fill_python_defaults_and_keep_the_open_assignment_index(engine: Engine) -> None:
    at = datetime(2026, 11, 27, 5, 0, tzinfo=CST)
    with engine.begin() as conn:
        org = conn.execute(select(t.org_units.c.code).limit(1)).scalar_one()
        _insert_now(conn, t.users, {"username": "direct.user", "password_hash": "x", "role": "dispatcher",
                                    "org_code": org, "created_at": at})
        user = conn.execute(select(t.users).where(t.users.c.username == "direct.user")).one()
        # Core fills Python-side defaults on insert; so do held inserts.
        assert (user.disabled, user.token_version, user.failed_logins, user.locked_until) == (False, 0, 0, None)
        assert user.created_at == at
    with engine.begin() as conn:
        inc = _incident("INC-D-6")
        conn.execute(insert(t.incidents).values(incident_as_row(inc)))
    row = {"incident_id": "INC-D-6", "unit_id": UNIT, "assigned_at": at, "assigned_by": "d", "recommended": True,
           "override_reason": None, "eta_s": 61.5}
    with engine.begin() as conn:
        _insert_now(conn, t.assignments, row)
    with engine.connect() as conn:
        got = conn.execute(select(t.assignments).where(t.assignments.c.incident_id == "INC-D-6")).one()
        assert (got.recommended, got.eta_s, got.ended_at, got.assigned_at) == (True, 61.5, None, at)
    with engine.begin() as conn, pytest.raises(exc.IntegrityError):
        _insert_now(conn, t.assignments, row)  # a second open assignment of one unit


def test_position_fix_keeps_the_newest(engine: Engine) -> None:
    at = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
    with engine.begin() as conn:
        assert unit_home_station(conn, "U-MISSING") is None
        home = unit_home_station(conn, UNIT)
        assert home == conn.execute(select(t.units.c.home_station).where(t.units.c.id == UNIT)).scalar_one()
        conn.execute(update(t.units).where(t.units.c.id == UNIT).values(position_at=None))
        assert record_position(conn, UNIT, GeoPoint(42.51, 1.52), at)
        assert not record_position(conn, UNIT, GeoPoint(42.0, 1.0), at - timedelta(seconds=1))
        assert record_position(conn, UNIT, GeoPoint(42.52, 1.53), at)
        assert not record_position(conn, "U-MISSING", GeoPoint(42.52, 1.53), at)
        unit = load_unit(conn, UNIT)
    assert unit is not None and unit.position == GeoPoint(42.52, 1.53) and unit.position_at == at


@pytest.mark.postgres
def test_one_statement_serves_two_dialects_in_turn(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    pg, pg_url = fresh_engine("postgresql", tmp_path, tmp_path_factory)  # skips without PostgreSQL
    lite, _ = fresh_engine("sqlite", tmp_path, tmp_path_factory)
    try:
        for _ in range(3):
            for eng in (lite, pg):
                with read_connection(eng) as conn:
                    unit = load_unit(conn, UNIT)
                    assert unit is not None and unit.id == UNIT
    finally:
        lite.dispose()
        pg.dispose()
        drop_pg_schema(pg_url)


def test_reads_keep_the_statements_postgresql_prepared(engine: Engine, backend: str) -> None:
    """psycopg prepares a statement after a few executions on a connection, and forgets them all at
    each ROLLBACK: reads end with COMMIT so the server does not parse and plan them anew each time."""
    if backend != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    for _ in range(8):  # past psycopg's prepare threshold (5), on the pool's most recent connection
        with read_connection(engine) as conn:
            assert load_unit(conn, UNIT) is not None
    with read_connection(engine) as conn:
        prepared = conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars().all()
    assert any("FROM units" in s and "units.id =" in s for s in prepared), prepared


def test_postgresql_sessions_are_in_utc_and_hot_reads_come_in_binary(engine: Engine, backend: str) -> None:
    """Whatever zone the server defaults to (this one's is Etc/UTC), a session is in UTC, and the
    compiled reads take PostgreSQL's binary rows: the same values, JSON and times included, as
    Core's text rows."""
    if backend != "postgresql":
        pytest.skip("a PostgreSQL session setting")
    inc = _incident("INC-D-UTC")
    with UnitOfWork(engine) as uow:
        uow.incidents.add(inc)
        uow.commit()
    with read_connection(engine) as conn:
        assert conn.exec_driver_sql("SHOW TimeZone").scalar() == "UTC"
        direct = load_incident(conn, inc.id)
        core = incident_from_row(conn.execute(select(t.incidents).where(t.incidents.c.id == inc.id)).one())
        binary = _INCIDENT_BY_ID.plan(conn.dialect).binary
    assert binary
    assert direct == core
    assert direct is not None and direct.received_at.tzinfo is UTC and direct.active_units == ["U-1", "U-2"]
    assert direct.received_at == inc.received_at
