"""Pooled PostgreSQL connections: a connection that sat idle is pinged before use, so one the
server dropped meanwhile is replaced without the caller seeing an error; a connection used a
moment ago is not pinged (no extra round trip per unit of work)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, exc, text

from jingwu.store.engine import ping_when_idle
from tests.conftest import pg_base_url

pytestmark = pytest.mark.skipif(pg_base_url() is None, reason="needs JINGWU_TEST_POSTGRES_URL")


def _backend_pid(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(pid: int) -> None:
    """End a server process and wait until it has gone (up to 5 s): a statement sent while it is
    still on its way out can fail in other ways than a dropped link (psycopg: "another command is
    already in progress"), which is not what these tests are about."""
    admin = create_engine(str(pg_base_url()), poolclass=None)
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid})
            conn.commit()
    finally:
        admin.dispose()


def test_an_idle_connection_the_server_dropped_is_replaced_unseen(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_engine(str(pg_base_url()), pool_size=1, max_overflow=0)
    ping_when_idle(engine, idle_s=0.0)  # every checkout counts as after an idle spell
    pings = _count_pings(engine, monkeypatch)
    try:
        first = _backend_pid(engine)
        _terminate(first)
        assert _backend_pid(engine) != first  # no error: the ping failed, the pool reconnected
        assert len(pings) >= 3  # first checkout, the failed ping, the fresh connection's
    finally:
        engine.dispose()


def _count_pings(engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:  # type: ignore[no-untyped-def]
    pings: list[int] = []
    real = engine.dialect.do_ping

    def counted(dbapi_conn):  # type: ignore[no-untyped-def]
        pings.append(1)
        return real(dbapi_conn)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return pings


def test_a_connection_in_steady_use_is_not_pinged(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_engine(str(pg_base_url()), pool_size=1, max_overflow=0)
    ping_when_idle(engine, idle_s=3600.0)
    pings = _count_pings(engine, monkeypatch)
    try:
        first = _backend_pid(engine)  # a new connection: pinged once
        for _ in range(5):
            assert _backend_pid(engine) == first
        assert len(pings) == 1
        # the cost of not pinging: the first statement on a link dropped meanwhile fails, once
        _terminate(first)
        with pytest.raises(exc.DBAPIError) as failed:
            _backend_pid(engine)
        assert failed.value.connection_invalidated
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()
