"""Every route refuses objects of another jurisdiction, on SQLite and PostgreSQL.

A dispatcher and a commander of Encamp station (AD-03-S1) try each route against objects of
Andorra la Vella station (AD-07-S1): by id, by filter, by WebSocket subscription. Objects outside
the scope answer 404 (their existence does not leak), lists leave them out, and nothing changes.

``ROUTE_CASES`` is keyed by (method, path) and ``test_every_route_is_covered`` walks ``app.routes``:
a new route without a case here (or an explicit entry in ``NOT_SCOPED``) fails the suite.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from jingwu.api.runtime import Runtime
from jingwu.domain.access import Role
from jingwu.store import tables as t
from tests.integration.conftest_security import (
    ALV,
    ENCAMP,
    OTHER,
    OTHER_UNIT,
    OWN,
    OWN_UNIT,
    World,
    add_station_user,
    bearer,
    build_world,
    walk_routes,
)

Case = Callable[[TestClient, World], None]
EMPTY = "AD-06-S1"  # Sant Julià: no incident in the test world
ROUTE_CASES: dict[tuple[str, str], Case] = {}


def case(method: str, path: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        ROUTE_CASES[(method, path)] = fn
        return fn
    return register


def hidden(r: Any) -> None:
    assert r.status_code == 404, (r.status_code, r.text)
    assert "detail" in r.json()


@case("GET", "/api/incidents")
def _list_incidents(c: TestClient, w: World) -> None:
    by_filter = c.get("/api/incidents", params={"station": OTHER}, headers=w.disp).json()
    assert by_filter == {"items": [], "total": 0}
    everything = c.get("/api/incidents", headers=w.disp).json()
    assert {i["station_code"] for i in everything["items"]} == {OWN}
    assert w.own in {i["id"] for i in everything["items"]}


@case("POST", "/api/incidents")
def _create_incident(c: TestClient, w: World) -> None:
    r = c.post("/api/incidents", json={"type": "THEFT", "location": ALV}, headers=w.disp)
    assert r.status_code == 403 and r.json()["detail"][0]["field"] == "location", r.text
    # Units to send asked with the call: only this station's, as GET …/recommendations gives.
    mine = c.post("/api/incidents?recommend=10", json={"type": "THEFT", "location": ENCAMP}, headers=w.disp)
    assert mine.status_code == 201 and mine.json()["recommendations"], mine.text
    assert all(r["unit_id"][3:5] == "03" for r in mine.json()["recommendations"]), "another station's unit"


@case("GET", "/api/incidents/{incident_id}")
def _get_incident(c: TestClient, w: World) -> None:
    hidden(c.get(f"/api/incidents/{w.other}", headers=w.disp))
    assert c.get(f"/api/incidents/{w.own}", headers=w.disp).status_code == 200


@case("POST", "/api/incidents/{incident_id}/callers/reveal")
def _reveal(c: TestClient, w: World) -> None:
    hidden(c.post(f"/api/incidents/{w.other}/callers/reveal", json={"reason": "curious about it"}, headers=w.disp))


@case("POST", "/api/incidents/{incident_id}/report")
def _report(c: TestClient, w: World) -> None:
    hidden(c.post(f"/api/incidents/{w.other}/report", json={"text": "seen from afar"}, headers=w.disp))
    assert c.post(f"/api/incidents/{w.own}/report", json={"text": "on our patch"}, headers=w.disp).status_code == 201


@case("POST", "/api/incidents/{incident_id}/link")
def _link(c: TestClient, w: World) -> None:
    hidden(c.post(f"/api/incidents/{w.other}/link", json={"into": w.own}, headers=w.disp))
    r = c.post(f"/api/incidents/{w.own}/link", json={"into": w.other}, headers=w.disp)
    hidden(r)
    assert r.json()["detail"][0]["field"] == "into"


@case("POST", "/api/incidents/{incident_id}/transition")
def _transition(c: TestClient, w: World) -> None:
    hidden(c.post(f"/api/incidents/{w.other}/transition", json={"status": "cancelled", "reason": "x"},
                  headers=w.disp))


@case("GET", "/api/incidents/{incident_id}/recommendations")
def _recommendations(c: TestClient, w: World) -> None:
    hidden(c.get(f"/api/incidents/{w.other}/recommendations", headers=w.disp))
    own = c.get(f"/api/incidents/{w.own}/recommendations", headers=w.disp)
    assert own.status_code == 200 and own.json(), own.text
    assert all(r["unit_id"][3:5] == "03" for r in own.json()), "another station's unit was recommended"


@case("POST", "/api/incidents/{incident_id}/assignments")
def _assign(c: TestClient, w: World) -> None:
    hidden(c.post(f"/api/incidents/{w.other}/assignments", json={"unit_id": OWN_UNIT, "override_reason": "x"},
                  headers=w.disp))
    r = c.post(f"/api/incidents/{w.own}/assignments", json={"unit_id": OTHER_UNIT, "override_reason": "closest"},
               headers=w.disp)
    hidden(r)
    assert r.json()["detail"][0]["field"] == "unit_id"


@case("POST", "/api/incidents/{incident_id}/escalate")
def _escalate(c: TestClient, w: World) -> None:
    hidden(c.post(f"/api/incidents/{w.other}/escalate", json={"title": "take over"}, headers=w.cmd))
    hidden(c.post(f"/api/incidents/{w.own}/escalate", json={"title": "grab", "link": [w.other_2]}, headers=w.cmd))


@case("GET", "/api/major-incidents")
def _list_majors(c: TestClient, w: World) -> None:
    r = c.get("/api/major-incidents", headers=w.cmd)
    assert r.status_code == 200 and w.other_major not in {m["id"] for m in r.json()}, r.text


@case("POST", "/api/major-incidents/{major_id}")
def _change_major(c: TestClient, w: World) -> None:
    hidden(c.post(f"/api/major-incidents/{w.other_major}", json={"stand_down": True}, headers=w.cmd))


@case("GET", "/api/units")
def _list_units(c: TestClient, w: World) -> None:
    assert c.get("/api/units", params={"station": OTHER}, headers=w.disp).json() == []
    homes = {u["home_station"] for u in c.get("/api/units", headers=w.disp).json()}
    assert homes == {OWN}


@case("GET", "/api/units/{unit_id}")
def _get_unit(c: TestClient, w: World) -> None:
    hidden(c.get(f"/api/units/{OTHER_UNIT}", headers=w.disp))
    assert c.get(f"/api/units/{OWN_UNIT}", headers=w.disp).status_code == 200


@case("POST", "/api/units/{unit_id}/status")
def _unit_status(c: TestClient, w: World) -> None:
    hidden(c.post(f"/api/units/{OTHER_UNIT}/status", json={"status": "off_duty"}, headers=w.disp))


@case("POST", "/api/units/{unit_id}/position")
def _unit_position(c: TestClient, w: World) -> None:
    hidden(c.post(f"/api/units/{OTHER_UNIT}/position", json=ENCAMP, headers=w.disp))


@case("GET", "/api/org")
def _org(c: TestClient, w: World) -> None:
    units = {u["code"]: u for u in c.get("/api/org", headers=w.disp).json()}
    assert OTHER not in units and "AD-07" not in units
    assert units[OWN]["area"] is not None
    assert units["AD"]["area"] is None, "an ancestor is named, its whole area is not"


@case("GET", "/api/auth/me")
def _me(c: TestClient, w: World) -> None:
    me = c.get("/api/auth/me", headers=w.disp).json()
    assert me["scope"] == [OWN]


@case("GET", "/api/audit")
def _audit(c: TestClient, w: World) -> None:
    r = c.get("/api/audit", headers=w.disp)
    assert r.status_code == 403  # the log is for auditors only, whatever the jurisdiction


@case("GET", "/api/audit/export.csv")
def _audit_export(c: TestClient, w: World) -> None:
    assert c.get("/api/audit/export.csv", headers=w.cmd).status_code == 403


@case("WS", "/api/events")
def _events(c: TestClient, w: World) -> None:
    token = w.disp["Authorization"].split()[1]
    with c.websocket_connect(f"/api/events?token={token}") as ws:
        assert ws.receive_json()["kind"] == "hello"
        # Committed first, so if it were delivered it would arrive before the own-station event.
        other = c.post("/api/incidents", json={"type": "THEFT", "location": ALV}, headers=w.admin).json()["id"]
        own = c.post("/api/incidents", json={"type": "THEFT", "location": ENCAMP}, headers=w.disp).json()["id"]
        seen = []
        while True:
            m = ws.receive_json()
            seen.append(m)
            if m.get("incident_id") == own:
                break
    assert all(m.get("station_code") == OWN for m in seen), seen
    assert other not in {m.get("incident_id") for m in seen}


def _same_as_empty_station(c: TestClient, w: World, path: str, **params: Any) -> None:
    """Asking for the other station gives exactly what a station without any incident gives."""
    other = c.get(path, params={**params, "station": OTHER}, headers=w.ana)
    empty = c.get(path, params={**params, "station": EMPTY}, headers=w.ana)
    assert (other.status_code, other.content) == (empty.status_code, empty.content), other.text[:300]
    mine = c.get(path, params=params, headers=w.ana)
    own = c.get(path, params={**params, "station": OWN}, headers=w.ana)
    assert (mine.status_code, mine.content) == (own.status_code, own.content), "unfiltered = own station only"


@case("GET", "/api/analysis/hotspots")
def _hotspots(c: TestClient, w: World) -> None:
    _same_as_empty_station(c, w, "/api/analysis/hotspots", permutations=99)


@case("GET", "/api/analysis/forecast")
def _forecast(c: TestClient, w: World) -> None:
    _same_as_empty_station(c, w, "/api/analysis/forecast", model="naive", history_days=30)


@case("GET", "/api/analysis/surges")
def _surges(c: TestClient, w: World) -> None:
    r = c.get("/api/analysis/surges", params={"days": 31}, headers=w.ana)
    assert r.status_code == 200, r.text
    assert OTHER not in {a["area"] for a in r.json()} and "AD-07" not in {a["area"] for a in r.json()}


NOT_SCOPED: dict[tuple[str, str], str] = {
    ("POST", "/api/auth/token"): "public: login",
    ("POST", "/api/auth/logout"): "public: clears the cookie",
    ("GET", "/healthz"): "public: liveness",
    ("GET", "/openapi.json"): "public: the API's schema",
    ("GET", "/docs"): "public: API docs page",
    ("GET", "/docs/oauth2-redirect"): "public: API docs page",
    ("GET", "/redoc"): "public: API docs page",
    ("GET", "/api/ui-config"): "public: settings the login page needs",
    ("GET", "/api/incident-types"): "reference data, same for every station; needs a login",
    ("GET", "/api/map/roads"): "reference data (road network); needs a login",
    ("GET", "/api/map/route"): "a route between two given points, no stored object; needs a login",
    ("GET", "/api/geocode"): "reference data (street names); needs a login",
    ("GET", "/api/geocode/reverse"): "reference data (street names); needs a login",
    ("MOUNT", "/static"): "public: page assets",
}
PAGES = {"/", "/map", "/console", "/calltaker", "/terminal", "/terminal.webmanifest", "/sw.js"}
"""HTML shells and assets without data: the data they show comes from the scoped API."""


def _count(runtime: Runtime, table: Any, *where: Any) -> int:
    with runtime.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_every_route_refuses_other_jurisdiction(client: TestClient, runtime: Runtime) -> None:
    w = build_world(client, runtime)
    before = client.get(f"/api/incidents/{w.other}", headers=w.admin).json()
    majors = _count(runtime, t.major_incidents)
    failures = []
    for (method, path), check in ROUTE_CASES.items():
        try:
            check(client, w)
        except AssertionError as exc:
            failures.append(f"{method} {path}: {exc}")
    assert not failures, "\n".join(failures)
    after = client.get(f"/api/incidents/{w.other}", headers=w.admin).json()
    for k in ("status", "merged_into", "major_id", "active_units", "version"):
        assert after[k] == before[k], k
    assert client.get(f"/api/incidents/{w.other_2}", headers=w.admin).json()["major_id"] is None
    assert _count(runtime, t.major_incidents) == majors
    assert _count(runtime, t.assignments, t.assignments.c.unit_id == OTHER_UNIT) == 0
    unit = client.get(f"/api/units/{OTHER_UNIT}", headers=w.admin).json()
    assert unit["status"] == "available" and abs(unit["lat"] - ENCAMP["lat"]) > 0.01
    assert _count(runtime, t.audit_log, t.audit_log.c.action == "caller.reveal") == 0
    assert client.get("/api/major-incidents", headers=w.admin).json()[0]["stood_down_at"] is None


def test_every_route_is_covered(client: TestClient) -> None:
    served = set(walk_routes(client.app.routes))  # type: ignore[attr-defined]
    uncovered = sorted(r for r in served if r not in ROUTE_CASES and r not in NOT_SCOPED
                       and not (r[0] == "GET" and r[1] in PAGES))
    assert not uncovered, f"routes without a jurisdiction test (add a case or a NOT_SCOPED reason): {uncovered}"
    stale = sorted(r for r in ROUTE_CASES if r not in served)
    assert not stale, f"cases for routes that no longer exist: {stale}"


def test_reference_routes_still_need_a_login(client: TestClient) -> None:
    for (method, path), why in NOT_SCOPED.items():
        if "needs a login" in why:
            r = client.request(method, path)
            assert r.status_code == 401, (path, r.status_code)


def test_a_district_sees_its_stations_and_nothing_else(client: TestClient, runtime: Runtime) -> None:
    w = build_world(client, runtime)
    add_station_user(runtime, "alv_cmd", Role.COMMANDER, org="AD-07")
    district = bearer(client, "alv_cmd")
    assert client.get("/api/auth/me", headers=district).json()["scope"] == ["AD-07", OTHER]
    seen = {i["id"] for i in client.get("/api/incidents", headers=district).json()["items"]}
    assert {w.other, w.other_2} <= seen and w.own not in seen
    hidden(client.get(f"/api/incidents/{w.own}", headers=district))
    assert w.other_major in {m["id"] for m in client.get("/api/major-incidents", headers=district).json()}
