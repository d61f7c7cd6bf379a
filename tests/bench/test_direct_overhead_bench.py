"""pytest-benchmark for the per-call Python overhead of ``DirectStatement`` on SQLite: a by-id
``first()`` (an incident's and a unit's row, every column converted) and a versioned
``execute()`` (the UPDATE a status change saves: status and a timestamp, where id and version).

    .venv/bin/pytest tests/bench/test_direct_overhead_bench.py --benchmark-enable

Each benchmark runs in one transaction that is rolled back; the update keeps the version it
matches, so every call changes one row.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection

from jingwu.store import repositories as r
from jingwu.store import tables as t
from jingwu.store.direct import DirectStatement, single_insert
from tests.conftest import fresh_engine

AT = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
INCIDENT = "INC-BENCH-0"
UNIT = "U-P07-01"
ROUNDS = 20_000


@pytest.fixture
def sqlite_conn(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Connection]:
    engine, _url = fresh_engine("sqlite", tmp_path, tmp_path_factory)
    try:
        with engine.connect() as conn:
            conn.begin()
            insert_row, row = single_insert(t.incidents, {
                "id": INCIDENT, "version": 0, "type_code": "THEFT", "family": "property", "priority": 3,
                "status": "received", "lat": 42.5, "lon": 1.52, "station_code": "AD-ST-07", "address": None,
                "street": "Carrer Major", "description": "", "source": "public_call", "callers": 1,
                "received_at": AT, "received_by": "bench", "dispatched_at": None, "en_route_at": None,
                "arrived_at": None, "cleared_at": None, "closed_at": None, "merged_into": None,
                "major_id": None, "active_units": ["U-1"]})
            insert_row.execute(conn, row)
            yield conn
            conn.rollback()
    finally:
        engine.dispose()


BY_ID = {"incident": (r._INCIDENT_BY_ID, INCIDENT), "unit": (r._UNIT_BY_ID, UNIT)}


@pytest.mark.parametrize("table", list(BY_ID))
def test_by_id_first(benchmark: Any, sqlite_conn: Connection, table: str) -> None:
    stmt, key = BY_ID[table]
    params = {"id": key}
    row = benchmark.pedantic(stmt.first, (sqlite_conn, params), rounds=ROUNDS, warmup_rounds=500)
    assert row is not None and row[0] == key


def test_versioned_update_execute(benchmark: Any, sqlite_conn: Connection) -> None:
    updates = r._UPDATE_INCIDENT
    before = r.incident_row(sqlite_conn, INCIDENT)
    assert before is not None
    after = {**before, "status": "dispatched", "dispatched_at": AT}
    assert updates.execute(sqlite_conn, INCIDENT, 0, after, before) == 1  # compiles the statement
    stmt: DirectStatement = updates._statements[("status", "dispatched_at")]
    params = {"status": "dispatched", "dispatched_at": AT, "b_id": INCIDENT, "b_version": 1, "b_new": 1}
    assert benchmark.pedantic(stmt.execute, (sqlite_conn, params), rounds=ROUNDS, warmup_rounds=500) == 1
