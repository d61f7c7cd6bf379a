"""The road network wired into the running API: an address typed at intake, road-ETA recommendations
with a route to draw, and the geocode endpoints (SQLite, the seeded Andorra demo)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from jingwu.api.app import create_app
from jingwu.api.runtime import build_runtime
from jingwu.config import Settings
from jingwu.geo.road_services import RoadServices, load_road_services
from tests.conftest import PASSWORD, fresh_engine


@pytest.fixture(scope="module")
def roads(tmp_path_factory: pytest.TempPathFactory) -> RoadServices:
    return load_road_services(None, tmp_path_factory.mktemp("roads"), timezone="Europe/Andorra")


@pytest.fixture
def road_client(roads, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    engine, url = fresh_engine("sqlite", tmp_path, tmp_path_factory)
    settings = Settings(database_url=url, data_dir=tmp_path, secret_key="test-secret-" + "x" * 32)
    runtime = build_runtime(settings, engine=engine, migrate=False, roads=roads)
    app = create_app(runtime, timers=False)
    with TestClient(app) as client:
        yield client
    runtime.close()


def _login(client: TestClient, user: str) -> dict[str, str]:
    r = client.post("/api/auth/token", data={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_address_intake_and_road_recommendation(road_client: TestClient) -> None:
    headers = _login(road_client, "dispatcher")
    call = {"type": "ROBBERY_IN_PROGRESS", "address": "Avinguda Meritxell 25, Andorra la Vella", "description": "x"}
    r = road_client.post("/api/incidents", json=call, headers=_login(road_client, "calltaker"))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["address"] == call["address"]
    assert created["geocoded_as"] == "Avinguda Meritxell"
    assert created["street"] == "Avinguda Meritxell"
    assert 42.50 < created["lat"] < 42.52 and 1.51 < created["lon"] < 1.54

    recs = road_client.get(f"/api/incidents/{created['id']}/recommendations", headers=headers).json()
    assert recs, "no units recommended"
    road = [x for x in recs if x["method"] == "road"]
    assert road, recs
    etas = [x["eta_s"] for x in road if x["fills_plan"]]
    assert etas == sorted(etas)
    chosen = next(x for x in recs if x["fills_plan"])
    assert chosen["route"]["type"] == "LineString" and len(chosen["route"]["coordinates"]) >= 2
    assert chosen["distance_m"] >= 0.9 * chosen["straight_distance_m"]


def test_geocode_endpoints(road_client: TestClient) -> None:
    assert road_client.get("/api/geocode", params={"q": "av meritxell"}).status_code == 401
    headers = _login(road_client, "calltaker")
    found = road_client.get("/api/geocode", params={"q": "Carrer Major", "limit": 3}, headers=headers).json()
    assert len(found) == 3 and found[0]["label"].startswith("Carrer Major")
    assert {"label", "lat", "lon", "kind", "score"} <= set(found[0])
    top = road_client.get("/api/geocode", params={"q": "av meritxell"}, headers=headers).json()[0]
    back = road_client.get(
        "/api/geocode/reverse", params={"lat": top["lat"], "lon": top["lon"]}, headers=headers
    ).json()
    assert back["street"] == "Avinguda Meritxell" and back["station"] is not None
    bad = road_client.get("/api/geocode/reverse", params={"lat": 95, "lon": 1}, headers=headers)
    assert bad.status_code == 422
