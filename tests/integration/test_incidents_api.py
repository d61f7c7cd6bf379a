"""The main flow over HTTP on SQLite and PostgreSQL: intake, retry, recommendation, assignment,
unit status driving the incident, duplicates, and refusals that change nothing."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from jingwu.api.runtime import Runtime
from jingwu.api.schemas import IncidentCreated, RecommendationOut
from jingwu.domain.access import SYSTEM
from jingwu.domain.errors import DomainError
from jingwu.domain.geography import GeoPoint
from jingwu.services.dispatch import AssignUnit, assign_unit, recommend_units
from jingwu.services.intake import ReceiveCall, receive_call
from jingwu.services.queries import incident_detail, mask_name, mask_phone
from jingwu.store import tables as t
from jingwu.store.unit_of_work import read_connection
from tests.conftest import Login, query_plan

ALV = {"lat": 42.5063, "lon": 1.5218}  # Andorra la Vella, central
CALL: dict[str, Any] = {"type": "ROBBERY_IN_PROGRESS", "location": ALV, "description": "two men, a knife",
                        "caller": {"name": "Joan Puig", "phone": "+376 612345"}}


def count(runtime: Runtime, table: Any) -> int:
    with runtime.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def create(client: TestClient, headers: dict[str, str], body: dict[str, Any] = CALL, key: str | None = None) -> Any:
    h = dict(headers)
    if key:
        h["Idempotency-Key"] = key
    return client.post("/api/incidents", json=body, headers=h)


def test_needs_a_token(client: TestClient) -> None:
    r = client.get("/api/incidents")
    assert r.status_code == 401
    assert r.json()["detail"][0]["field"] == "Authorization"
    assert client.get("/healthz").status_code == 200


def test_wrong_password_is_refused_and_audited(client: TestClient, runtime: Runtime) -> None:
    r = client.post("/api/auth/token", data={"username": "dispatcher", "password": "nope-nope-nope"})
    assert r.status_code == 401
    with runtime.engine.connect() as conn:
        actions = [a for (a,) in conn.execute(select(t.audit_log.c.action).where(t.audit_log.c.actor == "dispatcher"))]
    assert "login.failed" in actions


def test_intake_to_clear(client: TestClient, login: Login, runtime: Runtime) -> None:
    disp = login("dispatcher")
    r = create(client, disp, key="call-1")
    assert r.status_code == 201, r.text
    inc = r.json()
    assert inc["status"] == "received" and inc["priority"] == 1 and inc["station_code"] == "AD-07-S1"

    # A retry with the same key returns the same incident, and creates nothing.
    again = create(client, disp, key="call-1")
    assert again.status_code == 200 and again.json()["id"] == inc["id"] and again.json()["replayed"]
    assert count(runtime, t.incidents) == 1
    # The same key with another body is a conflict, not a silent replay.
    other = create(client, disp, {**CALL, "description": "different"}, key="call-1")
    assert other.status_code == 409 and other.json()["detail"][0]["field"] == "Idempotency-Key"

    recs = client.get(f"/api/incidents/{inc['id']}/recommendations", headers=disp).json()
    assert recs, "units are on duty, so something must be recommended"
    plan = [r for r in recs if r["fills_plan"]]
    assert sorted(r["capability"] for r in plan) == ["criminal_investigation", "patrol", "patrol"]
    assert [r["eta_s"] for r in plan] == sorted(r["eta_s"] for r in plan)
    first = plan[0]["unit_id"]

    a = client.post(f"/api/incidents/{inc['id']}/assignments", json={"unit_id": first}, headers=disp)
    assert a.status_code == 201, a.text
    assert a.json()["recommended"] is True
    dup = client.post(f"/api/incidents/{inc['id']}/assignments", json={"unit_id": first, "override_reason": "x"},
                      headers=disp)
    assert dup.status_code == 409
    # Without a reason too: a busy unit is "not available" (409), not "give a reason" (422).
    other = create(client, disp, {**CALL, "description": "another call"}, key="call-2").json()
    busy = client.post(f"/api/incidents/{other['id']}/assignments", json={"unit_id": first}, headers=disp)
    assert busy.status_code == 409 and busy.json()["detail"][0]["field"] == "unit_id", busy.text
    assert "not available" in busy.json()["detail"][0]["message"]

    for status in ("en_route", "on_scene"):
        s = client.post(f"/api/units/{first}/status", json={"status": status}, headers=disp)
        assert s.status_code == 200, s.text
    assert client.get(f"/api/incidents/{inc['id']}", headers=disp).json()["status"] == "on_scene"
    assert client.post(f"/api/units/{first}/status", json={"status": "available"}, headers=disp).status_code == 200
    detail = client.get(f"/api/incidents/{inc['id']}", headers=disp).json()
    assert detail["status"] == "cleared"
    assert detail["received_at"] <= detail["dispatched_at"] <= detail["arrived_at"] <= detail["cleared_at"]
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds[0] == "IncidentReceived" and "UnitAssigned" in kinds
    assert [e["data"]["new"] for e in detail["timeline"] if e["kind"] == "IncidentStatusChanged"] == [
        "dispatched", "en_route", "on_scene", "cleared"]
    assert detail["assignments"][0]["end_reason"] == "cleared"
    # Personal data is masked by default.
    caller = detail["caller_details"][0]
    assert caller["masked"] and caller["phone"] != "+376 612345" and "612345" not in caller["phone"]

    closed = client.post(f"/api/incidents/{inc['id']}/transition", json={"status": "closed"}, headers=disp)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    illegal = client.post(f"/api/incidents/{inc['id']}/transition", json={"status": "received"}, headers=disp)
    assert illegal.status_code == 409 and illegal.json()["detail"][0]["field"] == "status"


def test_intake_answers_with_the_units_to_send(client: TestClient, login: Login, runtime: Runtime) -> None:
    """``?recommend=N`` puts the ranking in the intake's answer: the same units, order and ETAs that
    GET …/recommendations gives for the incident a moment later, routes only when asked."""
    disp = login("dispatcher")
    plain = create(client, disp, key="plain").json()
    assert plain["recommendations"] is None

    r = client.post("/api/incidents?recommend=6&routes=true", json=CALL, headers={**disp, "Idempotency-Key": "k1"})
    assert r.status_code == 201, r.text
    inc = r.json()
    got = inc["recommendations"]
    asked = client.get(f"/api/incidents/{inc['id']}/recommendations?limit=6", headers=disp).json()
    assert len(got) == 6 and got == asked
    assert sorted(x["capability"] for x in got if x["fills_plan"]) == ["criminal_investigation", "patrol", "patrol"]
    assert all(x["route"] and x["route"]["coordinates"] for x in got if x["method"] == "road")

    bare = client.post("/api/incidents?recommend=3", json={**CALL, "description": "other"}, headers=disp).json()
    assert len(bare["recommendations"]) == 3 and all(x["route"] is None for x in bare["recommendations"])
    assert [x["unit_id"] for x in bare["recommendations"]] == [x["unit_id"] for x in got if x["fills_plan"]]
    no_lines = client.get(f"/api/incidents/{inc['id']}/recommendations?limit=6&routes=false", headers=disp).json()
    assert no_lines == [{**x, "route": None} for x in got]

    # A retry answers the same incident, with the units to send as they stand now.
    again = client.post("/api/incidents?recommend=6", json=CALL, headers={**disp, "Idempotency-Key": "k1"})
    assert again.status_code == 200 and again.json()["replayed"] and again.json()["id"] == inc["id"]
    assert [x["unit_id"] for x in again.json()["recommendations"]] == [x["unit_id"] for x in got]

    before = (count(runtime, t.incidents), count(runtime, t.outbox), count(runtime, t.audit_log))
    for bad in ("-1", "101", "many"):
        refused = client.post(f"/api/incidents?recommend={bad}", json=CALL, headers=disp)
        assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "recommend", refused.text
    assert (count(runtime, t.incidents), count(runtime, t.outbox), count(runtime, t.audit_log)) == before
    with pytest.raises(DomainError) as refused_here:  # the service's own check, for callers other than the API
        receive_call(runtime.deps, SYSTEM, ReceiveCall("THEFT", GeoPoint(**ALV), recommend=-1))
    assert refused_here.value.field == "recommend"
    assert (count(runtime, t.incidents), count(runtime, t.outbox), count(runtime, t.audit_log)) == before


def test_answers_written_by_orjson_are_what_the_models_write(client: TestClient, login: Login) -> None:
    """The intake's and the ranking's answers skip FastAPI's model pass (``JSONAnswer``): they hold
    exactly their models' fields, and pydantic, reading them back and writing them again, writes
    the same JSON (times in UTC with ``Z``, numbers, nulls, routes)."""
    disp = login("dispatcher")
    call = {**CALL, "caller": {"name": "王小明", "phone": "+376 600 000"}}
    r = client.post("/api/incidents?recommend=10&routes=true", json=call, headers={**disp, "Idempotency-Key": "orjson"})
    assert r.status_code == 201 and r.headers["content-type"] == "application/json"
    for body, model in ((r.content, IncidentCreated),
                        *((client.get(f"/api/incidents/{r.json()['id']}/recommendations", headers=disp).content,
                           RecommendationOut),)):
        answer = json.loads(body)
        items = answer if isinstance(answer, list) else [answer]
        for item in items:
            assert list(item) == list(model.model_fields)  # the model's fields, in its order, and no other
            assert json.loads(model.model_validate(item).model_dump_json()) == item
    inc = r.json()
    assert inc["received_at"].endswith("Z") and inc["recommendations"] and inc["possible_duplicates"] == []
    assert any(x["route"] and len(x["route"]["coordinates"]) > 2 for x in inc["recommendations"])
    assert "王小明" not in r.text and "600 000" not in r.text  # the caller is not in the answer
    again = client.post("/api/incidents", json=call, headers={**disp, "Idempotency-Key": "orjson"})
    assert again.status_code == 200 and again.json()["replayed"] is True and again.json()["id"] == inc["id"]


def test_override_needs_a_reason_and_is_recorded(client: TestClient, login: Login) -> None:
    disp = login("dispatcher")
    inc = create(client, disp, {"type": "THEFT", "location": ALV}).json()
    recs = client.get(f"/api/incidents/{inc['id']}/recommendations", headers=disp).json()
    alternative = next(r["unit_id"] for r in recs if not r["fills_plan"])
    r = client.post(f"/api/incidents/{inc['id']}/assignments", json={"unit_id": alternative}, headers=disp)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "override_reason"
    r = client.post(f"/api/incidents/{inc['id']}/assignments",
                    json={"unit_id": alternative, "override_reason": "knows the building"}, headers=disp)
    assert r.status_code == 201 and r.json()["recommended"] is False
    expected = next(x["eta_s"] for x in recs if x["unit_id"] == alternative)
    assert r.json()["eta_s"] == pytest.approx(expected, abs=0.1)  # the override's ETA is recorded too
    detail = client.get(f"/api/incidents/{inc['id']}", headers=disp).json()
    assert detail["assignments"][0]["override_reason"] == "knows the building"


def test_release_before_arrival_returns_incident_to_queue(client: TestClient, login: Login) -> None:
    disp = login("dispatcher")
    inc = create(client, disp, {"type": "THEFT", "location": ALV}).json()
    unit = client.get(f"/api/incidents/{inc['id']}/recommendations", headers=disp).json()[0]["unit_id"]
    client.post(f"/api/incidents/{inc['id']}/assignments", json={"unit_id": unit}, headers=disp)
    r = client.post(f"/api/units/{unit}/status", json={"status": "available"}, headers=disp)
    assert r.status_code == 200 and r.json()["status"] == "available"
    assert client.get(f"/api/incidents/{inc['id']}", headers=disp).json()["status"] == "received"


def test_duplicates_are_offered_then_linked(client: TestClient, login: Login, runtime: Runtime) -> None:
    ct = login("calltaker")
    first = create(client, ct, {"type": "ASSAULT", "location": ALV, "caller": {"phone": "111 222"}}).json()
    near = {"lat": ALV["lat"] + 0.001, "lon": ALV["lon"]}
    second = create(client, ct, {"type": "DOMESTIC_DISPUTE", "location": near}).json()
    assert second["possible_duplicates"] == []  # another family
    third = create(client, ct, {"type": "ARMED_PERSON", "location": near, "caller": {"phone": "333 444"}}).json()
    assert [d["incident_id"] for d in third["possible_duplicates"]] == [first["id"]]
    linked = client.post(f"/api/incidents/{third['id']}/link", json={"into": first["id"]}, headers=ct)
    assert linked.status_code == 200 and linked.json()["callers"] == 2
    merged = client.get(f"/api/incidents/{third['id']}", headers=ct).json()
    assert merged["status"] == "merged" and merged["merged_into"] == first["id"]
    kept = client.get(f"/api/incidents/{first['id']}", headers=ct).json()
    assert len(kept["caller_details"]) == 2
    # the next call nearby: the merged incident is no longer offered, and the one it joined is
    # offered as it stands now (the duplicate check keeps what it made of rows it read before)
    dispatcher = login("dispatcher")
    unit = client.get(f"/api/incidents/{first['id']}/recommendations?routes=false", headers=dispatcher).json()[0]
    sent = client.post(f"/api/incidents/{first['id']}/assignments", json={"unit_id": unit["unit_id"]},
                       headers=dispatcher)
    assert sent.status_code == 201, sent.text
    fourth = create(client, ct, {"type": "ASSAULT", "location": near}).json()
    assert [(d["incident_id"], d["status"]) for d in fourth["possible_duplicates"]] == [(first["id"], "dispatched")]


def test_the_nearest_possible_duplicates_are_offered(runtime: Runtime) -> None:
    """A busy spot: fourteen open assaults within the radius, the nearest reported first. The new call
    is offered the ten nearest, nearest first (not the ten newest, which are the farthest here), and
    nothing beyond the radius or of another family."""
    def call(type_code: str, north_m: float) -> str:
        point = GeoPoint(ALV["lat"] + north_m / 111_195, ALV["lon"])
        return receive_call(runtime.deps, SYSTEM, ReceiveCall(type_code, point)).incident.id

    within = [call("ASSAULT", 20.0 + 15 * i) for i in range(14)]  # 20 m … 215 m, oldest nearest
    call("ASSAULT", 420.0)  # outside the 300 m radius
    call("DOMESTIC_DISPUTE", 5.0)  # nearest of all, another family
    offered = receive_call(runtime.deps, SYSTEM, ReceiveCall("ARMED_PERSON", GeoPoint(ALV["lat"], ALV["lon"])))
    assert runtime.deps.dispatch_rules.duplicate_offer_limit == 10
    assert [d.incident_id for d in offered.duplicates] == within[:10]
    assert [round(d.distance_m) for d in offered.duplicates] == [20 + 15 * i for i in range(10)]
    runtime.deps.rules = replace(runtime.deps.dispatch_rules, duplicate_offer_limit=3)
    fewer = receive_call(runtime.deps, SYSTEM, ReceiveCall("ASSAULT", GeoPoint(ALV["lat"], ALV["lon"])))
    assert [d.incident_id for d in fewer.duplicates] == [offered.incident.id, *within[:2]]  # the last call, too


def test_the_duplicate_check_reads_only_open_incidents_near_the_call(runtime: Runtime) -> None:
    """With a long history of the family in the window (closed incidents all over the area) and a
    crowd of open ones at the call's place, the duplicate query is planned on an index of open
    incidents by place: on PostgreSQL one that hands them over nearest first (an index scan
    ordered by distance, no sort of the crowd), on SQLite the box around the circle."""
    from jingwu.store.repositories import _OPEN_NEAR, _OPEN_NEAREST

    now = runtime.deps.clock()
    history = [{"id": f"INC-OLD-{i}", "type_code": "ASSAULT", "family": "violence", "priority": 2,
                "status": "closed", "lat": 42.43 + (i % 50) * 0.004, "lon": 1.41 + (i // 50) * 0.006,
                "source": "public_call", "received_at": now, "received_by": "calltaker"} for i in range(3000)]
    crowd = [{**h, "id": f"INC-NOW-{i}", "status": "received", "lat": 42.505 + (i % 40) * 1e-5,
              "lon": 1.525 + (i // 40) * 1e-5} for i, h in enumerate(history[:2000])]
    with runtime.engine.begin() as conn:
        conn.execute(t.incidents.insert(), history + crowd)
        conn.exec_driver_sql("ANALYZE")
        if conn.dialect.name == "postgresql":
            steps = query_plan(conn, _OPEN_NEAREST, {
                "family": "violence", "since": now, "lat": 42.505, "lon": 1.525, "limit": 11})
            assert "Index Scan using ix_incidents_open_nearest" in steps and "Order By" in steps, steps
            assert "Sort" not in steps.replace("Order By", "")
        else:
            steps = query_plan(conn, _OPEN_NEAR, {
                "family": "violence", "since": now, "lat_lo": 42.50, "lat_hi": 42.51, "lon_lo": 1.52,
                "lon_hi": 1.53, "lat": 42.505, "lon": 1.525, "lon_scale": 0.54, "limit": 10})
            assert "ix_incidents_open_place" in steps, steps
    assert "ix_incidents_family_received" not in steps


def test_calls_at_one_address_are_offered_newest_first(runtime: Runtime) -> None:
    """Calls placed at the same point tie on distance: the newest of them are offered, in order,
    however many more there are (on PostgreSQL the index hands ties over in its own order)."""
    clock_start = runtime.deps.clock()
    same = GeoPoint(ALV["lat"], ALV["lon"])
    ids = []
    for i in range(25):
        runtime.deps.clock = lambda i=i: clock_start + timedelta(seconds=10 * i)
        ids.append(receive_call(runtime.deps, SYSTEM, ReceiveCall("ASSAULT", same)).incident.id)
    runtime.deps.clock = lambda: clock_start + timedelta(seconds=300)
    nearer = receive_call(runtime.deps, SYSTEM, ReceiveCall("ASSAULT", GeoPoint(ALV["lat"] + 0.00003, ALV["lon"])))
    here = GeoPoint(ALV["lat"] + 0.00002, ALV["lon"])  # the crowd ~2.2 m away, the call before ~1.1 m
    offered = receive_call(runtime.deps, SYSTEM, ReceiveCall("ASSAULT", here))
    assert [d.incident_id for d in offered.duplicates] == [nearer.incident.id, *reversed(ids[-9:])]
    again = receive_call(runtime.deps, SYSTEM, ReceiveCall("ASSAULT", same))
    assert [d.incident_id for d in again.duplicates] == list(reversed(ids[-10:]))


def test_reveal_caller_needs_reason_and_is_audited(client: TestClient, login: Login, runtime: Runtime) -> None:
    disp = login("dispatcher")
    inc = create(client, disp).json()
    r = client.post(f"/api/incidents/{inc['id']}/callers/reveal", json={"reason": ""}, headers=disp)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "reason"
    r = client.post(f"/api/incidents/{inc['id']}/callers/reveal", json={"reason": "call back the victim"},
                    headers=disp)
    assert r.status_code == 200 and r.json()[0]["phone"] == "+376 612345"
    with runtime.engine.connect() as conn:
        rows = conn.execute(select(t.audit_log.c.detail).where(t.audit_log.c.action == "caller.reveal")).all()
    assert any(row.detail.get("reason") == "call back the victim" for row in rows)


BAD_BODIES = [
    ({**CALL, "location": {"lat": 91, "lon": 1.5}}, 422, "location.lat"),
    ({**CALL, "location": {"lat": 42.5, "lon": -181}}, 422, "location.lon"),
    ({**CALL, "type": "NO_SUCH_TYPE"}, 422, "type"),
    ({**CALL, "priority": 0}, 422, "priority"),
    ({**CALL, "priority": 5}, 422, "priority"),
    ({**CALL, "location": {"lat": 48.85, "lon": 2.35}}, 422, "location"),  # Paris: outside the service area
    ({"type": "THEFT"}, 422, "location"),
    ({**CALL, "unexpected": 1}, 422, "unexpected"),
    ({**CALL, "caller": {"phone": "call me maybe"}}, 422, "caller.phone"),
]


@pytest.mark.parametrize("body,status,field", BAD_BODIES)
def test_bad_intake_is_refused_and_writes_nothing(client: TestClient, login: Login, runtime: Runtime,
                                                  body: dict[str, Any], status: int, field: str) -> None:
    before = (count(runtime, t.incidents), count(runtime, t.outbox), count(runtime, t.callers))
    r = create(client, login("dispatcher"), body)
    assert r.status_code == status, r.text
    assert r.json()["detail"][0]["field"] == field
    assert (count(runtime, t.incidents), count(runtime, t.outbox), count(runtime, t.callers)) == before


def test_bad_requests_on_every_route(client: TestClient, login: Login) -> None:
    disp = login("dispatcher")
    inc = create(client, disp).json()
    cases = [
        ("get", "/api/incidents/NOPE", None, 404),
        ("get", "/api/incidents/NOPE/recommendations", None, 404),
        ("post", "/api/incidents/NOPE/assignments", {"unit_id": "U-P07-01"}, 404),
        ("post", f"/api/incidents/{inc['id']}/assignments", {"unit_id": "NOPE", "override_reason": "x"}, 404),
        ("post", f"/api/incidents/{inc['id']}/assignments", {}, 422),
        ("post", f"/api/incidents/{inc['id']}/transition", {"status": "flying"}, 422),
        ("post", f"/api/incidents/{inc['id']}/transition", {"status": "cleared"}, 409),
        ("post", f"/api/incidents/{inc['id']}/link", {"into": inc["id"]}, 409),
        ("post", f"/api/incidents/{inc['id']}/link", {"into": "NOPE"}, 404),
        ("post", "/api/units/NOPE/status", {"status": "en_route"}, 404),
        ("post", "/api/units/U-P07-01/status", {"status": "en_route"}, 409),
        ("post", "/api/units/U-P07-01/status", {"status": "dispatched"}, 409),
        ("post", "/api/units/U-P07-01/position", {"lat": 100, "lon": 1}, 422),
        ("post", "/api/units/U-P07-01/position", {"lat": 42.5, "lon": 1.5, "at": "2026-01-01T00:00:00"}, 422),
        ("get", "/api/units/NOPE", None, 404),
        ("get", "/api/incidents?limit=0", None, 422),
        ("get", "/api/incidents?priority=x", None, 422),
    ]
    filters = [  # a filter's typo is refused, naming it, not read as "nothing matches"
        ("status=enroute", "status.0"), ("priority=9", "priority.0"), ("station=AD-99", "station"),
        ("type=ROBERY", "type"), ("since=2026-02-01&until=2026-01-01", "until"),
    ]
    for query, field in filters:
        r = client.get(f"/api/incidents?{query}", headers=disp)
        assert (r.status_code, r.json()["detail"][0]["field"]) == (422, field), (query, r.text)
    r = client.get("/api/units?station=AD-99", headers=disp)
    assert (r.status_code, r.json()["detail"][0]["field"]) == (422, "station"), r.text
    r = client.post("/api/incidents", content=b'{"type": "THEFT",',
                    headers={**disp, "content-type": "application/json"})
    assert (r.status_code, r.json()["detail"][0]["field"]) == (422, "body"), r.text
    assert "not valid JSON" in r.json()["detail"][0]["message"]
    for method, url, body, status in cases:
        r = getattr(client, method)(url, headers=disp, **({"json": body} if body is not None else {}))
        assert r.status_code == status, (method, url, r.status_code, r.text)
        assert r.json()["detail"][0]["message"], url


def test_oversized_body_is_refused(client: TestClient, login: Login, runtime: Runtime) -> None:
    before = count(runtime, t.incidents)
    r = create(client, login("dispatcher"), {**CALL, "description": "x" * 100_000})
    assert r.status_code == 413
    assert count(runtime, t.incidents) == before


def test_role_without_permission_is_refused(client: TestClient, login: Login) -> None:
    r = create(client, login("analyst"))
    assert r.status_code == 403 and r.json()["detail"][0]["field"] == "role"
    r = create(client, login("auditor"))
    assert r.status_code == 403


def test_lists_filter_and_units_report_positions(client: TestClient, login: Login) -> None:
    disp = login("dispatcher")
    a = create(client, disp, {"type": "THEFT", "location": ALV}).json()
    create(client, disp, {"type": "NOISE", "location": ALV})
    listed = client.get("/api/incidents?priority=3", headers=disp).json()
    assert [i["id"] for i in listed["items"]] == [a["id"]] and listed["total"] == 1
    assert client.get("/api/incidents?station=AD-03-S1", headers=disp).json()["total"] == 0
    station = a["station_code"]
    district = station.rsplit("-", 1)[0]  # the parish (分局) above the station: all its stations
    assert station.startswith("AD-07-")
    for code, total in ((station, 2), (district, 2), ("AD", 2), ("AD-03", 0)):
        assert client.get(f"/api/incidents?station={code}", headers=disp).json()["total"] == total, code
    both = client.get("/api/incidents?status=received&status=cancelled&priority=3&priority=4", headers=disp).json()
    assert both["total"] == 2
    units = client.get("/api/units", headers=disp).json()
    assert len(units) == 42 and all(u["status"] == "available" for u in units)
    parish = client.get(f"/api/units?station={district}", headers=disp).json()
    assert parish and {u["home_station"].rsplit("-", 1)[0] for u in parish} == {district}
    assert len(parish) == sum(u["home_station"].startswith(district + "-") for u in units)
    r = client.post("/api/units/U-P07-01/position", json={"lat": 42.51, "lon": 1.53}, headers=disp)
    assert r.status_code == 202 and r.json()["accepted"]
    old = client.post("/api/units/U-P07-01/position",
                      json={"lat": 42.0, "lon": 1.0, "at": "2020-01-01T00:00:00Z"}, headers=disp)
    assert old.json()["accepted"] is False
    u = client.get("/api/units/U-P07-01", headers=disp).json()
    assert (u["lat"], u["lon"]) == (42.51, 1.53)


def test_officer_may_move_only_own_unit(client: TestClient, login: Login) -> None:
    off = login("officer")
    assert client.post("/api/units/U-P07-02/position", json={"lat": 42.5, "lon": 1.5}, headers=off).status_code == 404
    assert client.post("/api/units/U-P07-01/position", json={"lat": 42.5, "lon": 1.5}, headers=off).status_code == 202


def test_major_incident_escalation(client: TestClient, login: Login) -> None:
    cmd = login("commander")
    a = create(client, cmd, {"type": "FIRE", "location": ALV}).json()
    b = create(client, cmd, {"type": "TRAFFIC_COLLISION", "location": ALV}).json()
    r = client.post(f"/api/incidents/{a['id']}/escalate", json={"title": "Fire", "link": [b["id"], "INC-NOPE"]},
                    headers=cmd)
    assert (r.status_code, r.json()["detail"][0]["field"]) == (404, "link"), r.text  # the body's id, not the path's
    assert client.get(f"/api/incidents/{a['id']}", headers=cmd).json()["major_id"] is None  # nothing half-written
    r = client.post(f"/api/incidents/{a['id']}/escalate", json={"title": "Fire at the market", "link": [b["id"]]},
                    headers=cmd)
    assert r.status_code == 201, r.text
    major = r.json()
    assert major["plan"] == "mass_casualty" and major["commander"] == "commander"
    assert major["incident_ids"] == [a["id"], b["id"]] and len(major["checklist"]) >= 5
    t1 = client.post(f"/api/major-incidents/{major['id']}", json={"tick": 0}, headers=cmd).json()
    assert t1["checklist"][0]["done_by"] == "commander"
    assert client.get(f"/api/incidents/{b['id']}", headers=cmd).json()["major_id"] == major["id"]
    assert client.post(f"/api/incidents/{a['id']}/escalate", json={"title": "again"}, headers=cmd).status_code == 422
    r = client.post(f"/api/incidents/{a['id']}/escalate", json={"title": "x"}, headers=login("dispatcher"))
    assert r.status_code == 403


def test_catalogue_and_org(client: TestClient, login: Login) -> None:
    h = login("calltaker")
    cat = client.get("/api/incident-types", headers=h).json()
    assert any(t["code"] == "FIRE" and t["names"]["zh-Hant"] == "火災" for t in cat["types"])
    assert set(cat["targets"]) == {"1", "2", "3", "4"}
    org = client.get("/api/org", headers=h).json()
    stations = [o for o in org if o["level"] == "station"]
    assert len(stations) == 7 and all(o["area"] for o in stations)


def test_terminal_replays_are_idempotent_and_reports_join_the_timeline(client: TestClient, login: Login) -> None:
    disp, off = login("dispatcher"), login("officer")
    inc = create(client, disp, {"type": "THEFT", "location": ALV}).json()
    r = client.post(f"/api/incidents/{inc['id']}/assignments",
                    json={"unit_id": "U-P07-01", "override_reason": "the officer on the phone"}, headers=disp)
    assert r.status_code == 201, r.text
    first = client.post("/api/units/U-P07-01/status", json={"status": "on_scene"},
                        headers={**off, "Idempotency-Key": "act-1"})
    assert first.status_code == 200 and first.json()["status"] == "on_scene"
    checkin = first.json()["checkin_at"]
    replay = client.post("/api/units/U-P07-01/status", json={"status": "on_scene"},
                         headers={**off, "Idempotency-Key": "act-1"})
    assert replay.status_code == 200 and replay.json()["checkin_at"] == checkin  # no second check-in

    report = {"text": "Shop window broken, owner present, no injuries.", "at": "2026-11-27T21:05:00+01:00"}
    for _ in range(2):  # the second is a replay of the first
        r = client.post(f"/api/incidents/{inc['id']}/report", json=report, headers={**off, "Idempotency-Key": "rep-1"})
        assert r.status_code == 201, r.text
    timeline = client.get(f"/api/incidents/{inc['id']}", headers=off).json()["timeline"]
    reports = [e for e in timeline if e["kind"] == "SceneReportFiled"]
    assert len(reports) == 1 and reports[0]["data"]["unit_id"] == "U-P07-01"
    assert reports[0]["data"]["written_at"].startswith("2026-11-27T21:05")
    empty = client.post(f"/api/incidents/{inc['id']}/report", json={"text": "   "}, headers=off)
    assert empty.status_code == 422 and empty.json()["detail"][0]["field"] == "text"


def test_officer_reads_the_incident_they_were_sent_to_across_a_boundary(client: TestClient, login: Login) -> None:
    disp, off = login("dispatcher"), login("officer")
    encamp = create(client, disp, {"type": "THEFT", "location": {"lat": 42.5360, "lon": 1.5837}}).json()
    assert encamp["station_code"] == "AD-03-S1"
    assert client.get(f"/api/incidents/{encamp['id']}", headers=off).status_code == 404
    r = client.post(f"/api/incidents/{encamp['id']}/report", json={"text": "not mine"}, headers=off)
    assert r.status_code == 404
    client.post(f"/api/incidents/{encamp['id']}/assignments",
                json={"unit_id": "U-P07-01", "override_reason": "mutual aid"}, headers=disp)
    seen = client.get(f"/api/incidents/{encamp['id']}", headers=off)
    assert seen.status_code == 200 and seen.json()["id"] == encamp["id"]
    other = create(client, disp, {"type": "NOISE", "location": {"lat": 42.5360, "lon": 1.5837}}).json()
    assert client.get(f"/api/incidents/{other['id']}", headers=off).status_code == 404


def test_plan_only_recommendation_is_the_full_one_without_alternatives(runtime: Runtime) -> None:
    """assign_unit and the drill ask for the plan-fillers only; they must be the full answer's."""
    for kind in ("ROBBERY_IN_PROGRESS", "THEFT", "TRAFFIC_COLLISION"):
        inc = receive_call(runtime.deps, SYSTEM, ReceiveCall(kind, GeoPoint(ALV["lat"], ALV["lon"]))).incident
        full = recommend_units(runtime.deps, SYSTEM, inc.id)
        plan = recommend_units(runtime.deps, SYSTEM, inc.id, plan_only=True)
        assert plan, kind
        assert [(r.unit_id, r.eta_s) for r in plan] == [(r.unit_id, r.eta_s) for r in full if r.fills_plan]


def test_incident_detail_reads_what_the_tables_hold(runtime: Runtime) -> None:
    """The detail page's compiled reads give the rows SQLAlchemy Core gives: the incident, its
    timeline in order, its assignments with call signs, its callers masked."""
    deps = runtime.deps
    cmd = ReceiveCall("ROBBERY_IN_PROGRESS", GeoPoint(ALV["lat"], ALV["lon"]), caller_name="Maria Puig",
                      caller_phone="+376 600 123", description="bossa robada")
    inc = receive_call(deps, SYSTEM, cmd).incident
    for rec in recommend_units(deps, SYSTEM, inc.id, plan_only=True):
        assign_unit(deps, SYSTEM, AssignUnit(inc.id, rec.unit_id))
    with read_connection(runtime.engine) as conn:
        got = incident_detail(conn, SYSTEM, inc.id)
        row = conn.execute(select(t.incidents).where(t.incidents.c.id == inc.id)).one()
        tl = t.incident_timeline.c
        timeline = conn.execute(select(tl.at, tl.actor, tl.kind, tl.data).where(tl.incident_id == inc.id)
                                .order_by(tl.seq)).all()
        a = t.assignments.c
        assignments = conn.execute(
            select(a.unit_id, t.units.c.call_sign, a.assigned_at, a.assigned_by, a.recommended, a.override_reason,
                   a.eta_s, a.ended_at, a.end_reason)
            .join(t.units, t.units.c.id == a.unit_id).where(a.incident_id == inc.id).order_by(a.id)).all()
    assert {k: got[k] for k in row._mapping} == dict(row._mapping)
    assert got["timeline"] == [dict(r._mapping) for r in timeline] and len(timeline) >= 3
    assert got["assignments"] == [dict(r._mapping) for r in assignments] and len(assignments) >= 2
    assert got["caller_details"][0]["name"] == mask_name("Maria Puig") != "Maria Puig"
    assert got["caller_details"][0]["phone"] == mask_phone("+376 600 123")
