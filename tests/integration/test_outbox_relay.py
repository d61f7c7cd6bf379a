"""The outbox relay on SQLite and PostgreSQL: events leave in commit order, exactly the committed
ones; a batch whose publishing fails stays unpublished and goes out whole on the next pass; two
relays draining at once never hand out the same event; under load a batch waits for the commits
that follow it closely."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select

from jingwu.store import tables as t
from jingwu.store.outbox import OutboxRelay
from tests.conftest import until


def _write(engine: Engine, count: int) -> list[int]:
    with engine.begin() as conn:
        conn.execute(t.outbox.delete())
        conn.execute(insert(t.outbox), [
            {"stream": f"incident:{k % 3}", "kind": "Test", "station_code": "S", "payload": {"k": k},
             "created_at": datetime.now(UTC)} for k in range(count)])
        return list(conn.execute(select(t.outbox.c.seq).order_by(t.outbox.c.seq)).scalars())


def _unpublished(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(t.outbox.c.published_at.is_(None))).scalar_one())


def test_events_leave_in_commit_order_and_a_failed_batch_stays(engine: Engine) -> None:
    seqs = _write(engine, 25)
    calls = {"n": 0}

    def flaky(msg: Mapping[str, Any]) -> None:
        calls["n"] += 1
        if calls["n"] == 7:
            raise ConnectionError("broker went away")

    with pytest.raises(ConnectionError):
        OutboxRelay(engine, flaky, batch=10).drain_once()
    assert _unpublished(engine) == 25  # nothing of the failed batch was marked
    got: list[Mapping[str, Any]] = []
    relay = OutboxRelay(engine, got.append, batch=10)
    assert [relay.drain_once() for _ in range(4)] == [10, 10, 5, 0]
    assert [m["seq"] for m in got] == seqs
    assert [m["k"] for m in got] == list(range(25))
    assert got[0]["kind"] == "Test" and got[0]["stream"] == "incident:0" and got[0]["station_code"] == "S"
    assert _unpublished(engine) == 0


def test_two_relays_at_once_hand_out_each_event_once(engine: Engine) -> None:
    seqs = _write(engine, 200)
    seen: list[int] = []
    lock = threading.Lock()

    def publish(msg: Mapping[str, Any]) -> None:
        with lock:
            seen.append(int(msg["seq"]))

    relays = [OutboxRelay(engine, publish, batch=7) for _ in range(2)]

    def drain(relay: OutboxRelay) -> None:
        while relay.drain_once():
            pass

    threads = [threading.Thread(target=drain, args=(r,)) for r in relays]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert sorted(seen) == seqs and len(seen) == len(set(seen))
    assert _unpublished(engine) == 0


def _add(engine: Engine, k: int) -> None:
    with engine.begin() as conn:
        conn.execute(insert(t.outbox).values(stream="incident:0", kind="Test", station_code="S", payload={"k": k},
                                             created_at=datetime.now(UTC)))


def test_under_load_one_batch_carries_several_commits_and_after_a_quiet_spell_none_waits(engine: Engine) -> None:
    """With ``linger_s``, commits that come within it of the last batch wait for the next one and
    leave together; the first commit after a quiet spell is not held back."""
    with engine.begin() as conn:
        conn.execute(t.outbox.delete())
    batches: list[list[int]] = []
    pending: list[int] = []

    def flush() -> None:
        batches.append(pending.copy())
        pending.clear()

    relay = OutboxRelay(engine, lambda msg: pending.append(int(msg["k"])), flush=flush, poll_s=60, linger_s=2.0)
    relay.start()
    try:
        _add(engine, 0)
        relay.notify()
        # 2 s of linger, but nothing was relayed before it: it leaves on the commit's wake.
        assert until(lambda: batches == [[0]], timeout_s=1.5), batches
        for k in (1, 2, 3):  # each would be a batch of its own without the linger
            time.sleep(0.3)
            _add(engine, k)
            relay.notify()
        assert until(lambda: sum(map(len, batches)) == 4, timeout_s=15), batches
        assert batches == [[0], [1, 2, 3]]
    finally:
        relay.stop()
    assert _unpublished(engine) == 0
