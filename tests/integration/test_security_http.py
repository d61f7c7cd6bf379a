"""The HTTP security layer: headers, CSRF for cookie sessions, rate limits, lockout with a growing
delay, revocation, masking and reveal, body size, and cross-origin WebSockets."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.websockets import WebSocketDisconnect

from jingwu.api.app import create_app
from jingwu.api.runtime import Runtime
from jingwu.api.security import content_security_policy
from jingwu.config import Settings
from jingwu.services.accounts import disable_user, lock_delay_s
from jingwu.store import tables as t
from tests.conftest import PASSWORD, Login
from tests.integration.conftest_security import ALV
from tests.integration.live_server import serving

CALL = {"type": "THEFT", "location": ALV, "caller": {"name": "Joan Puig", "phone": "+376 612345"}}


@pytest.fixture
def app_with(runtime: Runtime) -> Iterator[Any]:
    """A client on an app built with changed settings (rate limits, tiles)."""
    clients: list[TestClient] = []

    def build(base_url: str = "http://testserver", **changes: Any) -> TestClient:
        runtime.settings = runtime.settings.model_copy(update=changes)
        c = TestClient(create_app(runtime, timers=False), base_url=base_url)
        c.__enter__()
        clients.append(c)
        return c

    yield build
    for c in clients:
        c.__exit__(None, None, None)


def audit_actions(runtime: Runtime, actor: str) -> list[tuple[str, dict[str, Any]]]:
    with runtime.engine.connect() as conn:
        rows = conn.execute(select(t.audit_log.c.action, t.audit_log.c.detail)
                            .where(t.audit_log.c.object_id == actor).order_by(t.audit_log.c.seq))
        return [(r.action, r.detail) for r in rows]


def test_security_headers(client: TestClient, login: Login, app_with: Any) -> None:
    r = client.get("/api/auth/me", headers=login("dispatcher"))
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp and "'unsafe-eval'" not in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in r.headers, "no HSTS over plain HTTP"
    assert r.headers["x-request-id"]
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    odd = client.get("/healthz", headers={"X-Request-ID": "x" * 500}).headers["x-request-id"]
    assert len(odd) == 32, "an unusable request id is replaced, not trusted"

    tls = app_with(base_url="https://testserver")
    r = tls.post("/api/auth/token", data={"username": "dispatcher", "password": PASSWORD})
    assert r.headers["strict-transport-security"].startswith("max-age=")
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie


def test_tile_host_is_allowed_for_images_only() -> None:
    s = Settings(tile_url="https://{s}.tile.example.org/{z}/{x}/{y}.png")
    csp = content_security_policy(s)
    assert "img-src 'self' data: blob: https://*.tile.example.org;" in csp
    assert "tile.example.org" not in csp.split("img-src")[0]


def test_cookie_sessions_need_the_csrf_header(client: TestClient) -> None:
    r = client.post("/api/auth/token", data={"username": "dispatcher", "password": PASSWORD})
    assert r.status_code == 200 and "jingwu_token" in client.cookies
    assert client.get("/api/incidents").status_code == 200, "reads with the cookie need nothing more"
    refused = client.post("/api/incidents", json=CALL)
    assert refused.status_code == 403 and refused.json()["detail"][0]["field"] == "csrf"
    foreign = client.post("/api/incidents", json=CALL, headers={"X-Requested-With": "jingwu",
                                                                "Origin": "https://evil.example"})
    assert foreign.status_code == 403
    ok = client.post("/api/incidents", json=CALL, headers={"X-Requested-With": "jingwu",
                                                           "Origin": "http://testserver"})
    assert ok.status_code == 201, ok.text
    bearer = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert client.post("/api/incidents", json=CALL, headers=bearer).status_code == 201, "API clients are exempt"


def test_login_rate_limit_per_user_and_address(app_with: Any) -> None:
    c = app_with(login_rate_per_minute=1.0, login_burst=3)
    codes = [c.post("/api/auth/token", data={"username": "analyst", "password": "Wrong-pass-1"}).status_code
             for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    limited = c.post("/api/auth/token", data={"username": "analyst", "password": PASSWORD})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert c.post("/api/auth/token", data={"username": "commander", "password": PASSWORD}).status_code == 200


def test_anonymous_api_requests_are_rate_limited(app_with: Any) -> None:
    c = app_with(public_rate_per_minute=1.0, public_burst=2)
    assert [c.get("/api/incidents").status_code for _ in range(3)] == [401, 401, 429]
    assert c.get("/healthz").status_code == 200, "only the API is limited"


def test_lockout_grows_and_is_audited(app_with: Any, runtime: Runtime) -> None:
    c = app_with(rate_limits=False)
    now = [datetime(2026, 11, 27, 8, 0, tzinfo=UTC)]
    runtime.deps.clock = lambda: now[0]

    def attempt(password: str) -> int:
        return c.post("/api/auth/token", data={"username": "analyst", "password": password}).status_code

    assert [attempt("Wrong-pass-1") for _ in range(5)] == [401] * 5
    assert attempt(PASSWORD) == 401, "locked: even the right password is refused"
    now[0] += timedelta(seconds=31)
    assert attempt(PASSWORD) == 200
    reasons = [d.get("reason") for a, d in audit_actions(runtime, "analyst") if a == "login.failed"]
    assert reasons[3] == "bad password" and str(reasons[4]).startswith("bad password; locked for 30 s")
    assert reasons[5] == "locked"
    assert [lock_delay_s(n) for n in (4, 5, 6, 7)] == [None, 30, 60, 120]
    assert lock_delay_s(10_000) == 24 * 3600, "capped, and no overflow"


def test_unknown_user_is_audited_like_a_wrong_password(client: TestClient, runtime: Runtime) -> None:
    r = client.post("/api/auth/token", data={"username": "nobody", "password": "Whatever-123"})
    assert r.status_code == 401
    assert audit_actions(runtime, "nobody") == [("login.failed", {"reason": "unknown user"})]


def test_disable_revokes_tokens_and_is_audited(client: TestClient, login: Login, runtime: Runtime) -> None:
    h = login("analyst")
    assert client.get("/api/auth/me", headers=h).status_code == 200
    with runtime.engine.begin() as conn:
        disable_user(conn, "analyst", runtime.deps.clock(), by="cli")
    runtime.extras.get("actor_cache", {}).clear()  # the cache lives 5 s; do not wait for it
    assert client.get("/api/auth/me", headers=h).status_code == 401
    r = client.post("/api/auth/token", data={"username": "analyst", "password": PASSWORD})
    assert r.status_code == 401
    assert [a for a, _ in audit_actions(runtime, "analyst")][-2:] == ["user.disable", "login.failed"]


def test_callers_are_masked_and_revealed_only_with_a_reason(client: TestClient, login: Login) -> None:
    disp = login("dispatcher")
    inc = client.post("/api/incidents", json=CALL, headers=disp).json()["id"]
    shown = client.get(f"/api/incidents/{inc}", headers=disp).json()["caller_details"]
    assert shown == [{"id": shown[0]["id"], "name": "J********", "phone": "+3*******45", "masked": True}]
    listed = client.get("/api/incidents", headers=disp).text
    assert "612345" not in listed and "Joan" not in listed
    assert client.post(f"/api/incidents/{inc}/callers/reveal", json={}, headers=disp).status_code == 422
    assert client.post(f"/api/incidents/{inc}/callers/reveal", json={"reason": "    x   "},
                       headers=disp).status_code == 422
    assert client.post(f"/api/incidents/{inc}/callers/reveal", json={"reason": "call back"},
                       headers=login("analyst")).status_code == 403
    r = client.post(f"/api/incidents/{inc}/callers/reveal", json={"reason": "call back"}, headers=disp)
    assert r.json()[0]["phone"] == "+376 612345"
    trail = client.get("/api/audit", params={"action": "caller.reveal"}, headers=login("auditor")).json()["items"]
    assert [(e["actor"], e["object_id"], e["detail"]["reason"]) for e in trail] == [("dispatcher", inc, "call back")]


def test_request_body_size_is_limited(client: TestClient, login: Login) -> None:
    big = {**CALL, "description": "x" * 70_000}
    assert client.post("/api/incidents", json=big, headers=login("dispatcher")).status_code == 413


def test_cookie_websocket_from_another_origin_is_refused(client: TestClient) -> None:
    client.post("/api/auth/token", data={"username": "dispatcher", "password": PASSWORD})
    with pytest.raises(WebSocketDisconnect) as refused, \
            client.websocket_connect("/api/events", headers={"Origin": "https://evil.example"}) as ws:
        ws.receive_json()
    assert refused.value.code == 4401
    with client.websocket_connect("/api/events", headers={"Origin": "http://testserver"}) as ws:
        assert ws.receive_json()["kind"] == "hello"


def test_concurrent_failed_logins_all_count(runtime: Runtime) -> None:
    """Failures racing on a real server each count (an atomic increment), so the lock cannot be dodged."""
    runtime.settings = runtime.settings.model_copy(update={"rate_limits": False})
    attempts = 8
    barrier = threading.Barrier(attempts)

    def attempt(_: int) -> int:
        with httpx.Client(base_url=base, timeout=60) as c:
            barrier.wait()
            return c.post("/api/auth/token", data={"username": "analyst", "password": "Wrong-pass-1"}).status_code

    with serving(create_app(runtime, timers=False)) as base, ThreadPoolExecutor(attempts) as pool:
        codes = list(pool.map(attempt, range(attempts)))
    assert codes == [401] * attempts
    with runtime.engine.connect() as conn:
        row = conn.execute(select(t.users).where(t.users.c.username == "analyst")).one()
    reasons = [d["reason"] for a, d in audit_actions(runtime, "analyst") if a == "login.failed"]
    assert len(reasons) == attempts
    counted = sum(1 for r in reasons if r.startswith("bad password"))
    assert row.failed_logins == counted >= 5, "no failure was lost to a race"
    assert row.locked_until is not None and reasons.count("locked") == attempts - counted
