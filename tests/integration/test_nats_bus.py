"""Two jingwu nodes on one PostgreSQL database and a NATS server: a change committed through one
node reaches a dashboard connected to the other, once and in order."""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from jingwu.api.app import create_app
from jingwu.api.runtime import build_runtime
from jingwu.bus.nats import NatsBus
from jingwu.config import Settings
from jingwu.store.engine import build_engine
from jingwu.store.outbox import OutboxRelay
from tests.conftest import PASSWORD, drop_pg_schema, fresh_engine, until
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


def own_subject() -> str:
    """A subject prefix of this test's own: tests on other workers share the NATS server."""
    return f"jingwu-test-{uuid.uuid4().hex[:8]}"


def test_deployments_sharing_a_nats_server_do_not_hear_each_other() -> None:
    require_nats()
    ours, theirs = own_subject(), own_subject()
    sender, same, other = NatsBus(NATS_URL, subject=ours), NatsBus(NATS_URL, subject=ours), \
        NatsBus(NATS_URL, subject=theirs)
    heard_same: list[dict] = []
    heard_other: list[dict] = []
    told_other: list[int] = []
    try:
        same.subscribe(lambda m: heard_same.append(dict(m)))
        other.subscribe(lambda m: heard_other.append(dict(m)))
        other.on_relay_told(lambda: told_other.append(1))
        sender.publish_batch([{"seq": 1, "kind": "Test"}])
        sender.tell_relay()
        assert until(lambda: heard_same == [{"seq": 1, "kind": "Test"}], timeout_s=5)
        other.flush()
        time.sleep(0.2)
        assert heard_other == [] and told_other == []
    finally:
        for bus in (sender, same, other):
            bus.close()


def test_event_crosses_nodes(settings: Settings, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    require_nats()
    engine, url = fresh_engine("postgresql", tmp_path, tmp_path_factory)
    engine.dispose()
    node_settings = settings.model_copy(update={"database_url": url, "bus_url": NATS_URL,
                                                "bus_subject": own_subject()})
    a = build_runtime(node_settings, engine=build_engine(url), migrate=False)
    b = build_runtime(node_settings, engine=build_engine(url), migrate=False)
    # Polls a minute apart: events committed through the node that does not relay can only leave
    # within the test's seconds if it wakes the leader (a message on the bus).
    a.relay.poll_s = b.relay.poll_s = 60.0
    try:
        with serving(create_app(a, timers=False)) as base_a, serving(create_app(b, timers=False)) as base_b:
            # A relay tries for the lead as it starts: exactly one node has it.
            assert until(lambda: a.relay.holds_lead() or b.relay.holds_lead(), timeout_s=10)
            leader, other = (a, b) if a.relay.holds_lead() else (b, a)
            assert not other.relay.is_leader()
            base_leader, base_other = (base_a, base_b) if leader is a else (base_b, base_a)
            tok = httpx.post(f"{base_leader}/api/auth/token",
                             data={"username": "dispatcher", "password": PASSWORD}).json()
            h = {"Authorization": f"Bearer {tok['access_token']}"}
            with connect(f"{base_leader.replace('http', 'ws')}/api/events?token={tok['access_token']}") as ws:
                assert json.loads(ws.recv(timeout=10))["kind"] == "hello"
                ids = []
                for _ in range(3):
                    r = httpx.post(f"{base_other}/api/incidents", headers=h,
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
        assert other.relay.leader_wakes >= 1 and leader.relay.leader_wakes == 0
    finally:
        a.close()
        b.close()
        drop_pg_schema(url)


def test_a_relay_batch_crosses_as_one_message_in_order() -> None:
    """``publish_batch`` hands a batch to NATS as one message; another node's listeners get each
    event, in order, with its fields as published (a newline in a field does not split it)."""
    require_nats()
    subject = own_subject()
    sender, receiver, probe = (NatsBus(NATS_URL, subject=subject) for _ in range(3))
    got: list[dict] = []
    raw: list[bytes] = []
    try:
        receiver.subscribe(lambda m: got.append(dict(m)))
        probe._call(probe._nc.subscribe(probe.events_subject, cb=_keep(raw)))
        probe._call(probe._nc.flush())
        batch = [{"seq": i, "kind": "Test", "station_code": "S", "note": f"line\n{i} 警"} for i in range(5)]
        sender.publish_batch(batch)
        assert until(lambda: len(got) == 5 and len(raw) == 1, timeout_s=5), (got, raw)
        assert got == batch
    finally:
        for bus in (sender, receiver, probe):
            bus.close()


def test_the_leader_alone_wakes_when_told(settings: Settings, tmp_path: Path,
                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    """A tell on the bus wakes the relay that holds the lead; the others have nothing to do."""
    require_nats()
    engine, url = fresh_engine("postgresql", tmp_path, tmp_path_factory)
    try:
        relays = [OutboxRelay(engine, lambda m: None, leader_lock=True, poll_s=60) for _ in range(2)]
        assert relays[0].is_leader() and not relays[1].is_leader()
        for relay in relays:
            relay._wake.clear()
            relay.wake()
        assert relays[0]._wake.is_set() and not relays[1]._wake.is_set()
        told: list[int] = []
        bus = NatsBus(NATS_URL, subject=own_subject())
        try:
            bus.on_relay_told(lambda: told.append(1))
            relays[1].tell_leader = bus.tell_relay
            relays[1].notify()  # a commit on the node that does not lead
            assert until(lambda: told == [1], timeout_s=5)
            assert relays[1].leader_wakes == 1 and relays[0].leader_wakes == 0
        finally:
            bus.close()
        for relay in relays:
            relay.stop()
    finally:
        engine.dispose()
        drop_pg_schema(url)


def test_a_node_that_does_not_lead_tells_at_most_once_per_linger_and_never_leaves_a_commit_untold(
        settings: Settings, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Commits that come within the linger of the last tell are covered by one tell the relay
    thread sends when the linger is up, after every one of them; after a quiet spell a commit
    tells at once."""
    engine, url = fresh_engine("postgresql", tmp_path, tmp_path_factory)
    linger_s = 0.5  # the five commits below take ~50 ms: well within it, however loaded CI is
    try:
        leader = OutboxRelay(engine, lambda m: None, leader_lock=True, poll_s=60)
        assert leader.is_leader()
        tells: list[float] = []
        other = OutboxRelay(engine, lambda m: None, leader_lock=True, poll_s=60, linger_s=linger_s,
                            tell_leader=lambda: tells.append(time.monotonic()))
        other.start()
        try:
            assert until(lambda: other._next_try > 0, timeout_s=5)  # it has tried for the lead
            commits = []
            for _ in range(5):
                commits.append(time.monotonic())
                other.notify()
                time.sleep(0.01)
            assert len(tells) == 1 and tells[0] >= commits[0]
            assert until(lambda: len(tells) == 2, timeout_s=5), tells
            assert tells[1] >= commits[-1] and tells[1] - tells[0] >= linger_s * 0.99
            time.sleep(linger_s + 0.1)
            assert len(tells) == 2  # nothing more was due
            quiet = time.monotonic()
            other.notify()  # after a quiet spell: at once, from the committing thread
            assert len(tells) == 3 and tells[2] >= quiet
            assert other.leader_wakes == 3 and not leader.leader_wakes
        finally:
            other.stop()
            leader.stop()
    finally:
        engine.dispose()
        drop_pg_schema(url)


def _keep(into: list[bytes]):  # type: ignore[no-untyped-def]
    async def cb(msg: object) -> None:
        into.append(msg.data)  # type: ignore[attr-defined]
    return cb
