"""Migrations on a database that already holds data: the indexes of incidents by place (0003, 0004)
and the audit chain sealed after commit (0005)."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from jingwu.store.audit_chain import GENESIS, append, entry_hash, verify
from jingwu.store.audit_sealer import AuditSealer
from jingwu.store.migrate import alembic_config, upgrade
from jingwu.store.unit_of_work import UnitOfWork

INDEX = "ix_incidents_open_place"
AT = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)


def _downgrade(engine: Engine, revision: str) -> None:
    cfg = alembic_config(engine)
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
        conn.commit()


def _incident(i: int, status: str) -> dict[str, object]:
    return {"id": f"INC-M-{i}", "type_code": "ASSAULT", "family": "violence", "priority": 2, "status": status,
            "lat": 42.5 + i * 1e-4, "lon": 1.52, "description": "", "source": "public_call", "callers": 1,
            "received_at": "2026-11-28 00:00:00+00", "received_by": "calltaker", "active_units": "[]",
            "version": 0}


def _insert(engine: Engine, rows: list[dict[str, object]]) -> None:
    cols = ", ".join(rows[0])
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO incidents ({cols}) VALUES ({', '.join(':' + c for c in rows[0])})"), rows)


def _index(engine: Engine) -> dict | None:
    with warnings.catch_warnings():  # SQLAlchemy does not reflect SQLite's expression indexes (0004's)
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        indexes = inspect(engine).get_indexes("incidents")
    return next((ix for ix in indexes if ix["name"] == INDEX), None)


def test_the_index_is_built_on_a_database_with_history(engine: Engine) -> None:
    _downgrade(engine, "0002")
    assert _index(engine) is None
    _insert(engine, [_incident(i, "closed" if i % 3 else "received") for i in range(300)])
    upgrade(engine, "0005")
    index = _index(engine)
    assert index is not None and index["column_names"] == ["family", "lat", "lon"]
    where = index["dialect_options"].get(f"{engine.dialect.name}_where")
    assert where is not None and "received" in str(where) and "closed" not in str(where)
    with engine.connect() as conn:
        listed = ("SELECT name FROM sqlite_master WHERE type = 'index'" if engine.dialect.name == "sqlite"
                  else "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")
        assert "ix_incidents_family_cell_received" in {name for (name,) in conn.execute(text(listed))}  # 0004
    upgrade(engine)
    with engine.connect() as conn:
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head
    if engine.dialect.name == "sqlite":
        assert _index(engine) is not None  # SQLite keeps 0003's index
        return
    _valid, gist = _index_state(engine, "ix_incidents_open_nearest")
    assert _index(engine) is None  # 0006 replaced it on PostgreSQL
    assert "USING gist (cube(ARRAY[" in gist and "family, received_at) WHERE" in gist
    assert "closed" not in gist


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_an_interrupted_build_is_built_again(engine: Engine) -> None:
    """On PostgreSQL the index is built CONCURRENTLY; a build that failed leaves an invalid index
    of that name behind, which 0003 replaces."""
    _downgrade(engine, "0002")
    _insert(engine, [_incident(i, "received") for i in range(5)])
    _interrupted_build(engine, INDEX)
    upgrade(engine, "0005")
    valid, definition = _index_state(engine, INDEX)
    assert valid is True and "(family, lat, lon)" in definition and "WHERE" in definition


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_0006_builds_the_nearest_first_index_again_and_downgrades(engine: Engine) -> None:
    """0006 replaces an invalid index left by an interrupted build, drops 0003's, and its
    downgrade puts 0003's back; the duplicate check reads through whichever is there."""
    nearest = "ix_incidents_open_nearest"
    _downgrade(engine, "0005")
    _insert(engine, [_incident(i, "received") for i in range(5)])
    _interrupted_build(engine, nearest)
    upgrade(engine)
    valid, definition = _index_state(engine, nearest)
    assert valid is True and "USING gist" in definition and _index(engine) is None
    assert _open_near(engine) == [f"INC-M-{i}" for i in range(5)]
    _downgrade(engine, "0005")
    assert _index(engine) is not None
    with engine.connect() as conn:
        assert conn.execute(text("SELECT to_regclass(:n)"), {"n": nearest}).scalar() is None
    assert _open_near(engine) == [f"INC-M-{i}" for i in range(5)]


def _interrupted_build(engine: Engine, name: str) -> None:
    """Leave an invalid index called ``name`` behind, as a CONCURRENTLY build that failed does."""
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        with pytest.raises(DBAPIError, match="could not create unique index"):
            conn.execute(text(f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON incidents (family)"))
    assert _index_state(engine, name)[0] is False


def _index_state(engine: Engine, name: str) -> tuple[bool, str]:
    """Whether the index ``name`` is valid, and its definition (PostgreSQL)."""
    with engine.connect() as conn:
        valid, definition = conn.execute(text("SELECT indisvalid, pg_get_indexdef(indexrelid) FROM pg_index "
                                              "WHERE indexrelid = :n ::regclass"), {"n": name}).one()
    return bool(valid), str(definition)


def _open_near(engine: Engine) -> list[str]:
    with UnitOfWork(engine) as uow:
        return [i.id for i in uow.incidents.open_near("violence", AT - timedelta(days=1), 42.5, 1.52, 500, limit=10)]



def _legacy_entry(engine: Engine, action: str) -> None:
    """An entry as revision 0004's code wrote it: sealed at once, chained in seq order."""
    with engine.begin() as conn:
        prev = conn.execute(text("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1")).scalar() or GENESIS
        entry = {"at": AT, "actor": "cli", "action": action, "object_type": None, "object_id": None,
                 "request_id": None, "detail": {"n": 1}}
        conn.execute(text("INSERT INTO audit_log (at, actor, action, detail, prev_hash, hash) "
                          "VALUES (:at, :actor, :action, :detail, :prev, :hash)"),
                     {**entry, "detail": '{"n": 1}', "prev": prev, "hash": entry_hash(prev, entry)})


def test_a_chain_sealed_before_0005_goes_on(engine: Engine) -> None:
    """Entries chained in seq order before 0005 keep their place (chain_pos NULL, at their seq);
    entries sealed after it continue the same chain."""
    _downgrade(engine, "0004")
    _legacy_entry(engine, "test.legacy")
    upgrade(engine)
    with UnitOfWork(engine) as uow:
        uow.audit(at=AT, actor="cli", action="test.new")
        uow.commit()
    AuditSealer(engine).seal_all()
    with engine.connect() as conn:
        report = verify(conn)
        places = conn.execute(text("SELECT action, chain_pos FROM audit_log WHERE action LIKE 'test.%'"))
        chain_pos: dict[str, int | None] = dict(places.tuples().all())
    assert report.ok and report.unsealed == 0 and report.entries > 2, report
    assert chain_pos["test.legacy"] is None
    assert (chain_pos["test.new"] is None) is (engine.dialect.name == "sqlite")


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_late_commit_is_chained_after_and_0005_stays(engine: Engine) -> None:
    """Two requests: the first draws its seq, the second commits and is sealed, then the first
    commits. It is chained after the second (by place, not seq) and the chain verifies. A
    downgrade to 0004, whose code walks the chain in seq order, is refused, as it is while an
    entry waits for its link."""
    sealer = AuditSealer(engine)
    with engine.connect() as late:
        tx = late.begin()
        (late_seq,) = append(late, [{"at": AT, "actor": "first", "action": "test.late"}])
        with engine.begin() as conn:
            (early_seq,) = append(conn, [{"at": AT, "actor": "second", "action": "test.early"}])
        assert sealer.seal_all() == 1
        tx.commit()
    with pytest.raises(RuntimeError, match="wait for their link"):
        _downgrade(engine, "0004")
    assert sealer.seal_all() == 1
    with engine.connect() as conn:
        report = verify(conn)
        rows = conn.execute(text("SELECT seq, chain_pos FROM audit_log WHERE action LIKE 'test.%'"))
        place: dict[int, int] = dict(rows.tuples().all())
    assert late_seq < early_seq and place[late_seq] == place[early_seq] + 1
    assert report.ok and report.head_seq == late_seq, report
    with pytest.raises(RuntimeError, match="out of seq order"):
        _downgrade(engine, "0004")
    with engine.connect() as conn:  # the steps after 0005 went back (each is its own transaction); 0005 stays
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0005"
