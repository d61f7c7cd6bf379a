"""Two jingwu nodes on one PostgreSQL database and a NATS server: a change committed through one
node reaches a dashboard connected to the other, once and in order."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from jingwu.api.app import create_app
from jingwu.api.runtime import build_runtime
from jingwu.config import Settings
from jingwu.store.engine import build_engine
from tests.conftest import PASSWORD, drop_pg_schema, fresh_engine
from tests.integration.live_server import serving

NATS_URL = os.environ.get("JINGWU_TEST_NATS_URL", "nats://127.0.0.1:4222")
pytestmark = pytest.mark.postgres


def nats_reachable() -> bool:
    host, port = NATS_URL.removeprefix("nats://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def require_nats() -> None:
    """Skip without NATS, except in CI, where its absence is a failure (.ci/run starts it)."""
    if not nats_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"NATS is not reachable at {NATS_URL}")
        pytest.skip(f"NATS is not reachable at {NATS_URL}")


def test_event_crosses_nodes(settings: Settings, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    require_nats()
    engine, url = fresh_engine("postgresql", tmp_path, tmp_path_factory)
    engine.dispose()
    node_settings = settings.model_copy(update={"database_url": url, "bus_url": NATS_URL})
    a = build_runtime(node_settings, engine=build_engine(url), migrate=False)
    b = build_runtime(node_settings, engine=build_engine(url), migrate=False)
    # Polls a minute apart: events committed through a, which does not relay, can only leave within
    # the test's seconds if a wakes the leader b through PostgreSQL.
    a.relay.poll_s = b.relay.poll_s = 60.0
    try:
        with serving(create_app(a, timers=False)) as base_a, serving(create_app(b, timers=False)) as base_b:
            assert b.relay.is_leader() and not a.relay.is_leader()
            tok = httpx.post(f"{base_b}/api/auth/token", data={"username": "dispatcher", "password": PASSWORD}).json()
            h = {"Authorization": f"Bearer {tok['access_token']}"}
            with connect(f"{base_b.replace('http', 'ws')}/api/events?token={tok['access_token']}") as ws:
                assert json.loads(ws.recv(timeout=10))["kind"] == "hello"
                ids = []
                for _ in range(3):
                    r = httpx.post(f"{base_a}/api/incidents", headers=h,
                                   json={"type": "THEFT", "location": {"lat": 42.5063, "lon": 1.5218}})
                    assert r.status_code == 201, r.text
                    ids.append(r.json()["id"])
                seen: list[dict] = []
                while len([m for m in seen if m.get("kind") == "IncidentReceived"]) < 3:
                    seen.append(json.loads(ws.recv(timeout=10)))
            # Exactly one node relays; the other waits for the leader lock.
            leaders = sorted([a.relay.is_leader(), b.relay.is_leader()])
        received = [m["incident_id"] for m in seen if m.get("kind") == "IncidentReceived"]
        assert received == ids
        seqs = [m["seq"] for m in seen if "seq" in m]
        assert seqs == sorted(set(seqs))
        assert leaders == [False, True]
        assert a.relay.leader_wakes >= 1 and b.relay.leader_wakes == 0
    finally:
        a.close()
        b.close()
        drop_pg_schema(url)
