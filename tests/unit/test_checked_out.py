"""``checked_out``: a kept connection per thread on a single-connection engine (the drill's), a pooled
one closed after each use elsewhere; either way each use ends its transaction."""

from __future__ import annotations

import gc
import sqlite3
import threading
import weakref
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from jingwu.sim.world import memory_engine
from jingwu.store.engine import build_engine, checked_out, close_kept
from jingwu.store.unit_of_work import UnitOfWork, read_connection


def _memory() -> tuple[sqlite3.Connection, Engine]:
    raw = sqlite3.connect(":memory:", check_same_thread=False)
    engine = memory_engine(raw)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    return raw, engine


def test_a_single_connection_engine_keeps_one_connection_per_thread() -> None:
    _raw, engine = _memory()
    with read_connection(engine) as a:
        a.execute(text("SELECT 1"))
    with UnitOfWork(engine) as uow:
        uow.conn.execute(text("INSERT INTO t VALUES (1)"))
        uow.commit()
        assert uow.conn is a
    assert not a.closed and not a.in_transaction() and "begin_mode" not in a.info
    # a use that leaves its transaction open (an exception, a reader) has it rolled back
    with checked_out(engine) as b:
        assert b is a
        b.begin()
        b.execute(text("INSERT INTO t VALUES (2)"))
    assert not a.in_transaction()
    with read_connection(engine) as c:
        assert c.execute(text("SELECT x FROM t")).scalars().all() == [1]
    # another thread gets its own Connection object
    seen: list[object] = []
    worker = threading.Thread(target=lambda: seen.append(_use(engine)))
    worker.start()
    worker.join()
    assert seen and seen[0] is not a


def _use(engine: Engine) -> Connection:
    with checked_out(engine) as conn:
        conn.execute(text("SELECT 1"))
        return conn


def test_a_use_nested_in_another_gets_its_own_connection() -> None:
    _raw, engine = _memory()
    with checked_out(engine) as outer, checked_out(engine) as inner:
        assert inner is not outer
    with checked_out(engine) as again:
        assert again is outer


def test_a_pooled_engine_closes_each_connection(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with checked_out(engine) as a:
        a.execute(text("SELECT 1"))
    with checked_out(engine) as b:
        assert b is not a
    assert a.closed and b.closed
    engine.dispose()


def test_closing_the_kept_connections_lets_the_engine_go() -> None:
    """A kept connection stays checked out, and SQLAlchemy holds checked-out connections (and through
    the pool's listeners, the engine): ``close_kept`` gives them back, so the engine and its
    in-memory database can be collected."""

    def used_and_closed() -> weakref.ref[Engine]:
        _raw, engine = _memory()
        with read_connection(engine) as conn:
            conn.execute(text("SELECT 1"))
        close_kept(engine)
        with checked_out(engine) as again:  # usable after: a new kept connection
            again.execute(text("SELECT 1"))
        close_kept(engine)
        engine.dispose()
        return weakref.ref(engine)

    gone = used_and_closed()
    gc.collect()
    assert gone() is None
