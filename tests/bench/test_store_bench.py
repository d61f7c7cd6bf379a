"""Per statement kind: SQLAlchemy Core's ``Connection.execute`` against the same compiled SQL run
through ``DirectStatement`` and, as the floor, bare on the DBAPI cursor with ready-made parameters.

Run: `.venv/bin/pytest tests/bench/test_store_bench.py --benchmark-enable --benchmark-group-by=param:kind`
(with JINGWU_TEST_POSTGRES_URL set for PostgreSQL). Each benchmark runs in one transaction that
is rolled back, so the seeded database is left as it was.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine

from jingwu.store import audit_chain
from jingwu.store import repositories as r
from jingwu.store import tables as t
from jingwu.store.direct import DirectStatement, single_insert
from tests.conftest import drop_pg_schema, fresh_engine

AT = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
UNIT = "U-P07-01"
INCIDENT = {
    "type_code": "THEFT", "family": "property", "priority": 3, "status": "received", "lat": 42.5, "lon": 1.52,
    "station_code": "AD-ST-07", "address": None, "street": "Carrer Major", "description": "", "source": "public_call",
    "callers": 1, "received_at": AT, "received_by": "bench", "dispatched_at": None, "en_route_at": None,
    "arrived_at": None, "cleared_at": None, "closed_at": None, "merged_into": None, "major_id": None,
    "active_units": ["U-1"],
}


@dataclass(frozen=True)
class Kind:
    statement: DirectStatement
    params: Callable[[int], dict[str, Any]]
    fetch: bool


def _incident(i: int) -> dict[str, Any]:
    return {"id": f"INC-BENCH-{i}", "version": 0, **INCIDENT}


_INSERT_INCIDENT = single_insert(t.incidents, _incident(0))[0]
"""The statement a new incident's row is written with (held rows that go out alone, SQLite's)."""
_TIMELINE_ROW = {"incident_id": "INC-BENCH-0", "at": AT, "actor": "bench", "kind": "IncidentStatusChanged",
                 "data": {"old": "received", "new": "dispatched", "reason": ""}}
_OUTBOX_ROW = {
    "stream": "incident:INC-BENCH-0", "kind": "IncidentStatusChanged", "station_code": "AD-ST-07",
    "payload": {"incident_id": "INC-BENCH-0", "old": "received", "new": "dispatched"}, "created_at": AT}
"""What the unit of work holds for one event (sent with ``single_insert``'s statement where it is alone)."""
KINDS: dict[str, Kind] = {
    "incident get": Kind(r._INCIDENT_BY_ID, lambda i: {"id": "INC-BENCH-0"}, True),
    "incident insert": Kind(_INSERT_INCIDENT, lambda i: _incident(i + 1), False),
    "incident versioned update": Kind(
        r._UPDATE_INCIDENT.statement(r._UPDATE_INCIDENT.columns),  # every column, as an unread save sets
        lambda i: {**INCIDENT, "b_id": "INC-BENCH-0", "b_version": 0, "b_new": 0}, False),
    "unit get": Kind(r._UNIT_BY_ID, lambda i: {"id": UNIT}, True),
    "incident timeline insert": Kind(single_insert(t.incident_timeline, _TIMELINE_ROW)[0], lambda i: _TIMELINE_ROW,
                                     False),
    "outbox insert": Kind(single_insert(t.outbox, _OUTBOX_ROW)[0], lambda i: _OUTBOX_ROW, False),
    "audit head": Kind(audit_chain._HEAD, lambda i: {}, True),
}


@pytest.fixture
def bench_conn(backend: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Connection]:
    engine: Engine
    engine, url = fresh_engine(backend, tmp_path, tmp_path_factory)
    try:
        with engine.connect() as conn:
            conn.begin()
            _INSERT_INCIDENT.execute(conn, _incident(0))
            yield conn
            conn.rollback()
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_pg_schema(url)


@pytest.mark.parametrize("way", ["core", "direct", "dbapi"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_statement(benchmark: Any, bench_conn: Connection, kind: str, way: str) -> None:
    k = KINDS[kind]
    counter = itertools.count()
    conn = bench_conn
    if way == "core":
        stmt = k.statement.statement

        def one() -> Any:
            res = conn.execute(stmt, k.params(next(counter)))  # type: ignore[call-overload]
            return res.first() if k.fetch else res.rowcount
    elif way == "direct":
        def one() -> Any:
            params = k.params(next(counter))
            return k.statement.first(conn, params) if k.fetch else k.statement.execute(conn, params)
    else:
        plan = k.statement.plan(conn.dialect)
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        # Parameters converted beforehand (only the insert's key changes): the cursor's own cost.
        ready = [plan.bind(k.params(i)) for i in range(2000)] if kind == "incident insert" else None
        fixed = plan.bind(k.params(0))

        def one() -> Any:
            args = ready[next(counter)] if ready is not None else fixed
            cur = dbapi.cursor()
            cur.execute(plan.sql, args)
            out = cur.fetchone() if k.fetch else cur.rowcount
            cur.close()
            return out

    if kind == "incident insert" and way == "dbapi":
        benchmark.pedantic(one, rounds=1000, iterations=1)
    else:
        benchmark(one)
