"""The drill against a running server over HTTP: the load generator (`jingwu drill --against`) and
the live demo (`jingwu demo`), on loopback ports 8710-8719."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jingwu.api.app import create_app
from jingwu.api.runtime import build_runtime
from jingwu.config import Settings
from jingwu.sim.live import LiveSpec, parse_rate, rate_to_speed, run_live
from tests.conftest import PASSWORD, fresh_engine
from tests.integration.live_server import serving

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "jingwu-data"


@pytest.fixture
def server(data_dir: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    engine, url = fresh_engine("sqlite", tmp_path, tmp_path_factory)
    settings = Settings(database_url=url, data_dir=data_dir, secret_key="test-secret-" + "x" * 32)
    runtime = build_runtime(settings, engine=engine, migrate=False)
    with serving(create_app(runtime, timers=False), port=8712) as base:
        yield base
    runtime.close()


def _board(base: str) -> tuple[list[dict], list[dict]]:
    with httpx.Client(base_url=base) as c:
        token = c.post("/api/auth/token", data={"username": "commander", "password": PASSWORD}).json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        incidents = c.get("/api/incidents", params={"limit": 5000}, headers=h).json()["items"]
        units = c.get("/api/units", headers=h).json()
    return incidents, units


def test_rates() -> None:
    assert parse_rate("50/s") == 50 and parse_rate("600/min") == 10 and parse_rate("7200/h") == 2
    assert rate_to_speed(50, 3000) == 1440  # a day of 3,000 calls in a minute
    with pytest.raises(ValueError):
        parse_rate("5/fortnight")


def test_load_generator_behaves_like_a_command_centre(server: str, data_dir: Path) -> None:
    _incidents, before = _board(server)
    # 4 calls a second of a 600-a-day centre: ten simulated minutes per wall second.
    spec = LiveSpec(url=server, username="dispatcher", password=PASSWORD, speed=rate_to_speed(4, 600),
                    calls_per_day=600, seed=1, duration_s=8, drain_s=6, desks=3, position_every_s=None,
                    road_legs=False, steady=True, data_dir=data_dir)
    started = time.monotonic()
    result = run_live(spec)
    assert time.monotonic() - started < 8 + 6 + 10  # bounded: stops by itself
    r, http = result.report, result.http
    assert r["calls"] == pytest.approx(4 * 8, rel=0.5)
    assert http["failures"] == 0, result.errors
    endpoints = http["endpoints"]
    for name in ("POST /api/incidents", "GET /api/incidents/{id}/recommendations",
                 "POST /api/incidents/{id}/assignments", "POST /api/units/{id}/status",
                 "POST /api/units/{id}/position", "POST /api/incidents/{id}/transition"):
        assert endpoints[name]["requests"] > 0, name
        assert endpoints[name]["p50_ms"] > 0
    incidents, units = _board(server)
    drill = [i for i in incidents if i["source"] == "drill"]
    assert len(drill) == r["calls"]
    statuses = Counter(i["status"] for i in drill)
    assert statuses["closed"] > 0
    assert statuses["closed"] + statuses["merged"] + statuses["cleared"] >= 0.5 * len(drill)
    moved = [u for u, b in zip(units, sorted(before, key=lambda x: x["call_sign"]), strict=True)
             if (u["lat"], u["lon"]) != (b["lat"], b["lon"])]
    assert len(moved) >= 3
    assert r["response_time_s"]["all"]["n"] > 0


def test_jingwu_drill_against_reads_the_password_from_stdin(server: str, data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    env = {**os.environ, "JINGWU_DATA_DIR": str(data_dir), "COLUMNS": "160"}
    env.pop("JINGWU_DRILL_PASSWORD", None)
    done = subprocess.run(
        [sys.executable, "-m", "jingwu", "drill", "--against", server, "--rate", "3/s", "--duration", "4",
         "--desks", "2", "--user", "dispatcher", "--password-stdin", "--json", str(out)],
        input=PASSWORD + "\n", capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(out.read_text())
    assert data["calls"] > 0 and data["http"]["requests"] > data["calls"]
    assert "HTTP:" in done.stdout
    wrong = subprocess.run(
        [sys.executable, "-m", "jingwu", "drill", "--against", server, "--duration", "2", "--password-stdin"],
        input="not-the-password\n", capture_output=True, text=True, env=env, timeout=60)
    assert wrong.returncode != 0


def test_demo_comes_alive_without_any_manual_step(tmp_path: Path) -> None:
    env = {**os.environ, "JINGWU_DATA_DIR": str(tmp_path), "JINGWU_DEMO_PASSWORD": PASSWORD, "COLUMNS": "160"}
    env.pop("JINGWU_DATABASE_URL", None)
    base = "http://127.0.0.1:8715"
    proc = subprocess.Popen([sys.executable, "-m", "jingwu", "demo", "--port", "8715", "--speed", "120"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        seen: Counter[str] = Counter()
        moved = 0
        first: dict[str, tuple] = {}
        while time.monotonic() < deadline:
            time.sleep(2)
            try:
                incidents, units = _board(base)
            except (httpx.HTTPError, KeyError, ValueError):
                continue
            seen = Counter(i["status"] for i in incidents)
            for u in units:
                first.setdefault(u["id"], (u["lat"], u["lon"]))
            moved = sum((u["lat"], u["lon"]) != first[u["id"]] for u in units)
            busy = sum(u["status"] in ("dispatched", "en_route", "on_scene") for u in units)
            if seen["closed"] >= 2 and moved >= 2 and (busy or seen["closed"] >= 5):
                break
        assert seen["closed"] >= 2, seen
        assert moved >= 2
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_demo_refuses_a_weak_demo_password_by_name(tmp_path: Path) -> None:
    """A JINGWU_DEMO_PASSWORD the account rules refuse is named in one line, before anything is
    seeded or served, not a traceback from inside the seeding."""
    env = {**os.environ, "JINGWU_DATA_DIR": str(tmp_path), "JINGWU_DEMO_PASSWORD": "short", "COLUMNS": "160"}
    env.pop("JINGWU_DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-m", "jingwu", "demo", "--port", "8716", "--no-drill"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "JINGWU_DEMO_PASSWORD: password must have at least 12 characters" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "demo.db").exists()
