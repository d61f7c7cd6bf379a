"""What one audit record costs the writer: ``audit_chain.append`` of one typical entry (the head
read, the hash and the insert), and the hash alone (``entry_hash`` of a detail as use cases give it).

Run: `.venv/bin/pytest tests/bench/test_audit_append_bench.py --benchmark-enable
--benchmark-group-by=func` (with JINGWU_TEST_POSTGRES_URL set for PostgreSQL). The appends run in
one transaction that is rolled back, so the seeded database is left as it was.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, Engine

from jingwu.store import audit_chain

AT = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)


def _entry(i: int) -> dict[str, Any]:
    return {"at": AT, "actor": "dispatcher-07", "action": "unit.status", "object_type": "unit",
            "object_id": "U-P07-01", "request_id": f"req-{i}",
            "detail": {"from": "available", "to": "en_route", "incident_id": f"INC-20261127-{i:04d}"}}


@pytest.fixture
def audit_conn(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        conn.begin()
        audit_chain.hold_writer(conn)
        yield conn
        conn.rollback()


def test_append_one(benchmark: Any, audit_conn: Connection) -> None:
    counter = itertools.count()

    def one() -> list[int]:
        return audit_chain.append(audit_conn, [_entry(next(counter))])

    benchmark(one)
    assert audit_chain.verify(audit_conn).ok


@pytest.mark.parametrize("backend", ["sqlite"])  # no database: one run is enough
def test_entry_hash(benchmark: Any, backend: str) -> None:
    entry = _entry(1)
    benchmark(audit_chain.entry_hash, audit_chain.GENESIS, entry)
