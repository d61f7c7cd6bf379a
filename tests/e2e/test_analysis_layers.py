"""Analysis on the command map: an early-warning alert raised on the server appears live in the
commander's alert list and on the map; the hotspot layer loads when switched on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from jingwu.services.early_warning import raise_near_repeat_alert
from tests.e2e.conftest import LiveServer, Login

pytestmark = pytest.mark.e2e
ALV = {"lat": 42.5063, "lon": 1.5218}


def test_near_repeat_alert_and_hotspot_layer(live_server: LiveServer, login: Login) -> None:
    commander = login("commander")
    expect(commander.locator("#alerts")).to_be_visible()
    deps = live_server.runtime.deps
    with live_server.api("dispatcher") as api:
        ids = []
        for k in range(3):
            # Two burglaries two days ago, a third today a few tens of metres away: a near-repeat series.
            days_ago = 2 if k < 2 else 0
            deps.clock = lambda d=days_ago: datetime.now(UTC) - timedelta(days=d)  # type: ignore[misc]
            r = api.post("/api/incidents", json={"type": "BURGLARY",
                                                 "location": {"lat": ALV["lat"] + 0.0003 * k, "lon": ALV["lon"]}})
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
    alert = raise_near_repeat_alert(deps, ids[-1])
    assert alert is not None
    expect(commander.locator("#alerts li.near_repeat")).to_have_count(1, timeout=5_000)
    expect(commander.locator("#alerts li.near_repeat")).to_contain_text("property")
    commander.get_by_label("Hotspots (Gi*, 90 days)").check()
    expect(commander.get_by_text("Hotspots (Gi*, 90 days):")).to_be_visible(timeout=20_000)


def test_analysis_is_not_offered_without_the_permission(live_server: LiveServer, login: Login) -> None:
    dispatcher = login("dispatcher")  # the dispatcher's landing page is the console; open the map
    dispatcher.goto(live_server.url + "/map")
    dispatcher.wait_for_selector("body[data-ready='1']")
    expect(dispatcher.locator("#alerts")).to_have_count(0)
