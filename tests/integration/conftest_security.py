"""Helpers for the security tests: station-level accounts and a world of objects in two stations.

Imported by the security test modules (the shared fixtures live in ``tests/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from jingwu.api.runtime import Runtime
from jingwu.domain.access import Role
from jingwu.services.accounts import add_user
from jingwu.services.dependencies import utc_now
from tests.conftest import PASSWORD

ALV = {"lat": 42.5063, "lon": 1.5218}  # Andorra la Vella → AD-07-S1
ENCAMP = {"lat": 42.5359699, "lon": 1.5836606}  # Encamp station → AD-03-S1
OWN, OTHER = "AD-03-S1", "AD-07-S1"
OTHER_UNIT, OWN_UNIT = "U-P07-02", "U-P03-01"


def add_station_user(runtime: Runtime, username: str, role: Role, org: str = OWN) -> None:
    with runtime.engine.begin() as conn:
        add_user(conn, runtime.deps.org, username, PASSWORD, role, org, utc_now())


def bearer(client: TestClient, username: str) -> dict[str, str]:
    r = client.post("/api/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.cookies.clear()  # these tests speak as API clients; the cookie path is tested on its own
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@dataclass
class World:
    """Objects in AD-07-S1 (``other_*``), made by the province admin, and one in AD-03-S1 (``own``)."""

    admin: dict[str, str]
    disp: dict[str, str]
    """A dispatcher at AD-03-S1 (Encamp)."""
    cmd: dict[str, str]
    """A commander at AD-03-S1, who may escalate."""
    ana: dict[str, str]
    """An analyst at AD-03-S1."""
    other: str
    other_2: str
    other_major: str
    own: str


def build_world(client: TestClient, runtime: Runtime) -> World:
    add_station_user(runtime, "enc_disp", Role.DISPATCHER)
    add_station_user(runtime, "enc_cmd", Role.COMMANDER)
    add_station_user(runtime, "enc_ana", Role.ANALYST)
    admin, disp, cmd = bearer(client, "admin"), bearer(client, "enc_disp"), bearer(client, "enc_cmd")
    ana = bearer(client, "enc_ana")

    def create(h: dict[str, str], body: dict[str, Any]) -> str:
        r = client.post("/api/incidents", json=body, headers=h)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    call = {"type": "THEFT", "location": ALV, "caller": {"name": "Joan Puig", "phone": "+376 612345"}}
    other = create(admin, call)
    other_2 = create(admin, {**call, "type": "NOISE", "caller": None})
    third = create(admin, {"type": "THEFT", "location": {"lat": 42.5080, "lon": 1.5250}})
    m = client.post(f"/api/incidents/{third}/escalate", json={"title": "market fire"}, headers=admin)
    assert m.status_code == 201, m.text
    own = create(disp, {"type": "THEFT", "location": ENCAMP, "caller": {"name": "Pere", "phone": "+376 655555"}})
    return World(admin, disp, cmd, ana, other, other_2, str(m.json()["id"]), own)


def walk_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every (method, path) the app serves, through included routers; websockets as ``WS``."""
    for r in routes:
        effective = getattr(r, "effective_candidates", None)
        if callable(effective):
            yield from walk_routes(effective(), prefix + r.include_context.prefix)
            continue
        path = getattr(r, "path", None)
        original = getattr(r, "original_route", None)
        if not path and original is not None:  # websocket routes inside included routers
            path = prefix + original.path
        if not path:
            continue
        methods = getattr(r, "methods", None)
        if methods:
            for m in sorted(methods - {"HEAD", "OPTIONS"}):
                yield m, path
        elif type(r).__name__ == "Mount":
            yield "MOUNT", path
        else:
            yield "WS", path
