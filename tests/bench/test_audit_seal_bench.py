"""What sealing costs on PostgreSQL (the audit sealer, ``audit_chain.seal_pending``): one seal of
1, 12 and 200 waiting entries, each in its own transaction as the sealer runs it; and the read of
the work list with the sealer's window and from the start, once 200,000 entries were sealed and
not yet vacuumed (the partial index of unsealed entries still lists them all).

Run: `JINGWU_TEST_POSTGRES_URL=… .venv/bin/pytest tests/bench/test_audit_seal_bench.py
--benchmark-enable --benchmark-group-by=func`. Per entry is the median over the batch size.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from jingwu.store import audit_chain
from jingwu.store.audit_sealer import AuditSealer

AT = datetime(2026, 12, 3, 21, 0, tzinfo=UTC)
POSTGRES_ONLY = pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])


def _entries(n: int, start: int) -> list[dict[str, Any]]:
    return [{"at": AT, "actor": "dispatcher", "action": "incident.create", "object_type": "incident",
             "object_id": f"INC-20261203-{start + i:06d}",
             "detail": {"type": "THEFT", "priority": 3, "station": "AD-P07-ST", "source": "phone", "caller": True}}
            for i in range(n)]


def _write(engine: Engine, n: int, start: int) -> None:
    with engine.begin() as conn:
        audit_chain.append(conn, _entries(n, start))


@POSTGRES_ONLY
@pytest.mark.parametrize("batch", [1, 12, 200])
def test_seal(benchmark: Any, engine: Engine, batch: int) -> None:
    sealer = AuditSealer(engine)
    counter = itertools.count(step=batch)

    def waiting() -> tuple[tuple[()], dict[str, Any]]:
        _write(engine, batch, next(counter))
        return (), {}

    def seal() -> None:
        assert sealer.seal_once(window=1_000) == batch

    benchmark.pedantic(seal, setup=waiting, rounds=30 if batch < 200 else 10, warmup_rounds=2)
    with engine.connect() as conn:
        report = audit_chain.verify(conn)
    assert report.ok and report.unsealed == 0, report


@pytest.mark.slow
@POSTGRES_ONLY
@pytest.mark.parametrize("window", [1_000, audit_chain.FULL], ids=["window", "from-start"])
def test_read_the_work_list_after_many_seals(benchmark: Any, engine: Engine, window: int) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE audit_log SET (autovacuum_enabled = false)")  # as between vacuums
    sealer = AuditSealer(engine, batch=5000)
    for start in range(0, 200_000, 20_000):
        _write(engine, 20_000, start)
        sealer.seal_all()
    _write(engine, 10, 200_000)
    with engine.connect() as conn:
        conn.begin()
        rows = benchmark(audit_chain._UNSEALED.all, conn, {"batch": 1000, "window": window})
        conn.rollback()
    assert len(rows) == 10
