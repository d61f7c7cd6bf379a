"""The outbox relay: hands committed events, in commit order, to a publisher (the bus), then marks
them published. It lives with the store because it reads the outbox; it knows the bus only as a callable.

A commit wakes it at once; it also polls, so events left by a crash between commit and publish
still go out (at least once; ``seq`` lets consumers drop a repeat). Under load it lingers: a batch
starts no sooner than ``linger_s`` after the one before, so one claim carries the events of every
commit in between instead of one claim (and one wake of the relay's thread) per commit.

Several nodes on one PostgreSQL database relay one at a time (``leader_lock``). A commit on a node
that is not the leader wakes the leader through PostgreSQL (``NOTIFY``, heard by every node's
listener thread), so its events leave at once instead of at the leader's next poll (half a second
on average with the one-second poll: the event p50 of ``jingwu bench intake --workers 2``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, text, update

from jingwu.store import tables as t
from jingwu.store.direct import DirectStatement
from jingwu.store.engine import is_sqlite, writer_turn

log = logging.getLogger(__name__)
RELAY_LOCK = 0x6A696E67_77750002
"""PostgreSQL advisory lock id held by the node that relays ("jingwu" + 2)."""
CHANNEL = "jingwu_outbox"
"""The PostgreSQL channel on which a node that is not the leader tells it that events are waiting."""


class OutboxRelay:
    def __init__(self, engine: Engine, publish: Callable[[Mapping[str, Any]], None], *, poll_s: float = 1.0,
                 batch: int = 500, flush: Callable[[], None] | None = None, leader_lock: bool = False,
                 linger_s: float = 0.0) -> None:
        """``flush`` is called after each batch, before it is marked published (a broker's ack);
        ``leader_lock`` makes nodes sharing a PostgreSQL database take turns, one relaying at a
        time, so events leave in commit order (the lock is released if the node dies).
        ``linger_s``: the least time from one batch's start to the next one's; an event waits at
        most that much longer, and not at all when it comes after a quiet spell."""
        self.engine = engine
        self.publish = publish
        self.flush = flush
        self.leader_lock = leader_lock and not is_sqlite(engine)
        self._leader: Connection | None = None
        self._conn: Connection | None = None
        """PostgreSQL without ``leader_lock``: the session the relay claims its batches on."""
        self._drain_lock = threading.Lock()
        """One batch at a time on the kept session (the relay thread, and tests that drain)."""
        self.poll_s = poll_s
        self.batch = batch
        self.linger_s = linger_s
        self._last_batch = -math.inf
        """When (monotonic) the relay thread last started a pass that published something."""
        self._wake = threading.Event()
        self._local = threading.Event()
        """Set by this node's commits (``notify``), as against a wake from another node."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: threading.Thread | None = None
        self._lock_lock = threading.Lock()
        self._next_try = 0.0
        self.published_count = 0
        self.leader_wakes = 0
        """How many times this node told the leader that events are waiting."""

    def notify(self) -> None:
        """A commit on this node left events in the outbox."""
        self._local.set()
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
            self._thread.start()
        if self.leader_lock and self._listener is None:
            self._listener = threading.Thread(target=self._listen, name="outbox-listen", daemon=True)
            self._listener.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in (self._thread, self._listener):
            if thread is not None:
                thread.join(timeout=5)
        self._thread = self._listener = None
        for kept in (self._leader, self._conn):
            if kept is not None:
                kept.close()
        self._leader = self._conn = None

    def is_leader(self) -> bool:
        """Whether this node relays. A node that is not tries for the lock again at most once per
        ``poll_s`` (so a leader that died is replaced within a poll), not on every wake."""
        if not self.leader_lock:
            return True
        with self._lock_lock:
            if self._leader is not None:
                return True
            now = time.monotonic()
            if now < self._next_try:
                return False
            self._next_try = now + self.poll_s
            conn = self.engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": RELAY_LOCK}).scalar()
            conn.commit()
            if not got:
                conn.close()
                return False
            self._leader = conn
            return True

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_s)
            early = self._last_batch + self.linger_s - time.monotonic()
            if early > 0:
                self._stop.wait(early)  # commits meanwhile join this batch
            self._wake.clear()
            local = self._local.is_set()
            self._local.clear()
            try:
                if not self.is_leader():
                    if local:  # our events wait in the outbox: wake whoever relays
                        self._tell_leader()
                    continue
                started = time.monotonic()
                relayed = self.drain_once()
                if relayed:
                    self._last_batch = started
                while relayed >= self.batch:
                    relayed = self.drain_once()
            except Exception:
                log.exception("outbox relay failed; retrying")
                self._stop.wait(self.poll_s)

    def _tell_leader(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
            conn.commit()
        self.leader_wakes += 1

    def _listen(self) -> None:
        """Wake the relay whenever another node says events are waiting (``LISTEN`` on a connection
        of its own, kept out of the pool while it listens)."""
        while not self._stop.is_set():
            fairy = None
            try:
                fairy = self.engine.raw_connection()
                conn: Any = fairy.driver_connection
                conn.autocommit = True
                conn.execute(f"LISTEN {CHANNEL}")
                while not self._stop.is_set():
                    for _ in conn.notifies(timeout=0.5):
                        self._wake.set()
            except Exception:
                log.exception("outbox listener failed; listening again")
                self._stop.wait(self.poll_s)
            finally:
                if fairy is not None:
                    fairy.invalidate()  # a listening session must not go back to the pool

    def drain_once(self) -> int:
        """Publish one batch of unpublished events; returns how many.

        One statement claims the batch (marks it published and returns it, the oldest first,
        skipping rows another relay holds on PostgreSQL); the events are handed to ``publish``
        and ``flush`` before the transaction commits, so a failure leaves them unpublished."""
        if not self.is_leader():
            return 0
        if is_sqlite(self.engine):
            with writer_turn(self.engine), self.engine.connect() as conn:
                conn.info["begin_mode"] = "IMMEDIATE"
                try:
                    return self._relay_batch(conn)
                finally:
                    conn.info.pop("begin_mode", None)
        with self._drain_lock:
            conn = self._session()
            try:
                return self._relay_batch(conn)
            except Exception:
                self._drop_session(conn)
                raise

    def _session(self) -> Connection:
        """PostgreSQL: the relay's own session, kept between batches (a commit wakes the relay for
        one or two events, and checking a connection out of the pool and back for each cost as much
        as claiming them); the leader's session when nodes take turns."""
        if self._leader is not None:
            return self._leader
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    def _drop_session(self, conn: Connection) -> None:
        """A session that failed is closed; the next batch opens another (and a leader whose
        session failed has lost its lock with it, so it tries for the lock again)."""
        with self._lock_lock:
            if conn is self._leader:
                self._leader = None
            if conn is self._conn:
                self._conn = None
        with contextlib.suppress(Exception):
            conn.close()

    def _relay_batch(self, conn: Connection) -> int:
        with conn.begin():
            rows = sorted(_CLAIM.all(conn, {"batch": self.batch, "now": datetime.now(UTC)}))
            if not rows:
                return 0
            for seq, stream, kind, station_code, payload in rows:
                msg = dict(payload)
                msg.update(seq=seq, kind=kind, stream=stream, station_code=station_code)
                self.publish(msg)
            if self.flush is not None:
                self.flush()
        self.published_count += len(rows)
        return len(rows)


def _claim() -> DirectStatement:
    o = t.outbox.c
    oldest = (select(o.seq).where(o.published_at.is_(None)).order_by(o.seq).limit(bindparam("batch"))
              .with_for_update(skip_locked=True))  # PostgreSQL; SQLite holds the write lock instead
    return DirectStatement(
        update(t.outbox).where(o.seq.in_(oldest.scalar_subquery())).values(published_at=bindparam("now"))
        .returning(o.seq, o.stream, o.kind, o.station_code, o.payload)
    )


_CLAIM = _claim()
