"""The web's own HTTP surface on a real server: pages and static files, the base-map roads, the route
and the UI configuration. No browser needed."""

from __future__ import annotations

import re

import httpx

from jingwu.api.routes.pages import STATIC, TEMPLATES
from tests.e2e.conftest import LiveServer

PAGES = ["/", "/map", "/console", "/calltaker", "/terminal"]


def test_pages_and_assets_are_served_without_inline_script(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as http:
        for path in PAGES:
            r = http.get(path)
            assert r.status_code == 200, path
            assert "script-src 'self'" in r.headers["content-security-policy"]
            for tag in re.findall(r"<script\b[^>]*>", r.text):
                assert "src=" in tag, f"inline script in {path}: {tag}"
            assert not re.search(r"\son[a-z]+=", r.text), f"inline event handler in {path}"
            assert " style=" not in r.text, f"inline style in {path}"
            for src in re.findall(r'(?:src|href)="(/static/[^"]+)"', r.text):
                assert http.get(src).status_code == 200, src
        assert http.get("/sw.js").headers["service-worker-allowed"] == "/"
        manifest = http.get("/terminal.webmanifest").json()
        assert manifest["start_url"] == "/terminal"
        for icon in manifest["icons"]:
            assert http.get(icon["src"]).status_code == 200


def test_message_catalogues_have_the_same_keys() -> None:
    import json

    keys = {name: set(json.loads((STATIC / "i18n" / f"{name}.json").read_text()))
            for name in ("en", "zh-Hant", "zh-Hans")}
    assert keys["en"] == keys["zh-Hant"] == keys["zh-Hans"]
    used = set()
    for path in [*STATIC.glob("js/*.js"), *TEMPLATES.glob("*.html")]:
        used |= set(re.findall(r'(?:t\(|data-i18n(?:-placeholder|-aria)?=)\s*"([a-z_]+\.[a-z_.]+)"', path.read_text()))
    assert used <= keys["en"], f"keys used but missing from the catalogues: {sorted(used - keys['en'])}"


def test_ui_config_is_public_and_names_the_time_zone(live_server: LiveServer) -> None:
    cfg = httpx.get(live_server.url + "/api/ui-config").json()
    assert cfg["timezone"] == "Europe/Andorra"
    assert cfg["languages"] == ["zh-Hant", "zh-Hans", "en"]
    assert cfg["tile_url"] is None


def test_roads_are_the_loaded_network_as_geojson(live_server: LiveServer) -> None:
    assert httpx.get(live_server.url + "/api/map/roads").status_code == 401
    network = live_server.runtime.extras["roads"]
    pairs = zip(network.tail.tolist(), network.head.tolist(), strict=True)
    edges = {(min(a, b), max(a, b)) for a, b in pairs if a != b}
    with live_server.api("commander") as api:
        r = api.get("/api/map/roads")
        assert r.status_code == 200
        assert api.get("/api/map/roads", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    roads = r.json()
    assert roads["type"] == "FeatureCollection"
    segments = 0
    for f in roads["features"]:
        assert f["geometry"]["type"] == "MultiLineString"
        for line in f["geometry"]["coordinates"]:
            assert len(line) >= 2
            segments += len(line) - 1
            for lon, lat in line:
                assert 42.40 < lat < 42.70 and 1.40 < lon < 1.80  # Andorra
    assert segments == len(edges)  # every road segment drawn once, none twice


def test_route_follows_the_roads_or_says_it_is_straight(live_server: LiveServer) -> None:
    with live_server.api("officer") as api:
        a = api.get("/api/geocode", params={"q": "Avinguda Meritxell", "limit": 1}).json()[0]
        b = api.get("/api/geocode", params={"q": "Carrer Doctor Vilanova", "limit": 1}).json()[0]
        found = api.get("/api/map/route", params={"from_lat": a["lat"], "from_lon": a["lon"],
                                                  "to_lat": b["lat"], "to_lon": b["lon"]}).json()
        assert found["road"] is True
        assert found["route"]["type"] == "LineString"
        assert len(found["route"]["coordinates"]) > 2
        off = api.get("/api/map/route", params={"from_lat": 42.55, "from_lon": 1.72, "to_lat": 42.50,
                                                "to_lon": 1.45}).json()
        assert off["route"]["type"] == "LineString"
        assert api.get("/api/map/route", params={"from_lat": 99, "from_lon": 1, "to_lat": 42,
                                                 "to_lon": 1}).status_code == 422
