"""The drill's desk over the public HTTP API of a running jingwu, with a real account.

It makes the same moves as ``ServiceDesk`` (take a call, link a duplicate, ask for the
recommendation, assign, report status and position, close) with a bearer token, and records the
latency and status of every request by endpoint, so the drill doubles as a load generator that
behaves like a command centre. Only the base URL it is given is ever contacted.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter, defaultdict, deque
from typing import Any

import httpx
import numpy as np

from jingwu.domain.geography import Area, GeoPoint, haversine_m
from jingwu.domain.incident_types import IncidentTypeCatalogue, parse_catalogue
from jingwu.domain.org import OrgLevel, OrgTree, OrgUnit
from jingwu.domain.unit import UnitStatus
from jingwu.sim.calls import SimCall
from jingwu.sim.desk import AssignOutcome, Leg, Pick, Received, UnitInfo, path_of, straight_leg, unit_info

DEFAULT_LEG_SPEED_MS = 30 / 3.6
"""Speed for legs the server gives no time for (driving back to patrol), until the recommendations
have shown how fast the road network is."""


class HttpError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path} → {status}: {body[:300]}")
        self.status = status


class RequestLog:
    """Latency (ms) and status of every request, by endpoint template (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latency_ms: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=100_000))
        """The latest 100,000 per endpoint (a demo runs for days)."""
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.failures = 0
        self.started = time.monotonic()

    def record(self, endpoint: str, status: int, ms: float) -> None:
        with self._lock:
            self.latency_ms[endpoint].append(ms)
            self.statuses[(endpoint, status)] += 1
            if status >= 500 or status == 0:
                self.failures += 1

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def summary(self) -> dict[str, Any]:
        with self._lock:
            elapsed = max(1e-9, time.monotonic() - self.started)
            endpoints = {}
            for name, values in sorted(self.latency_ms.items()):
                arr = np.array(values)
                by_status = {str(s): n for (e, s), n in sorted(self.statuses.items()) if e == name}
                endpoints[name] = {"requests": len(values), "status": by_status,
                                   **{f"p{q}_ms": round(float(np.percentile(arr, q)), 1) for q in (50, 90, 99)}}
            total = sum(self.statuses.values())
            return {"requests": total, "failures": self.failures, "seconds": round(elapsed, 1),
                    "requests_per_s": round(total / elapsed, 1), "endpoints": endpoints}


class HttpDesk:
    def __init__(self, base_url: str, *, client: httpx.Client | None = None, log: RequestLog | None = None,
                 road_legs: bool = True, timeout_s: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client or httpx.Client(base_url=self.base_url, timeout=timeout_s)
        self.log = log or RequestLog()
        self.road_legs = road_legs
        """Ask the server's /api/map/route for legs it gives no recommendation for (demo)."""
        self._speeds: list[float] = []
        self.token: str | None = None

    # --- plumbing -------------------------------------------------------------------------------

    def _request(self, method: str, path: str, endpoint: str, *, ok: tuple[int, ...] = (200, 201, 202),
                 **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        started = time.perf_counter()
        try:
            r = self.client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            self.log.record(endpoint, 0, 1000 * (time.perf_counter() - started))
            raise HttpError(method, path, 0, str(exc)) from exc
        self.log.record(endpoint, r.status_code, 1000 * (time.perf_counter() - started))
        if r.status_code not in ok:
            raise HttpError(method, path, r.status_code, r.text)
        return r

    def login(self, username: str, password: str) -> None:
        r = self._request("POST", "/api/auth/token", "POST /api/auth/token",
                          data={"username": username, "password": password})
        self.token = r.json()["access_token"]

    def catalogue(self) -> IncidentTypeCatalogue:
        data = self._request("GET", "/api/incident-types", "GET /api/incident-types").json()
        for t in data["types"]:
            t.pop("major_plan", None)  # the plans' checklists are not part of this answer
        return parse_catalogue(data)

    def org(self) -> OrgTree:
        rows = self._request("GET", "/api/org", "GET /api/org").json()
        units = []
        for r in rows:
            base = GeoPoint(lat=r["base"]["lat"], lon=r["base"]["lon"]) if r.get("base") else None
            area = Area.from_geojson(r["area"]) if r.get("area") else None
            units.append(OrgUnit(r["code"], r["name"], OrgLevel(r["level"]), r.get("parent_code"), area,
                                 r.get("names") or {}, base))
        codes = {u.code for u in units}
        return OrgTree([u if u.parent_code in codes or u.parent_code is None else
                        OrgUnit(u.code, u.name, u.level, None, u.area, u.names, u.base) for u in units])

    # --- the desk -------------------------------------------------------------------------------

    def receive(self, call: SimCall, key: str) -> Received:
        body = {"type": call.type_code, "priority": call.priority, "source": "drill",
                "location": {"lat": call.point.lat, "lon": call.point.lon},
                "description": f"drill call {call.event}"}
        data = self._request("POST", "/api/incidents", "POST /api/incidents", json=body,
                             headers={"Idempotency-Key": key}).json()
        return Received(data["id"], tuple(d["incident_id"] for d in data.get("possible_duplicates") or []))

    def link(self, incident_id: str, into: str) -> None:
        self._request("POST", f"/api/incidents/{incident_id}/link", "POST /api/incidents/{id}/link",
                      json={"into": into})

    def recommend(self, incident_id: str) -> list[Pick]:
        recs = self._request("GET", f"/api/incidents/{incident_id}/recommendations",
                             "GET /api/incidents/{id}/recommendations").json()
        picks = []
        for r in recs:
            if not r["fills_plan"]:
                continue
            if r.get("distance_m") and r["eta_s"] > 0:
                self._speeds.append(r["distance_m"] / r["eta_s"])
            picks.append(Pick(r["unit_id"], r["capability"], float(r["eta_s"]), path_of(r.get("route"))))
        return picks

    def assign(self, incident_id: str, unit_id: str) -> AssignOutcome:
        try:
            self._request("POST", f"/api/incidents/{incident_id}/assignments",
                          "POST /api/incidents/{id}/assignments", json={"unit_id": unit_id}, ok=(201,))
        except HttpError as exc:
            if exc.status == 409:
                return "taken"
            if exc.status == 422 and "override_reason" in str(exc):
                return "not_recommended"
            raise
        return "assigned"

    def status(self, unit_id: str, status: UnitStatus) -> None:
        self._request("POST", f"/api/units/{unit_id}/status", "POST /api/units/{id}/status",
                      json={"status": status.value})

    def position(self, unit_id: str, point: GeoPoint, speed_mps: float | None = None,
                 heading: float | None = None) -> None:
        body: dict[str, Any] = {"lat": point.lat, "lon": point.lon}
        if speed_mps is not None:
            body["speed_mps"] = round(min(speed_mps, 120.0), 2)
        if heading is not None:
            body["heading"] = heading % 360
        self._request("POST", f"/api/units/{unit_id}/position", "POST /api/units/{id}/position", json=body)

    def close(self, incident_id: str) -> None:
        self._request("POST", f"/api/incidents/{incident_id}/transition", "POST /api/incidents/{id}/transition",
                      json={"status": "closed", "reason": "drill"})

    def leg_speed(self) -> float:
        return float(np.median(self._speeds[-200:])) if self._speeds else DEFAULT_LEG_SPEED_MS

    def travel(self, origin: GeoPoint, destination: GeoPoint) -> Leg:
        """The server's road route when asked for (timed at the speed its recommendations show),
        else the straight line at that speed."""
        speed = self.leg_speed()
        if self.road_legs:
            data = self._request("GET", "/api/map/route", "GET /api/map/route", params={
                "from_lat": origin.lat, "from_lon": origin.lon, "to_lat": destination.lat,
                "to_lon": destination.lon}).json()
            path = path_of(data.get("route"))
            if data.get("road") and path:
                metres = sum(haversine_m(GeoPoint(lat=a[1], lon=a[0]), GeoPoint(lat=b[1], lon=b[0]))
                             for a, b in itertools.pairwise(path))
                return Leg(metres / speed, path)
        return straight_leg(origin, destination, speed)

    def units(self) -> list[UnitInfo]:
        rows = self._request("GET", "/api/units", "GET /api/units").json()
        return [unit_info(r) for r in rows]

    def close_client(self) -> None:
        self.client.close()
