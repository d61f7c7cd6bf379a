"""The fast drill through the real services on its own SQLite database: a credible, reproducible
report, the database agreeing with it, and `jingwu drill` writing its JSON and chart."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import weakref
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from jingwu.config import Settings
from jingwu.sim.runner import DrillResult, DrillSpec, run_fast
from jingwu.store import tables as t
from jingwu.store.unit_of_work import read_connection

SPEC = DrillSpec(hours=2.0, calls_per_day=1500, seed=1, start="2026-11-27T20:00")  # a Friday evening


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.getbasetemp() / "jingwu-data", secret_key="x" * 40)


@pytest.fixture(scope="module")
def result(settings: Settings):
    out = run_fast(settings, SPEC)
    yield out
    out.world.close()


def _figures(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "simulation"}


def test_report_has_the_figures_asked_for(result: DrillResult) -> None:
    r = result.report
    assert r["calls"] == r["incidents"] + r["duplicates"]["linked"] > 100
    assert r["scenario"]["units_on_duty"] == 42
    for p in ("1", "2", "3", "4", "all"):
        rt = r["response_time_s"][p]
        assert {"p50", "p90"} <= rt.keys()
        if rt["n"]:
            assert 0 < rt["p50"] <= rt["p90"] <= rt["max"]
    assert 0 <= r["response_time_s"]["1"]["met_share"] <= 1
    assert r["response_time_s"]["1"]["target_s"] == 600
    assert 0 < r["utilisation"]["overall"] < 1
    assert set(r["utilisation"]["by_station"]) == {f"AD-0{k}-S1" for k in range(2, 9)}
    assert r["unanswered"] == 0 and r["unanswerable"] == 0
    assert len(r["hourly"]) == 2 and sum(h["calls"] for h in r["hourly"]) == r["calls"]
    # Higher priorities are served first when units are short.
    q = r["queue_wait_s"]
    assert (q["1"]["mean"] or 0) <= (q["4"]["mean"] or 0)
    sim = r["simulation"]
    assert sim["service_calls"]["receive_call"]["calls"] == r["calls"]
    assert sim["service_calls"]["assign_unit"]["calls"] >= r["incidents"]


def test_same_seed_same_figures(result: DrillResult, settings: Settings) -> None:
    again = run_fast(settings, SPEC)
    again.world.close()
    assert _figures(again.report) == _figures(result.report)
    other = run_fast(settings, DrillSpec(**{**SPEC.__dict__, "seed": 2}))
    other.world.close()
    assert _figures(other.report) != _figures(result.report)


def test_the_database_recorded_what_the_report_says(result: DrillResult) -> None:
    drill, world = result.drill, result.world
    with read_connection(world.engine) as conn:
        rows = {r.id: r for r in conn.execute(select(t.incidents))}
        units = {r.id: r for r in conn.execute(select(t.units))}
        assignments = conn.execute(select(t.assignments)).all()
    assert len(rows) == result.report["calls"]
    merged = [r for r in rows.values() if r.status == "merged"]
    assert len(merged) == result.report["duplicates"]["linked"]
    assert all(r.source == "drill" for r in rows.values())
    start = world.sched.start
    for inc in drill.incidents.values():
        row = rows[inc.id]
        assert row.status in ("closed", "cleared")
        assert abs((row.arrived_at.replace(tzinfo=start.tzinfo) - start).total_seconds() - inc.first_arrival) < 1e-3
        assert abs((row.received_at.replace(tzinfo=start.tzinfo) - start).total_seconds() - inc.received) < 1e-3
    assert len(assignments) == sum(len(i.assigned) for i in drill.incidents.values())
    for unit in drill.units.values():
        row = units[unit.id]
        assert row.status == "available"
        assert (row.lat, row.lon) == (unit.reported.lat, unit.reported.lon)
    moved = [u for u in drill.units.values() if u.assignments]
    assert len(moved) > 10


def test_straight_line_travel_and_a_bigger_fleet(settings: Settings) -> None:
    out = run_fast(settings, DrillSpec(hours=1.0, calls_per_day=1500, seed=3, travel="straight", units=60,
                                       start="2026-11-27T20:00"))
    out.world.close()
    r = out.report
    assert r["scenario"]["units_on_duty"] == 60 and r["scenario"]["travel"] == "straight"
    assert r["calls"] > 30 and r["unanswered"] == 0
    small = run_fast(settings, DrillSpec(hours=1.0, calls_per_day=1500, seed=3, units=20, start="2026-11-27T20:00"))
    small.world.close()
    assert small.report["scenario"]["units_on_duty"] == 20
    kinds = small.report["utilisation"]["by_kind"]
    assert {"traffic", "community", "special", "criminal_investigation"} <= kinds.keys()  # patrols stood down first


def test_jingwu_drill_writes_json_and_chart(tmp_path: Path, settings: Settings) -> None:
    out_json, out_png = tmp_path / "out.json", tmp_path / "out.png"
    env = {**os.environ, "JINGWU_DATA_DIR": str(settings.data_dir), "COLUMNS": "160"}
    done = subprocess.run(
        [sys.executable, "-m", "jingwu", "drill", "--hours", "1", "--calls-per-day", "1200", "--units", "45",
         "--seed", "1", "--json", str(out_json), "--chart", str(out_png)],
        capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Response" in done.stdout and "utilisation" in done.stdout
    data = json.loads(out_json.read_text())
    assert data["calls"] > 10
    assert {"p50", "p90"} <= data["response_time_s"]["2"].keys()
    assert 0 < data["utilisation"]["overall"] < 1
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_figures_in_another_process(tmp_path: Path, settings: Settings) -> None:
    """Reproducible across processes too: Python's string hashing (so a set's order) differs per
    process, and a unit able to fill two places on a run card was once counted by set order."""
    reports = []
    for hash_seed in ("0", "1", "2"):
        out = tmp_path / f"run-{hash_seed}.json"
        env = {**os.environ, "JINGWU_DATA_DIR": str(settings.data_dir), "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-m", "jingwu", "drill", "--hours", "3", "--calls-per-day", "3000", "--units", "80",
             "--seed", "1", "--travel", "straight", "--json", str(out)],
            capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        reports.append(_figures(json.loads(out.read_text())))
    assert reports[0]["calls"] > 100
    assert reports[1] == reports[0] and reports[2] == reports[0]


def test_a_world_dropped_unclosed_lets_its_database_go(settings: Settings) -> None:
    """The store keeps the drill's connection checked out between use cases; a world nobody closed
    still gives it back when it is dropped, so its engine and in-memory database are freed."""

    def drilled() -> weakref.ref[Engine]:
        out = run_fast(settings, DrillSpec(hours=0.2, calls_per_day=600, seed=4, travel="straight"))
        assert out.report["calls"] > 0
        return weakref.ref(out.world.engine)

    gone = drilled()
    gc.collect()
    assert gone() is None
