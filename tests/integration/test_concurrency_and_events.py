"""Truly concurrent requests against a real server, and the event stream: one unit, many
dispatchers, exactly one wins; events arrive once, in commit order, only for committed changes."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from jingwu.api.app import create_app
from jingwu.api.runtime import Runtime
from jingwu.domain.access import SYSTEM
from jingwu.domain.errors import DomainError
from jingwu.domain.geography import GeoPoint
from jingwu.services.dispatch import AssignUnit, assign_unit
from jingwu.services.intake import ReceiveCall, receive_call
from jingwu.store import tables as t
from tests.conftest import PASSWORD
from tests.integration.live_server import serving

ALV = {"lat": 42.5063, "lon": 1.5218}


def token(base: str, user: str) -> dict[str, str]:
    r = httpx.post(f"{base}/api/auth/token", data={"username": user, "password": PASSWORD})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.mark.parametrize("lane_threads", [8, 0])
@pytest.mark.parametrize("contenders", [8])
def test_two_dispatchers_race_for_one_unit(runtime: Runtime, contenders: int, lane_threads: int) -> None:
    """Eight dispatchers assign one unit at once: in a lane of eight threads their transactions
    overlap in the database; with none, the requests take turns on the event loop."""
    runtime.settings.api_operation_threads = lane_threads
    with serving(create_app(runtime, timers=False)) as base:
        h = token(base, "dispatcher")
        incidents = [
            httpx.post(f"{base}/api/incidents", json={"type": "THEFT", "location": ALV}, headers=h).json()["id"]
            for _ in range(contenders)
        ]
        unit = "U-P07-01"
        barrier = threading.Barrier(contenders)

        def attempt(incident_id: str) -> int:
            with httpx.Client(base_url=base, headers=h, timeout=30) as c:
                barrier.wait()
                return c.post(f"/api/incidents/{incident_id}/assignments",
                              json={"unit_id": unit, "override_reason": "race test"}).status_code

        with ThreadPoolExecutor(contenders) as pool:
            codes = list(pool.map(attempt, incidents))
    assert sorted(codes) == [201] + [409] * (contenders - 1), codes
    with runtime.engine.connect() as conn:
        open_assignments = conn.execute(select(func.count()).select_from(t.assignments).where(
            t.assignments.c.unit_id == unit, t.assignments.c.ended_at.is_(None))).scalar_one()
        dispatched = conn.execute(select(func.count()).select_from(t.incidents).where(
            t.incidents.c.status == "dispatched")).scalar_one()
    assert open_assignments == 1 and dispatched == 1


@pytest.mark.parametrize("lane_threads", [6, 0])
def test_concurrent_retries_create_one_incident(runtime: Runtime, lane_threads: int) -> None:
    runtime.settings.api_operation_threads = lane_threads
    with serving(create_app(runtime, timers=False)) as base:
        h = {**token(base, "calltaker"), "Idempotency-Key": "retry-storm"}
        barrier = threading.Barrier(6)

        def attempt(_: int) -> tuple[int, str]:
            barrier.wait()
            r = httpx.post(f"{base}/api/incidents", json={"type": "NOISE", "location": ALV}, headers=h, timeout=30)
            return r.status_code, r.json()["id"]

        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(attempt, range(6)))
    assert len({i for _, i in results}) == 1
    assert sorted(c for c, _ in results).count(201) == 1
    with runtime.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.incidents)).scalar_one() == 1


def read_until(ws: Any, predicate: Any, limit: int = 50) -> list[dict[str, Any]]:
    got = []
    for _ in range(limit):
        msg = json.loads(ws.recv(timeout=10))
        got.append(msg)
        if predicate(msg):
            return got
    raise AssertionError(f"not seen in {limit} messages: {got}")


def test_event_stream_in_commit_order(runtime: Runtime) -> None:
    with serving(create_app(runtime, timers=False)) as base:
        h = token(base, "dispatcher")
        tok = h["Authorization"].split()[1]
        with connect(f"{base.replace('http', 'ws')}/api/events?token={tok}") as ws:
            assert json.loads(ws.recv(timeout=10))["kind"] == "hello"
            inc = httpx.post(f"{base}/api/incidents", json={"type": "THEFT", "location": ALV}, headers=h).json()
            unit = httpx.get(f"{base}/api/incidents/{inc['id']}/recommendations", headers=h).json()[0]["unit_id"]
            httpx.post(f"{base}/api/incidents/{inc['id']}/assignments", json={"unit_id": unit}, headers=h)
            httpx.post(f"{base}/api/units/{unit}/status", json={"status": "en_route"}, headers=h)
            msgs = read_until(ws, lambda m: m.get("kind") == "UnitStatusChanged" and m.get("new") == "en_route")
        mine = [m for m in msgs if m.get("incident_id") == inc["id"] or m.get("unit_id") == unit]
        assert [m["kind"] for m in mine][:1] == ["IncidentReceived"]
        seqs = [m["seq"] for m in msgs if "seq" in m]
        assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
        statuses = [m["new"] for m in mine if m["kind"] == "IncidentStatusChanged"]
        assert statuses == ["dispatched", "en_route"]


def test_refused_change_publishes_nothing(runtime: Runtime) -> None:
    """A command that fails after its aggregate recorded events must not leave them in the outbox."""
    with runtime.engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(t.outbox)).scalar_one()
    with pytest.raises(DomainError):
        assign_unit(runtime.deps, SYSTEM, AssignUnit("NOPE", "U-P07-01", "x"))
    # An assignment refused deep inside the transaction (unit not available) also rolls back whole.
    with runtime.deps.uow() as uow:
        uow.conn.execute(t.units.update().where(t.units.c.id == "U-P07-02").values(status="off_duty"))
        uow.commit()
    received = []
    unsubscribe = runtime.bus.subscribe(received.append)
    try:
        inc = receive_call(runtime.deps, SYSTEM, ReceiveCall("THEFT", GeoPoint(**ALV))).incident
        with pytest.raises(DomainError):
            assign_unit(runtime.deps, SYSTEM, AssignUnit(inc.id, "U-P07-02", "off duty unit"))
        runtime.relay.drain_once()
    finally:
        unsubscribe()
    with runtime.engine.connect() as conn:
        after = conn.execute(select(func.count()).select_from(t.outbox)).scalar_one()
        status = conn.execute(select(t.incidents.c.status).where(t.incidents.c.id == inc.id)).scalar_one()
    assert after == before + 1  # only IncidentReceived
    assert status == "received"
    assert [m["kind"] for m in received] == ["IncidentReceived"]


def test_an_unknown_event_kind_is_refused_by_name(runtime: Runtime) -> None:
    """A typo in ``kinds`` would wait for events that never come: the socket says which, and closes."""
    with serving(create_app(runtime, timers=False)) as base:
        h = token(base, "dispatcher")
        url = f"{base.replace('http', 'ws')}/api/events?token={h['Authorization'].split()[1]}"
        with connect(f"{url}&kinds=IncidentReceived,IncidentRecieved") as ws:
            refusal = json.loads(ws.recv(timeout=10))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert refusal["kind"] == "error" and refusal["detail"][0]["field"] == "kinds"
        assert "'IncidentRecieved'" in refusal["detail"][0]["message"]
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4422
        with connect(f"{url}&kinds=IncidentReceived,UnitMoved") as ws:
            assert json.loads(ws.recv(timeout=10))["kind"] == "hello"


def test_every_console_gets_the_same_events_and_one_leaving_stops_none_of_the_others(runtime: Runtime) -> None:
    """Consoles on one server share each event's text; a console that closes is dropped alone."""
    with serving(create_app(runtime, timers=False)) as base:
        h = token(base, "dispatcher")
        url = f"{base.replace('http', 'ws')}/api/events?token={h['Authorization'].split()[1]}"
        with connect(url) as wall, connect(f"{url}&kinds=IncidentReceived") as desk:
            with connect(url) as leaving:
                for ws in (wall, desk, leaving):
                    assert json.loads(ws.recv(timeout=10))["kind"] == "hello"
            ids = [httpx.post(f"{base}/api/incidents", json={"type": "THEFT", "location": ALV}, headers=h).json()["id"]
                   for _ in range(3)]

            def last(m: dict[str, Any]) -> bool:
                return m.get("kind") == "IncidentReceived" and m.get("incident_id") == ids[-1]

            on_wall = [m for m in read_until(wall, last) if m["kind"] == "IncidentReceived"]
            on_desk = read_until(desk, last)
        assert [m["incident_id"] for m in on_desk] == ids
        assert on_wall == on_desk  # the same events, field for field, in the same order
