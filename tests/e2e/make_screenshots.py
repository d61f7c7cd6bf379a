"""Screenshots for the README and docs: the command map, the dispatch console, the call-taker form and
the officer terminal, on a real server with a busy Andorra shift.

    .venv/bin/python -m tests.e2e.make_screenshots [--out docs/screenshots]

Needs /usr/bin/chromium (and fonts-noto-cjk for the Chinese screenshots).
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect, sync_playwright

from jingwu.services.demo import seed_andorra
from jingwu.store.engine import build_engine
from jingwu.store.migrate import upgrade
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD, LiveServer, start_server

TYPES = ["BURGLARY", "THEFT", "NOISE", "TRAFFIC_ACCIDENT", "ASSAULT", "DOMESTIC_DISPUTE", "SUSPICIOUS_PERSON",
         "ROBBERY_IN_PROGRESS", "DRUNK_DRIVING", "MISSING_PERSON", "FIRE"]


def _client(server: LiveServer, username: str) -> httpx.Client:
    c = httpx.Client(base_url=server.url, timeout=20)
    r = c.post("/api/auth/token", data={"username": username, "password": PASSWORD})
    r.raise_for_status()
    c.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return c


def busy_shift(server: LiveServer, n: int = 36, seed: int = 7) -> dict[str, Any]:
    """Calls around the parishes' towns; about half dispatched, some en route or on scene."""
    rng = random.Random(seed)
    api = _client(server, "dispatcher")
    types = {t["code"] for t in api.get("/api/incident-types").json()["types"]}
    bases = [u["base"] for u in api.get("/api/org").json() if u["level"] == "station" and u["base"]]
    made: list[str] = []
    real_clock = server.runtime.deps.clock
    for i in range(n):
        # calls taken a little while ago, so the console's stage timers show amber and red
        ago = timedelta(seconds=rng.choice([0, 0, 0, 55, 90, 400, 1000]))
        server.runtime.deps.clock = lambda ago=ago: real_clock() - ago
        base = rng.choice(bases)
        loc = {"lat": base["lat"] + rng.uniform(-0.008, 0.008), "lon": base["lon"] + rng.uniform(-0.01, 0.01)}
        body = {"type": rng.choice([t for t in TYPES if t in types]), "location": loc, "description": "drill"}
        r = api.post("/api/incidents", json=body, headers={"Idempotency-Key": f"shot-{seed}-{i}"})
        if r.status_code in (200, 201):
            made.append(r.json()["id"])
    server.runtime.deps.clock = real_clock
    for k, inc in enumerate(made[: n // 2]):
        recs = api.get(f"/api/incidents/{inc}/recommendations", params={"limit": 1}).json()
        recs = [r for r in recs if r["unit_id"] != "U-P07-01"]
        if not recs:
            continue
        if api.post(f"/api/incidents/{inc}/assignments", json={"unit_id": recs[0]["unit_id"],
                                                                 "override_reason": "drill"}).status_code != 201:
            continue
        for status in (["en_route"] if k % 3 == 1 else ["en_route", "on_scene"] if k % 3 == 2 else []):
            api.post(f"/api/units/{recs[0]['unit_id']}/status", json={"status": status})
    officer_call = api.post("/api/incidents", json={
        "type": "BURGLARY", "address": "Avinguda Meritxell", "description": "shop window broken, alarm ringing"},
        headers={"Idempotency-Key": f"shot-{seed}-officer"}).json()
    api.post(f"/api/incidents/{officer_call['id']}/assignments",
             json={"unit_id": "U-P07-01", "override_reason": "nearest by the officer's report"})
    api.post("/api/units/U-P07-01/status", json={"status": "en_route"})
    api.close()
    return {"incidents": made, "officer_incident": officer_call["id"]}


def _login(browser: Any, server: LiveServer, username: str, phone: bool = False, lang: str = "en") -> Page:
    args: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "device_scale_factor": 2} \
        if phone else {"viewport": {"width": 1440, "height": 860}}
    ctx = browser.new_context(**args, locale=lang)
    page = ctx.new_page()
    page.goto(server.url + "/")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    return page


def take(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="jingwu-shots-"))
    try:
        engine = build_engine(f"sqlite:///{work / 'shots.db'}")
        upgrade(engine)
        seed_andorra(engine, PASSWORD)
        engine.dispose()
        server = start_server(work / "shots.db", work / "data")
        try:
            shift = busy_shift(server)
            return _shoot(server, shift, out)
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _shoot(server: LiveServer, shift: dict[str, Any], out: Path) -> list[Path]:
    files: list[Path] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        commander = _login(browser, server, "commander")
        commander.wait_for_timeout(800)
        commander.locator(".unit-marker", has_text="P07-01").dispatch_event("click")
        commander.wait_for_timeout(300)
        files.append(out / "command-map.png")
        commander.screenshot(path=files[-1])

        zh = _login(browser, server, "commander", lang="zh-TW")
        zh.wait_for_timeout(800)
        files.append(out / "command-map-zh-Hant.png")
        zh.screenshot(path=files[-1])

        dispatcher = _login(browser, server, "dispatcher")
        first = dispatcher.locator("#queue-rows tr", has_text="received").first
        first.click()
        expect(dispatcher.locator(".recs li").first).to_be_visible()
        dispatcher.wait_for_timeout(800)
        files.append(out / "dispatch-console.png")
        dispatcher.screenshot(path=files[-1])

        calltaker = _login(browser, server, "calltaker")
        calltaker.focus("#type-input")
        calltaker.keyboard.type("burgl")
        calltaker.keyboard.press("Enter")
        expect(calltaker.locator("#address-input")).to_be_focused()
        calltaker.keyboard.type("Avinguda Meri")
        calltaker.wait_for_selector("#address-list li")
        calltaker.keyboard.press("Enter")  # the officer's call is on this street: offered as a duplicate
        expect(calltaker.locator("#dups [data-dup]").first).to_be_visible()
        calltaker.keyboard.type("Jordi")
        calltaker.keyboard.press("Tab")
        calltaker.keyboard.type("+376 600 100")
        calltaker.keyboard.press("Tab")
        calltaker.keyboard.type("neighbour's shop: glass broken, alarm")
        calltaker.wait_for_timeout(600)
        files.append(out / "call-intake.png")
        calltaker.screenshot(path=files[-1])

        officer = _login(browser, server, "officer", phone=True)
        expect(officer.locator("#assignment-body")).to_have_attribute("data-incident", shift["officer_incident"])
        officer.wait_for_timeout(1200)
        files.append(out / "officer-terminal.png")
        officer.screenshot(path=files[-1], full_page=True)
        browser.close()
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    for f in take(parser.parse_args().out):
        print(f)


if __name__ == "__main__":
    main()
