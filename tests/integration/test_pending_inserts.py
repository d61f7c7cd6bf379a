"""Held inserts (``PendingInserts``) on SQLite and PostgreSQL: every row arrives with its types
converted, each table's rows in the order given, in one statement on PostgreSQL, and a refused row
leaves nothing of its batch."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, exc, func, select

from jingwu.store import direct, pending_inserts
from jingwu.store import tables as t
from jingwu.store.pending_inserts import PendingInserts
from jingwu.store.unit_of_work import UnitOfWork

UNIT = "U-P07-01"
T0 = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The SQL of every statement the store runs directly, in order."""
    ran: list[str] = []
    real_run, real_many = direct.DirectStatement._run, direct.DirectStatement.executemany

    def run(self: direct.DirectStatement, conn: Any, params: Any, take: Any) -> Any:
        ran.append(self.plan(conn.dialect).sql)
        return real_run(self, conn, params, take)

    def executemany(self: direct.DirectStatement, conn: Any, rows: Any) -> None:
        ran.append(self.plan(conn.dialect).sql)
        real_many(self, conn, rows)

    monkeypatch.setattr(direct.DirectStatement, "_run", run)
    monkeypatch.setattr(direct.DirectStatement, "executemany", executemany)
    yield ran


def _outbox(i: int, tag: str) -> dict[str, Any]:
    return {"stream": f"unit:{UNIT}", "kind": "Held", "station_code": None,
            "payload": {"tag": tag, "i": i, "名": "巡邏"}, "created_at": T0 + timedelta(seconds=i)}


def _timeline(i: int, tag: str) -> dict[str, Any]:
    return {"unit_id": UNIT, "at": T0 + timedelta(minutes=i), "actor": "dispatcher", "kind": "Held",
            "data": {"tag": tag, "i": i}}


MAKERS = {"outbox": (t.outbox, _outbox), "timeline": (t.unit_timeline, _timeline)}


def _read(engine: Engine, tag: str) -> dict[str, list[Any]]:
    """Each table's rows of ``tag`` in key order, as (i, timestamp)."""
    with engine.connect() as conn:
        o = conn.execute(select(t.outbox.c.payload, t.outbox.c.created_at).order_by(t.outbox.c.seq)).all()
        u = conn.execute(select(t.unit_timeline.c.data, t.unit_timeline.c.at).order_by(t.unit_timeline.c.seq)).all()
    return {"outbox": [(p["i"], at) for p, at in o if p.get("tag") == tag],
            "timeline": [(d["i"], at) for d, at in u if d.get("tag") == tag]}


def test_rows_of_several_tables_go_out_in_one_statement_on_postgresql(engine: Engine, statements: list[str]) -> None:
    batch = PendingInserts()
    # runs: outbox ×2, timeline ×1, outbox ×1 again: the outbox's rows keep their order across runs
    batch.add_many(t.outbox, [_outbox(0, "one"), _outbox(1, "one")])
    batch.add(t.unit_timeline, _timeline(0, "one"))
    batch.add(t.outbox, _outbox(2, "one"))
    assert batch
    with engine.begin() as conn:
        batch.send(conn)
    assert not batch
    got = _read(engine, "one")
    assert got["outbox"] == [(i, T0 + timedelta(seconds=i)) for i in range(3)]
    assert got["timeline"] == [(0, T0)]
    with engine.connect() as conn:
        payloads = [p for (p,) in conn.execute(select(t.outbox.c.payload).order_by(t.outbox.c.seq))]
    assert all(p["名"] == "巡邏" for p in payloads if p.get("tag") == "one")  # JSON of every row, not only the first
    if engine.dialect.name == "postgresql":
        assert len(statements) == 1 and statements[0].startswith("WITH w0 AS")
    else:
        assert len(statements) == 3  # a statement per run, in the order given


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(sorted(MAKERS)), min_size=1, max_size=12))
def test_each_tables_rows_arrive_in_the_order_given(engine: Engine, order: list[str]) -> None:
    tag = f"h{datetime.now().timestamp()}"
    batch = PendingInserts()
    expected: dict[str, list[Any]] = {"outbox": [], "timeline": []}
    for i, which in enumerate(order):
        table, make = MAKERS[which]
        row = make(i, tag)
        batch.add(table, row)
        expected[which].append((i, row["created_at" if which == "outbox" else "at"]))
    with engine.begin() as conn:
        batch.send(conn)
    assert _read(engine, tag) == expected


def test_a_refused_row_leaves_nothing_of_its_batch(engine: Engine) -> None:
    with pytest.raises(exc.IntegrityError), UnitOfWork(engine) as uow:
        uow.insert(t.unit_timeline, _timeline(0, "refused"))
        uow.insert(t.unit_timeline, {**_timeline(1, "refused"), "unit_id": "U-NO-SUCH-UNIT"})  # foreign key
        uow.commit()
    assert _read(engine, "refused") == {"outbox": [], "timeline": []}


def test_a_type_error_is_raised_at_send_and_the_batch_is_emptied(engine: Engine) -> None:
    batch = PendingInserts()
    batch.add(t.outbox, _outbox(0, "naive"))
    batch.add(t.outbox, {**_outbox(1, "naive"), "created_at": datetime(2026, 12, 6, 20, 0)})  # no time zone
    with pytest.raises(exc.StatementError, match="naive datetime"), engine.begin() as conn:
        batch.send(conn)
    assert not batch
    assert _read(engine, "naive")["outbox"] == []


def test_a_large_batch_goes_out_a_statement_per_table(engine: Engine, statements: list[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pending_inserts, "MAX_MERGED_VALUES", 20)
    batch = PendingInserts()
    batch.add_many(t.outbox, [_outbox(i, "large") for i in range(6)])  # 30 values
    batch.add(t.unit_timeline, _timeline(0, "large"))
    with engine.begin() as conn:
        batch.send(conn)
    assert [i for i, _at in _read(engine, "large")["outbox"]] == list(range(6))
    assert len(statements) == 2 and not any(s.startswith("WITH") for s in statements)


def test_audit_entries_join_the_commits_statement_and_are_sealed_after(engine: Engine, statements: list[str]) -> None:
    with UnitOfWork(engine) as uow:
        uow.insert(t.unit_timeline, _timeline(0, "audited"))
        uow.audit(at=T0, actor="dispatcher", action="held.test", object_type="unit", object_id=UNIT,
                  detail={"tag": "audited"})
        uow.commit()
    with engine.connect() as conn:
        entries = conn.execute(select(func.count()).select_from(t.audit_log)
                               .where(t.audit_log.c.action == "held.test")).scalar()
    assert entries == 1
    if engine.dialect.name == "postgresql":
        assert len(statements) == 1 and "INSERT INTO audit_log" in statements[0]  # unsealed, for the sealer
    else:  # sealed as written: the chain's head is read after the other rows are in
        assert statements[0].startswith("INSERT INTO unit_timeline") and "audit_log" in statements[-1]
