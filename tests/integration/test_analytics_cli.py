"""`jingwu analyze …` / `jingwu report …` end to end on small real samples (tests/data/analytics)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from jingwu.cli import app as jingwu
from jingwu.cli.analyze import app
from tests.conftest import PASSWORD

DATA = Path(__file__).resolve().parents[1] / "data" / "analytics"
SAMPLE = str(DATA / "chicago_district11_2018_2019.csv")
runner = CliRunner()


def test_hotspots_write_geojson_png_and_html(tmp_path):
    out = tmp_path / "maps"
    result = runner.invoke(app, ["hotspots", "--incidents", SAMPLE, "--columns", "time=date,type=loc_cat",
                                 "--type", "street", "--out", str(out), "--permutations", "199"])
    assert result.exit_code == 0, result.output
    geo = json.loads((out / "hotspots.geojson").read_text())
    assert geo["type"] == "FeatureCollection" and geo["features"]
    assert (out / "hotspots.png").stat().st_size > 10_000
    assert "Gi*" in (out / "hotspots.html").read_text()


def test_hotspots_by_type_write_one_map_per_type(tmp_path):
    result = runner.invoke(app, ["hotspots", "--incidents", str(DATA / "chicago_districts6_7_2019.csv"),
                                 "--columns", "type=loc_cat", "--by-type", "--out", str(tmp_path),
                                 "--permutations", "99", "--since", "2019-07-01"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "hotspots.geojson").exists()
    assert (tmp_path / "street" / "hotspots.geojson").exists()
    assert (tmp_path / "residence" / "hotspots.png").exists()


def test_forecast_backtest_prints_the_table_and_writes_json(tmp_path):
    target = tmp_path / "out.json"
    result = runner.invoke(app, ["forecast", "--backtest", "--incidents", SAMPLE, "--json", str(target),
                                 "--max-periods", "4"])
    assert result.exit_code == 0, result.output
    data = json.loads(target.read_text())
    assert set(data["models"]) == {"naive", "retrospective_kde", "prospective_hotspot", "seppexp"}
    assert data["periods"] == 4 and data["best"] in data["models"]
    for name in data["models"]:
        assert name in result.output
    assert "best:" in result.output


def test_forecast_map_for_the_next_week(tmp_path):
    result = runner.invoke(app, ["forecast", "--incidents", SAMPLE, "--out", str(tmp_path),
                                 "--model", "prospective_hotspot"])
    assert result.exit_code == 0, result.output
    geo = json.loads((tmp_path / "forecast.geojson").read_text())
    assert geo["properties"]["model"] == "prospective_hotspot" and geo["features"]
    assert (tmp_path / "forecast.png").exists()


def test_surges_evaluate_and_list(tmp_path):
    result = runner.invoke(app, ["surges", "--evaluate", "--incidents", SAMPLE, "--outbreaks", "100"])
    assert result.exit_code == 0, result.output
    assert "poisson_cusum" in result.output and "false alarms" in result.output
    result = runner.invoke(app, ["surges", "--incidents", SAMPLE, "--last", "60", "--json", str(tmp_path / "a.json")])
    assert result.exit_code == 0, result.output
    assert isinstance(json.loads((tmp_path / "a.json").read_text()), list)


def test_knox_writes_table_and_chart(tmp_path):
    result = runner.invoke(app, ["knox", "--incidents", SAMPLE, "--permutations", "19", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "knox.png").exists() and "ratio" in (tmp_path / "knox.csv").read_text()


def test_response_report(tmp_path):
    result = runner.invoke(jingwu, ["report", "response", "--incidents", str(DATA / "response_sample.csv"),
                                        "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "response.html").exists() and (tmp_path / "response_by_station.png").exists()


def test_bad_input_names_the_problem_and_exits_non_zero(tmp_path):
    result = runner.invoke(app, ["hotspots", "--incidents", str(tmp_path / "none.csv")])
    assert result.exit_code == 2 and "no such file" in result.output
    result = runner.invoke(app, ["hotspots", "--incidents", SAMPLE, "--columns", "time=when"])
    assert result.exit_code == 2 and "'when'" in result.output
    result = runner.invoke(jingwu, ["report", "response", "--incidents", SAMPLE])
    assert result.exit_code == 2 and "dispatched" in result.output
    result = runner.invoke(app, ["hotspots", "--incidents", str(DATA / "chicago_bad_rows.csv"), "--out",
                                 str(tmp_path / "m"), "--permutations", "9"])
    assert "line 5" in result.output and "skipped 3 bad row(s)" in result.output


def test_analysis_routes_serve_the_hotspot_layer_and_surges(runtime):
    """The database path: incidents taken over HTTP come back as the command map's hotspot layer."""
    from fastapi.testclient import TestClient

    from jingwu.api.app import create_app

    app = create_app(runtime, timers=False)
    with TestClient(app) as client:
        def token(user):
            r = client.post("/api/auth/token", data={"username": user, "password": PASSWORD})
            assert r.status_code == 200, r.text
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        dispatcher = token("dispatcher")
        for k in range(12):
            body = {"type": "ROBBERY_IN_PROGRESS", "location": {"lat": 42.5063 + (k % 3) * 0.0003,
                                                                "lon": 1.5218 + (k % 4) * 0.0003},
                    "description": f"test {k}"}
            r = client.post("/api/incidents", json=body, headers={**dispatcher, "Idempotency-Key": f"an-{k}"})
            assert r.status_code == 201, r.text
        analyst = token("analyst")
        r = client.get("/api/analysis/hotspots", params={"permutations": 99}, headers=analyst)
        assert r.status_code == 200, r.text
        layer = r.json()
        assert layer["properties"]["incidents"] == 12
        hexes = [f for f in layer["features"] if f["properties"]["layer"] == "gi_star"]
        assert sum(f["properties"]["count"] for f in hexes) == 12
        assert client.get("/api/analysis/surges", headers=analyst).status_code == 200
        r = client.get("/api/analysis/forecast", params={"model": "retrospective_kde"}, headers=analyst)
        assert r.status_code == 200, r.text
        assert r.json()["properties"]["model"] == "retrospective_kde" and r.json()["features"]
        assert client.get("/api/analysis/hotspots", headers=token("calltaker")).status_code == 403
        for query, field in (({"station": "AD-99"}, "station"), ({"family": "robery"}, "family"),
                             ({"type_code": "ROBERY"}, "type_code")):
            r = client.get("/api/analysis/hotspots", params=query, headers=analyst)
            assert (r.status_code, r.json()["detail"][0]["field"]) == (422, field), r.text
        r = client.get("/api/analysis/forecast", params={"family": "robery"}, headers=analyst)
        assert (r.status_code, r.json()["detail"][0]["field"]) == (422, "family"), r.text
        r = client.get("/api/analysis/hotspots", params={"station": "AD-07", "permutations": 99}, headers=analyst)
        assert r.status_code == 200 and r.json()["properties"]["incidents"] == 12, r.text


def _seed_incidents(runtime, n):
    from fastapi.testclient import TestClient

    from jingwu.api.app import create_app

    with TestClient(create_app(runtime, timers=False)) as client:
        r = client.post("/api/auth/token", data={"username": "dispatcher", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        for k in range(n):
            body = {"type": "ROBBERY_IN_PROGRESS", "description": f"seed {k}",
                    "location": {"lat": 42.5063 + (k % 3) * 0.0004, "lon": 1.5218 + (k % 5) * 0.0004}}
            r = client.post("/api/incidents", json=body, headers={**headers, "Idempotency-Key": f"db-{k}"})
            assert r.status_code == 201, r.text


def test_cli_reads_the_incidents_table(runtime, monkeypatch, tmp_path):
    from jingwu.config import get_settings

    _seed_incidents(runtime, 15)
    monkeypatch.setenv("JINGWU_DATABASE_URL", runtime.settings.database_url)
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["hotspots", "--from-db", "--out", str(tmp_path), "--permutations", "99"])
        assert result.exit_code == 0, result.output
        assert "15" in result.output
        result = runner.invoke(app, ["hotspots", "--from-db", "--station", "AD-03", "--out", str(tmp_path)])
        assert result.exit_code == 2 and "no incidents in the database" in result.output
        result = runner.invoke(app, ["hotspots", "--from-db", "--station", "AD-07", "--out", str(tmp_path),
                                     "--permutations", "99"])
        assert result.exit_code == 0 and "15" in result.output, result.output
        result = runner.invoke(app, ["hotspots", "--from-db", "--station", "NOWHERE", "--out", str(tmp_path)])
        assert result.exit_code == 2 and "unknown org unit 'NOWHERE'" in result.output, result.output
    finally:
        get_settings.cache_clear()
