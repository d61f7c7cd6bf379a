"""A call handled end to end in a real browser: call-taker → dispatcher → officer terminal → command map,
and an officer action taken offline replayed once on reconnect."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, Login

pytestmark = pytest.mark.e2e
OFFICER_UNIT = "U-P07-01"
OFFICER_CALL_SIGN = "P07-01"
ADDRESS = "Avinguda Meritxell"  # in Andorra la Vella, the officer's station (AD-07-S1)


def _place(server: LiveServer, text: str) -> dict[str, Any]:
    with server.api("calltaker") as api:
        r = api.get("/api/geocode", params={"q": text, "limit": 1})
        r.raise_for_status()
        return dict(r.json()[0])


def _unit_statuses(server: LiveServer, unit_id: str) -> list[str]:
    with server.api("dispatcher") as api:
        r = api.get(f"/api/units/{unit_id}")
        r.raise_for_status()
        newest_first = [e["data"]["new"] for e in r.json()["timeline"] if e["kind"] == "UnitStatusChanged"]
        return newest_first[::-1]


def test_call_handled_end_to_end(live_server: LiveServer, login: Login) -> None:
    place = _place(live_server, ADDRESS)
    # The officer shares the phone's position, which puts their unit nearest to the coming call.
    officer = login("officer", phone=True, geolocation={"latitude": place["lat"], "longitude": place["lon"]},
                    permissions=["geolocation"])
    expect(officer.locator("#call-sign")).to_have_text(OFFICER_CALL_SIGN)
    officer.check("#share")
    expect(officer.locator("#outbox")).to_be_hidden()
    commander = login("commander")
    dispatcher = login("dispatcher")
    calltaker = login("calltaker")

    # Call-taker: the whole call from the keyboard.
    calltaker.focus("#type-input")
    calltaker.keyboard.type("burgl")
    calltaker.keyboard.press("Enter")
    expect(calltaker.locator("#address-input")).to_be_focused()
    calltaker.keyboard.type(ADDRESS)
    calltaker.wait_for_selector("#address-list li")
    calltaker.keyboard.press("Enter")
    expect(calltaker.locator("#caller-name")).to_be_focused()
    calltaker.keyboard.type("Anna")
    calltaker.keyboard.press("Tab")
    calltaker.keyboard.type("+376 612 345")
    calltaker.keyboard.press("Tab")
    calltaker.keyboard.type("front door forced, nobody home")
    calltaker.keyboard.press("Control+Enter")
    created = calltaker.wait_for_selector("[data-created]")
    incident_id = created.get_attribute("data-created")
    assert incident_id
    # The answer names the run card's units: the same first unit the dispatcher is offered below.
    expect(calltaker.locator("[data-created] .to-send")).to_contain_text(f"{OFFICER_CALL_SIGN} (")

    # Dispatcher: the call is in the queue without a reload, within a second.
    dispatcher.wait_for_selector(f"#queue-rows tr[data-id='{incident_id}']", timeout=1000)

    # Commander: the map counts it and shows it; a click gives the details; the filters apply.
    expect(commander.locator("#c-open")).to_have_text("1")
    circles = commander.locator(".leaflet-incidents-pane path.leaflet-interactive")
    expect(circles).to_have_count(1)
    circles.first.click()
    expect(commander.locator("#details")).to_contain_text(incident_id)
    commander.select_option("#f-priority", "1")
    expect(circles).to_have_count(0)
    commander.select_option("#f-priority", "")
    expect(circles).to_have_count(1)

    dispatcher.click(f"#queue-rows tr[data-id='{incident_id}']")
    first = dispatcher.locator(".recs li").first
    expect(first.locator("b")).to_have_text(OFFICER_CALL_SIGN)
    first.locator("button[data-assign]").click()
    expect(dispatcher.locator(f"#queue-rows tr[data-id='{incident_id}']")).to_contain_text("dispatched")

    # Officer: the assignment arrives; en route, on scene, clear.
    expect(officer.locator("#assignment-body")).to_have_attribute("data-incident", incident_id)
    expect(officer.locator("#assignment-body")).to_contain_text(ADDRESS)
    unit_on_map = commander.locator(".unit-marker", has_text=OFFICER_CALL_SIGN)
    expect(unit_on_map).to_have_class(_status_class("dispatched"))
    for button, status in (("#btn-en_route", "en_route"), ("#btn-on_scene", "on_scene"), ("#btn-clear", "available")):
        officer.click(button)
        expect(officer.locator("#unit-status")).to_have_class(f"chip st-{status}")
        expect(officer.locator("#outbox")).to_be_hidden()
        expect(unit_on_map).to_have_class(_status_class(status))  # the command map follows live
    expect(officer.locator("#assignment-body")).to_contain_text("No assignment")
    assert _unit_statuses(live_server, OFFICER_UNIT) == ["dispatched", "en_route", "on_scene", "available"]
    with live_server.api("dispatcher") as api:
        assert api.get(f"/api/incidents/{incident_id}").json()["status"] == "cleared"


def _status_class(status: str) -> Any:
    import re

    return re.compile(rf"\bst-{status}\b")


def test_offline_terminal_replays_its_action_once(live_server: LiveServer, login: Login) -> None:
    with live_server.api("dispatcher") as api:
        base = next(u for u in api.get("/api/units").json() if u["id"] == OFFICER_UNIT)
        r = api.post("/api/incidents", json={"type": "NOISE", "location": {"lat": base["lat"], "lon": base["lon"]}},
                     headers={"Idempotency-Key": "e2e-offline-1"})
        assert r.status_code == 201, r.text
        incident_id = r.json()["id"]
        r = api.post(f"/api/incidents/{incident_id}/assignments",
                     json={"unit_id": OFFICER_UNIT, "override_reason": "e2e: the officer's unit"})
        assert r.status_code == 201, r.text
    officer = login("officer", phone=True)
    expect(officer.locator("#assignment-body")).to_have_attribute("data-incident", incident_id)

    for _ in range(100):  # the service worker takes over the page once it has cached the terminal
        if officer.evaluate("Boolean(navigator.serviceWorker.controller)"):
            break
        officer.wait_for_timeout(100)

    officer.context.set_offline(True)
    officer.reload()  # the installed terminal opens without network, from the service worker's cache
    officer.wait_for_selector("body[data-ready='1']")
    expect(officer.locator("#assignment-body")).to_have_attribute("data-incident", incident_id)
    officer.click("#btn-en_route")
    expect(officer.locator("#outbox")).to_have_attribute("data-count", "1")
    expect(officer.locator("#unit-status")).to_have_class("chip st-en_route")  # shown at once, sent later
    officer.wait_for_timeout(300)
    assert _unit_statuses(live_server, OFFICER_UNIT) == ["dispatched"]

    officer.context.set_offline(False)
    expect(officer.locator("#outbox")).to_be_hidden()
    officer.click("#btn-on_scene")
    expect(officer.locator("#outbox")).to_be_hidden()
    expect(officer.locator("#unit-status")).to_have_class("chip st-on_scene")
    assert _unit_statuses(live_server, OFFICER_UNIT) == ["dispatched", "en_route", "on_scene"]


def test_pages_follow_role_and_language(live_server: LiveServer, login: Login) -> None:
    calltaker = login("calltaker")
    assert calltaker.url.endswith("/calltaker")
    nav = calltaker.locator("header.bar nav a")
    expect(nav).to_have_count(2)  # map and intake; no dispatch console, no terminal
    calltaker.goto(live_server.url + "/console")
    calltaker.wait_for_url("**/calltaker")
    calltaker.select_option("#lang", "zh-Hant")
    expect(calltaker.locator("button[type=submit]")).to_have_text("建立警情")
    calltaker.reload()
    calltaker.wait_for_selector("body[data-ready='1']")
    expect(calltaker.locator("button[type=submit]")).to_have_text("建立警情")  # the choice is remembered

    officer = login("officer", phone=True)
    assert officer.url.endswith("/terminal")
    with live_server.api("officer") as api:
        units = api.get("/api/units").json()
    assert {u["home_station"] for u in units} == {"AD-07-S1"}  # the officer sees their station only
