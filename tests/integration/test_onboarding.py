"""An agency starts from an empty database with its own tree and roster, as a new user would:
``jingwu import org``, ``jingwu import units``, ``jingwu user add`` (the real command, in a
subprocess), then calls are taken in its stations' areas and its units are ranked by road."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from jingwu.api.app import create_app
from jingwu.api.runtime import build_runtime
from jingwu.config import Settings
from jingwu.store import tables as t
from jingwu.store.engine import build_engine
from tests.conftest import empty_database
from tests.integration.live_server import free_port


def jingwu(args: list[str], url: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JINGWU_DATABASE_URL": url, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "jingwu", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=120)


def polygon(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def unit(code: str, level: str, parent: str | None, geometry: dict[str, Any] | None = None,
         **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry,
            "properties": {"code": code, "name": f"{code} office", "level": level, "parent": parent, **props}}


# Andorra la Vella split in two station areas of an agency of its own (its roads are the packaged ones).
AGENCY = {"type": "FeatureCollection", "features": [
    unit("X", "province", None),
    unit("X-1", "district", "X", names={"zh-Hant": "一分局", "zh-Hans": "一分局", "en": "First branch"}),
    unit("X-1-W", "station", "X-1", polygon(1.49, 42.49, 1.525, 42.53), base=[1.5155, 42.5075]),
    unit("X-1-E", "station", "X-1", polygon(1.525, 42.49, 1.56, 42.53)),
]}
ROSTER = """call_sign,home_station,capabilities,crew_size,status
W-01,X-1-W,patrol,2,available
W-02,X-1-W,patrol;traffic,2,available
W-09,X-1-W,patrol,2,off_duty
E-01,X-1-E,patrol,2,available
E-CI,X-1-E,criminal_investigation,3,available
"""
CENTRE = {"lat": 42.5063, "lon": 1.5218}  # in X-1-W


def count(url: str, table: Any) -> int:
    engine = build_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
    finally:
        engine.dispose()


def test_an_agency_starts_from_its_own_tree_and_roster(backend: str, tmp_path: Path, settings: Settings) -> None:
    with empty_database(backend, tmp_path) as url:
        tree_file, roster_file = tmp_path / "agency.geojson", tmp_path / "roster.csv"
        untouched = jingwu(["export", "org"], url)  # an export makes nothing, not even the tables
        assert untouched.returncode == 2 and "has no jingwu tables" in untouched.stderr, untouched.stderr
        hint = jingwu(["user", "add", "li", "--role", "dispatcher", "--org", "X-1", "--password-stdin"], url,
                      "Strong-pass-2026\n")
        assert hint.returncode == 2 and "no organisation yet" in hint.stderr, hint.stderr
        nothing = jingwu(["export", "units"], url)
        assert nothing.returncode == 2 and "no units yet" in nothing.stderr, nothing.stderr

        orphan = {**AGENCY, "features": AGENCY["features"][1:]}  # no root: X-1's parent is nowhere
        tree_file.write_text(json.dumps(orphan), encoding="utf-8")
        refused = jingwu(["import", "org", str(tree_file)], url)
        assert refused.returncode == 2 and "unknown parent 'X'" in refused.stderr, refused.stderr
        assert count(url, t.org_units) == 0  # nothing half-written

        tree_file.write_text(json.dumps(AGENCY), encoding="utf-8")
        done = jingwu(["import", "org", str(tree_file)], url)
        assert done.returncode == 0, done.stderr
        assert "station  │     2" in done.stdout, done.stdout
        again = jingwu(["import", "org", str(tree_file)], url)
        assert again.returncode == 2 and "'X' is already in the database" in again.stderr
        for extra, reason in ((unit("Y", "province", None), "exactly one root"),
                              (unit("X-1-W-A", "station", "X-1-W", polygon(1.50, 42.50, 1.51, 42.51)),
                               "its parent 'X-1-W' is a station")):
            tree_file.write_text(json.dumps({"type": "FeatureCollection", "features": [extra]}), encoding="utf-8")
            refused = jingwu(["import", "org", str(tree_file)], url)
            assert refused.returncode == 2 and reason in refused.stderr, refused.stderr
        assert count(url, t.org_units) == 4
        tree_file.write_text(json.dumps(AGENCY), encoding="utf-8")

        roster_file.write_text(ROSTER.replace("E-CI,X-1-E", "E-CI,X-1"), encoding="utf-8")
        wrong = jingwu(["import", "units", str(roster_file)], url)
        assert wrong.returncode == 2 and "line 6 (E-CI): home_station: 'X-1' is not a station" in wrong.stderr
        assert count(url, t.units) == 0
        roster_file.write_text(ROSTER, encoding="utf-8")
        assert jingwu(["import", "units", str(roster_file)], url).returncode == 0
        twice = jingwu(["import", "units", str(roster_file)], url)
        assert twice.returncode == 2 and "line 2 (W-01): id: 'U-W-01' is already taken" in twice.stderr

        added = jingwu(["user", "add", "li", "--role", "dispatcher", "--org", "X-1", "--password-stdin"], url,
                       "Strong-pass-2026\n")
        assert added.returncode == 0, added.stderr
        exported = jingwu(["export", "org"], url)
        assert json.loads(exported.stdout) == AGENCY  # the template an agency edits reads back as it was
        assert jingwu(["audit", "verify"], url).returncode == 0

        engine = build_engine(url)
        with engine.connect() as conn:
            actions = {a for (a,) in conn.execute(select(t.audit_log.c.action))}
        assert {"org.import", "unit.import", "user.add"} <= actions
        runtime = build_runtime(settings.model_copy(update={"database_url": url}), engine=engine, migrate=False)
        try:
            with TestClient(create_app(runtime, timers=False)) as client:
                r = client.post("/api/auth/token", data={"username": "li", "password": "Strong-pass-2026"})
                h = {"Authorization": f"Bearer {r.json()['access_token']}"}
                r = client.post("/api/incidents?recommend=5", json={"type": "ROBBERY_IN_PROGRESS", "location": CENTRE},
                                headers=h)
                assert r.status_code == 201, r.text
                created = r.json()
                assert created["station_code"] == "X-1-W"
                ranked = created["recommendations"]
                signs = [u["call_sign"] for u in ranked]
                assert "W-09" not in signs  # off duty
                assert signs[:2] == ["W-01", "W-02"] or signs[:2] == ["W-02", "W-01"]  # at the station house
                assert "E-CI" in signs  # the run card's investigator, from the next station
                assert all(u["eta_s"] > 0 and "by road" in u["reason"] for u in ranked), ranked
                far = client.post("/api/incidents", json={"type": "THEFT", "location": {"lat": 42.56, "lon": 1.6}},
                                  headers=h)
                assert far.status_code == 422 and "outside the service area" in far.text
                units = client.get("/api/units?station=X-1", headers=h).json()
                assert sorted(u["call_sign"] for u in units) == ["E-01", "E-CI", "W-01", "W-02", "W-09"]
        finally:
            runtime.close()


def test_serve_on_an_empty_database_says_what_to_do(tmp_path: Path, settings: Settings) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    env = {**os.environ, "JINGWU_DATABASE_URL": url, "JINGWU_DATA_DIR": str(settings.data_dir), "COLUMNS": "200"}
    server = subprocess.Popen([sys.executable, "-m", "jingwu", "serve", "--port", str(free_port())], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert server.stdout is not None
        said = [server.stdout.readline() for _ in range(2)]
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "no organisation yet" in said[1] and "jingwu import org" in said[1], said
