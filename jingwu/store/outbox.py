"""The outbox relay: hands committed events, in commit order, to a publisher (the bus), then marks
them published. It lives with the store because it reads the outbox; it knows the bus only as a callable.

A commit wakes it at once; it also polls, so events left by a crash between commit and publish
still go out (at least once; ``seq`` lets consumers drop a repeat).
"""

from __future__ import annotations

import logging
import threading
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


class OutboxRelay:
    def __init__(self, engine: Engine, publish: Callable[[Mapping[str, Any]], None], *, poll_s: float = 1.0,
                 batch: int = 500, flush: Callable[[], None] | None = None, leader_lock: bool = False) -> None:
        """``flush`` is called after each batch, before it is marked published (a broker's ack);
        ``leader_lock`` makes nodes sharing a PostgreSQL database take turns, one relaying at a
        time, so events leave in commit order (the lock is released if the node dies)."""
        self.engine = engine
        self.publish = publish
        self.flush = flush
        self.leader_lock = leader_lock and not is_sqlite(engine)
        self._leader: Connection | None = None
        self.poll_s = poll_s
        self.batch = batch
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.published_count = 0

    def notify(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._leader is not None:
            self._leader.close()
            self._leader = None

    def is_leader(self) -> bool:
        if not self.leader_lock:
            return True
        if self._leader is None:
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
            self._wake.clear()
            try:
                while self.drain_once() >= self.batch:
                    pass
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
        with writer_turn(self.engine), self.engine.connect() as conn:
            if is_sqlite(self.engine):
                conn.info["begin_mode"] = "IMMEDIATE"
            try:
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
            finally:
                conn.info.pop("begin_mode", None)
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
