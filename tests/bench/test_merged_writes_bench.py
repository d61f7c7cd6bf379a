"""What the intake's five INSERTs (request key, incident, its timeline, outbox, audit entry) cost
on PostgreSQL as five statements against one data-modifying CTE: the measurement behind the held
inserts (``store/pending_inserts.py``; docs/benchmarks.md, "Merged writes"). Not the store's code:
raw psycopg, so the figure is the round trips' alone.

Run: `JINGWU_TEST_POSTGRES_URL=… .venv/bin/pytest tests/bench/test_merged_writes_bench.py
--benchmark-enable --benchmark-group-by=func` (the medians of the two are the comparison; the
client CPU is what a server process would save, the database's share comes on top).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Json
from sqlalchemy.engine import make_url

from tests.conftest import drop_pg_schema, fresh_engine

INSERTS = (
    "INSERT INTO idempotency_keys (key, actor, request_hash, incident_id, created_at) "
    "VALUES (%(key)s, %(actor)s, %(hash)s, %(id)s, %(now)s)",
    "INSERT INTO incidents (id, type_code, family, priority, status, lat, lon, station_code, description, source, "
    "callers, received_at, received_by, active_units, version) VALUES (%(id)s, 'THEFT', 'property', 3, 'received', "
    "%(lat)s, %(lon)s, 'AD-07-S1', '', 'public_call', 1, %(now)s, %(actor)s, %(none)s, 0)",
    "INSERT INTO incident_timeline (incident_id, at, actor, kind, data) "
    "VALUES (%(id)s, %(now)s, %(actor)s, 'IncidentReceived', %(event)s)",
    "INSERT INTO outbox (stream, kind, station_code, payload, created_at) "
    "VALUES (%(stream)s, 'IncidentReceived', 'AD-07-S1', %(event)s, %(now)s)",
    "INSERT INTO audit_log (at, actor, action, object_type, object_id, request_id, detail) "
    "VALUES (%(now)s, %(actor)s, 'incident.create', 'incident', %(id)s, %(request)s, %(detail)s)",
)
MERGED = "WITH " + ", ".join(f"w{i} AS ({s})" for i, s in enumerate(INSERTS[:-1])) + " " + INSERTS[-1]


def _params() -> dict[str, Any]:
    incident = f"INC-B-{uuid.uuid4().hex[:16]}"
    event = {"incident_id": incident, "type_code": "THEFT", "priority": 3, "lat": 42.5, "lon": 1.52,
             "station_code": "AD-07-S1", "street": "Avinguda Meritxell", "description": ""}
    return {"key": uuid.uuid4().hex, "actor": "bench", "hash": "0" * 64, "id": incident, "now": datetime.now(UTC),
            "lat": 42.5, "lon": 1.52, "none": Json([]), "event": Json(event), "stream": f"incident:{incident}",
            "request": uuid.uuid4().hex, "detail": Json({"type": "THEFT", "priority": 3})}


@pytest.fixture
def pg(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[psycopg.Connection[Any]]:
    engine, url = fresh_engine("postgresql", tmp_path, tmp_path_factory)
    engine.dispose()
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = psycopg.connect(libpq, prepare_threshold=0)  # prepared at once, as the store's statements are
    try:
        yield conn
    finally:
        conn.close()
        drop_pg_schema(url)


def _count(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM incidents WHERE id LIKE 'INC-B-%'").fetchone()
    return int(row[0]) if row else 0


def test_five_statements(benchmark: Any, pg: psycopg.Connection[Any]) -> None:
    def write() -> None:
        p = _params()
        with pg.transaction():
            cur = pg.cursor()
            for statement in INSERTS:
                cur.execute(statement, p)

    benchmark(write)
    assert _count(pg) >= 1


def test_one_merged_statement(benchmark: Any, pg: psycopg.Connection[Any]) -> None:
    def write() -> None:
        p = _params()
        with pg.transaction():
            pg.execute(MERGED, p)

    benchmark(write)
    rows = pg.execute("SELECT count(*) FROM outbox o JOIN incidents i ON o.stream = 'incident:' || i.id "
                      "JOIN audit_log a ON a.object_id = i.id WHERE i.id LIKE 'INC-B-%'").fetchone()
    assert rows is not None and rows[0] == _count(pg) >= 1  # each write left all its rows
