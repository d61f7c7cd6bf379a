"""A single-write unit of work (``UnitOfWork(single_write=True)``, taking a call) on SQLite and
PostgreSQL: on PostgreSQL its reads run outside a transaction and its one write is the whole
transaction; its held rows still arrive all or none; changing or locking a row in it is refused;
and the connection goes back to the pool as it came. A read (``read_connection``) on PostgreSQL
runs in autocommit the same way."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, create_engine, exc, func, select
from sqlalchemy.engine import make_url

from jingwu.domain.geography import GeoPoint
from jingwu.domain.incident import Incident
from jingwu.store import tables as t
from jingwu.store.engine import is_sqlite
from jingwu.store.repositories import available_units
from jingwu.store.unit_of_work import UnitOfWork, read_connection

T0 = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
UNIT = "U-P07-01"


def _incident(incident_id: str) -> Incident:
    return Incident(id=incident_id, type_code="THEFT", family="property", priority=3,
                    location=GeoPoint(lat=42.5078, lon=1.5211), station_code="AD-07-S1", received_at=T0,
                    received_by="calltaker")


def _in_transaction(uow: UnitOfWork) -> bool:
    """Whether the database holds a transaction open for this connection now (PostgreSQL)."""
    from psycopg.pq import TransactionStatus

    status = uow.conn.connection.driver_connection.info.transaction_status  # type: ignore[union-attr]
    return bool(status != TransactionStatus.IDLE)


def _incidents(engine: Engine, incident_id: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.incidents)
                                .where(t.incidents.c.id == incident_id)).scalar_one())


def _crew_and_version(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        crew, version = conn.execute(select(t.units.c.crew_size, t.units.c.version).where(t.units.c.id == UNIT)).one()
    return crew, version


@pytest.fixture
def one_connection(engine: Engine) -> Iterator[Engine]:
    """The same database through a pool of exactly one connection: every unit of work gets the
    connection the last one gave back."""
    if is_sqlite(engine):
        yield engine
        return
    single = create_engine(make_url(engine.url.render_as_string(hide_password=False)), pool_size=1, max_overflow=0)
    try:
        yield single
    finally:
        single.dispose()


def test_on_postgresql_the_reads_run_outside_a_transaction_and_the_pool_gets_it_back_as_it_was(
        engine: Engine, one_connection: Engine) -> None:
    if is_sqlite(engine):
        pytest.skip("SQLite takes the writer's lock for the whole unit of work, as before")
    with UnitOfWork(one_connection, single_write=True) as uow:
        uow.incidents.open_near("property", T0, 42.5, 1.52, 500, limit=10)
        available_units(uow.conn)
        assert not _in_transaction(uow)
        uow.incidents.add(_incident("INC-SINGLE-1"))
        uow.commit()
        assert not _in_transaction(uow)
    assert _incidents(engine, "INC-SINGLE-1") == 1
    # The next unit of work on that very connection is an ordinary transaction again: what it
    # wrote before failing is undone.
    before = _crew_and_version(engine)
    with pytest.raises(RuntimeError, match="fails on purpose"), UnitOfWork(one_connection) as uow:
        uow.incidents.open_near("property", T0, 42.5, 1.52, 500, limit=10)
        assert _in_transaction(uow)
        unit = uow.units.get(UNIT, for_update=True)
        unit.crew_size += 1
        uow.units.save(unit)
        raise RuntimeError("fails on purpose")
    assert _crew_and_version(engine) == before


def test_on_postgresql_a_read_is_a_transaction_per_statement_and_the_pool_gets_it_back_as_it_was(
        engine: Engine, one_connection: Engine) -> None:
    """No BEGIN and COMMIT around a read: ``now()``, the start of the statement's transaction,
    moves from one statement to the next, and no transaction is open between them."""
    if is_sqlite(engine):
        pytest.skip("SQLite reads in one DEFERRED transaction, as before")
    from psycopg.pq import TransactionStatus

    with read_connection(one_connection) as conn:
        first = conn.execute(select(func.now())).scalar_one()
        conn.execute(select(func.pg_sleep(0.01)))
        second = conn.execute(select(func.now())).scalar_one()
        assert conn.connection.driver_connection.info.transaction_status == TransactionStatus.IDLE  # type: ignore[union-attr]
    assert second > first
    # The next unit of work on that very connection is an ordinary transaction again.
    before = _crew_and_version(engine)
    with pytest.raises(RuntimeError, match="fails on purpose"), UnitOfWork(one_connection) as uow:
        unit = uow.units.get(UNIT, for_update=True)
        assert _in_transaction(uow)
        unit.crew_size += 1
        uow.units.save(unit)
        raise RuntimeError("fails on purpose")
    assert _crew_and_version(engine) == before


def test_a_commit_that_is_refused_leaves_none_of_its_rows(engine: Engine) -> None:
    with UnitOfWork(engine) as uow:
        uow.insert(t.idempotency_keys, {"key": "k-1", "actor": "calltaker", "request_hash": "h",
                                        "incident_id": "INC-FIRST", "created_at": T0})
        uow.commit()
    with pytest.raises(exc.IntegrityError), UnitOfWork(engine, single_write=True) as uow:
        uow.incidents.open_near("property", T0, 42.5, 1.52, 500, limit=10)
        uow.incidents.add(_incident("INC-SECOND"))
        uow.insert(t.idempotency_keys, {"key": "k-1", "actor": "calltaker", "request_hash": "h",
                                        "incident_id": "INC-SECOND", "created_at": T0})
        uow.audit(at=T0, actor="calltaker", action="incident.create", object_type="incident", object_id="INC-SECOND")
        uow.commit()
    assert _incidents(engine, "INC-SECOND") == 0
    with engine.connect() as conn:
        for table, column in ((t.incident_timeline, t.incident_timeline.c.incident_id),
                              (t.audit_log, t.audit_log.c.object_id)):
            assert conn.execute(select(func.count()).select_from(table).where(column == "INC-SECOND")).scalar_one() == 0


REFUSED: dict[str, Callable[[UnitOfWork], object]] = {
    "lock an incident": lambda uow: uow.incidents.get("INC-THERE", for_update=True),
    "save an incident": lambda uow: uow.incidents.save(uow.incidents.get("INC-THERE")),
    "read back an incident it added": lambda uow: (uow.incidents.add(_incident("INC-NEW")),
                                                   uow.incidents.get("INC-NEW")),
    "lock a unit": lambda uow: uow.units.get(UNIT, for_update=True),
    "take a unit to change": lambda uow: uow.units.locked(uow.units.get(UNIT)),
    "save a unit": lambda uow: uow.units.save(uow.units.get(UNIT)),
    "lock a major incident": lambda uow: uow.majors.get("MAJ-NONE", for_update=True),
}


@pytest.mark.parametrize("attempt", list(REFUSED), ids=list(REFUSED))
def test_a_single_write_unit_of_work_refuses_to_change_or_lock_a_row(engine: Engine, attempt: str) -> None:
    with UnitOfWork(engine) as uow:
        uow.incidents.add(_incident("INC-THERE"))
        uow.commit()
    with UnitOfWork(engine, single_write=True) as uow, pytest.raises(RuntimeError, match="single-write unit of work"):
        REFUSED[attempt](uow)
    with engine.connect() as conn:
        assert conn.execute(select(t.units.c.version).where(t.units.c.id == UNIT)).scalar_one() == 0
    assert _incidents(engine, "INC-NEW") == 0
