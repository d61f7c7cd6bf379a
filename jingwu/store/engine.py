"""Database engines: SQLite (embedded default) tuned for one writer at a time, or PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def sqlite_begin(conn: Connection) -> None:
    """The engine's "begin" listener on SQLite: ``BEGIN <conn.info["begin_mode"]>`` (DEFERRED unless
    a writer asked for IMMEDIATE), sent straight to the DBAPI connection: every unit of work and
    read connection begins with it, and Core's statement machinery costs more than the BEGIN."""
    mode = conn.info.get("begin_mode", "DEFERRED")
    conn.connection.dbapi_connection.execute(_BEGIN[mode])  # type: ignore[union-attr]


_BEGIN = {"DEFERRED": "BEGIN DEFERRED", "IMMEDIATE": "BEGIN IMMEDIATE", "EXCLUSIVE": "BEGIN EXCLUSIVE"}

WRITER_WAIT_S = 30.0
"""How long a writer waits for its turn in the process before leaving it to SQLite's busy timeout."""
_WRITER_LOCKS: WeakKeyDictionary[Engine, threading.Lock] = WeakKeyDictionary()
_WRITER_LOCKS_GUARD = threading.Lock()


@contextmanager
def writer_turn(engine: Engine) -> Iterator[None]:
    """On SQLite, wait in line in this process for the one write transaction at a time.

    SQLite lets one writer in; the others retry in its busy handler, which sleeps between tries
    (up to 100 ms each), so under contention a waiting writer can miss the lock again and again:
    the intake bench with 8 clients had a p99 of ~800 ms for a median of ~20 ms. Writers in one
    process (units of work, the outbox relay) queue on a lock here instead and go as soon as the
    previous one has committed; another process still meets SQLite's own locking. No-op on
    PostgreSQL, whose row locks need no such thing."""
    if not is_sqlite(engine):
        yield
        return
    with _WRITER_LOCKS_GUARD:
        lock = _WRITER_LOCKS.get(engine)
        if lock is None:
            lock = _WRITER_LOCKS[engine] = threading.Lock()
    got = lock.acquire(timeout=WRITER_WAIT_S)  # a writer nested in another cannot wait forever
    try:
        yield
    finally:
        if got:
            lock.release()


@contextmanager
def checked_out(engine: Engine) -> Iterator[Connection]:
    """A connection for one unit of work or read, its transaction ended when it is given back.

    Usually a pooled connection, closed afterwards. An engine over one DBAPI connection (a
    ``StaticPool``: the drill's in-memory database) keeps one ``Connection`` per thread open
    instead: there is only the one DBAPI connection anyway, and checking it out of the pool and back
    (events, reset, a ``Connection`` object) cost more than many of the drill's use cases do. A kept
    connection stays checked out, and SQLAlchemy holds checked-out connections (and through the
    pool's listeners, the engine) until they are closed: whoever made the engine calls
    ``close_kept`` when done with it."""
    if not isinstance(engine.pool, StaticPool):
        with engine.connect() as pooled:
            yield pooled
        return
    kept: dict[int, _Kept] = engine.__dict__.setdefault("_jingwu_kept", {})
    me = threading.get_ident()
    mine = kept.get(me)
    if mine is not None and mine.busy:  # nested in another use on this thread: its own connection
        with engine.connect() as other:
            yield other
        return
    if mine is None or mine.conn.closed:
        mine = kept[me] = _Kept(engine.connect())
    conn = mine.conn
    mine.busy = True
    try:
        yield conn
    finally:
        try:
            if conn.in_transaction():
                conn.rollback()
            conn.info.pop("begin_mode", None)
        finally:
            mine.busy = False


def close_kept(engine: Engine) -> None:
    """Close the connections ``checked_out`` kept for ``engine`` (every thread's), so the engine
    and its pool can go; a later use opens a new one."""
    kept: dict[int, _Kept] = engine.__dict__.pop("_jingwu_kept", {})
    for one in kept.values():
        one.conn.close()


class _Kept:
    """A thread's kept connection and whether a use has it now."""

    __slots__ = ("busy", "conn")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.busy = False


PING_AFTER_IDLE_S = 10.0
"""A pooled PostgreSQL connection idle longer than this is pinged before it is handed out."""


def ping_when_idle(engine: Engine, idle_s: float = PING_AFTER_IDLE_S) -> None:
    """Pessimistic disconnect handling without a round trip on every checkout.

    ``pool_pre_ping`` sends a ping each time a connection leaves the pool: under load that is one
    more round trip per unit of work or read, for connections used milliseconds ago. A connection
    that has been idle for ``idle_s`` (when a restarted server or a dropped link would show) is
    pinged the same way; a failed ping raises ``DisconnectionError``, on which the pool discards
    the connection and hands out a fresh one. A link that drops mid-burst still fails the one
    statement that finds it, and SQLAlchemy then invalidates the pool's older connections."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is not None and time.monotonic() - since < idle_s:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as e:
            raise exc.DisconnectionError(f"connection failed its ping: {e}") from e
        if not alive:
            raise exc.DisconnectionError("connection failed its ping")


def build_engine(url: str, *, pool_size: int = 20, echo: bool = False) -> Engine:
    """An engine for ``url``; for SQLite the file's folder is created and WAL mode switched on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:" and not db.startswith("file:"):
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size, max_overflow=20,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let us issue BEGIN ourselves (IMMEDIATE for writes), so writers queue instead of failing.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        event.listen(engine, "begin", sqlite_begin)
        return engine
    # LIFO: the most recently returned connection is handed out next, so a few connections stay
    # hot (their prepared statements, the server's caches) instead of a round robin over the pool.
    engine = create_engine(url, echo=echo, pool_size=pool_size, max_overflow=40, pool_use_lifo=True)
    ping_when_idle(engine)
    event.listen(engine, "connect", _session_in_utc)
    return engine


def _session_in_utc(dbapi_conn: Any, _record: Any) -> None:
    """Every PostgreSQL session in UTC, whatever the server's default zone: jingwu stores and
    compares instants, never the server's local time. psycopg then reads ``timestamptz`` values
    with ``datetime.UTC`` itself as their zone, which ``UtcDateTime`` hands on as they are (with the
    server's ``Etc/UTC`` it had to convert each one: ~0.4 us a value, and every recommendation
    reads the available units' fix times)."""
    cur = dbapi_conn.cursor()  # the DBAPI's own calls, not psycopg's shortcuts
    try:
        cur.execute("SET TimeZone TO 'UTC'")
    finally:
        cur.close()
    dbapi_conn.commit()
