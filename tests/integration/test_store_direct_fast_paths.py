"""The cases ``DirectStatement`` binds and converts by shorter paths (no parameters, one, several
without processors, defaults given or not; result values remembered by their text, None not
converted) give what SQLAlchemy Core gives, and fail as Core fails, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, Dialect, Engine, String, bindparam, exc, func, insert, select, type_coerce
from sqlalchemy.types import TypeDecorator

from jingwu.store import tables as t
from jingwu.store.direct import DirectStatement
from jingwu.store.unit_of_work import read_connection

UNIT = "U-P07-01"
CST = timezone(timedelta(hours=8))


def _core(conn: Connection, stmt: DirectStatement, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(stmt.statement, params or {})]  # type: ignore[call-overload]


def test_no_parameters(engine: Engine) -> None:
    count = DirectStatement(select(func.count()).select_from(t.units))
    with read_connection(engine) as conn:
        expected = _core(conn, count)
        assert count.first(conn) == count.first(conn, {}) == count.first(conn, None) == expected[0]
        assert count.all(conn) == expected


def test_one_parameter_and_a_missing_one(engine: Engine) -> None:
    by_id = DirectStatement(select(t.units).where(t.units.c.id == bindparam("id")))
    with read_connection(engine) as conn:
        assert by_id.first(conn, {"id": UNIT}) == _core(conn, by_id, {"id": UNIT})[0]
        assert by_id.first(conn, {"id": "U-MISSING"}) is None
        assert by_id.all(conn, {"id": "U-MISSING"}) == []
        with pytest.raises(exc.StatementError) as refused:
            by_id.first(conn, {"other": UNIT})
    assert isinstance(refused.value.orig, KeyError)
    assert refused.value.statement == by_id.plan(conn.dialect).sql


def test_several_parameters_without_processors(engine: Engine) -> None:
    c = t.units.c
    stmt = DirectStatement(select(c.id, c.crew_size).where(c.status == bindparam("status"),
                                                           c.home_station == bindparam("home"))
                           .order_by(c.id))
    with read_connection(engine) as conn:
        home = conn.execute(select(c.home_station).where(c.id == UNIT)).scalar_one()
        params = {"status": "available", "home": home, "unused": 1}
        got = stmt.all(conn, params)
        assert got == _core(conn, stmt, params) and got


def test_defaults_used_or_overridden(engine: Engine) -> None:
    c = t.units.c
    stmt = DirectStatement(select(c.id).where(c.status == bindparam("status", "available"))
                           .order_by(c.id).limit(bindparam("n", 2)))
    with read_connection(engine) as conn:
        assert stmt.all(conn) == _core(conn, stmt) and len(stmt.all(conn)) == 2
        assert stmt.all(conn, {"n": 3}) == _core(conn, stmt, {"n": 3}) and len(stmt.all(conn, {"n": 3})) == 3
        both = {"n": 1, "status": "off_duty"}
        assert stmt.all(conn, both) == _core(conn, stmt, both)
        assert stmt.first(conn, {"status": "no such status"}) is None


def test_a_type_refusal_is_a_statement_error(engine: Engine) -> None:
    stmt = DirectStatement(select(t.units.c.id).where(t.units.c.status_at < bindparam("at", type_=t.UtcDateTime)))
    with read_connection(engine) as conn, pytest.raises(exc.StatementError, match="naive datetime") as refused:
        stmt.all(conn, {"at": datetime(2026, 11, 27, 5, 0)})
    assert refused.value.statement == stmt.plan(conn.dialect).sql
    assert refused.value.params == {"at": datetime(2026, 11, 27, 5, 0)}
    assert isinstance(refused.value.orig, ValueError)


def test_a_constraint_violation_is_an_integrity_error_with_the_statement(engine: Engine) -> None:
    stmt = DirectStatement(insert(t.org_units).values(code=bindparam("code"), name=bindparam("name"),
                                                      names=bindparam("names"), level=bindparam("level")))
    with engine.connect() as conn:
        code = conn.execute(select(t.org_units.c.code).limit(1)).scalar_one()
        with pytest.raises(exc.IntegrityError) as refused:
            stmt.execute(conn, {"code": code, "name": "dup", "names": {"en": "dup"}, "level": "station"})
        conn.rollback()
    assert refused.value.statement == stmt.plan(conn.dialect).sql
    params = refused.value.params
    assert code in (params.values() if isinstance(params, dict) else params)


def test_values_read_again_are_equal_and_json_comes_fresh(engine: Engine) -> None:
    """Converted timestamps are remembered by their text; JSON lists and objects are remembered too
    but handed out as new objects, so a caller changing one changes nothing else."""
    c = t.units.c
    by_id = DirectStatement(select(c.id, c.capabilities, c.status_at, c.position_at, c.checkin_at)
                            .where(c.id == bindparam("id")))
    names = DirectStatement(select(t.org_units.c.code, t.org_units.c.names).order_by(t.org_units.c.code))
    at = datetime(2026, 11, 27, 13, 5, 7, 123456, tzinfo=CST)
    with engine.begin() as conn:
        conn.execute(t.units.update().where(c.id == UNIT).values(status_at=at, position_at=None))
        first = by_id.first(conn, {"id": UNIT})
        assert first is not None
        first[1].append("changed")
        again = by_id.first(conn, {"id": UNIT})
        core = _core(conn, by_id, {"id": UNIT})[0]
        assert again == core and again[1] is not first[1] and "changed" not in again[1]
        assert again[2] == at and again[2].tzinfo is UTC and again[3] is None
        rows = names.all(conn)
        rows[0][1]["xx"] = "changed"
        assert names.all(conn) == _core(conn, names)
        conn.rollback()


class _NoneAsDash(TypeDecorator[str]):
    """A result conversion that does not give None for None."""

    impl = String()
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> str:
        return "-" if value is None else f"<{value}>"


def test_a_conversion_of_none_still_runs(engine: Engine) -> None:
    c = t.units.c
    stmt = DirectStatement(select(c.id, type_coerce(c.incident_id, _NoneAsDash()), c.checkin_at)
                           .where(c.id == bindparam("id")))
    with engine.begin() as conn:
        conn.execute(t.units.update().where(c.id == UNIT).values(incident_id=None, checkin_at=None))
        assert stmt.first(conn, {"id": UNIT}) == _core(conn, stmt, {"id": UNIT})[0] == (UNIT, "-", None)
        conn.rollback()
