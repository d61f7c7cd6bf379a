"""Retention: callers of incidents closed longer ago than the period are anonymised, the purge is
audited, nothing else is touched and the incidents stay for analytics."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from jingwu.api.runtime import Runtime
from jingwu.cli import app as jingwu_cli
from jingwu.cli import retention as cli_retention
from jingwu.config import Settings
from jingwu.services.retention import RetentionPolicy, run_retention
from jingwu.store import audit_chain
from jingwu.store import tables as t
from tests.conftest import Login
from tests.integration.conftest_security import ALV


def callers(runtime: Runtime) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        return {r.incident_id: r for r in conn.execute(select(t.callers))}


def make(client: TestClient, h: dict[str, str], name: str, cancel: bool) -> str:
    body = {"type": "NOISE", "location": ALV, "caller": {"name": name, "phone": "+376 600000"}}
    inc = str(client.post("/api/incidents", json=body, headers=h).json()["id"])
    if cancel:
        r = client.post(f"/api/incidents/{inc}/transition", json={"status": "cancelled", "reason": "gone"}, headers=h)
        assert r.status_code == 200, r.text
    return inc


def test_expired_callers_are_anonymised_and_the_purge_audited(client: TestClient, login: Login,
                                                               runtime: Runtime) -> None:
    h = login("dispatcher")
    old, recent = make(client, h, "Anna", True), make(client, h, "Berta", True)
    still_open = make(client, h, "Carme", False)
    now = runtime.deps.clock()
    with runtime.engine.begin() as conn:
        conn.execute(update(t.incidents).where(t.incidents.c.id == old).values(closed_at=now - timedelta(days=181)))
        conn.execute(update(t.incidents).where(t.incidents.c.id == recent).values(closed_at=now - timedelta(days=179)))

    report = run_retention(runtime.deps, RetentionPolicy(caller_days=180), now=now)
    assert report.callers_anonymised == 1
    rows = callers(runtime)
    assert rows[old].name is None and rows[old].phone is None and rows[old].anonymised_at is not None
    assert (rows[recent].name, rows[still_open].name) == ("Berta", "Carme")

    # The incident stays, with its place and times, for analytics; the reveal now shows nobody.
    listed = client.get("/api/incidents", params={"status": "cancelled"}, headers=h).json()
    assert old in {i["id"] for i in listed["items"]}
    revealed = client.post(f"/api/incidents/{old}/callers/reveal", json={"reason": "retention check"}, headers=h)
    assert revealed.json() == [{"id": rows[old].id, "name": None, "phone": None, "masked": False}]

    auditor = login("auditor")
    purges = client.get("/api/audit", params={"action": "retention.purge"}, headers=auditor).json()["items"]
    assert purges[0]["detail"]["rows"] == 1 and purges[0]["detail"]["days"] == 180
    assert run_retention(runtime.deps, RetentionPolicy(caller_days=180), now=now).callers_anonymised == 0
    with runtime.engine.connect() as conn:
        assert audit_chain.verify(conn).ok


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_command_runs_the_purge(runtime: Runtime, client: TestClient, login: Login) -> None:
    h = login("dispatcher")
    inc = make(client, h, "Dolors", True)
    with runtime.engine.begin() as conn:
        conn.execute(update(t.incidents).where(t.incidents.c.id == inc)
                     .values(closed_at=runtime.deps.clock() - timedelta(days=400)))
    url = runtime.engine.url.render_as_string(hide_password=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli_retention, "get_settings", lambda: Settings(database_url=url))
        result = CliRunner().invoke(jingwu_cli, ["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "1 callers anonymised" in result.output
    assert callers(runtime)[inc].phone is None
