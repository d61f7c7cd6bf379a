"""The outbox relay: hands committed events, in commit order, to a publisher (the bus), then marks
them published. It lives with the store because it reads the outbox; it knows the bus only as a callable.

A commit wakes it at once; it also polls, so events left by a crash between commit and publish
still go out (at least once; ``seq`` lets consumers drop a repeat). Under load it lingers: a batch
starts no sooner than ``linger_s`` after the one before, so one claim carries the events of every
commit in between instead of one claim (and one wake of the relay's thread) per commit.

Several nodes on one PostgreSQL database relay one at a time (``leader_lock``). A commit on a node
that is not the leader tells the leader that events are waiting (``tell_leader``: a message on
the bus, which hands it to the leader's ``wake``), so its events leave at once instead of at the
leader's next poll (half a second on average with the one-second poll: the event p50 of
``jingwu bench intake --workers 2``). Under load it tells at most once per ``linger_s``: the
leader relays at most that often anyway, and every tell is a NATS message that each node reads.
A commit that comes sooner is covered by a tell its relay thread sends when the time is up, so
every commit is still followed by a tell.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, text, update

from jingwu.store import tables as t
from jingwu.store.direct import DirectStatement
from jingwu.store.engine import is_sqlite, writer_turn

log = logging.getLogger(__name__)
RELAY_LOCK = 0x6A696E67_77750002
"""PostgreSQL advisory lock id held by the node that relays ("jingwu" + 2)."""
Publish = Callable[[Mapping[str, Any]], None]
PublishBatch = Callable[[Sequence[Mapping[str, Any]]], None]


class OutboxRelay:
    def __init__(self, engine: Engine, publish: Publish, *, poll_s: float = 1.0, batch: int = 500,
                 flush: Callable[[], None] | None = None, publish_batch: PublishBatch | None = None,
                 leader_lock: bool = False, tell_leader: Callable[[], None] | None = None,
                 linger_s: float = 0.0) -> None:
        """``flush`` is called after each batch, before it is marked published (a broker's ack);
        ``publish_batch``, when given, is called instead of ``publish`` and ``flush``, with the
        whole batch (a broker hands it over and acks it in one go, instead of a hop per event).
        ``leader_lock`` makes nodes sharing a PostgreSQL database take turns, one relaying at a
        time, so events leave in commit order (the lock is released if the node dies);
        ``tell_leader`` is how a node that is not the leader wakes it after a commit (without it,
        that node's events wait for the leader's poll). ``linger_s``: the least time from one
        batch's start to the next one's; an event waits at most that much longer, and not at all
        when it comes after a quiet spell. It is also the least time between two of this node's
        tells (``notify``)."""
        self.engine = engine
        self.publish = publish
        self.flush = flush
        self.publish_batch = publish_batch
        self.leader_lock = leader_lock and not is_sqlite(engine)
        self.tell_leader = tell_leader if self.leader_lock else None
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
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_lock = threading.Lock()
        self._next_try = 0.0
        self.published_count = 0
        self.leader_wakes = 0
        """How many times this node told the leader that events are waiting."""
        self._tell_lock = threading.Lock()
        self._told_at = -math.inf
        """When (monotonic) this node last told the leader."""
        self._tell_due = False
        """A commit came within ``linger_s`` of the last tell: the relay thread tells when it is up."""

    def notify(self) -> None:
        """A commit on this node left events in the outbox: wake the relay, or the leader when
        another node holds the lead (this one has tried for it and failed)."""
        if self.tell_leader is not None and self._leader is None and self._next_try > 0:
            now = time.monotonic()
            with self._tell_lock:
                later = now - self._told_at < self.linger_s and self._thread is not None
                if later and self._tell_due:
                    return  # the tell already due is sent after this commit: it covers it
                if later:
                    self._tell_due = True
                else:
                    self._told_at = now
            if later:
                self._wake.set()  # the relay thread tells when the time is up (``_tell_when_due``)
            else:
                self._tell()
            return
        self._wake.set()

    def _tell(self) -> None:
        if self.tell_leader is None:
            return
        try:
            self.tell_leader()
        except Exception:  # the leader's poll still finds the events
            log.warning("could not wake the relaying node", exc_info=True)
        self.leader_wakes += 1

    def _tell_when_due(self) -> None:
        """Send the tell ``notify`` put off, ``linger_s`` after the last one. It is cleared before
        it is sent, so a commit that saw it due was made before it goes."""
        with self._tell_lock:
            wait = self._told_at + self.linger_s - time.monotonic()
        if wait > 0:
            self._stop.wait(wait)
        with self._tell_lock:
            self._tell_due = False
            self._told_at = time.monotonic()
        self._tell()

    def wake(self) -> None:
        """Another node committed events (its ``tell_leader``, delivered by the bus to every node):
        the leader looks at once, the others have nothing to do."""
        if self._leader is not None:
            self._wake.set()

    def holds_lead(self) -> bool:
        """Whether this node relays now, as ``is_leader`` but without trying for the lock (no I/O)."""
        return not self.leader_lock or self._leader is not None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._wake.set()  # a first pass at once: try for the lead, relay what a crash left
            self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None
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
            try:
                if self._tell_due:
                    self._tell_when_due()
                if not self.is_leader():
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
            messages = []
            for seq, stream, kind, station_code, payload in rows:
                msg = dict(payload)
                msg.update(seq=seq, kind=kind, stream=stream, station_code=station_code)
                messages.append(msg)
            if self.publish_batch is not None:
                self.publish_batch(messages)
            else:
                for msg in messages:
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
